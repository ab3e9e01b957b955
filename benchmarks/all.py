"""Every benchmark in one run, then BENCHMARKS.md and the plots: what `make bench` runs.

Usage: .venv/bin/python benchmarks/all.py [--quick] [--out DIR] [--only compile,keys,...]

Full mode (about half an hour on 2 cores): results in benchmarks/results/, the page in
BENCHMARKS.md, plots in benchmarks/plots/. --quick (CI-sized, a few minutes: small graphs,
one repeat, warm compiledir): results, page and plots under benchmarks/results/quick/, or
under --out. Each benchmark runs as its own process; one that fails is reported and the
others still run, and the page is written from whatever results exist.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402,F401  (puts this checkout first on the path, for children too)

STEPS = {"compile": "run.py", "keys": "bench_keys.py", "hashing": "bench_hashing.py",
         "memo": "bench_memo.py", "memo_first": "bench_memo_first.py"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    parser.add_argument("--out", help="results directory (the page and plots go there too)")
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated: " + ",".join(STEPS))
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out) if args.out else common.results_dir(args.quick)
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, FNCACHE_BENCH_RESULTS=out)
    failed = []
    for step in args.only.split(","):
        started = time.perf_counter()
        print("== %s" % step, flush=True)
        proc = subprocess.run([sys.executable, os.path.join(HERE, STEPS[step])]
                              + (["--quick"] if args.quick else []), env=env)
        print("== %s: %s in %.0f s" % (step, "ok" if proc.returncode == 0 else
                                       "FAILED (exit %d)" % proc.returncode,
                                       time.perf_counter() - started), flush=True)
        if proc.returncode != 0:
            failed.append(step)
    import report
    if args.out or args.quick:
        page = report.write_page(out, os.path.join(out, "BENCHMARKS.md"), os.path.join(out, "plots"))
    else:
        page = report.write_page(out)
    print("wrote %s" % page)
    if failed:
        print("failed: %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
