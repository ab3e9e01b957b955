"""The team cache across real processes: a Redis tier, signed entries, shared and
read-only directories, and a second user."""
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import diskcache
import pytest

from helpers import EPILOGUE, PRELUDE, run_python

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
SECRET = "team-secret-for-tests"

MLP = '''
import sys
sys.path.insert(0, %r)
import numpy as np, warnings
import workloads
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    w = workloads.mlp()
    f = fncache.function(w.inputs, w.outputs, **w.kwargs)
result["losses"] = [float(f(*w.data)) for _ in range(3)]
result["weights"] = np.asarray(w.shared[0].get_value()).sum().tolist()
result["warnings"] = [str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)]
result["stats"] = fncache.stats(session_only=True)
''' % EXAMPLES

SMALL = '''
import theano.tensor as T, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    x = T.dvector("x")
    f = fncache.function([x], (x ** 2).sum() + 7)
result["value"] = float(f([1.0, 2.0]))
result["key"] = fncache.graph_key([x], (x ** 2).sum() + 7)
result["warnings"] = [str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)]
result["stats"] = fncache.stats(session_only=True)
'''


def team_env(directory, server=None, **extra):
    env = {"FNCACHE_DIR": str(directory), "FNCACHE_SECRET": SECRET, "FNCACHE_REDIS_URL": ""}
    if server is not None:
        env["FNCACHE_REDIS_URL"] = server.url
    env.update(extra)
    return env


def entry_keys(client):
    """Keys of the function entries in Redis (not the compiled modules stored beside them)."""
    return [k for k in client.keys("fncache:e:*") if not k.startswith(b"fncache:e:cmodule:")]


def team_directory(path):
    """A group-writable, setgid directory owned by a group that other users share.

    (The user's own private group would not make it shared: see shared.private_group.)
    """
    import grp
    from fncache.store.shared import private_group
    path.mkdir()
    gids = [os.getegid()] + os.getgroups()
    if os.geteuid() == 0:
        try:
            gids.insert(0, grp.getgrnam("nogroup").gr_gid)
        except KeyError:
            pass
    shared = [g for g in gids if private_group(g) is not None]
    if not shared:
        pytest.skip("this user is in no group shared with other users")
    os.chown(path, -1, shared[0])
    os.chmod(path, 0o2775)
    return path


def flip_byte(data, where=-20):
    data = bytearray(data)
    data[where] ^= 0x01
    return bytes(data)


def test_fresh_process_with_empty_disk_gets_the_function_from_redis(redis_server, tmp_path):
    first, _, _ = run_python(MLP, env=team_env(tmp_path / "a", redis_server))
    assert first["stats"]["compiled"]["compiles"] == 1
    # a fresh node: empty local cache and an empty Theano compiledir (Theano builds its
    # lazylinker helper at import, before any function; everything after is counted)
    flags = [f for f in os.environ["THEANO_FLAGS"].split(",") if not f.startswith("base_compiledir=")]
    fresh_node = ",".join(flags + ["base_compiledir=%s" % (tmp_path / "empty-compiledir")])
    second, counts, _ = run_python(MLP, env=team_env(tmp_path / "b", redis_server,
                                                     THEANO_FLAGS=fresh_node))
    assert counts == {"gcc": 0, "optimize": 0}
    assert second["stats"]["tiers"]["redis"]["hits"] == 1
    assert second["stats"]["compiled"]["compiles"] == 0
    assert (second["losses"], second["weights"]) == (first["losses"], first["weights"])
    assert second["warnings"] == []
    # read-through: the remote hit filled b's disk tier, so b no longer needs Redis
    redis_server.kill()
    third, counts, _ = run_python(MLP, env=team_env(tmp_path / "b", redis_server,
                                                    THEANO_FLAGS=fresh_node))
    assert third["stats"]["tiers"]["disk"]["hits"] == 1 and counts == {"gcc": 0, "optimize": 0}



