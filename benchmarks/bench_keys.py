"""Scaling with graph size: key time, Theano's compile and a disk hit, 100 to 20,000 apply nodes.

Usage: .venv/bin/python benchmarks/bench_keys.py [--quick]

The graph is examples/workloads.py's big_graph(n): an elementwise chain broken by a sort
every 20 steps. For each size: the graph key (fncache.backends.theano.graph.signature) timed in this
process (median and min of 5, a fresh graph each time); then, in fresh processes, the first
fncache.function call (Theano's compile with fncache's fixes, plus keying and storing) and
disk hits. Key time per node says whether keying is linear. Writes keys.json.
"""
import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
from common import write_json  # noqa: E402
from run import child, copy_given_compiledir, env_for, summarize  # noqa: E402

import fncache  # noqa: E402,F401
import theano  # noqa: E402
from fncache.backends.theano.graph import signature  # noqa: E402

import workloads  # noqa: E402


def key_time(size, repeats=5):
    """(apply nodes, key seconds: median and min); a fresh graph each time, garbage collected first."""
    times = []
    for _ in range(repeats):
        w = workloads.big_graph(size)
        gc.collect()  # the last graph's garbage is not the key's cost
        start = time.perf_counter()
        signature(w.inputs, w.outputs, **w.kwargs)
        times.append(time.perf_counter() - start)
    return len(theano.gof.graph.ops(w.inputs, [w.outputs])), statistics.median(times), min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one hit per size")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(100000)
    sizes = [100, 300, 1000] if args.quick else [100, 1000, 3000, 10000, 20000]
    hits = 1 if args.quick else 3
    tmp = tempfile.mkdtemp(prefix="fncache-bench-keys-")
    compiledir = os.path.join(tmp, "theano")
    copy_given_compiledir(compiledir)
    rows = []
    try:
        for size in sizes:
            nodes, seconds, best = key_time(size)
            row = {"size": size, "nodes": nodes, "key_seconds": seconds, "key_seconds_min": best,
                   "nodes_per_second": nodes / seconds, "key_us_per_node": seconds / nodes * 1e6}
            env = env_for(tmp, compiledir, cache="cache-%d" % size)
            name = "big_graph:%d" % size
            first = child(name, "fncache", env)  # a miss: compile + store
            row["first_call"] = summarize([first])
            row["disk_hit"] = summarize([child(name, "fncache", env) for _ in range(hits)])
            rows.append(row)
            print("%6d nodes: key %.1f ms (%.0f nodes/s, %.2f us/node), first call %s s, "
                  "disk hit %s s" % (nodes, seconds * 1e3, row["nodes_per_second"],
                                     row["key_us_per_node"], first.get("seconds"),
                                     row["disk_hit"]["median"]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_json("keys.json",
               {"mode": "quick" if args.quick else "full", "graph": "big_graph(n)", "rows": rows})


if __name__ == "__main__":
    main()
