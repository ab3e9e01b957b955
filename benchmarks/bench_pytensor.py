"""PyTensor: time to a ready function, plain PyTensor against fncache, NUMBA and CVM.

Usage: .venv-pytensor/bin/python benchmarks/bench_pytensor.py [--quick] [--runs N]

Each contender is a fresh process (alternating, so drifts of a shared machine hit all
alike); "ready" is the build plus the first call (Numba compiles at the first call):

  plain cold    PyTensor, empty base_compiledir (C compiler and LLVM run)
  plain warm    PyTensor, its own caches warm (what a user pays at every start)
  disk hit      fncache, entry on disk, PyTensor's caches warm
  fresh node    fncache, entry on disk, empty base_compiledir (modules and Numba files
                come with the entry)
  memory hit    the same graph built again in the process that loaded it

For a NUMBA hit the child also times the per-process setup every NUMBA function pays,
hit or not (import numba, import pytensor.link.numba.dispatch, Numba's target refresh).
The PyMC model times the ``pytensor.function`` calls of ``pm.sample`` under
``fncache.install()``. Results: benchmarks/results/pytensor.json.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

EXAMPLES = os.path.join(common.ROOT, "examples")

CHILD = r'''
import json, sys, time
T0 = time.perf_counter()
sys.path.insert(0, %(examples)r)
how, workload, mode = sys.argv[1:4]
import fncache
import pytensor
t_import = time.perf_counter() - T0
setup = {}
t_start = time.perf_counter()  # ready counts the setup too: plain pays it inside its build
if mode == "NUMBA" and how != "plain":
    t = time.perf_counter(); import numba; setup["import_numba"] = time.perf_counter() - t
    t = time.perf_counter(); import pytensor.link.numba.dispatch
    setup["import_dispatch"] = time.perf_counter() - t
    t = time.perf_counter()
    from numba.core.registry import cpu_target
    cpu_target.target_context.refresh()
    setup["target_refresh"] = time.perf_counter() - t
import workloads_pytensor
w = workloads_pytensor.ALL[workload]()
make = pytensor.function if how == "plain" else fncache.function
t = time.perf_counter()
f = make(w.inputs, w.outputs, mode=mode, **w.kwargs)
t_build = time.perf_counter() - t
f(*w.data)
first_call = time.perf_counter() - t - t_build
ready = time.perf_counter() - t_start
out = {"ready": ready, "build": t_build, "first_call": first_call, "import": t_import,
       "process": time.perf_counter() - T0, "setup": setup}
if how == "memory":
    w2 = workloads_pytensor.ALL[workload]()
    t = time.perf_counter()
    g = fncache.function(w2.inputs, w2.outputs, mode=mode, **w2.kwargs)
    g(*w2.data)
    out["memory_ready"] = time.perf_counter() - t
out["compiled"] = fncache.stats(session_only=True)["compiled"]
print("RESULT " + json.dumps(out))
'''

PYMC_CHILD = r'''
import json, sys, time
T0 = time.perf_counter()
sys.path.insert(0, %(examples)r)
import fncache
if sys.argv[1] != "plain":
    fncache.install()
import pytensor
spent = [0.0, 0]
function = pytensor.function
def timed(*a, **k):
    t = time.perf_counter()
    try:
        return function(*a, **k)
    finally:
        spent[0] += time.perf_counter() - t
        spent[1] += 1
pytensor.function = timed
import pymc_model
seconds, draws = pymc_model.sample()
print("RESULT " + json.dumps({"ready": spent[0], "calls": spent[1], "sample": seconds,
                              "process": time.perf_counter() - T0, "draws": draws,
                              "compiled": fncache.stats(session_only=True)["compiled"]}))
'''


def run(child, args, base, cache, timeout=1800):
    env = dict(os.environ, PYTENSOR_FLAGS="base_compiledir=" + base, FNCACHE_DIR=cache)
    proc = subprocess.run([sys.executable, "-c", child % {"examples": EXAMPLES}] + list(args),
                          capture_output=True, text=True, env=env, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError("child %s failed:\n%s" % (args, proc.stderr[-3000:]))


def stat(values):
    values = sorted(values)
    return {"median": statistics.median(values), "min": values[0], "max": values[-1],
            "n": len(values)}


def bench(child, args, runs, cold_runs, work):
    """{contender: {"ready": stat, "rows": [...]}} for one workload and mode."""
    warm = os.path.join(work, "warm")
    cache = os.path.join(work, "cache-" + "-".join(args))
    rows = {"plain_cold": [], "plain_warm": [], "disk_hit": [], "fresh_node": [],
            "memory_hit": []}
    for _ in range(cold_runs):
        empty = tempfile.mkdtemp(dir=work)
        rows["plain_cold"].append(run(child, ["plain"] + args, empty, cache))
        shutil.rmtree(empty, ignore_errors=True)
    run(child, ["plain"] + args, warm, cache)  # PyTensor's own caches warm
    run(child, ["fncache"] + args, warm, cache)  # the entry stored
    for _ in range(runs):
        rows["plain_warm"].append(run(child, ["plain"] + args, warm, cache))
        rows["disk_hit"].append(run(child, ["memory" if child is CHILD else "fncache"] + args,
                                    warm, cache))
        empty = tempfile.mkdtemp(dir=work)
        rows["fresh_node"].append(run(child, ["fncache"] + args, empty, cache))
        shutil.rmtree(empty, ignore_errors=True)
    if child is CHILD:
        rows["memory_hit"] = [dict(r, ready=r["memory_ready"]) for r in rows["disk_hit"]]
    out = {}
    for name, rs in rows.items():
        if rs:
            out[name] = {"ready": stat([r["ready"] for r in rs]),
                         "process": stat([r["process"] for r in rs]), "rows": rs}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run, small set, no cold runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="comma-separated workload:MODE cases")
    args = parser.parse_args(argv)
    cases = [("hier", "NUMBA"), ("hier", "CVM"), ("mlp", "NUMBA"), ("mlp", "CVM"),
             ("rnn", "NUMBA"), ("rnn", "CVM"), ("pymc", "NUMBA")]
    if args.only:
        cases = [tuple(c.split(":")) for c in args.only.split(",")]
    if args.quick:
        cases = [("ew", "NUMBA"), ("ew", "CVM")]
    runs, cold_runs = (1, 0) if args.quick else (args.runs, 1)
    work = tempfile.mkdtemp(prefix="fncache-bench-pytensor-")
    results = []
    try:
        for workload, mode in cases:
            started = time.perf_counter()
            if workload == "pymc":
                contenders = bench(PYMC_CHILD, [], runs, cold_runs, work)
            else:
                contenders = bench(CHILD, [workload, mode], runs, cold_runs, work)
            results.append({"workload": workload, "mode": mode, "contenders": contenders})
            print("%-6s %-6s %s  (%.0f s)" % (workload, mode, "  ".join(
                "%s %.3f" % (k, v["ready"]["median"]) for k, v in contenders.items()),
                time.perf_counter() - started), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import pytensor
    data = {"mode": "quick" if args.quick else "full", "machine": common.machine("pytensor"),
            "versions": {"pytensor": pytensor.__version__, "python": sys.version.split()[0]},
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results}
    common.write_json("pytensor.json", data)


if __name__ == "__main__":
    sys.exit(main())
