"""A memo hit as a user feels it: the first call of a fresh process, then repeated calls.

    .venv/bin/python benchmarks/bench_memo_first.py [--quick] [--repeats N]

One function, ``make(n, seed)`` (a normal sample of ``n`` float64, after 5 ms of "work", so
that it is worth memoizing under every library's defaults), memoized as each library
documents it: ``@fncache.memoize`` (``FNCACHE_DIR`` set), ``joblib.Memory(dir).cache``
(default, and ``mmap_mode='r'``), diskcache's ``Cache(dir).memoize()``. Its result is stored
once per contender; then every repeat starts one fresh process per contender and size (the
contenders in turn, the order rotating each repeat, so drift hits them alike), which imports
the library, defines the function, and times

- its first call (a disk hit: nothing of the result is in the process yet);
- 50 further calls (1 kB; 5 for the large output), median: repeated in-process hits;
- the import and the definition, from before ``import`` to after the decorator (fncache's
  includes importing Theano).

The page cache is warm for all of them. Medians over the repeats are reported, never asserted.
Writes benchmarks/results/memo_first.json.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CONTENDERS = ("fncache", "joblib.Memory", "joblib.Memory mmap_mode='r'", "diskcache memoize")

CHILD = r'''
import json, os, sys, time
started = time.perf_counter()
which, n, directory, repeat = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if which == "fncache":
    os.environ["FNCACHE_DIR"] = directory
    import numpy as np
    import fncache

    @fncache.memoize
    def make(n, seed):
        time.sleep(0.005)
        return np.random.default_rng(seed).standard_normal(n)
elif which.startswith("joblib"):
    import numpy as np
    import joblib
    memory = joblib.Memory(directory, verbose=0,
                           mmap_mode="r" if "mmap" in which else None)

    @memory.cache
    def make(n, seed):
        time.sleep(0.005)
        return np.random.default_rng(seed).standard_normal(n)
else:
    import numpy as np
    import diskcache
    cache = diskcache.Cache(directory)

    @cache.memoize()
    def make(n, seed):
        time.sleep(0.005)
        return np.random.default_rng(seed).standard_normal(n)
defined = time.perf_counter() - started
t = time.perf_counter()
value = make(n, 1)
first = time.perf_counter() - t
again = []
for _ in range(repeat):
    t = time.perf_counter()
    make(n, 1)
    again.append(time.perf_counter() - t)
check = float(np.asarray(value)[-1])
base = value
while isinstance(base, np.ndarray) and not isinstance(base, np.memmap):
    base = base.base
kind = type(value).__name__ + (" on a memory map" if isinstance(base, np.memmap)
                               and not isinstance(value, np.memmap) else "")
kind += "" if value.flags.writeable else ", read-only"
print(json.dumps({"first_s": first, "again_s": again, "define_s": defined, "check": check,
                  "type": kind}))
'''


def child(which, n, directory, repeat):
    proc = subprocess.run([sys.executable, "-c", CHILD, which, str(n), directory, str(repeat)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, FNCACHE_MISS_LOG=""))
    if proc.returncode != 0:
        raise RuntimeError("%s child failed: %s" % (which, proc.stderr[-2000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "n": len(samples)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 MB instead of 100 MB, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per cell")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    large = 20 if args.quick else 100
    sizes = [("1 kB", 128, 50), ("%d MB" % large, large * 1_000_000 // 8, 5)]
    base = tempfile.mkdtemp(prefix="bench_memo_first_")
    rows = []
    try:
        for label, n, repeat in sizes:
            dirs = {c: os.path.join(base, "%s-%d" % (i, n)) for i, c in enumerate(CONTENDERS)}
            stored = {c: child(c, n, dirs[c], 0) for c in CONTENDERS}  # computes and stores
            samples = {c: [] for c in CONTENDERS}
            for r in range(repeats):
                order = CONTENDERS[r % len(CONTENDERS):] + CONTENDERS[:r % len(CONTENDERS)]
                for c in order:
                    samples[c].append(child(c, n, dirs[c], repeat))
            checks = {c: s[-1]["check"] for c, s in samples.items()}
            assert len(set(checks.values()) | {stored[c]["check"] for c in CONTENDERS}) == 1, \
                checks  # every contender returns the same numbers
            rows.append({"output": label, "nbytes": n * 8, "contenders": {
                c: {"first_call": summary([s["first_s"] for s in samples[c]]),
                    "repeated_hit": summary([statistics.median(s["again_s"])
                                             for s in samples[c]]),
                    "import_and_define": summary([s["define_s"] for s in samples[c]]),
                    "returns": samples[c][-1]["type"]} for c in CONTENDERS}})
            print("  done: %s" % label, file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    import diskcache
    import joblib
    import numpy
    report = {"benchmark": "memo: first call of a fresh process (a disk hit) and repeated hits",
              "mode": "quick" if args.quick else "full", "repeats": repeats,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": common.machine(),
              "versions": {"joblib": joblib.__version__, "diskcache": diskcache.__version__,
                           "numpy": numpy.__version__},
              "notes": "medians over fresh processes; the machine is shared with other work, "
                       "so single runs vary by a few times; compare contenders within a row",
              "results": rows}
    path = common.write_json("memo_first.json", report)
    print("\n| output | contender | first call | repeated hit | import + define |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        for c, s in row["contenders"].items():
            print("| %s | %s | %.3f ms | %.1f us | %.0f ms |" % (
                row["output"], c, s["first_call"]["median"] * 1e3,
                s["repeated_hit"]["median"] * 1e6, s["import_and_define"]["median"] * 1e3))
    print("\nwrote %s" % os.path.relpath(path))


if __name__ == "__main__":
    main()
