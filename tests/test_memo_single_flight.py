"""Single flight for memoized results, across real processes: processes that miss on one key
at once compute it once; a computer that dies, or takes longer than ``wait_timeout``, leaves
the others to compute it themselves."""
import os
import subprocess
import sys
import time

import pytest

CHILD = '''
import json, os, sys, time
import numpy as np
import fncache
log, go, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if len(sys.argv) > 4:
    fncache.configure(wait_timeout=float(sys.argv[4]))

@fncache.memoize(ignore=("log", "seconds"))
def slow(n):
    with open(log, "a") as f:
        f.write("%d\\n" % os.getpid())
    time.sleep(seconds)
    return np.arange(n, dtype=np.float64) * 2

while not os.path.exists(go):
    time.sleep(0.01)
value = slow(1000)
print(json.dumps({"sum": float(value.sum()), "memo": fncache.stats(session_only=True)["memo"]}))
'''


def _start(tmp_path, cache_dir, *args):
    script = tmp_path / "prog" / "child.py"
    script.parent.mkdir(exist_ok=True)  # not beside the cache directory "fncache"
    script.write_text(CHILD)
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "log"),
                             str(tmp_path / "go"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, FNCACHE_DIR=str(cache_dir)))


def _results(procs):
    import json
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _computed(tmp_path):
    path = tmp_path / "log"
    return path.read_text().split() if path.exists() else []


def test_processes_that_miss_at_once_compute_once(cache_dir, tmp_path):
    procs = [_start(tmp_path, cache_dir, "2.0") for _ in range(3)]
    time.sleep(1.0)  # all three imported and waiting at the gate (or close to it)
    (tmp_path / "go").touch()
    results = _results(procs)
    assert len(_computed(tmp_path)) == 1
    assert all(r["sum"] == 999000.0 for r in results)
    assert sorted(r["memo"]["misses"] for r in results) == [0, 0, 1]
    assert sorted(r["memo"]["hits"] for r in results) == [0, 1, 1]


def _computing(tmp_path, proc):
    deadline = time.monotonic() + 120
    while not _computed(tmp_path):  # it holds the key's lock and computes
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)


def test_a_timeout_or_a_killed_computer_leaves_the_others_to_go_on(cache_dir, tmp_path):
    (tmp_path / "go").touch()
    first = _start(tmp_path, cache_dir, "60")
    try:
        _computing(tmp_path, first)
        waiter = _start(tmp_path, cache_dir, "0.5")  # waits as long as wait_timeout (600 s)
        [impatient] = _results([_start(tmp_path, cache_dir, "0.5", "1.0")])  # waits 1 s
        assert impatient["sum"] == 999000.0 and impatient["memo"]["misses"] == 1
        assert len(_computed(tmp_path)) == 2  # it computed (and stored) the result itself
        assert waiter.poll() is None and first.poll() is None  # still waiting, computing
    finally:
        first.kill()
        first.wait()
    [late] = _results([waiter])  # the lock died with its holder; the result is there
    assert late["sum"] == 999000.0 and late["memo"] == dict(late["memo"], hits=1, misses=0)
    assert len(_computed(tmp_path)) == 2


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
