"""Keras conv net benchmark: the time Keras spends in theano.function, plain Theano against fncache.

Usage: .venv/bin/python benchmarks/bench_keras.py [--quick] [--repeats N]

Runs examples/keras_convnet.py (Keras 2.3.1, Theano backend: Conv2D, BatchNormalization,
MaxPooling2D, Dense; training, evaluation, prediction) unchanged, each run in a fresh
process with a warm Theano compiledir (a copy of the session's). The child times every
theano.function call the program makes (Keras builds about twenty) and the whole run;
contenders alternate within each repeat:
  stock        Theano 1.0.5 as users have it (only what it needs to run on this Python)
  fixed        Theano with fncache's warm-compiledir fixes
  fncache_hit  under fncache.install(), every function already in the cache (disk hits)
After a warm-up run of each (the compiledir learns each contender's modules; fncache
stores its entries), the predictions of every run are compared, byte for byte.
Writes keras.json in the results directory (see benchmarks/common.py).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import machine, write_json  # noqa: E402
from run import base_flags, copy_given_compiledir  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(HERE), "examples", "keras_convnet.py")
CONTENDERS = ("stock", "fixed", "fncache_hit")

CHILD = r'''
import contextlib, io, json, runpy, sys, time
contender, program = sys.argv[1], sys.argv[2]
started = time.perf_counter()
import fncache, theano
if contender == "stock":
    from fncache.backends.theano.compat import cversion, probes
    cversion.restore_theano_originals()
    probes.restore_theano_original()
if contender.startswith("fncache"):
    fncache.install()
real, spent = theano.function, []

def timed(*args, **kwargs):
    t = time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        spent.append(time.perf_counter() - t)

theano.function = timed
out = io.StringIO()
sys.argv = [program]
with contextlib.redirect_stdout(out):
    runpy.run_path(program, run_name="__main__")
from fncache.observe import counters
s = counters.session()
print(json.dumps({"function_seconds": sum(spent), "functions": len(spent),
                  "run_seconds": time.perf_counter() - started, "output": out.getvalue(),
                  "compiles": s.get("compile.count", 0), "hits": s.get("compiled.hits", 0)}))
'''


def child(contender, env):
    proc = subprocess.run([sys.executable, "-c", CHILD, contender, PROGRAM], capture_output=True,
                          text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return {"error": "exit %d: %s" % (proc.returncode, proc.stderr[-300:])}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(samples, field):
    values = [s[field] for s in samples if field in s]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0,
                "error": next((s["error"] for s in samples if "error" in s), None)}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, one epoch")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    tmp = tempfile.mkdtemp(prefix="fncache-bench-keras-")
    compiledir = os.path.join(tmp, "theano")
    copy_given_compiledir(compiledir)
    env = dict(os.environ, THEANO_FLAGS=",".join(base_flags() + ["base_compiledir=" + compiledir]),
               FNCACHE_DIR=os.path.join(tmp, "cache"), KERAS_BACKEND="theano",
               FNCACHE_EXAMPLE_QUICK="1" if args.quick else "0")
    warmup = {name: child(name, env) for name in CONTENDERS}  # fncache_hit: compiles and stores
    samples = {name: [] for name in CONTENDERS}
    for _ in range(repeats):
        for name in CONTENDERS:
            print("keras: %s ..." % name, flush=True)
            samples[name].append(child(name, env))
    shutil.rmtree(tmp, ignore_errors=True)
    outputs = {s.get("output") for runs in list(samples.values()) + [list(warmup.values())]
               for s in runs if "output" in s}
    report = {"machine": machine(), "mode": "quick" if args.quick else "full", "repeats": repeats,
              "program": "examples/keras_convnet.py",
              "functions": samples["fncache_hit"][0].get("functions"),
              "store_run": {k: warmup["fncache_hit"].get(k) for k in
                            ("function_seconds", "run_seconds", "compiles", "hits", "error")},
              "hit_compiles": max(s.get("compiles", -1) for s in samples["fncache_hit"]),
              "function_seconds": {n: summarize(s, "function_seconds") for n, s in samples.items()},
              "run_seconds": {n: summarize(s, "run_seconds") for n, s in samples.items()},
              "same_predictions": len(outputs) == 1}
    f = report["function_seconds"]
    for base in ("stock", "fixed"):
        if f[base]["median"] and f["fncache_hit"]["median"]:
            report["speedup_vs_" + base] = f[base]["median"] / f["fncache_hit"]["median"]
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1))
    print("wrote %s" % write_json("keras.json", report))
    return report


if __name__ == "__main__":
    main()
