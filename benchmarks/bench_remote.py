"""Team tier benchmark: a Redis hit against a local disk hit and against a compile.

Usage: .venv/bin/python benchmarks/bench_remote.py [--workload mlp] [--repeats 7]

Starts its own redis-server on a free loopback port. Every measurement is a
fresh process (benchmarks/compile_child.py) with the warm Theano compiledir;
contenders alternate within each repeat:
  compile      theano.function with fncache's compiledir fixes (the fair floor of a compile)
  disk_hit     fncache.function, the entry on local disk
  disk_hit_redis_configured  the same with Redis configured (Redis is not even connected)
  redis_hit    fncache.function, an empty local directory (made by an earlier process that
               stored nothing), the entry in Redis
  after_redis_hit  the next process on that directory: the Redis hit wrote the entry
               through to the local disk, so this is a disk hit
  redis_hit_new_directory  the same with no local directory yet: the hit makes its databases
  redis_hit_empty_compiledir  a Redis hit on a machine that has never compiled: empty local
               directory and empty Theano compiledir (the entry's C modules come from Redis,
               in one pipeline)
Each is timed twice: the call that makes the function, and from just before `import
fncache` to the ready function (imports and graph building included). Apart, the time a
fresh process takes to `import redis` (redis-py imports asyncio), which fncache's hit path
no longer pays.
Writes benchmarks/results/remote.json (medians, min-max, entry size).
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import start_redis  # noqa: E402
from run import child  # noqa: E402  (one fresh-process measurement)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mlp")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fncache-bench-remote-")
    proc, url = start_redis(tmp)
    import redis
    client = redis.Redis.from_url(url)
    try:
        # A private compiledir (a copy of THEANO_FLAGS' base_compiledir when one is given), so no
        # other process holds Theano's compiledir lock while we measure.
        flags = [f for f in os.environ.get("THEANO_FLAGS", "").split(",") if f]
        given = [f.split("=", 1)[1] for f in flags if f.startswith("base_compiledir=")]
        compiledir = os.path.join(tmp, "theano")
        if given and os.path.isdir(given[0]):
            shutil.copytree(given[0], compiledir, symlinks=True,
                            ignore=shutil.ignore_patterns("lock_dir"))
        flags = [f for f in flags if not f.startswith("base_compiledir=")]
        base = dict(os.environ, FNCACHE_SECRET="bench-secret", FNCACHE_REDIS_URL=url,
                    THEANO_FLAGS=",".join(flags + ["base_compiledir=" + compiledir]))
        child(args.workload, "fixed", dict(base, FNCACHE_DIR=os.path.join(tmp, "warmup")))

        def env(directory, redis=True):
            return dict(base, FNCACHE_DIR=os.path.join(tmp, directory),
                        FNCACHE_REDIS_URL=url if redis else "")

        first = child(args.workload, "fncache", env("writer"))  # compile once: disk and Redis
        assert first.get("error") is None, first
        size = max(len(client.get(k)) for k in client.keys("fncache:e:*")
                   if not k.startswith(b"fncache:e:cmodule:"))  # the entry, not its modules
        samples = {name: [] for name in ("compile", "disk_hit", "disk_hit_redis_configured",
                                         "redis_hit", "after_redis_hit", "redis_hit_new_directory",
                                         "redis_hit_empty_compiledir")}
        template = os.path.join(tmp, "empty-template")  # a local directory without entries
        subprocess.run([sys.executable, "-c", "import fncache; fncache.stats()"], check=True,
                       env=env("empty-template"))
        for r in range(args.repeats):
            samples["compile"].append(child(args.workload, "fixed", env("plain", redis=False)))
            samples["disk_hit"].append(child(args.workload, "fncache", env("writer", redis=False)))
            samples["disk_hit_redis_configured"].append(
                child(args.workload, "fncache", env("writer")))
            fresh = "fresh-%d" % r
            shutil.copytree(template, os.path.join(tmp, fresh))
            samples["redis_hit"].append(child(args.workload, "fncache", env(fresh)))
            samples["after_redis_hit"].append(child(args.workload, "fncache", env(fresh)))
            shutil.rmtree(os.path.join(tmp, fresh), ignore_errors=True)
            samples["redis_hit_new_directory"].append(child(args.workload, "fncache", env(fresh)))
            shutil.rmtree(os.path.join(tmp, fresh), ignore_errors=True)
            empty = os.path.join(tmp, "empty-theano-%d" % r)
            samples["redis_hit_empty_compiledir"].append(child(args.workload, "fncache", dict(
                env(fresh), THEANO_FLAGS=",".join(flags + ["base_compiledir=" + empty]))))
            shutil.rmtree(os.path.join(tmp, fresh), ignore_errors=True)
            shutil.rmtree(empty, ignore_errors=True)
    finally:
        proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {}
    for name, runs in samples.items():
        bad = [s["error"] for s in runs if s.get("error")]
        assert not bad, (name, bad[0])
        summary[name] = {"median": statistics.median(s["seconds"] for s in runs),
                         "min": min(s["seconds"] for s in runs),
                         "max": max(s["seconds"] for s in runs), "n": len(runs),
                         "gcc": max(s["gcc"] for s in runs),
                         "since_import": {"median": statistics.median(s["since_import"] for s in runs),
                                          "min": min(s["since_import"] for s in runs),
                                          "max": max(s["since_import"] for s in runs)},
                         "tier_hits": runs[-1].get("tier_hits")}
    imports = [float(subprocess.run(
        [sys.executable, "-c", "import time; t = time.perf_counter(); import redis; "
                               "print(time.perf_counter() - t)"],
        capture_output=True, text=True, check=True).stdout) for _ in range(args.repeats)]
    summary["import_redis"] = {"median": statistics.median(imports), "min": min(imports),
                               "max": max(imports), "n": len(imports)}
    results = {r["result"] for runs in samples.values() for r in runs}
    report = {"workload": args.workload, "entry_bytes_in_redis": size, "same_result": len(results) == 1,
              "redis": "loopback, same machine", "python": platform.python_version(),
              "machine": platform.machine(), "timings_seconds": summary}
    from common import results_path
    with open(results_path("remote.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
