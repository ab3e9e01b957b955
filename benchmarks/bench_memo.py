"""Memo hit latency, first-call overhead and disk use: fncache.memoize vs joblib.Memory vs diskcache.

    .venv/bin/python benchmarks/bench_memo.py [--quick]

One function, ``make(n, seed)`` (a normal sample of ``n`` float64), memoized by each contender
in its own fresh directory, for a small (1 kB) and a large (100 MB; ``--quick``: 20 MB)
output. Inputs are two integers, so the numbers are about storing and loading results, not
hashing inputs (benchmarks/bench_hashing.py measures that).

- fncache memory tier: hits in the process that computed the result;
- disk tier: fncache with its memory tier emptied before every call (not timed), joblib.Memory
  (default, and ``mmap_mode='r'``), diskcache's ``Cache.memoize``; these alternate call by call,
  so drift hits them alike. The page cache is warm for all of them.
- first-call overhead: the first call's time minus the plain function's time;
- disk use: growth of each contender's directory after storing the result.

Medians are reported, never asserted. Writes benchmarks/results/memo.json.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

import diskcache
import joblib

import fncache
from fncache.store import current

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import results_path  # noqa: E402


def make(n, seed):
    return np.random.default_rng(seed).standard_normal(n)


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def timed(fn, *args):
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def _forget():
    """Before a disk hit: nothing of the result in this process (memory tier, checked reads)."""
    current().memory.clear()
    fncache.memo.forget_reads()


def contenders(base):
    """name -> (memoized function, directory, before-call hook)."""
    dirs = {name: os.path.join(base, name) for name in ("fncache", "joblib", "joblib-mmap",
                                                          "diskcache")}
    for d in dirs.values():
        os.makedirs(d)
    fncache.configure(directory=dirs["fncache"])
    current()  # open the directory now: a process pays this once, not per result
    ours = fncache.memoize(make, min_seconds=0)
    dc = diskcache.Cache(dirs["diskcache"])
    return {
        "fncache disk": (ours, dirs["fncache"], _forget),
        "joblib.Memory": (joblib.Memory(dirs["joblib"], verbose=0).cache(make),
                          dirs["joblib"], None),
        "joblib.Memory mmap_mode='r'": (
            joblib.Memory(dirs["joblib-mmap"], mmap_mode="r", verbose=0).cache(make),
            dirs["joblib-mmap"], None),
        "diskcache memoize": (dc.memoize()(make), dirs["diskcache"], None),
    }


def run_case(label, n, repeats, base):
    plain = statistics.median(timed(make, n, 1) for _ in range(3 if n > 1000 else 51))
    row = {"output": label, "nbytes": n * 8, "plain_call_s": plain, "contenders": {}}
    funcs = contenders(os.path.join(base, label.replace(" ", "")))
    ours = funcs["fncache disk"][0]
    # first calls (miss + store), disk use
    for name, (fn, directory, _) in funcs.items():
        before = du(directory)
        first = timed(fn, n, 1)
        row["contenders"][name] = {"first_call_s": first, "first_call_overhead_s": first - plain,
                                   "disk_bytes": du(directory) - before, "hit_samples_s": []}
    # memory tier: the process that computed it
    samples = [timed(ours, n, 1) for _ in range(repeats)]
    row["contenders"]["fncache memory"] = {"hit_samples_s": samples}
    # disk tier: alternate the contenders call by call
    names = list(funcs)
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, _, before_call = funcs[name]
            if before_call:
                before_call()
            row["contenders"][name]["hit_samples_s"].append(timed(fn, n, 1))
    for stats in row["contenders"].values():
        stats["hit_median_s"] = statistics.median(stats["hit_samples_s"])
    check = [np.asarray(fn(n, 1)) for fn, _, _ in funcs.values()]
    assert all(np.array_equal(c, check[0]) for c in check)  # all contenders return the same
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20 MB instead of 100 MB, fewer repeats")
    args = parser.parse_args(argv)
    cases = [("1 kB", 128, 25 if args.quick else 201),
             ("20 MB" if args.quick else "100 MB", (20 if args.quick else 100) * 1_000_000 // 8,
              5 if args.quick else 9)]
    base = tempfile.mkdtemp(prefix="bench_memo_")
    try:
        rows = []
        for label, n, repeats in cases:
            rows.append(run_case(label, n, repeats, base))
            print("  done: %s" % label, file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print("\n| output | contender | hit (median) | first-call overhead | disk use |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        for name, s in row["contenders"].items():
            overhead = ("%.2f ms" % (s["first_call_overhead_s"] * 1e3)
                        if "first_call_overhead_s" in s else "")
            disk = ("%.1f kB" % (s["disk_bytes"] / 1e3)) if "disk_bytes" in s else ""
            print("| %s | %s | %.1f us | %s | %s |" % (row["output"], name,
                                                       s["hit_median_s"] * 1e6, overhead, disk))
    report = {
        "benchmark": "memo hit latency: fncache.memoize vs joblib.Memory vs diskcache.memoize",
        "mode": "quick" if args.quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "joblib": joblib.__version__, "diskcache": diskcache.__version__,
                     "fncache": fncache.__version__},
        "notes": "hit = a call served from the cache, in seconds; first_call_overhead = first "
                 "call minus the plain call; disk_bytes = growth of the contender's directory. "
                 "fncache disk hits of large outputs are memory-mapped and checked (BLAKE3).",
        "results": rows,
    }
    RESULTS = results_path("memo.json", args.quick)
    with open(RESULTS + ".tmp", "w") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
    os.replace(RESULTS + ".tmp", RESULTS)
    print("\nwrote %s" % os.path.relpath(RESULTS))


if __name__ == "__main__":
    main()
