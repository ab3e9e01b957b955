"""Reliability under faults and load: a cache fails toward "compile it again",
never toward a crash, a hang, a wrong answer or a lost entry.

Real processes, real files, real SIGKILLs, a real small filesystem. The Redis
outages are in test_team.py, the 8-process store hammer in test_stress.py.
FNCACHE_SOAK=1 runs the loops ten times longer.
"""
import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time

import diskcache
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import EPILOGUE, PRELUDE, run_python

SOAK = 10 if os.environ.get("FNCACHE_SOAK") else 1
SECRET = "reliability-secret"


def fncache_cli(directory, *args, env=None):
    return subprocess.run([sys.executable, "-m", "fncache", "--dir", str(directory), *args],
                          capture_output=True, text=True, env=dict(os.environ, **(env or {})))


def verify_json(directory, env=None):
    proc = fncache_cli(directory, "verify", "--json", env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


# ---------------------------------------------------------------- SIGKILL mid-write
KILL_LOOP = r'''
import hashlib, json, os, random, signal, sys, time
import fncache
from fncache.store import current, envelope
directory, rounds, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fncache.configure(directory=directory)
rng = random.Random(seed)

def writer(wseed):
    """Write, overwrite and delete entries (with their records) until killed."""
    cache, wr = current(), random.Random(wseed)
    while True:
        key = "k%02d" % wr.randrange(24)
        body = wr.randbytes(wr.choice([200, 20000, 300000, 1500000]))  # index row, file, zstd
        data = envelope.seal(key, {"kind": "test"}, hashlib.sha256(body).digest() + body)
        cache.store.put(key, data)
        cache.record(key, {"kind": "test", "size": len(data)})
        if wr.random() < 0.2:
            cache.store.delete(key)
            cache.forget(key)

for r in range(rounds):
    pids = []
    for w in range(2):  # two writers at once, killed at different moments
        pid = os.fork()
        if pid == 0:
            writer(seed * 100000 + r * 2 + w)
        pids.append(pid)
    for pid in pids:
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
print("DONE " + json.dumps({"rounds": rounds}))
'''


def test_sigkill_while_writing_leaves_every_entry_absent_or_whole(tmp_path):
    directory = tmp_path / "cache"
    rounds = 25 * SOAK
    proc = subprocess.run([sys.executable, "-c", KILL_LOOP, str(directory), str(rounds), "7"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stderr[-3000:]
    from fncache.store import envelope
    from fncache.store.disk import DiskStore
    disk = DiskStore(str(directory / "entries"))
    whole = 0
    for key in disk.keys():
        data = disk.get(key)
        if data is None:
            continue
        _, payload = envelope.open_envelope(key, data)  # raises on a torn entry
        assert hashlib.sha256(payload[32:]).digest() == payload[:32]
        whole += 1
    disk.close()
    assert whole > 0
    for db in ("entries", "index"):
        con = sqlite3.connect(str(directory / db / "cache.db"))
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.close()
    status, report = verify_json(directory)
    assert status == 0 and report["damaged"] == [] and report["checked"] == whole, report


# ---------------------------------------------------------------- damaged entries
SMALL = '''
import warnings, theano.tensor as T
from fncache.store import current, envelope

def build():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = T.dvector("x")
        f = fncache.function([x], (x ** 2).sum() + 11)
    return f, [str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)]

f, result["warnings"] = build()
result["key"] = f.fncache_key
result["value"] = float(f([1.0, 2.0]))
result["stats"] = fncache.stats(session_only=True)
'''

CHECK_REPLACED = '''
cache = current()
result["replaced"] = []
for tier in cache.store.tiers[1:]:  # the entry now in each tier opens (signature checked)
    envelope.open_envelope(f.fncache_key, tier.get(f.fncache_key), fncache._settings.secret)
    result["replaced"].append(tier.name)
cache.memory.clear()
g, result["warnings_after"] = build()
result["value_after"] = float(g([1.0, 2.0]))
result["stats_after"] = fncache.stats(session_only=True)
'''


class Planted:
    """Unpickling this creates a directory: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _other_format(key, good, marker):
    """The same entry under the next format number (the MAC does not cover it)."""
    version = int.from_bytes(good[4:6], "big") + 1
    return good[:4] + version.to_bytes(2, "big") + good[6:]


def _sealed_pickle(secret):
    def make(key, good, marker):
        from fncache.store import envelope
        return envelope.seal(key, {"kind": "compiled"}, pickle.dumps(Planted(marker)), secret)
    return make


DAMAGE = {  # name -> (make(key, good bytes, marker path) -> bad bytes, reason counted)
    "truncated": (lambda key, good, marker: good[:len(good) // 2], "bad-signature"),
    "truncated-header": (lambda key, good, marker: good[:20], "corrupt"),
    "byte-flipped": (lambda key, good, marker: good[:100] + bytes([good[100] ^ 1]) + good[101:],
                     "bad-signature"),
    "random-bytes": (lambda key, good, marker: os.urandom(len(good)), "corrupt"),
    "bare-pickle": (lambda key, good, marker: pickle.dumps(Planted(marker)), "corrupt"),
    "unsigned-pickle": (_sealed_pickle(None), "unsigned"),
    "wrong-key-pickle": (_sealed_pickle(b"not the team secret"), "bad-signature"),
    "other-format": (_other_format, "version-mismatch"),
}


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """A cache directory holding the small graph's entry, signed with SECRET."""
    directory = tmp_path_factory.mktemp("golden") / "cache"
    result, _, _ = run_python(SMALL, env={"FNCACHE_DIR": str(directory), "FNCACHE_SECRET": SECRET,
                                          "FNCACHE_REDIS_URL": ""})
    return directory, result["key"]


@pytest.mark.parametrize("variant", sorted(DAMAGE))
def test_damaged_entry_on_disk_and_in_redis_is_one_warning_each_then_rebuilt(
        variant, golden, tmp_path, redis_server):
    source, key = golden
    directory = tmp_path / "cache"
    shutil.copytree(source, directory)
    make, reason = DAMAGE[variant]
    marker = str(tmp_path / "unpickled")
    disk = diskcache.Cache(str(directory / "entries"))
    bad = make(key, disk[key], marker)
    disk[key] = bad
    disk.close()
    redis_server.client().set("fncache:e:" + key, b"R" + bad)
    env = {"FNCACHE_DIR": str(directory), "FNCACHE_SECRET": SECRET,
           "FNCACHE_REDIS_URL": redis_server.url}
    result, _, _ = run_python(SMALL + CHECK_REPLACED, env=env)
    assert not os.path.exists(marker)  # nothing unsigned was ever unpickled
    assert result["value"] == result["value_after"] == 16.0
    assert len(result["warnings"]) == 2, result["warnings"]  # one per damaged copy: disk, Redis
    assert all("bad entry" in w for w in result["warnings"])
    assert result["stats"]["rejected"] == {reason: 2}
    assert result["stats"]["compiled"]["compiles"] == 1
    assert result["replaced"] == ["disk", "redis"]
    assert result["warnings_after"] == []  # the new entry loads from disk without complaint
    assert result["stats_after"]["compiled"] == dict(result["stats_after"]["compiled"],
                                                     compiles=1, hits=1)
    status, report = verify_json(directory, env={"FNCACHE_SECRET": SECRET})
    assert status == 0 and report["damaged"] == []


# ---------------------------------------------------------------- disk full, read-only midway
@pytest.fixture
def small_fs(tmp_path):
    """A 3 MB tmpfs (root only); unmounted after the test."""
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + proc.stderr.strip())
    yield mount
    subprocess.run(["umount", "-l", str(mount / "cache")], capture_output=True, check=False)
    subprocess.run(["umount", "-l", str(mount)], check=False)


MIDWAY = '''
import subprocess, sys, warnings, numpy as np, theano.tensor as T
warnings.simplefilter("always")
fault, mount = sys.argv[1], sys.argv[2]
fncache.configure(memory_limit="64MB")
x = T.dvector("x")
with warnings.catch_warnings(record=True) as caught:
    before = fncache.function([x], (x ** 2).sum() + 11)            # stored on disk
    @fncache.memoize(min_seconds=0)
    def big(i):
        return np.full(150_000, float(i))                         # 1.2 MB each
    if fault == "readonly":  # a read-only bind mount over the directory (root ignores chmod)
        directory = fncache._settings.directory
        subprocess.run(["mount", "--bind", directory, directory], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", directory], check=True)
    values = [float(big(i)[0]) for i in range(6)] + [float(big(i)[-1]) for i in range(6)]
    after = fncache.function([x], (x ** 3).sum() + 11)             # compiled with the disk broken
    again = fncache.function([x], (x ** 3).sum() + 11)             # served from memory
result["values"] = values
result["out"] = [float(before([1.0, 2.0])), float(after([1.0, 2.0])), float(again([1.0, 2.0]))]
result["warnings"] = [str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)]
result["stats"] = fncache.stats(session_only=True)
'''


@pytest.mark.parametrize("fault", ["full", "readonly"])
def test_disk_full_or_read_only_midway_the_run_goes_on_with_one_warning(fault, small_fs):
    """A 3 MB filesystem fills up under large memo results; or a read-only bind mount is put
    over the directory mid-run (files already open stay writable, as after a chmod; new
    files cannot be made). Either way: one warning, memory keeps serving, nothing torn."""
    directory = small_fs / "cache"
    result, _, proc = run_python(MIDWAY, env={"FNCACHE_DIR": str(directory)},
                                 args=(fault, str(small_fs)))
    assert result["values"] == [float(i) for i in range(6)] * 2
    assert result["out"] == [16.0, 20.0, 20.0]
    assert len(result["warnings"]) == 1 and "disk tier failed" in result["warnings"][0], \
        result["warnings"]
    assert result["stats"]["memo"]["hits"] == 6  # the memory tier kept working
    assert result["stats"]["compiled"] == dict(result["stats"]["compiled"], compiles=2, hits=1)
    assert "Traceback" not in proc.stderr, proc.stderr
    if fault == "readonly":
        subprocess.run(["umount", str(directory)], check=True)
    status, report = verify_json(directory)
    assert status == 0 and report["damaged"] == [] and report["checked"] >= 1


# ---------------------------------------------------------------- two format versions
TWO_VERSIONS = '''
import sys, warnings, numpy as np, theano.tensor as T
import fncache.backends.theano.env as env, fncache.format
fncache.format.FORMAT_VERSION = int(sys.argv[1])  # as a newer fncache would be
env._static = None
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    x = T.dvector("x")
    f = fncache.function([x], (x ** 2).sum() + 11)
    @fncache.memoize(min_seconds=0)
    def double(a):
        return a * 2
    result["values"] = [float(f([1.0, 2.0])), double(np.arange(3.0)).tolist()]
result["warnings"] = [str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)]
s = fncache.stats(session_only=True)
result["counts"] = [s["compiled"]["compiles"], s["compiled"]["hits"], s["memo"]["hits"], s["rejected"]]
'''


def test_two_format_versions_share_a_directory_each_seeing_only_its_own(tmp_path):
    env = {"FNCACHE_DIR": str(tmp_path / "cache")}
    from fncache.format import FORMAT_VERSION
    older, this = str(FORMAT_VERSION - 1), str(FORMAT_VERSION)
    runs = [run_python(TWO_VERSIONS, env=env, args=(version,))[0]
            for version in (older, this, older, this)]
    for run in runs:
        assert run["values"] == [16.0, [0.0, 2.0, 4.0]] and run["warnings"] == []
    assert [r["counts"] for r in runs] == [[1, 0, 0, {}]] * 2 + [[0, 1, 1, {}]] * 2
    status, report = verify_json(tmp_path / "cache")  # this fncache's format
    assert status == 0 and report["damaged"] == [] and report["other_version"] == 2


# ---------------------------------------------------------------- load
LOAD = '''
import random, sys, warnings, numpy as np, theano.tensor as T
from fncache.observe import counters
from fncache.store import current
warnings.simplefilter("error", fncache.FncacheWarning)  # a tier failure or bad entry fails the run
ops, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)

@fncache.memoize(min_seconds=0)
def work(i):
    if i % 10 == 0:
        return np.full(140_000, float(i))        # 1.1 MB: a separate, memory-mapped blob
    return np.arange(i * 50.0) * 1.5 + i

def expected(i):
    return np.full(140_000, float(i)) if i % 10 == 0 else np.arange(i * 50.0) * 1.5 + i

done = {"compiled": 0, "memo": 0, "wrong": 0}
for _ in range(ops):
    if rng.random() < 0.04:
        if rng.random() < 0.5:
            current().memory.clear()             # the next get goes to disk
        k = rng.randrange(3)
        x = T.dvector("x")
        f = fncache.function([x], (x ** 2).sum() + 21 + k)
        done["wrong"] += float(f([1.0, 2.0])) != 26.0 + k
        done["compiled"] += 1
    else:
        i = rng.randrange(60)
        done["wrong"] += not np.array_equal(work(i), expected(i))
        done["memo"] += 1
session = counters.session()
result.update(done, errors={k: v for k, v in session.items()
                            if k.endswith(".errors") or k.startswith("rejected.")},
              compiles=fncache.stats(session_only=True)["compiled"]["compiles"],
              memo_hits=fncache.stats(session_only=True)["memo"]["hits"])
'''


def test_eight_processes_mix_compile_and_memo_operations_on_one_directory(tmp_path):
    env = dict(os.environ, FNCACHE_DIR=str(tmp_path / "cache"))
    ops = 2000 * SOAK
    procs = [subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(LOAD) + EPILOGUE,
                               str(ops), str(seed)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for seed in range(8)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][0][7:]))
    for data in results:
        r = data["result"]
        assert r["errors"] == {} and r["wrong"] == 0
        assert r["compiled"] + r["memo"] == ops
    assert sum(d["result"]["compiles"] for d in results) == 3  # single flight: once per graph
    assert sum(d["counts"]["optimize"] for d in results) == 3
    assert sum(d["result"]["memo_hits"] for d in results) > 0
    status, report = verify_json(tmp_path / "cache")
    assert status == 0 and report["damaged"] == []