COUNTING_SENDS = '''
import socket, urllib.parse
_redis_port = urllib.parse.urlsplit(os.environ["FNCACHE_REDIS_URL"]).port
sends = []
_sendall = socket.socket.sendall
def _counting_sendall(self, data, *args):
    if (self.family != socket.AF_UNIX and self.getpeername()[1] == _redis_port
            and b"GETEX" in bytes(data)):
        sends.append(len(data))  # one round trip that reads entries
    return _sendall(self, data, *args)
socket.socket.sendall = _counting_sendall
'''


@pytest.mark.parametrize("options", ["", "?client_name=fncache-test"])
def test_a_redis_hit_needs_no_redis_client_and_two_round_trips(options, redis_server, tmp_path):
    """A fresh node (empty local directory and compiledir) gets the entry, then all of its C
    modules in one pipeline, without importing redis-py (unless the URL has options only
    redis-py knows); the entry and the modules are written through to the local disk, so
    the next process needs neither Redis nor gcc."""
    first, _, _ = run_python(MLP, env=team_env(tmp_path / "a", redis_server,
                                               FNCACHE_REDIS_URL=redis_server.url + options))
    assert first["stats"]["compiled"]["compiles"] == 1
    flags = [f for f in os.environ["THEANO_FLAGS"].split(",") if not f.startswith("base_compiledir=")]
    empty = tmp_path / "empty-compiledir"
    fresh_node = ",".join(flags + ["base_compiledir=%s" % empty])
    code = "import os\n" + COUNTING_SENDS + MLP + textwrap.dedent('''
        result["redis-py imported"] = "redis" in sys.modules
        result["round trips"] = len(sends)
        from fncache.observe import counters
        result["modules written"] = counters.session().get("modules.installed", 0)
    ''')
    env = team_env(tmp_path / "b", redis_server, THEANO_FLAGS=fresh_node,
                   FNCACHE_REDIS_URL=redis_server.url + options)
    second, counts, _ = run_python(code, env=env)
    assert second["stats"]["tiers"]["redis"]["hits"] == 1 and counts == {"gcc": 0, "optimize": 0}
    assert second["modules written"] > 2  # the MLP's modules, each with its key file
    assert second["redis-py imported"] is bool(options)
    assert second["round trips"] == 2
    assert (second["losses"], second["weights"]) == (first["losses"], first["weights"])
    # Redis gone and the compiledir emptied again: the local disk tier has it all
    redis_server.kill()
    shutil.rmtree(empty)
    third, counts, _ = run_python(MLP, env=env)
    assert third["stats"]["tiers"]["disk"]["hits"] == 1 and counts == {"gcc": 0, "optimize": 0}
    assert (third["losses"], third["weights"]) == (first["losses"], first["weights"])


def test_with_redis_a_new_local_directory_is_made_while_the_program_builds_its_graphs(
        redis_server, tmp_path):
    """A hit from Redis is written to the local directory; making its databases (SQLite's
    syncs) starts in the background when the program imports Theano, not at the first
    function. Without Redis a new directory is made at the first use, as before."""
    code = textwrap.dedent('''
        import os, threading, theano
        for thread in threading.enumerate():
            if thread.name == "fncache-open":
                thread.join()
        result["made before the first function"] = os.path.isdir(os.environ["FNCACHE_DIR"])
    ''')
    with_redis, _, _ = run_python(code, env=team_env(tmp_path / "a", redis_server))
    assert with_redis["made before the first function"] is True
    without, _, _ = run_python(code, env=team_env(tmp_path / "b"))
    assert without["made before the first function"] is False

