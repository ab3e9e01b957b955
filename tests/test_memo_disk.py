"""A fresh process's memo hits, from a real cache directory: read without opening the cache,
large results memory-mapped and proven to be what their signed entry names (by file identity
in a private directory, by digest in one others can write); bundles with memo entries."""
import glob
import os
import sqlite3
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from helpers import run_python
from test_team import SECRET, team_directory

STORE = '''
import numpy as np
@fncache.memoize(min_seconds=0)
def grid(n):
    return np.arange(n, dtype=np.float64) / 7

@fncache.memoize(min_seconds=0)
def small(n):
    return [n, "x" * n]
'''

HIT = STORE + '''
import fncache.store as store
fncache.configure(directory=DIRECTORY)  # after import: nothing opened it in the background
value = grid(300_000)  # 2.4 MB: a blob of its own
result["opened_by_the_hit"] = store._current is not None
result["small"] = small(3)
result["ok"] = bool(np.array_equal(value, np.arange(300_000, dtype=np.float64) / 7))
base = value
while isinstance(base, np.ndarray) and not isinstance(base, np.memmap):
    base = base.base
result["mapped"] = isinstance(base, np.memmap) and not value.flags.writeable
from fncache.observe import counters as _counters
result["counts"] = {k: v for k, v in _counters.session().items() if k.startswith("memo.")}
'''


def _store(directory, env=None):
    run_python(STORE + "grid(300_000); small(3)\n",
               env=dict(env or {}, FNCACHE_DIR=str(directory)))


def _hit(directory, env=None, mapped=True):
    result, _, _ = run_python("DIRECTORY = %r\n" % str(directory) + HIT,
                              env=dict(env or {}, FNCACHE_DIR=os.devnull))
    assert result["ok"] and result["small"] == [3, "xxx"] and result["mapped"] == mapped
    return result


def _blob_files(directory):
    return glob.glob(os.path.join(str(directory), "entries", "*", "*", "*.val"))


def test_a_fresh_process_hits_without_opening_the_cache(cache_dir):
    _store(cache_dir)
    db = os.path.join(str(cache_dir), "entries", "cache.db")
    with sqlite3.connect(db) as con:
        before = dict(con.execute("SELECT key, access_time FROM Cache"))
    result = _hit(cache_dir)
    assert not result["opened_by_the_hit"]
    assert result["counts"].get("memo.misses", 0) == 0 and result["counts"]["memo.hits"] == 2
    with sqlite3.connect(db) as con:  # at exit the reads took their place in the LRU order
        after = dict(con.execute("SELECT key, access_time FROM Cache"))
    used = [k for k in before if after[k] > before[k]]
    assert sorted(k.split(":")[0] + ":" + k.split(":")[1] for k in used) == \
        ["memo-blob:" + k.split(":")[1] for k in used if k.startswith("memo-blob:")] + \
        ["memo:py"] * 2
    stats = subprocess.run([os.path.join(os.path.dirname(sys.executable), "fncache"), "--dir",
                            str(cache_dir), "stats", "--json"], capture_output=True, text=True,
                           check=True).stdout
    import json
    assert json.loads(stats)["memo"]["hits"] == 2  # the hits were counted too


def test_a_private_directory_proves_a_large_result_by_file_identity(cache_dir):
    _store(cache_dir)
    result = _hit(cache_dir)
    assert result["counts"]["memo.blob_by_identity"] == 1
    assert "memo.blob_by_digest" not in result["counts"]
    # the blob rewritten with the same bytes (a new file): proven by digest, once
    [blob] = _blob_files(cache_dir)
    data = open(blob, "rb").read()
    os.unlink(blob)
    with open(blob, "wb") as f:
        f.write(data)
    result = _hit(cache_dir)
    assert result["counts"]["memo.blob_by_digest"] == 1
    result = _hit(cache_dir)  # the entry now records the new file
    assert result["counts"]["memo.blob_by_identity"] == 1
    assert "memo.blob_by_digest" not in result["counts"]
    # damaged in place: its identity changes with it, the digest catches it
    with open(blob, "r+b") as f:
        f.seek(1000)
        f.write(b"\x01")
    damaged, _, _ = run_python("DIRECTORY = %r\n" % str(cache_dir) + '''
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
''' + "\n".join("    " + line for line in HIT.splitlines()) + '''
result["warnings"] = [str(w.message) for w in caught]
''', env={"FNCACHE_DIR": os.devnull})
    assert damaged["ok"] and damaged["counts"]["memo.misses"] == 1
    assert any("does not match its digest" in w for w in damaged["warnings"])


def test_a_directory_others_can_write_always_checks_the_digest(tmp_path):
    shared = team_directory(tmp_path / "team")
    env = {"FNCACHE_SECRET": SECRET, "FNCACHE_REDIS_URL": ""}
    _store(shared, env)
    for _ in range(2):
        result = _hit(shared, env)
        assert result["counts"]["memo.blob_by_digest"] == 1
        assert "memo.blob_by_identity" not in result["counts"]
        assert result["counts"].get("memo.misses", 0) == 0


def _cli(*args, env=None):
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "fncache"), *args],
                          capture_output=True, text=True, env=dict(os.environ, **(env or {})))


def test_export_memo_carries_results_and_their_blobs_and_import_checks_them(tmp_path):
    source, target, other = tmp_path / "source", tmp_path / "target", tmp_path / "other"
    env = {"FNCACHE_SECRET": SECRET}
    _store(source, env)
    plain, bundle = tmp_path / "plain.tar", tmp_path / "memo.tar"
    assert _cli("--dir", str(source), "export", str(plain), env=env).returncode == 0
    with tarfile.open(plain) as tar:
        assert not [n for n in tar.getnames() if n.startswith(("entries/", "blobs/"))]
    assert _cli("--dir", str(source), "export", "--memo", str(bundle), env=env).returncode == 0
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert len([n for n in names if n.startswith("entries/")]) == 2
    assert len([n for n in names if n.startswith("blobs/")]) == 1

    done = _cli("--dir", str(target), "import", str(bundle), env=env)  # this side's secret
    assert done.returncode == 0 and "imported 2 entries" in done.stdout
    result = _hit(target, env)
    assert result["counts"].get("memo.misses", 0) == 0 and result["counts"]["memo.hits"] == 2

    # another side, another secret: the bundle's secret opens the entries, but memo keys
    # made under it could never be hit here
    secret_file = tmp_path / "bundle.secret"
    secret_file.write_text(SECRET)
    os.chmod(secret_file, 0o600)
    refused = _cli("--dir", str(other), "import", "--secret-file", str(secret_file),
                   str(bundle), env={"FNCACHE_SECRET": "another team"})
    assert refused.returncode == 1 and "imported 0 entries" in refused.stdout
    assert refused.stderr.count("made under another secret") == 2

    # a blob whose bytes do not match its digest is dropped: that result is a miss
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(bundle) as tar, tarfile.open(tampered, "w") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()
            if member.name.startswith("blobs/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            out.addfile(member, __import__("io").BytesIO(data))
    fresh = tmp_path / "fresh"
    assert _cli("--dir", str(fresh), "import", str(tampered), env=env).returncode == 0
    assert not _blob_files(fresh)
    result = _hit(fresh, env, mapped=False)  # computed again
    assert result["counts"]["memo.misses"] == 1 and result["counts"]["memo.hits"] == 1


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