# ---------------------------------------------------------------- memory tier under pressure
PRESSURE = '''
import gc, os, numpy as np
from fncache.store import current
LIMIT = 32 << 20
fncache.configure(memory_limit=LIMIT, size_limit="48MB")

def rss():
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

@fncache.memoize(min_seconds=0)
def chunk(i):
    return np.full(1 << 18, float(i))             # 2 MB

total = 0
chunk(-1); chunk(-1)                              # imports, first store and a hit: the baseline
base, peak = rss(), 0
for i in range(160):                              # 320 MB through a 32 MB tier
    total += chunk(i).nbytes
    if i % 3 == 0:
        total += chunk(i // 2).nbytes             # some hits too (from memory or from disk)
    peak = max(peak, rss())
result.update(base=base, peak=peak, end=rss(), total=total, held=current().memory.total_bytes)
'''


def test_memory_tier_stays_within_its_limit_while_ten_times_that_passes(tmp_path):
    result, _, _ = run_python(PRESSURE, env={"FNCACHE_DIR": str(tmp_path / "cache")})
    limit, slack = 32 << 20, 16 << 20
    assert result["total"] >= 10 * limit and result["held"] <= limit
    assert result["peak"] - result["base"] <= limit + slack, result
    assert result["end"] - result["base"] <= limit + slack, result


