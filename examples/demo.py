"""The main demo: the same training functions compiled in fresh processes, with and without fncache.

Run:  make demo        (or: .venv/bin/python examples/demo.py)

For a multi-layer network (SGD updates on shared weights) and a scan RNN
(clipped gradients, momentum), it starts fresh Python processes that each
build the function and train a few steps:
  1. plain Theano (warm compiledir: what you pay today at every start),
  2. fncache, first run: compiles and stores the function,
  3. fncache, second run in a new process: loads it instead of compiling.
and prints the time to get a ready function in each, side by side, and checks
that all three trained to the same numbers.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r'''
import json, sys, time
sys.path.insert(0, %(here)r)
import fncache, workloads
import theano
w = workloads.ALL[sys.argv[1]]()
make = theano.function if sys.argv[2] == "theano" else fncache.function
start = time.perf_counter()
f = make(w.inputs, w.outputs, **w.kwargs)
seconds = time.perf_counter() - start
losses = [float(f(*w.data)) for _ in range(3)]
print(json.dumps({"seconds": seconds, "losses": losses}))
'''


def run(workload, how, cache_dir):
    env = dict(os.environ, FNCACHE_DIR=cache_dir)
    proc = subprocess.run([sys.executable, "-c", CHILD % {"here": HERE}, workload, how],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit("demo child failed:\n" + proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(seconds):
    return "%.3f s" % seconds if seconds >= 0.1 else "%.1f ms" % (seconds * 1000)


def main():
    cache_dir = tempfile.mkdtemp(prefix="fncache-demo-")
    print("fncache demo: time to a ready training function in a fresh process")
    print("(cache directory %s; the first Theano run also warms Theano's compiledir)\n" % cache_dir)
    for workload in ("mlp", "rnn"):
        run(workload, "theano", cache_dir)  # warm Theano's own compiledir first
    header = "%-10s %22s %22s %22s %9s" % ("workload", "theano + fixes (warm)",
                                            "fncache 1st (compile)", "fncache 2nd (load)", "speed-up")
    print(header)
    print("-" * len(header))
    for workload in ("mlp", "rnn"):
        plain = run(workload, "theano", cache_dir)
        first = run(workload, "fncache", cache_dir)
        second = run(workload, "fncache", cache_dir)
        same = plain["losses"] == first["losses"] == second["losses"]
        print("%-10s %22s %22s %22s %8.0fx%s" % (
            workload, fmt(plain["seconds"]), fmt(first["seconds"]), fmt(second["seconds"]),
            plain["seconds"] / second["seconds"], "" if same else "  (RESULTS DIFFER!)"))
        if not same:
            sys.exit("results differ between Theano and fncache: %r %r %r" % (plain, first, second))
    print("\nAll runs trained to identical losses, bit for bit.")


if __name__ == "__main__":
    main()
