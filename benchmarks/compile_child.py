"""One measurement in a fresh process: time to a ready function, by one contender.

Usage: compile_child.py WORKLOAD[:SIZE] CONTENDER
Contenders:
  stock        Theano 1.0.5 as users have it (only what it needs to run on this Python;
               fncache's warm-compiledir fixes and probe cache switched off), theano.function
  fixed        Theano with fncache's compat fixes, theano.function
  fncache      fncache.function (a disk hit when the entry exists, else compile + store)
  memory       fncache.function twice in one process: the second call is a memory-tier hit
  pickle_save  theano.function, then pickle.dump of the Function (do-it-yourself caching)
  pickle_load  pickle.load of that file
Prints one JSON line: seconds, gcc runs, and the first losses (to check equal results).
"""
import json
import os
import pickle
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
workload_name, contender = sys.argv[1], sys.argv[2]

import fncache  # noqa: E402  (its import hook makes Theano importable on this Python)
import theano  # noqa: E402

if contender in ("stock", "pickle_save", "pickle_load"):
    from fncache.backends.theano.compat import cversion, probes
    cversion.restore_theano_originals()
    probes.restore_theano_original()

from theano.gof import cmodule  # noqa: E402

import workloads  # noqa: E402

gcc_runs = [0]
_compile_str = cmodule.GCC_compiler.compile_str


def _counting(*a, **k):
    gcc_runs[0] += 1
    return _compile_str(*a, **k)


cmodule.GCC_compiler.compile_str = staticmethod(_counting)
pickle_path = os.environ.get("BENCH_PICKLE_PATH", "/tmp/fncache-bench.pkl")
sys.setrecursionlimit(100000)


def build(name):
    """A workload by name; "big_graph:3000" passes the size."""
    name, _, size = name.partition(":")
    return workloads.ALL[name](int(size)) if size else workloads.ALL[name]()


w = build(workload_name)
error = None
start = time.perf_counter()
try:
    if contender in ("stock", "fixed"):
        f = theano.function(w.inputs, w.outputs, **w.kwargs)
    elif contender == "fncache":
        f = fncache.function(w.inputs, w.outputs, **w.kwargs)
    elif contender == "memory":
        fncache.function(w.inputs, w.outputs, **w.kwargs)
        w = build(workload_name)  # the same graph, built again
        start = time.perf_counter()
        f = fncache.function(w.inputs, w.outputs, **w.kwargs)
    elif contender == "pickle_save":
        f = theano.function(w.inputs, w.outputs, **w.kwargs)
        with open(pickle_path, "wb") as fh:
            pickle.dump(f, fh, protocol=pickle.HIGHEST_PROTOCOL)
    elif contender == "pickle_load":
        with open(pickle_path, "rb") as fh:
            f = pickle.load(fh)
    seconds = time.perf_counter() - start
    out = f(*w.data)
    first = out[0] if isinstance(out, list) else out
    losses = float(first.sum())
except Exception as exc:  # the do-it-yourself route fails on some graphs: report it
    seconds, losses, error = None, None, "%s: %s" % (type(exc).__name__, str(exc)[:120])
print(json.dumps({"seconds": seconds, "gcc": gcc_runs[0], "result": losses, "error": error}))