# ---------------------------------------------------------------- fuzzing the entry reader
FUZZ = settings(max_examples=150 * SOAK, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def reader(golden, tmp_path_factory):
    """The golden entry's key, bytes and a loader for it (the whole load path), plus a
    pickle entry that would create ``marker`` if it were ever unpickled."""
    import fncache  # noqa: F401  (first: makes Theano importable)
    import theano.tensor as T
    from fncache import compiled
    from fncache.backends.theano.graph import signature
    from fncache.store import envelope
    directory, key = golden
    x = T.dvector("x")
    sig = signature([x], (x ** 2).sum() + 11)
    assert sig.key == key
    disk = diskcache.Cache(str(directory / "entries"))
    good = disk[key]
    disk.close()
    marker = str(tmp_path_factory.mktemp("fuzz") / "unpickled")
    planted = [envelope.seal(key, {"kind": "compiled"}, pickle.dumps(Planted(marker)), secret)
               for secret in (None, b"someone else")]
    from fncache.store import current
    from fncache import backends
    return key, good, compiled._loader(backends.get("theano"), current(), sig, SECRET.encode()), \
        planted, marker


def _load(reader, data):
    """What the whole read path makes of ``data``: (value, warnings)."""
    import warnings
    from fncache.store.memory import MemoryStore
    from fncache.errors import FncacheWarning
    from fncache.store.tiered import TieredStore
    key, _, load, _, _ = reader
    tier = MemoryStore()
    tier.put(key, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, _ = TieredStore([tier]).get(key, load)
    return value, [w for w in caught if issubclass(w.category, FncacheWarning)]


@FUZZ
@given(st.binary(max_size=4096), st.booleans())
def test_fuzz_random_bytes_are_a_clean_rejection(reader, data, with_magic):
    from fncache.errors import EntryRejected
    from fncache.store import envelope
    key, good, _, _, _ = reader
    if with_magic:
        data = good[:6] + data  # get past the marker and version checks
    with pytest.raises(EntryRejected):
        envelope.open_envelope(key, data, SECRET.encode())
    value, caught = _load(reader, data)
    assert value is None and len(caught) == 1


def _mutate(data, draw_ops):
    data = bytearray(data)
    for kind, where, byte in draw_ops:
        where = where % (len(data) + 1)
        if kind == "flip" and where < len(data):
            data[where] ^= byte or 1
        elif kind == "insert":
            data[where:where] = bytes([byte])
        elif kind == "delete":
            del data[where:where + byte % 8 + 1]
        elif kind == "truncate":
            del data[where:]
    return bytes(data)


MUTATIONS = st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]),
                               st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4)


