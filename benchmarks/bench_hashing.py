"""Throughput of fncache.keys.values.hash_values (BLAKE3) against joblib.hash (md5).

    .venv/bin/python benchmarks/bench_hashing.py [--quick]

Hashes float64 arrays of 1 MB, 100 MB and 1 GB (``--quick``: 1 MB and 100 MB,
fewer repeats) plus two non-contiguous 100 MB arrays (F-ordered and a strided
column slice).  Both contenders run alternately in one process (the order
flips every repeat), so drift in clock speed or cache state hits both alike.
Reports medians in GB/s (10^9 bytes of logical array data per second) and the
speed-up, prints a markdown table and writes benchmarks/results/hashing.json.
Timings are reported, never asserted.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import blake3
import joblib

from fncache.keys.values import hash_values

MB = 1_000_000
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import results_path  # noqa: E402


def _time_once(fn, arg, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn(arg)
    return (time.perf_counter() - t0) / number


def compare(arr, repeats, number=1):
    """Alternate the two contenders; return per-call seconds for each."""
    contenders = {"fncache": hash_values, "joblib": joblib.hash}
    for fn in contenders.values():  # warm up (page faults, caches, imports)
        fn(arr)
    samples = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(_time_once(contenders[name], arr, number))
    return samples


def make_cases(quick):
    rng = np.random.default_rng(0)
    cases = []  # (label, layout, array, repeats, number)
    sizes = [(1 * MB, 31, 20), (100 * MB, 5 if quick else 9, 1)]
    if not quick:
        sizes.append((1000 * MB, 5, 1))
    for nbytes, repeats, number in sizes:
        if quick and nbytes == 1 * MB:
            repeats = 15
        arr = rng.random(nbytes // 8)
        cases.append((f"{nbytes // MB} MB", "C-contiguous", arr, repeats, number))
    n = int((100 * MB / 8) ** 0.5)
    f_arr = np.asfortranarray(rng.random((n, n)))
    cases.append((f"{f_arr.nbytes / MB:.0f} MB", f"F-ordered {n}x{n}", f_arr,
                  5 if quick else 9, 1))
    wide = rng.random((2500, 10_000))                     # 200 MB buffer
    strided = wide[:, ::2]                                # 100 MB logical, stride 16 B
    cases.append((f"{strided.nbytes / MB:.0f} MB", "strided a[:, ::2] 2500x5000", strided,
                  5 if quick else 9, 1))
    return cases


def small_overhead(repeats):
    """Per-call time for two scalars, where fixed costs dominate."""
    args = (1, 2.0)
    out = {}
    for name, fn in (("fncache", lambda a: hash_values(*a)), ("joblib", joblib.hash)):
        fn(args)
        best = []
        for _ in range(repeats):
            best.append(_time_once(fn, args, 2000))
        out[name] = statistics.median(best) * 1e6
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 MB and 100 MB only, fewer repeats")
    args = parser.parse_args(argv)

    rows = []
    for label, layout, arr, repeats, number in make_cases(args.quick):
        samples = compare(arr, repeats, number)
        ours = statistics.median(samples["fncache"])
        theirs = statistics.median(samples["joblib"])
        rows.append({
            "size": label,
            "layout": layout,
            "shape": list(arr.shape),
            "strides": list(arr.strides),
            "nbytes": int(arr.nbytes),
            "repeats": repeats,
            "calls_per_sample": number,
            "fncache_median_s": ours,
            "joblib_median_s": theirs,
            "fncache_gbps": arr.nbytes / ours / 1e9,
            "joblib_gbps": arr.nbytes / theirs / 1e9,
            "speedup": theirs / ours,
            "fncache_samples_s": samples["fncache"],
            "joblib_samples_s": samples["joblib"],
        })
        print(f"  done: {label:>7} {layout}", file=sys.stderr, flush=True)
        del arr
    overhead = small_overhead(5 if args.quick else 11)

    print()
    print("| array (float64) | layout | fncache GB/s | joblib GB/s | speed-up |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['layout']} | {r['fncache_gbps']:.2f} | "
              f"{r['joblib_gbps']:.2f} | {r['speedup']:.1f}x |")
    print()
    print(f"Two scalars `(1, 2.0)`: fncache {overhead['fncache']:.2f} us/call, "
          f"joblib {overhead['joblib']:.2f} us/call.")
    print("Medians; contenders alternated in one process; GB = 1e9 bytes of array data.")

    report = {
        "benchmark": "hash_values vs joblib.hash",
        "mode": "quick" if args.quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "blake3": getattr(blake3, "__version__", "?"),
            "joblib": joblib.__version__,
        },
        "joblib_hash_name": "md5 (joblib.hash default)",
        "results": rows,
        "small_call_us": overhead,
    }
    RESULTS = results_path("hashing.json", args.quick)
    tmp = RESULTS + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, RESULTS)
    print(f"\nwrote {os.path.relpath(RESULTS)}")


if __name__ == "__main__":
    main()
