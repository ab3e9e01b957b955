"""A team across machines: two workers share compiled functions through Redis.

Shows: worker 1 and worker 2 each have their own, empty local cache directory
(as two machines would) and one Redis server and team secret in common.
Worker 1 compiles its training functions and stores them in every tier;
worker 2 compiles nothing: it loads worker 1's functions from Redis (and
keeps copies on its own disk). Both train to the same losses, bit for bit.

Run:  python examples/team_redis.py              (starts redis-server on a free port, stops it after)
      python examples/team_redis.py --url redis://host:6379/0   (uses a server you run)
Needs redis-server on the PATH (apt-get install redis-server) unless --url is given.
`--quick` or FNCACHE_EXAMPLE_QUICK=1 is accepted; the example is small either way.
"""
import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(number):
    """What each worker runs: build two training functions, train a few steps, report."""
    sys.path.insert(0, HERE)
    import fncache  # noqa: F401  (first: makes Theano work on this Python)
    import workloads
    from fncache.observe import counters
    losses = {}
    for build in (workloads.mlp, workloads.logreg_givens):
        w = build()
        step = fncache.function(w.inputs, w.outputs, **w.kwargs)
        losses[w.name] = [float(step(*w.data)[0] if isinstance(w.outputs, list)
                                else step(*w.data)) for _ in range(3)]
    s = counters.session()
    print("worker %d: compiled %d functions, %d loaded from cache (%d from redis)"
          % (number, s.get("compile.count", 0), s.get("compiled.hits", 0), s.get("redis.hits", 0)))
    print("LOSSES " + json.dumps(losses))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir):
    """A throwaway redis-server on a free loopback port (no persistence); returns (proc, url)."""
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (apt-get install redis-server), or pass --url")
    import redis
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "redis://127.0.0.1:%d/0" % port
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                sys.exit("redis-server did not start on port %d" % port)
            time.sleep(0.05)
        finally:
            client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="use this Redis server instead of starting one")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.worker is not None:
        return worker(args.worker)

    workdir = tempfile.mkdtemp(prefix="fncache-team-redis-")
    server, url = (None, args.url) if args.url else start_redis(workdir)
    # The team's shared settings. A real team keeps the secret in a 0600 file
    # (FNCACHE_SECRET_FILE); a fresh key prefix keeps this demo's entries apart.
    team = {"FNCACHE_REDIS_URL": url, "FNCACHE_SECRET": secrets.token_hex(32),
            "FNCACHE_REDIS_PREFIX": "fncache-example-%s:" % secrets.token_hex(4),
            "FNCACHE_REDIS_TTL": "1h"}
    print("redis: %s (%s)" % (url, "started here" if server else "given"))
    try:
        losses = []
        for number in (1, 2):
            local = os.path.join(workdir, "worker%d-cache" % number)  # its own, empty disk tier
            env = dict(os.environ, FNCACHE_DIR=local, **team)
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(number)],
                                  env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit("worker %d failed:\n%s" % (number, proc.stderr[-3000:]))
            for line in proc.stdout.splitlines():
                if line.startswith("LOSSES "):
                    losses.append(json.loads(line[len("LOSSES "):]))
                else:
                    print(line)
        print("both workers trained to the same losses: %s" % (losses[0] == losses[1]))
    finally:
        if server is not None:
            server.terminate()
            server.wait()
            print("redis-server stopped")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