@FUZZ
@given(MUTATIONS, st.integers(0, 2))
def test_fuzz_mutated_entries_load_only_when_intact_and_never_run_unsigned_code(
        reader, ops, which):
    key, good, _, planted, marker = reader
    source = good if which == 2 else planted[which]
    data = _mutate(source, ops)
    value, caught = _load(reader, data)
    assert not os.path.exists(marker)
    if data == good:
        assert value is not None and float(value([1.0, 2.0])) == 16.0 and caught == []
    else:
        assert value is None and len(caught) == 1


# ---------------------------------------------------------------- compiledir deleted
COMPILEDIR_GONE = '''
import shutil, sys, theano.tensor as T
from fncache.store import current
x = T.dvector("x")
graphs = lambda: [T.exp(x).sum() * 3, T.tanh(x).sum() * 3]
if sys.argv[1] == "first":
    result["compiled"] = [float(fncache.function([x], g)([0.0, 1.0])) for g in graphs()]
    shutil.rmtree(theano.config.base_compiledir)          # the whole compiledir, while we run
    current().memory.clear()
result["loaded"] = [float(fncache.function([x], g)([0.0, 1.0])) for g in graphs()]  # modules gone
result["stats"] = fncache.stats(session_only=True)["compiled"]
'''


def test_compiledir_deleted_while_running_then_a_new_process_loads(tmp_path):
    """Loads in the running process and in a new one rebuild the modules. (A new compile
    in the process whose compiledir vanished fails inside Theano, as it does without fncache.)"""
    from conftest import COMPILEDIR
    compiledir = tmp_path / "compiledir"
    shutil.copytree(COMPILEDIR, compiledir, ignore=shutil.ignore_patterns("lock_dir"))
    flags = [f for f in os.environ["THEANO_FLAGS"].split(",")
             if not f.startswith("base_compiledir=")]
    env = {"FNCACHE_DIR": str(tmp_path / "cache"),
           "THEANO_FLAGS": ",".join(flags + ["base_compiledir=%s" % compiledir])}
    first, _, _ = run_python(COMPILEDIR_GONE, env=env, args=("first",))
    second, counts, _ = run_python(COMPILEDIR_GONE, env=env, args=("second",))
    assert first["compiled"] == first["loaded"] == second["loaded"]
    assert first["stats"] == dict(first["stats"], compiles=2, hits=2)
    assert second["stats"] == dict(second["stats"], compiles=0, hits=2)
    assert counts["optimize"] == 0  # modules put back, the graph not optimized again


