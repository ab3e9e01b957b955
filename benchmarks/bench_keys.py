"""Graph-key speed: nodes per second against graph size, next to Theano's compile of the same graph.

Usage: .venv/bin/python benchmarks/bench_keys.py [--quick]
Writes benchmarks/results/keys.json.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

import fncache  # noqa: E402
import theano  # noqa: E402
from fncache.keys.graph import signature  # noqa: E402

import workloads  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [100, 1000, 5000] if args.quick else [100, 1000, 5000, 10000, 20000]
    compile_at = 1000 if args.quick else 10000
    rows = []
    for size in sizes:
        w = workloads.big_graph(size)
        nodes = len(theano.gof.graph.ops(w.inputs, [w.outputs]))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            signature(w.inputs, w.outputs, **w.kwargs)
            times.append(time.perf_counter() - start)
        row = {"nodes": nodes, "key_seconds": statistics.median(times),
               "nodes_per_second": nodes / statistics.median(times)}
        if size == compile_at:
            start = time.perf_counter()
            theano.function(w.inputs, w.outputs, **w.kwargs)
            row["theano_compile_seconds"] = time.perf_counter() - start
        rows.append(row)
        print("%6d nodes: key %.1f ms (%.0f nodes/s)%s" % (
            nodes, row["key_seconds"] * 1000, row["nodes_per_second"],
            ", Theano compile %.1f s" % row["theano_compile_seconds"]
            if "theano_compile_seconds" in row else ""), flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "keys.json"), "w") as f:
        json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
