"""Keras benchmark: the time Keras spends in theano.function, plain Theano against fncache.

Usage: .venv/bin/python benchmarks/bench_keras.py [--program keras_convnet|keras_mlp_lstm]
                                                  [--quick] [--repeats N]

Runs an example program unchanged (examples/keras_convnet.py: Conv2D, BatchNormalization,
MaxPooling2D, Dense, about twenty theano.function calls; examples/keras_mlp_lstm.py: an MLP
with dropout and adam and an LSTM with rmsprop, 24 calls of 19 functions), each run in a
fresh process with a warm Theano compiledir (a copy of the session's). The child times
every theano.function call the program makes, `import fncache, theano`, and the whole run
from just before `import fncache`; contenders alternate within each repeat:
  stock          Theano 1.0.5 as users have it (only what it needs to run on this Python)
  fixed          Theano with fncache's warm-compiledir fixes
  fncache_first  under fncache.install(), a new cache directory: compile and store
  fncache_hit    under fncache.install(), every function already in the cache (disk hits)
After a warm-up run of each (the compiledir learns each contender's modules; fncache
stores its entries), the predictions of every run are compared, byte for byte.
Writes keras.json (keras_convnet) or keras_mlp_lstm.json in the results directory (see
benchmarks/common.py).
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

EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")
CONTENDERS = ("stock", "fixed", "fncache_first", "fncache_hit")
RESULTS = {"keras_convnet": "keras.json", "keras_mlp_lstm": "keras_mlp_lstm.json"}

CHILD = r'''
import contextlib, io, json, runpy, sys, time
contender, program = sys.argv[1], sys.argv[2]
started = time.perf_counter()
import fncache, theano
if contender == "stock":
    from fncache.backends.theano.compat import cversion, probes
    cversion.restore_theano_originals()
    probes.restore_theano_original()
imported = time.perf_counter() - started
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
                  "import_seconds": imported,
                  "run_seconds": time.perf_counter() - started, "output": out.getvalue(),
                  "compiles": s.get("compile.count", 0), "hits": s.get("compiled.hits", 0)}))
'''


def child(contender, program, env):
    proc = subprocess.run([sys.executable, "-c", CHILD, contender, program], capture_output=True,
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
    parser.add_argument("--program", choices=sorted(RESULTS), default="keras_convnet")
    parser.add_argument("--quick", action="store_true", help="one repeat, one epoch")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    program = os.path.join(EXAMPLES, args.program + ".py")
    repeats = args.repeats or (1 if args.quick else 5)
    tmp = tempfile.mkdtemp(prefix="fncache-bench-keras-")
    compiledir = os.path.join(tmp, "theano")
    copy_given_compiledir(compiledir)
    env = dict(os.environ, THEANO_FLAGS=",".join(base_flags() + ["base_compiledir=" + compiledir]),
               FNCACHE_DIR=os.path.join(tmp, "cache"), KERAS_BACKEND="theano",
               FNCACHE_EXAMPLE_QUICK="1" if args.quick else "0")
    warmup = {name: child(name, program, env) for name in CONTENDERS}  # fncache_*: store
    samples = {name: [] for name in CONTENDERS}
    for r in range(repeats):
        for name in CONTENDERS:
            print("keras: %s ..." % name, flush=True)
            run_env = env
            if name == "fncache_first":  # a new cache directory: every function is a miss
                run_env = dict(env, FNCACHE_DIR=os.path.join(tmp, "first-%d" % r))
            samples[name].append(child(name, program, run_env))
    shutil.rmtree(tmp, ignore_errors=True)
    outputs = {s.get("output") for runs in list(samples.values()) + [list(warmup.values())]
               for s in runs if "output" in s}
    report = {"machine": machine(), "mode": "quick" if args.quick else "full", "repeats": repeats,
              "program": "examples/%s.py" % args.program,
              "functions": samples["fncache_hit"][0].get("functions"),
              "store_run": {k: warmup["fncache_first"].get(k) for k in
                            ("function_seconds", "run_seconds", "compiles", "hits", "error")},
              "hit_compiles": max(s.get("compiles", -1) for s in samples["fncache_hit"]),
              "function_seconds": {n: summarize(s, "function_seconds") for n, s in samples.items()},
              "run_seconds": {n: summarize(s, "run_seconds") for n, s in samples.items()},
              "import_seconds": {n: summarize(s, "import_seconds") for n, s in samples.items()},
              "first_compiles": max(s.get("compiles", -1) for s in samples["fncache_first"]),
              "same_predictions": len(outputs) == 1}
    f = report["function_seconds"]
    for base in ("stock", "fixed"):
        if f[base]["median"] and f["fncache_hit"]["median"]:
            report["speedup_vs_" + base] = f[base]["median"] / f["fncache_hit"]["median"]
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1))
    print("wrote %s" % write_json(RESULTS[args.program], report))
    return report


if __name__ == "__main__":
    main()