def test_tampered_entry_in_redis_and_on_disk_is_rejected_and_replaced(redis_server, tmp_path):
    env = team_env(tmp_path / "a", redis_server, FNCACHE_REDIS_COMPRESS="0")
    first, _, _ = run_python(SMALL, env=env)
    key = first["key"]
    client = redis_server.client()
    remote = client.get("fncache:e:" + key)
    assert remote[:1] == b"R"  # stored as is: the flipped byte lands inside the signed entry
    client.set("fncache:e:" + key, flip_byte(remote))
    disk = diskcache.Cache(str(tmp_path / "a" / "entries"))
    disk[key] = flip_byte(disk[key])
    disk.close()

    damaged, _, _ = run_python(SMALL, env=env)
    assert damaged["value"] == 12.0
    assert damaged["stats"]["rejected"] == {"bad-signature": 2}  # disk, then Redis
    assert len(damaged["warnings"]) == 2 and all("bad entry" in w for w in damaged["warnings"])
    assert damaged["stats"]["compiled"]["compiles"] == 1

    healed_remote, counts, _ = run_python(SMALL, env=dict(env, FNCACHE_DIR=str(tmp_path / "c")))
    assert healed_remote["stats"]["tiers"]["redis"]["hits"] == 1 and counts["optimize"] == 0
    healed_local, counts, _ = run_python(SMALL, env=env)
    assert healed_local["stats"]["tiers"]["disk"]["hits"] == 1 and counts["optimize"] == 0
    assert healed_local["warnings"] == [] and healed_remote["warnings"] == []


