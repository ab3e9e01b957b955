"""Compile-side benchmark: time to a ready function in a fresh process, side by side.

Usage: .venv/bin/python benchmarks/run.py [--quick] [--workloads mlp,rnn,...] [--repeats N]

Every measurement runs in its own fresh Python process (benchmarks/compile_child.py);
contenders alternate within each repeat, and medians with min-max are reported.
Writes benchmarks/results/compile.json, then regenerates BENCHMARKS.md.
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
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "compile_child.py")
RESULTS = os.path.join(HERE, "results")


def child(workload, contender, env):
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


def bench_workload(workload, repeats, cold):
    base_env = dict(os.environ)
    tmp = tempfile.mkdtemp(prefix="fncache-bench-")
    warm_compiledir = os.path.join(tmp, "theano-warm")
    flags = [f for f in base_env.get("THEANO_FLAGS", "").split(",") if f and "compiledir" not in f]

    def env_for(compiledir, cache="cache"):
        return dict(base_env, THEANO_FLAGS=",".join(flags + ["base_compiledir=" + compiledir]),
                    FNCACHE_DIR=os.path.join(tmp, cache), BENCH_PICKLE_PATH=os.path.join(tmp, "f.pkl"))

    samples = {k: [] for k in ("stock_cold", "stock_warm", "fixed_warm", "pickle_load",
                               "fncache_disk", "fncache_memory")}
    # Warm the compiledir (and both fixed and stock module versions) before timing anything.
    child(workload, "stock", env_for(warm_compiledir))
    child(workload, "fixed", env_for(warm_compiledir))
    store = child(workload, "fncache", env_for(warm_compiledir))
    pickled = child(workload, "pickle_save", env_for(warm_compiledir))
    results_seen = {"theano": store.get("result")}
    for r in range(repeats):
        if cold and r == 0:
            cold_dir = os.path.join(tmp, "theano-cold-%d" % r)
            samples["stock_cold"].append(child(workload, "stock", env_for(cold_dir)))
            shutil.rmtree(cold_dir, ignore_errors=True)
        samples["stock_warm"].append(child(workload, "stock", env_for(warm_compiledir)))
        samples["fixed_warm"].append(child(workload, "fixed", env_for(warm_compiledir)))
        if pickled.get("error") is None:
            samples["pickle_load"].append(child(workload, "pickle_load", env_for(warm_compiledir)))
        else:
            samples["pickle_load"].append(pickled)
        disk = child(workload, "fncache", env_for(warm_compiledir))
        samples["fncache_disk"].append(disk)
        samples["fncache_memory"].append(child(workload, "memory", env_for(warm_compiledir)))
        results_seen.setdefault("fncache", disk.get("result"))
    shutil.rmtree(tmp, ignore_errors=True)
    summary = {name: summarize(s) for name, s in samples.items() if s}
    summary["same_result"] = results_seen["theano"] == results_seen.get("fncache")
    return summary


def overhead(repeats=7):
    """Per-call cost of a @cached_function against calling the compiled function directly."""
    code = r'''
import json, timeit, numpy as np
import fncache, theano, theano.tensor as T
@fncache.cached_function
def axpy(a, x, y):
    return a * x + y
a, x, y = 2.0, np.ones(3), np.ones(3)
axpy(a, x, y)
direct = next(iter(axpy.specializations.values()))
n = 20000
res = {"decorated": [], "direct": []}
for _ in range(%d):
    res["direct"].append(min(timeit.repeat(lambda: direct(a, x, y), number=n, repeat=3)) / n)
    res["decorated"].append(min(timeit.repeat(lambda: axpy(a, x, y), number=n, repeat=3)) / n)
print(json.dumps(res))
''' % repeats
    env = dict(os.environ, FNCACHE_DIR=tempfile.mkdtemp(prefix="fncache-bench-ovh-"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr[-300:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    d, c = statistics.median(res["direct"]), statistics.median(res["decorated"])
    return {"direct_us": d * 1e6, "decorated_us": c * 1e6, "ratio": c / d}


def machine():
    import numpy
    import theano
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "theano": theano.__version__, "numpy": numpy.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI mode: fewer repeats, no cold runs")
    parser.add_argument("--workloads", default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    names = (args.workloads.split(",") if args.workloads else
             ["mlp", "rnn", "logreg", "dropout"] if args.quick else
             ["mlp", "rnn", "logreg", "dropout", "multi_output", "big_graph"])
    repeats = args.repeats or (1 if args.quick else 5)
    sys.path.insert(0, os.path.join(HERE, ".."))
    import fncache  # noqa: F401
    report = {"machine": machine(), "mode": "quick" if args.quick else "full", "workloads": {}}
    for name in names:
        print("benchmarking %s ..." % name, flush=True)
        report["workloads"][name] = bench_workload(name, repeats, cold=not args.quick)
    report["overhead"] = overhead(3 if args.quick else 7)
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, "compile-quick.json" if args.quick else "compile.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    import report as report_page
    print(report_page.compile_table(report))
    if not args.quick:
        report_page.write_page()


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
