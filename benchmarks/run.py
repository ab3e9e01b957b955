"""Compile-side benchmark: time to a ready function in a fresh process, side by side.

Usage: .venv/bin/python benchmarks/run.py [--quick] [--workloads mlp,rnn,...] [--repeats N]
(benchmarks/all.py runs this and every other benchmark, then writes BENCHMARKS.md.)

Every measurement runs in its own fresh Python process (benchmarks/compile_child.py);
contenders alternate within each repeat, and medians with min-max are reported. Each
workload gets its own empty compiledir: the first stock compile into it is the cold
sample, later ones are warm. Slow contenders (stock and fixed compiles of big_graph) get
fewer repeats; the counts are in the results. A redis-server on a free port serves the
Redis-hit contender. Also measured: a hit with the compiledir padded with many extra
modules (a hit must not scan the compiledir) and the per-call overhead of @cached_function.
Writes compile.json in the results directory (see benchmarks/common.py).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import machine, start_redis, write_json  # noqa: E402

CHILD = os.path.join(HERE, "compile_child.py")
SECRET = "fncache-benchmark-secret"
CONTENDERS = ("stock_cold", "stock_warm", "fixed_warm", "pickle_load", "fncache_disk",
              "fncache_memory", "fncache_redis")
FULL = ["mlp", "rnn", "logreg", "dropout", "multi_output", "bayes", "big_graph:10000"]
QUICK = ["mlp", "rnn", "bayes"]  # bench_keys.py covers big_graph in quick mode


def child(workload, contender, env):
    import json
    proc = subprocess.run([sys.executable, CHILD, workload, contender], capture_output=True,
                          text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return {"seconds": None, "error": "exit %d: %s" % (proc.returncode, proc.stderr[-300:])}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(samples):
    times = [s["seconds"] for s in samples if s.get("seconds") is not None]
    errors = sorted({s["error"] for s in samples if s.get("error")})
    if not times:
        return {"median": None, "min": None, "max": None, "n": 0, "error": errors[0] if errors else None,
                "gcc": None}
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times),
            "gcc": statistics.median(s["gcc"] for s in samples if s.get("seconds") is not None),
            "error": None}


def base_flags():
    return [f for f in os.environ.get("THEANO_FLAGS", "").split(",")
            if f and not f.startswith("base_compiledir=")]


def env_for(tmp, compiledir, cache="cache", redis_url=""):
    return dict(os.environ, THEANO_FLAGS=",".join(base_flags() + ["base_compiledir=" + compiledir]),
                FNCACHE_DIR=os.path.join(tmp, cache), FNCACHE_REDIS_URL=redis_url,
                FNCACHE_SECRET=SECRET, BENCH_PICKLE_PATH=os.path.join(tmp, "f.pkl"))


def copy_given_compiledir(target):
    """Copy THEANO_FLAGS' base_compiledir (if any) to target: a warm start nobody else locks."""
    given = [f.split("=", 1)[1] for f in os.environ.get("THEANO_FLAGS", "").split(",")
             if f.startswith("base_compiledir=")]
    if given and os.path.isdir(given[0]):
        shutil.copytree(given[0], target, symlinks=True, ignore=shutil.ignore_patterns("lock_dir"))


def bench_workload(workload, repeats, slow_repeats, cold, redis_url):
    """All contenders on one workload; slow compiles only in the first `slow_repeats` repeats.

    cold: start from an empty compiledir and keep the first stock compile as the cold sample;
    otherwise (quick mode) start from a copy of the session's compiledir and skip it.
    """
    tmp = tempfile.mkdtemp(prefix="fncache-bench-")
    warm = os.path.join(tmp, "theano")
    if not cold:
        copy_given_compiledir(warm)
    samples = {k: [] for k in CONTENDERS}
    # The first stock compile fills an empty compiledir: that is the cold sample.
    first = child(workload, "stock", env_for(tmp, warm))
    if cold:
        samples["stock_cold"].append(first)
    child(workload, "fixed", env_for(tmp, warm))  # the fixed ops' module versions, once
    store = child(workload, "fncache", env_for(tmp, warm, redis_url=redis_url))  # disk + Redis
    pickled = child(workload, "pickle_save", env_for(tmp, warm))
    results_seen = {"theano": first.get("result"), "fncache_store": store.get("result")}
    for r in range(repeats):
        if r < slow_repeats:
            samples["stock_warm"].append(child(workload, "stock", env_for(tmp, warm)))
            samples["fixed_warm"].append(child(workload, "fixed", env_for(tmp, warm)))
        samples["pickle_load"].append(child(workload, "pickle_load", env_for(tmp, warm))
                                      if pickled.get("error") is None else pickled)
        samples["fncache_disk"].append(child(workload, "fncache", env_for(tmp, warm)))
        samples["fncache_memory"].append(child(workload, "memory", env_for(tmp, warm)))
        fresh = "fresh-%d" % r  # an empty local directory: the entry comes from Redis
        samples["fncache_redis"].append(
            child(workload, "fncache", env_for(tmp, warm, cache=fresh, redis_url=redis_url)))
    shutil.rmtree(tmp, ignore_errors=True)
    summary = {name: summarize(s) for name, s in samples.items() if s}
    for name in ("fncache_disk", "fncache_redis", "pickle_load"):
        results_seen[name] = next((s.get("result") for s in samples[name] if s.get("result") is not None),
                                  None)
    summary["results"] = results_seen
    summary["same_result"] = len({v for v in results_seen.values() if v is not None}) == 1
    return summary