class _Planted:
    """Unpickling this creates a directory: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_entry_signed_with_another_secret_is_never_unpickled(redis_server, tmp_path):
    from fncache.store import envelope
    env = team_env(tmp_path / "a", redis_server)
    key = run_python(SMALL, env=dict(env, FNCACHE_DISABLE="1"))[0]["key"]  # the key, nothing stored
    client = redis_server.client()

    def plant(secret, marker):
        payload = pickle.dumps(_Planted(str(marker)))
        client.set("fncache:e:" + key, b"R" + envelope.seal(key, {"kind": "compiled"}, payload,
                                                            secret))

    plant(b"someone else's secret", tmp_path / "ran")
    result, _, _ = run_python(SMALL, env=env)
    assert not (tmp_path / "ran").exists()
    assert result["value"] == 12.0 and result["stats"]["rejected"] == {"bad-signature": 1}
    # Control: the same entry under the team's secret is loaded, so the marker would have shown.
    shutil.rmtree(tmp_path / "a")
    plant(SECRET.encode(), tmp_path / "control")
    run_python(SMALL, env=env)
    assert (tmp_path / "control").exists()


def test_a_pickled_row_in_the_disk_tier_is_never_loaded(tmp_path):
    from fncache.store.disk import DiskStore
    directory = str(tmp_path / "entries")
    planted = diskcache.Cache(directory)
    planted.set("k", _Planted(str(tmp_path / "ran")))  # diskcache pickles what is not bytes
    planted.close()
    store = DiskStore(directory)
    with pytest.warns(UserWarning, match="pickled value"):
        assert store.get("k") is None
    store.close()
    assert not (tmp_path / "ran").exists()


STEPS = '''
import time, warnings, theano.tensor as T
import fncache.store.tiered as tiered
tiered.RETRY_AFTER = 0.3
warnings.simplefilter("always")
caught = []
warnings.showwarning = lambda message, category, *a, **k: (
    caught.append(str(message)) if issubclass(category, fncache.FncacheWarning) else None)
for i, phase in enumerate(iter(sys.stdin.readline, "")):
    x = T.dvector("x")
    started = time.monotonic()
    f = fncache.function([x], (x * (%d + i)).sum())  # a new key each step: no memory hit
    value = float(f([1.0, 2.0]))
    print("STEP " + json.dumps({"phase": phase.strip(), "value": value, "warnings": len(caught),
                                "seconds": time.monotonic() - started}), flush=True)
'''


def test_redis_killed_or_stalled_mid_run_the_run_goes_on(redis_server, tmp_path):
    env = dict(os.environ, **team_env(tmp_path / "a", redis_server, FNCACHE_REDIS_TIMEOUT="0.5"))
    seed = int.from_bytes(os.urandom(2), "big") + 10  # fresh constants: each step is a real miss
    child = subprocess.Popen([sys.executable, "-c", PRELUDE + STEPS % seed + EPILOGUE],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    client = redis_server.client()

    def step(phase):
        child.stdin.write(phase + "\n")
        child.stdin.flush()
        while True:
            line = child.stdout.readline()
            assert line, child.stderr.read()
            if line.startswith("STEP "):
                return json.loads(line[5:])

    try:
        up = step("up")
        assert up["warnings"] == 0 and len(entry_keys(client)) == 1
        redis_server.kill()
        down = [step("killed") for _ in range(3)]
        redis_server.start()  # same port, empty (no persistence)
        import time
        time.sleep(0.4)  # longer than RETRY_AFTER
        back = step("back")
        assert len(entry_keys(client)) == 1  # the step after the restart was stored there
        redis_server.pause()
        stalled = [step("stalled") for _ in range(3)]
        redis_server.resume()
        time.sleep(0.4)
        again = step("resumed")
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    steps = [up] + down + [back] + stalled + [again]
    assert [s["value"] for s in steps] == [3.0 * (seed + i) for i in range(len(steps))]
    assert [s["warnings"] for s in down] == [1, 1, 1]  # one warning for the outage
    assert back["warnings"] == 1 and [s["warnings"] for s in stalled] == [2, 2, 2]
    assert again["warnings"] == 2 and len(entry_keys(client)) == 2
    # Hang guard, not a speed claim: a stalled server costs one 0.5 s timeout, not a hang.
    assert max(s["seconds"] for s in steps) < 10
    assert child.returncode == 0, child.stderr.read()


def _snapshot(directory):
    return sorted((os.path.relpath(os.path.join(root, name), directory),
                   os.stat(os.path.join(root, name)).st_size,
                   os.stat(os.path.join(root, name)).st_mtime_ns)
                  for root, dirs, files in os.walk(directory) for name in files + dirs)


def test_readonly_never_writes(tmp_path):
    env = team_env(tmp_path / "a")
    run_python(SMALL, env=env)
    before = _snapshot(tmp_path / "a")
    other = SMALL.replace("+ 7", "+ 8")  # a miss: compiled, not stored
    hit, counts, _ = run_python(SMALL + "\nresult['access'] = fncache.stats()['access']",
                                env=dict(env, FNCACHE_READONLY="1"))
    miss, _, _ = run_python(other, env=dict(env, FNCACHE_READONLY="1"))
    assert counts["optimize"] == 0 and hit["stats"]["tiers"]["disk"]["hits"] == 1
    assert hit["access"] == "read-only"
    assert miss["value"] == 13.0 and miss["stats"]["compiled"]["compiles"] == 1
    assert _snapshot(tmp_path / "a") == before


def test_shared_directory_entries_are_group_writable_and_folders_setgid(tmp_path):
    shared = team_directory(tmp_path / "team")
    result, _, _ = run_python(SMALL + "\nresult['access'] = fncache.stats()['access']",
                              env=team_env(shared))
    assert result["access"] == "shared" and result["stats"]["compiled"]["compiles"] == 1
    paths = [os.path.join(root, n) for root, dirs, files in os.walk(shared) for n in dirs + files]
    assert any(p.endswith("cache.db") for p in paths) and any(p.endswith(".lock") for p in paths)
    for path in paths:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            assert mode & 0o2070 == 0o2070, (path, oct(mode))
        else:
            assert mode & 0o060 == 0o060, (path, oct(mode))


def test_without_a_secret_a_directory_others_can_write_is_refused(tmp_path, redis_server):
    shared = team_directory(tmp_path / "team")
    code = SMALL + "\nresult['access'] = fncache.stats()['access']"
    env = team_env(shared, redis_server, FNCACHE_SECRET="")
    refused, _, _ = run_python(code, env=env)
    assert refused["value"] == 12.0  # the run goes on, compiling without the cache
    assert refused["access"].startswith("refused: ") and "group" in refused["access"]
    assert len(refused["warnings"]) == 2  # the directory, and the Redis tier
    assert all("FNCACHE_SECRET" in w for w in refused["warnings"])
    assert os.listdir(shared) == [] and redis_server.client().keys("*") == []
    private = tmp_path / "mine"  # a private directory needs no secret
    mine, _, _ = run_python(code, env=team_env(private, FNCACHE_SECRET=""))
    assert mine["access"] == "read-write" and mine["warnings"] == []


def test_secret_file_must_be_private(tmp_path):
    from fncache.config import ConfigError, Settings
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match=str(path)):
        Settings().update(secret_file=str(path))
    os.chmod(path, 0o600)
    settings = Settings()
    settings.update(secret_file=str(path))
    assert settings.secret == b"s3cret"


@pytest.mark.parametrize("url", ["redis//host", "http://host:6379", "redis://host:port/0",
                                 "redis://:6379/0", "redis://host/db"])
def test_a_malformed_redis_url_fails_at_configure_time(url):
    from fncache.config import ConfigError, Settings
    with pytest.raises(ConfigError, match="redis_url"):
        Settings().update(redis_url=url)


AS_USER = '''
import os
os.setgroups(%(groups)r); os.setgid(%(gid)d); os.setuid(%(uid)d)
'''


def test_a_second_user_shares_the_directory_and_a_stranger_reads_it(tmp_path):
    """root compiles; `nobody` in the team's group hits and writes; `nobody` outside it only reads."""
    import grp
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
        team = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        pytest.skip("no 'nobody' user or 'nogroup' group here")
    if os.geteuid() != 0:
        pytest.skip("switching users needs root; run as root (CI does) to check two uids")
    from conftest import COMPILEDIR
    base = tempfile.mkdtemp(prefix="fncache-team-")  # pytest's tmp_path is private to root
    try:
        os.chmod(base, 0o755)
        shared = os.path.join(base, "cache")
        # Theano takes its compiledir lock even to load modules, so nobody needs a compiledir
        # it can write: a copy of the warm one (the cache, not this copy, is what is shared).
        compiledir = os.path.join(base, "theano")
        shutil.copytree(COMPILEDIR, compiledir, symlinks=True)
        for root, dirs, files in os.walk(compiledir):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.lchown(name, nobody.pw_uid, nobody.pw_gid)
        as_nobody = dict(team_env(shared), THEANO_FLAGS=os.environ["THEANO_FLAGS"].replace(
            "base_compiledir=" + COMPILEDIR, "base_compiledir=" + compiledir))
        os.mkdir(shared)
        os.chown(shared, 0, team)
        os.chmod(shared, 0o2775)
        code = SMALL + "\nresult['access'] = fncache.stats()['access']"
        other = code.replace("+ 7", "+ 9")
        run_python(code, env=team_env(shared))
        member = AS_USER % {"groups": [team], "gid": team, "uid": nobody.pw_uid}
        hit, counts, _ = run_python(member + code, env=as_nobody)
        assert counts["optimize"] == 0 and hit["stats"]["tiers"]["disk"]["hits"] == 1
        wrote, _, _ = run_python(member + other, env=as_nobody)
        assert wrote["stats"]["compiled"]["compiles"] == 1 and wrote["warnings"] == []
        again, counts, _ = run_python(other, env=team_env(shared))  # root reads nobody's entry
        assert counts["optimize"] == 0 and again["warnings"] == []
        before = _snapshot(shared)
        stranger = AS_USER % {"groups": [], "gid": 1, "uid": nobody.pw_uid}
        read, counts, _ = run_python(stranger + code, env=as_nobody)
        assert read["access"] == "read-only" and counts["optimize"] == 0
        assert read["warnings"] == [] and _snapshot(shared) == before
        # The same program, had the cache opened (as it did in the background, when the
        # prelude imported Theano as root) before it dropped privileges: it would write there
        # as root, then lose its hit to a disk tier it could no longer use.
        opener = "import threading\n[t.join() for t in threading.enumerate() if t.name == 'fncache-open']\n"
        read, counts, _ = run_python(opener + stranger + code, env=as_nobody)
        assert read["access"] == "read-only" and read["warnings"] == []
        assert counts["optimize"] == 0 and read["stats"]["tiers"]["disk"]["hits"] == 1
        assert _snapshot(shared) == before
        # A program that used the cache as root and then dropped privileges: what it does
        # next is done as the stranger it became.
        read, counts, _ = run_python(code + stranger + other, env=as_nobody)
        assert read["access"] == "read-only" and read["warnings"] == []
        assert counts["optimize"] == 0 and read["stats"]["tiers"]["disk"]["hits"] == 2
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- a hostile teammate
def _tree(path):
    """Mode and content of a folder and everything in it (what a victim would notice)."""
    found = []
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, n) for n in sorted(dirs + files)]:
            st = os.lstat(name)
            content = open(name, "rb").read() if stat.S_ISREG(st.st_mode) else None
            found.append((os.path.relpath(name, path), oct(st.st_mode), st.st_uid, content))
    return found


