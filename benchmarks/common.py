"""What every benchmark script shares: where results go, the machine, a private redis-server.

Results go to benchmarks/results/ (quick mode: benchmarks/results/quick/, not committed)
unless FNCACHE_BENCH_RESULTS names another directory (the tests use a temporary one).
Importing this module puts the checkout it lives in first on the path, for this process and
its children, so a benchmark measures this fncache and not some other installed copy.
"""
import json
import os
import platform
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in [ROOT] + os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


def results_dir(quick=False):
    """FNCACHE_BENCH_RESULTS, else benchmarks/results (quick runs: benchmarks/results/quick)."""
    directory = os.environ.get("FNCACHE_BENCH_RESULTS") or os.path.join(
        HERE, "results", *(["quick"] if quick else []))
    os.makedirs(directory, exist_ok=True)
    return directory


def results_path(name, quick=False):
    return os.path.join(results_dir(quick), name)


def write_json(name, data):
    """Write results atomically, so a reader never sees half a file."""
    path = results_path(name, data.get("mode") == "quick")
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return path


def machine(library="theano"):
    """This machine, Python, numpy and the graph library's version (``library``)."""
    import numpy
    import fncache  # noqa: F401  (Theano needs it to import on this Python)
    lib = __import__(library)
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            library: lib.__version__, "numpy": numpy.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def start_redis(directory):
    """A redis-server on a free loopback port, for this run only: (process, url)."""
    import redis
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            return proc, "redis://127.0.0.1:%d/0" % port
        except redis.ConnectionError:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")