def padded_compiledir(workload, n_pad, repeats):
    """A disk hit with a normal compiledir against one padded with n_pad extra modules.

    The padding hard-links real modules (key.pkl and the .so) into new directories, so
    Theano's ModuleCache would read n_pad more key files; a hit must not look at them.
    Theano's own (fixed) compile in both is measured once, at the end, for reference.
    """
    tmp = tempfile.mkdtemp(prefix="fncache-bench-pad-")
    normal, padded = os.path.join(tmp, "theano"), os.path.join(tmp, "theano-padded")
    copy_given_compiledir(normal)
    child(workload, "fixed", env_for(tmp, normal))
    child(workload, "fncache", env_for(tmp, normal))
    shutil.copytree(normal, padded, symlinks=True, ignore=shutil.ignore_patterns("lock_dir"))
    inner = next(os.path.join(padded, d) for d in os.listdir(padded) if d.startswith("compiledir_"))
    modules = [os.path.join(inner, d) for d in sorted(os.listdir(inner))
               if os.path.exists(os.path.join(inner, d, "key.pkl"))]
    for i in range(n_pad):
        source = modules[i % len(modules)]
        target = os.path.join(inner, "tmppad%06d" % i)
        os.mkdir(target)
        for name in os.listdir(source):
            if name == "key.pkl" or name.endswith(".so"):
                os.link(os.path.join(source, name), os.path.join(target, name))
    samples = {"hit_normal": [], "hit_padded": [], "fixed_normal": [], "fixed_padded": []}
    for _ in range(repeats):
        samples["hit_normal"].append(child(workload, "fncache", env_for(tmp, normal)))
        samples["hit_padded"].append(child(workload, "fncache", env_for(tmp, padded)))
    samples["fixed_normal"].append(child(workload, "fixed", env_for(tmp, normal, cache="unused")))
    samples["fixed_padded"].append(child(workload, "fixed", env_for(tmp, padded, cache="unused")))
    shutil.rmtree(tmp, ignore_errors=True)
    out = {name: summarize(s) for name, s in samples.items()}
    out.update(workload=workload, modules_normal=len(modules), modules_padded=len(modules) + n_pad)
    return out


def overhead(repeats=7):
    """Per-call cost: @cached_function vs its compiled function called directly vs theano.function."""
    code = r'''
import json, timeit, numpy as np
import fncache, theano, theano.tensor as T
@fncache.cached_function
def axpy(a, x, y):
    return a * x + y
a, x, y = 2.0, np.ones(3), np.ones(3)
axpy(a, x, y)
direct = next(iter(axpy.specializations.values()))
sa, sx, sy = T.dscalar("a"), T.dvector("x"), T.dvector("y")
plain = theano.function([sa, sx, sy], sa * sx + sy)
n = 20000
res = {"decorated": [], "direct": [], "theano": []}
for _ in range(%d):
    res["theano"].append(min(timeit.repeat(lambda: plain(a, x, y), number=n, repeat=3)) / n)
    res["direct"].append(min(timeit.repeat(lambda: direct(a, x, y), number=n, repeat=3)) / n)
    res["decorated"].append(min(timeit.repeat(lambda: axpy(a, x, y), number=n, repeat=3)) / n)
print(json.dumps(res))
''' % repeats
    import json
    env = dict(os.environ, FNCACHE_DIR=tempfile.mkdtemp(prefix="fncache-bench-ovh-"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    shutil.rmtree(env["FNCACHE_DIR"], ignore_errors=True)
    if proc.returncode != 0:
        return {"error": proc.stderr[-300:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    d, c, t = (statistics.median(res[k]) for k in ("direct", "decorated", "theano"))
    return {"direct_us": d * 1e6, "decorated_us": c * 1e6, "theano_function_us": t * 1e6,
            "ratio": c / d, "ratio_vs_theano_function": c / t}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI mode: small graphs, 1 repeat")
    parser.add_argument("--workloads", default=None, help="comma-separated, e.g. mlp,big_graph:3000")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    names = args.workloads.split(",") if args.workloads else QUICK if args.quick else FULL
    repeats = args.repeats or (1 if args.quick else 5)
    report = {"machine": machine(), "mode": "quick" if args.quick else "full", "repeats": repeats,
              "workloads": {}}
    redis_dir = tempfile.mkdtemp(prefix="fncache-bench-redis-")
    redis_proc, redis_url = start_redis(redis_dir)
    try:
        for name in names:
            print("compile side: %s ..." % name, flush=True)
            slow = 1 if name.startswith("big_graph") else repeats
            report["workloads"][name] = bench_workload(name, repeats, slow, cold=not args.quick,
                                                       redis_url=redis_url)
    finally:
        redis_proc.kill()
        redis_proc.wait()
        shutil.rmtree(redis_dir, ignore_errors=True)
    print("compile side: padded compiledir ...", flush=True)
    report["padded_compiledir"] = padded_compiledir("mlp", 200 if args.quick else 3000,
                                                    1 if args.quick else 5)
    print("compile side: per-call overhead ...", flush=True)
    report["overhead"] = overhead(2 if args.quick else 7)
    path = write_json("compile.json", report)
    print("wrote %s" % path)
    return report


if __name__ == "__main__":
    main()