def _plant(link, target):
    """A symlink made by another user (nobody) when this test can say so (as root)."""
    import pwd
    os.symlink(target, link)
    if os.geteuid() == 0:
        try:
            os.lchown(link, pwd.getpwnam("nobody").pw_uid, -1)
        except KeyError:
            pass


@pytest.mark.parametrize("part", ["entries", "index", "locks", "entries/cache.db",
                                  "index/cache.db-wal"])
def test_a_symlink_planted_in_a_shared_directory_leaves_its_target_alone(part, tmp_path):
    """A member replaces a part of the team's directory with a symlink to this user's private
    0700 folder (or a file in it). The next run must change nothing there: no chmod, no
    database written into it. The directory is refused, with one warning saying why."""
    shared = team_directory(tmp_path / "team")
    victim = tmp_path / "private"
    victim.mkdir()
    os.chmod(victim, 0o700)
    (victim / "notes.txt").write_text("mine")
    (victim / "data").write_bytes(b"")
    os.chmod(victim / "data", 0o600)
    if "/" in part:
        os.mkdir(shared / part.split("/")[0])
    _plant(shared / part, victim / ("data" if "/" in part else ""))
    before = _tree(victim)
    code = SMALL + "\nresult['access'] = fncache.stats()['access']"
    result, _, _ = run_python(code, env=team_env(shared))
    assert _tree(victim) == before
    assert result["value"] == 12.0 and result["stats"]["compiled"]["compiles"] == 1
    assert result["access"].startswith("refused: ") and "symlink" in result["access"]
    assert len(result["warnings"]) == 1 and "symlink" in result["warnings"][0]