# ---------------------------------------------------------------- a disk that is already full
FULL_RUN = '''
import sys, warnings, theano.tensor as T
sys.path.insert(0, sys.argv[1])
import workloads
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    w = workloads.mlp()
    f = fncache.function(w.inputs, w.outputs, **w.kwargs)
    result["loss"] = float(f(*w.data))
    x = T.dvector("x")
    result["values"] = [float(fncache.function([x], (x ** 2).sum() + i)([1.0, 2.0]))
                        for i in range(int(sys.argv[2]), int(sys.argv[2]) + 8)]
    fncache._settings.update(miss_log=True)
    result["values"].append(float(fncache.function([x], x.sum() * 3)([1.0, 2.0])))
    fncache.stats()  # reads the index while the disk is full
result["warnings"] = [str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)]
'''


@pytest.mark.parametrize("room_kb", [1000, 600, 200])
def test_a_full_disk_is_one_warning_then_the_run_goes_on(room_kb, small_fs):
    """Two runs on a 3 MB filesystem with only ``room_kb`` left: the first fills it, the
    second meets SQLite's "database or disk is full" when it begins writing. diskcache's
    retry=True would retry that forever; here each run ends with its results right."""
    examples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
    with open(small_fs / "filler", "wb") as f:
        f.write(bytes((3072 - room_kb) << 10))
    env = {"FNCACHE_DIR": str(small_fs / "cache")}
    runs = [run_python(FULL_RUN, env=env, args=(examples, str(10 * i)), timeout=300)
            for i in range(3)]
    loss = runs[0][0]["loss"]
    for i, (result, _, proc) in enumerate(runs):
        assert result["loss"] == loss
        assert result["values"] == [5.0 + j for j in range(10 * i, 10 * i + 8)] + [9.0]
        assert len(result["warnings"]) <= 1, result["warnings"]
        assert "Traceback" not in proc.stderr, proc.stderr
    assert any(r[0]["warnings"] for r in runs)  # the disk did fill up
    os.remove(small_fs / "filler")  # room again: what was written is whole
    status, report = verify_json(small_fs / "cache")
    assert status == 0 and report["damaged"] == [], report


