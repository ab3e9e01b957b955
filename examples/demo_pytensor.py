"""The PyTensor demo: PyMC's sampler and a training function in fresh processes, with and
without fncache.

Run:  make demo        (or: .venv-pytensor/bin/python examples/demo_pytensor.py)

It starts fresh Python processes that each
  1. run plain PyTensor (its own caches warm: what you pay today at every start),
  2. run under fncache, first time: compiles and stores every function,
  3. run under fncache again in a new process: loads them instead,
for ``pm.sample`` on a hierarchical model (``fncache.install()``: PyMC is unchanged; the
time is that of its ``pytensor.function`` calls) and for an MLP with SGD updates in
PyTensor's C mode (time to a ready function), and checks that all three computed the same
numbers, bit for bit. ``--quick`` (or FNCACHE_EXAMPLE_QUICK=1): an elementwise graph
instead of the MLP.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

PYMC_CHILD = r'''
import json, sys, time
sys.path.insert(0, %(here)r)
import fncache
if sys.argv[1] == "fncache":
    fncache.install()
spent = [0.0]
import pytensor, pytensor.compile
import pymc_model
function = pytensor.function  # fncache's, once installed; PyMC looks it up at each call
def timed(*a, **k):
    t = time.perf_counter()
    try:
        return function(*a, **k)
    finally:
        spent[0] += time.perf_counter() - t
pytensor.function = timed
seconds, draws = pymc_model.sample()
print(json.dumps({"seconds": spent[0], "sample": seconds, "result": draws}))
'''

MLP_CHILD = r'''
import json, os, sys, time
sys.path.insert(0, %(here)r)
import fncache, pytensor, workloads_pytensor
quick = os.environ.get("FNCACHE_EXAMPLE_QUICK") == "1"  # the tests: a small graph
w = workloads_pytensor.ew() if quick else workloads_pytensor.mlp()
make = pytensor.function if sys.argv[1] == "pytensor" else fncache.function
start = time.perf_counter()
f = make(w.inputs, w.outputs, mode="CVM", **w.kwargs)
seconds = time.perf_counter() - start
losses = []
for _ in range(3):
    out = f(*w.data)
    losses.append([float(o.sum()) for o in (out if isinstance(out, list) else [out])])
print(json.dumps({"seconds": seconds, "result": losses}))
'''


def run(child, how, cache_dir):
    env = dict(os.environ, FNCACHE_DIR=cache_dir)
    proc = subprocess.run([sys.executable, "-c", child % {"here": HERE}, how],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit("demo child failed:\n" + proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(seconds):
    return "%.3f s" % seconds if seconds >= 0.1 else "%.1f ms" % (seconds * 1000)


def main():
    if "--quick" in sys.argv:
        os.environ["FNCACHE_EXAMPLE_QUICK"] = "1"
    cache_dir = tempfile.mkdtemp(prefix="fncache-demo-pytensor-")
    print("fncache + PyTensor demo: fresh processes (cache directory %s)" % cache_dir)
    rows = [("pm.sample: time in pytensor.function", PYMC_CHILD),
            ("%s (CVM): time to a ready function" % (
                "elementwise + grad" if os.environ.get("FNCACHE_EXAMPLE_QUICK") == "1"
                else "MLP + SGD"), MLP_CHILD)]
    for _, child in rows:
        run(child, "pytensor", cache_dir)  # warm PyTensor's own caches (Numba, C) first
    header = "%-44s %16s %16s %16s %9s" % ("", "PyTensor (warm)", "fncache 1st", "fncache 2nd",
                                            "speed-up")
    print(header)
    print("-" * len(header))
    for label, child in rows:
        plain = run(child, "pytensor", cache_dir)
        first = run(child, "fncache", cache_dir)
        second = run(child, "fncache", cache_dir)
        same = plain["result"] == first["result"] == second["result"]
        print("%-44s %16s %16s %16s %8.0fx%s" % (
            label, fmt(plain["seconds"]), fmt(first["seconds"]), fmt(second["seconds"]),
            plain["seconds"] / max(second["seconds"], 1e-9), "" if same else "  (RESULTS DIFFER!)"))
        if not same:
            sys.exit("results differ between PyTensor and fncache: %r %r %r"
                     % (plain, first, second))
    print("\nPyMC's draws and the training losses were identical in all runs, bit for bit.")


if __name__ == "__main__":
    main()