def test_symlinks_planted_below_the_folders_are_never_followed(tmp_path):
    """Every value-file and lock subfolder a run could use is a symlink to the victim's
    folder: entries, compiled modules and locks still never land there."""
    shared = team_directory(tmp_path / "team")
    victim = tmp_path / "private"
    victim.mkdir()
    os.chmod(victim, 0o700)
    for folder in ("entries", "locks"):
        os.mkdir(shared / folder)
        for i in range(256):
            _plant(shared / folder / ("%02x" % i), victim)
    before = _tree(victim)
    result, _, _ = run_python(SMALL + "\nresult['access'] = fncache.stats()['access']",
                              env=team_env(shared))
    assert _tree(victim) == before
    assert result["value"] == 12.0 and result["access"] == "shared"
    again, counts, _ = run_python(SMALL, env=team_env(shared))  # the entry itself was stored
    assert again["value"] == 12.0 and counts["optimize"] == 0 and _tree(victim) == before


def test_umask_002_with_a_private_group_is_still_a_private_directory(tmp_path):
    """With a per-user group, umask 002 makes the directory 0775: that is no team's write
    access, so no secret is needed. A group with other users in it still is refused."""
    from fncache.store.shared import private_group
    if private_group(os.getegid()) is not None:
        pytest.skip("this user's group is not a private group: %s" % private_group(os.getegid()))
    directory = tmp_path / "cache"
    code = ("os.umask(0o002)\n" + SMALL + "\nresult['access'] = fncache.stats()['access']")
    env = team_env(directory, FNCACHE_SECRET="")
    first, _, _ = run_python("import os\n" + code, env=env)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o775  # the umask did make it so
    second, counts, _ = run_python("import os\n" + code, env=env)
    assert second["access"] == "read-write" and second["warnings"] == []
    assert counts["optimize"] == 0 and second["stats"]["tiers"]["disk"]["hits"] == 1
    import grp
    try:
        other = grp.getgrnam("nogroup")
    except KeyError:
        pytest.skip("no 'nogroup' group here")
    os.chown(directory, -1, other.gr_gid)  # now a group others may be in owns it
    refused, _, _ = run_python("import os\n" + code, env=env)
    assert refused["access"].startswith("refused: ")
    assert "writable by its group nogroup, which is not the private group of" in refused["access"]
    assert refused["value"] == 12.0