# ---------------------------------------------------------------- a damaged SQLite page
FILL = '''
import theano.tensor as T
x = T.dvector("x")
for i in range(6):
    fncache.function([x], (x ** 2).sum() + 40 + i)
result["stats"] = fncache.stats(session_only=True)["compiled"]
'''

AFTER_DAMAGE = '''
import glob, os, warnings, theano.tensor as T
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    x = T.dvector("x")
    result["values"] = [float(fncache.function([x], (x ** 2).sum() + 40 + i)([1.0, 2.0]))
                        for i in range(6)]
    result["stats"] = fncache.stats()
result["warnings"] = [str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)]
result["set_aside"] = sorted(os.path.basename(p) for p in glob.glob(os.path.join(
    fncache._settings.directory, "*", "cache.db.damaged-*")) if p[-4:] not in ("-wal", "-shm"))
'''


def _damage_page(db):
    """Overwrite the first page of the Cache table's b-tree (the middle of the file) with junk."""
    con = sqlite3.connect(str(db))
    (root,), = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'Cache'").fetchall()
    (page_size,), = con.execute("PRAGMA page_size").fetchall()
    con.close()
    assert 1 < root < os.path.getsize(db) // page_size
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size + 8)  # keep the page type, break the cells
        f.write(bytes(range(256)) * (page_size // 256 - 1))


@pytest.fixture(scope="module")
def damaged_source(tmp_path_factory):
    directory = tmp_path_factory.mktemp("damaged") / "cache"
    result, _, _ = run_python(FILL, env={"FNCACHE_DIR": str(directory), "FNCACHE_MISS_LOG": "1"})
    assert result["stats"]["compiles"] == 6
    return directory


@pytest.mark.parametrize("db", ["entries", "index"])
def test_a_damaged_database_is_set_aside_and_rebuilt_by_the_next_run(db, damaged_source,
                                                                     tmp_path):
    directory = tmp_path / "cache"
    shutil.copytree(damaged_source, directory)
    _damage_page(directory / db / "cache.db")
    env = {"FNCACHE_DIR": str(directory)}
    result, _, proc = run_python(AFTER_DAMAGE, env=env)
    assert result["values"] == [45.0 + i for i in range(6)]
    assert len(result["warnings"]) == 1, result["warnings"]
    assert "damaged" in result["warnings"][0] and "set aside" in result["warnings"][0]
    assert str(directory / db / "cache.db") in result["warnings"][0]
    assert len(result["set_aside"]) == 1 and result["stats"]["access"] == "read-write"
    again, counts, _ = run_python(AFTER_DAMAGE, env=env)  # the new database works
    assert again["warnings"] == [] and counts["optimize"] == 0
    status, report = verify_json(directory)
    assert status == 0 and report["damaged"] == [], report


@pytest.mark.parametrize("db", ["entries", "index"])
def test_the_command_reports_a_damaged_database_and_verify_fix_repairs_it(db, damaged_source,
                                                                         tmp_path):
    directory = tmp_path / "cache"
    shutil.copytree(damaged_source, directory)
    path = directory / db / "cache.db"
    _damage_page(path)
    readonly = fncache_cli(directory, "verify", env={"FNCACHE_READONLY": "1"})
    assert readonly.returncode == 1 and str(path) in readonly.stdout + readonly.stderr
    assert "verify --fix" in readonly.stdout + readonly.stderr
    refused = fncache_cli(directory, "clear", "--yes", env={"FNCACHE_READONLY": "1"})
    assert refused.returncode == 1 and "FNCACHE_READONLY is set" in refused.stderr
    for args in (["stats"], ["stats", "--json"], ["ls"], ["ls", "--json"], ["verify"]):
        proc = fncache_cli(directory, *args)
        assert "Traceback" not in proc.stderr and "DatabaseError" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 1), (args, proc.stderr)
    old = time.time() - 3600  # the value files of the entries that database listed
    for root, _, files in os.walk(directory / "entries"):
        for name in files:
            os.utime(os.path.join(root, name), (old, old))
    fixed = fncache_cli(directory, "verify", "--fix")
    assert "Traceback" not in fixed.stderr
    if db == "entries":  # its compiled modules were files that only the damaged database named
        assert "value files that no entry names removed" in fixed.stdout, fixed.stdout
    status, report = verify_json(directory)
    assert status == 0 and report["damaged"] == [], report
    named = {f for (f,) in sqlite3.connect(str(directory / "entries" / "cache.db")).execute(
        "SELECT filename FROM Cache WHERE filename IS NOT NULL")}
    files = {os.path.relpath(os.path.join(root, name), directory / "entries")
             for root, _, names in os.walk(directory / "entries") for name in names
             if name.endswith(".val")}
    assert files == named  # the set-aside database's files are gone, the new one's stay
    for args in (["prune", "--max-size", "1MB"], ["clear", "--yes"]):
        proc = fncache_cli(directory, *args)
        assert proc.returncode == 0 and "FNCACHE_READONLY" not in proc.stderr, proc.stderr
    assert len([n for n in os.listdir(directory / db) if ".damaged-" in n]) >= 1
