"""Every example runs, in quick mode, and prints what its header promises.

Each example runs as a newcomer would run it: a fresh interpreter, a fresh
cache directory (the ``cache_dir`` fixture), the session's Theano compiledir.
"""
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

from helpers import run_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_example(args, extra_env=None, runner=(sys.executable,)):
    """Run an example (quick mode); return its stdout and stderr, failing on a non-zero exit."""
    env = dict(os.environ, FNCACHE_EXAMPLE_QUICK="1",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    env.update(extra_env or {})
    proc = subprocess.run([*runner, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (args, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout, proc.stderr


def number(pattern, text):
    found = re.search(pattern, text)
    assert found, "%r not in:\n%s" % (pattern, text)
    return int(found.group(1))


def test_warm_start_resumes_without_compiling_or_reevaluating(cache_dir, tmp_path):
    script = os.path.join(EXAMPLES, "warm_start.py")
    workdir = str(tmp_path / "run")
    first, _ = run_example([script, "--workdir", workdir, "--stop-after", "2"])
    assert "stopped after epoch 2" in first
    assert number(r"compiled (\d+) functions", first) == 2
    assert sorted(os.listdir(workdir)) == ["epoch_001.npz", "epoch_002.npz"]

    second, _ = run_example([script, "--workdir", workdir])
    assert "resumed from" in second and "epoch_002.npz" in second
    assert "epoch 1:" not in second and "epoch 3:" in second and "epoch 4:" in second
    assert "compiled 0 functions, 2 loaded from cache" in second
    # the resume check and the best-checkpoint scan of epochs 1-2 (and 3-4) are memo hits;
    # only epochs 3 and 4, trained in this run, are evaluated
    assert number(r"memo hits (\d+)", second) == 5
    assert number(r"memo misses (\d+)", second) == 2
    assert "evaluation:" in second and "best checkpoint: epoch" in second


def test_existing_program_runs_unchanged_and_second_run_compiles_nothing(cache_dir):
    script = os.path.join(EXAMPLES, "existing_program.py")
    with open(script) as f:
        assert "fncache" not in "".join(line for line in f if line.startswith(("import", "from")))
    fncache_run = (sys.executable, "-m", "fncache", "run", "--summary")
    out1, err1 = run_example([script], runner=fncache_run)
    out2, err2 = run_example([script], runner=fncache_run)
    assert "fncache: compiled 4 functions, 0 loaded from cache" in err1
    assert "fncache: compiled 0 functions, 4 loaded from cache" in err2
    assert out1 == out2  # the same training, bit for bit


def test_decorator_tour_explains_the_miss_and_compiles_nothing_the_second_time(cache_dir):
    script = os.path.join(EXAMPLES, "decorator_tour.py")
    first, _ = run_example([script])
    assert "signatures compiled: 2" in first
    assert "rows from the memo: 60, rows computed: 40" in first
    assert "memo hits over the two calls: 1" in first
    # the explain diff names the changed part and both values
    explained = first.split("why the new version was compiled again:")[1].splitlines()[1]
    assert explained.startswith("constants:") and "1.0 vs" in explained and "0.5" in explained
    assert number(r"compiled (\d+) functions", first) == 8

    second, _ = run_example([script])
    assert "compiled 0 functions, 8 loaded from cache" in second
    assert "rows from the memo: 100, rows computed: 0" in second


def test_team_redis_second_worker_loads_the_first_workers_compile(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    out, _ = run_example([os.path.join(EXAMPLES, "team_redis.py")])
    assert "worker 1: compiled 2 functions, 0 loaded from cache" in out
    assert "worker 2: compiled 0 functions, 2 loaded from cache (2 from redis)" in out
    assert "both workers trained to the same losses: True" in out
    assert "redis-server stopped" in out


def test_team_shared_dir_sets_up_a_directory_fncache_uses_as_shared(tmp_path):
    import grp
    from fncache.store.shared import private_group
    teams = [g for g in [os.getgid()] + os.getgroups() if private_group(g) is not None]
    if not teams and os.geteuid() == 0:
        teams = [grp.getgrnam("nogroup").gr_gid]  # root may use any group
    if not teams:
        pytest.skip("this user is in no group shared with other users")
    team = grp.getgrgid(teams[0]).gr_name
    directory, secret = tmp_path / "team-cache", tmp_path / "secret"
    out, _ = run_example([os.path.join(EXAMPLES, "team_shared_dir.sh"), str(directory), team,
                          str(secret)], runner=("sh",))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o2770
    assert directory.stat().st_gid == teams[0]
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    exports = dict(line[len("export "):].split("=", 1) for line in out.splitlines()
                   if line.startswith("export "))
    assert exports == {"FNCACHE_DIR": str(directory.resolve()),
                       "FNCACHE_SECRET_FILE": str(secret.resolve())}
    code = '''
import theano.tensor as T
x = T.dvector("x")
fncache.function([x], x * 2)
result["access"] = fncache.stats()["access"]
'''
    result, _, _ = run_python(code, env=exports)
    assert result["access"] == "shared"
    again, _ = run_example([os.path.join(EXAMPLES, "team_shared_dir.sh"), str(directory), team,
                            str(secret)], runner=("sh",))
    assert "keeping the existing secret" in again