def _zstd_bomb(size=4 << 30):
    """zstd of ``size`` zero bytes with the size in its frame header: about 131 kB for 4 GiB."""
    import io
    import zstandard
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=1).stream_writer(out, size=size, closefd=False) as w:
        block = bytes(16 << 20)
        for _ in range(size // len(block)):
            w.write(block)
    return out.getvalue()


def _declared(size):
    """A 16-byte zstd frame whose header declares ``size`` bytes (one RLE block of 100)."""
    import struct
    return (struct.pack("<IBQ", 0xFD2FB528, 0xE0, size)
            + (1 | 1 << 1 | 100 << 3).to_bytes(3, "little") + b"\0")


@pytest.fixture(scope="module")
def bomb():
    return _zstd_bomb()


PEAK = '''
import resource
result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
'''


@pytest.mark.parametrize("where", ["redis-compressed", "redis-manifest", "signed-entry"])
def test_a_decompression_bomb_planted_in_redis_is_rejected_before_it_is_decompressed(
        where, bomb, redis_server, tmp_path):
    """Someone who can write Redis but has no secret plants 131 kB that decompress to 4 GiB,
    as Redis's own compression or as a chunked value's manifest: nothing of it is
    decompressed. And even a signed entry may not declare more than MAX_PAYLOAD_BYTES
    (here 1 TiB, in 16 bytes): it is rejected without allocating. Each is a clean miss."""
    import json as _json
    from fncache.store import envelope
    env = team_env(tmp_path / "a", redis_server)
    key = run_python(SMALL, env=dict(env, FNCACHE_DISABLE="1"))[0]["key"]
    client = redis_server.client()
    if where == "redis-compressed":
        client.set("fncache:e:" + key, b"Z" + bomb)
    elif where == "redis-manifest":
        client.set("fncache:c:%s:ab12:0" % key, bomb)
        client.set("fncache:e:" + key, b"M" + _json.dumps(
            {"token": "ab12", "size": len(bomb), "zstd": True, "chunks": 1}).encode())
    else:
        payload = _declared(1 << 40)
        entry = envelope.seal(key, {"kind": "compiled"}, payload, SECRET.encode(),
                              compress_above=1 << 40)
        flagged = bytearray(entry)  # the same entry as a compressed one, signed again
        flagged[6] |= envelope.FLAG_ZSTD
        client.set("fncache:e:" + key, b"R" + envelope.reseal(key, bytes(flagged),
                                                            SECRET.encode()))
    result, _, _ = run_python(SMALL + PEAK, env=env)
    assert result["value"] == 12.0 and result["stats"]["compiled"]["compiles"] == 1
    assert sum(result["stats"]["rejected"].values()) == 1
    assert len(result["warnings"]) == 1 and "redis tier" in result["warnings"][0]
    assert result["peak_rss"] < 1 << 30  # 4 GiB had it been decompressed
