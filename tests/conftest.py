"""One Theano compiledir for the whole test session, shared by every subprocess.

A cold compiledir makes each new graph cost tens of seconds of gcc; sharing
one across the session (and, locally, across runs: it lives in .cache/) keeps
the suite fast. Set FNCACHE_TEST_COMPILEDIR to use another one.
"""
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMPILEDIR = os.environ.get("FNCACHE_TEST_COMPILEDIR", str(ROOT / ".cache" / "theano"))
os.makedirs(COMPILEDIR, exist_ok=True)
_flags = [f for f in os.environ.get("THEANO_FLAGS", "").split(",")
          if f and not f.startswith("base_compiledir=")]
os.environ["THEANO_FLAGS"] = ",".join(_flags + ["base_compiledir=" + COMPILEDIR])
os.environ.setdefault("FNCACHE_DIR", str(ROOT / ".cache" / "fncache-default"))
# PyTensor's base_compiledir (C modules and Numba's cache): one for the whole run, kept.
PYTENSOR_COMPILEDIR = os.environ.get("FNCACHE_TEST_PYTENSOR_COMPILEDIR",
                                     str(ROOT / ".cache" / "pytensor"))
os.makedirs(PYTENSOR_COMPILEDIR, exist_ok=True)
_pt_flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir=")]
os.environ["PYTENSOR_FLAGS"] = ",".join(_pt_flags + ["base_compiledir=" + PYTENSOR_COMPILEDIR])

# Where Theano is not installed (.venv-pytensor), only the files written for both backends
# (or for none) run; the others are Theano's.
BOTH_BACKENDS = {"test_backends.py", "test_pymc.py", "test_store.py", "test_architecture.py"}
import importlib.util  # noqa: E402
if importlib.util.find_spec("theano") is None:
    collect_ignore = sorted(p.name for p in pathlib.Path(__file__).parent.glob("test_*.py")
                            if p.name not in BOTH_BACKENDS)

import pytest  # noqa: E402


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty fncache directory for this test (also for its subprocesses)."""
    directory = tmp_path / "fncache"
    monkeypatch.setenv("FNCACHE_DIR", str(directory))
    import fncache
    fncache.configure(directory=str(directory))
    yield directory


class RedisServer:
    """A real redis-server on a free loopback port, that a test can kill, pause and restart."""

    def __init__(self, directory):
        import socket
        self.directory = str(directory)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.proc = None

    def start(self):
        import subprocess
        import time
        import redis
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory, "--logfile", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start on port %d" % self.port)
                time.sleep(0.02)
            finally:
                client.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def pause(self):
        """SIGSTOP: connections are accepted by the kernel but never answered (a 'slow' server)."""
        import signal
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        import signal
        self.proc.send_signal(signal.SIGCONT)

    def client(self):
        import redis
        return redis.Redis.from_url(self.url)


@pytest.fixture
def redis_server(tmp_path):
    """A started RedisServer (its ``url`` for FNCACHE_REDIS_URL); stopped after the test."""
    import shutil
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.resume()
        server.kill()
