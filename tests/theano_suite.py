"""Theano's own tests, plain and under fncache.install(): every outcome must match.

    python tests/theano_suite.py            # the CI selection (make test runs it)
    python tests/theano_suite.py --wide     # the wider set
    python tests/theano_suite.py theano/compile/tests/test_pfunc.py ...  # files, folders, node ids

Runs the chosen test files of the installed theano package three times, each
in its own pytest process: plain (only ``import fncache``, which makes Theano
work on this Python), then with FNCACHE_INSTALL=1 and an empty cache
directory (cold: every function compiled and stored), then again on that
directory (warm: every cacheable function loaded). It compares each test's
outcome (passed, skipped, or failed/error with the exception's type) with
the plain run's and exits 1 if any differs; its last line, "theano-suite: N
passed, M failed", counts the tests whose outcome was the same in all three
passes and those whose outcome was not. Tests that fail plain on this Python
are expected to fail the same way. One Theano compiledir serves the
three passes: .cache/theano-suite (``--compiledir`` for another), not the test
suite's own: its modules' keys name the ops of Theano's test files, and a
Theano that scans the compiledir would import those files (and nose).
"""
import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

# Run by make test (three passes in about 6 minutes with an empty compiledir): the
# function machinery, traces of optimized graphs (nnet), gradients, both random
# streams (and the yield-style test), scan's pickling and memory tests.
_SCAN = "theano/scan_module/tests/test_scan.py::T_Scan::"
CI_FILES = (
    "theano/compile/tests",
    "theano/tensor/nnet/tests/test_nnet.py",
    "theano/tests/test_gradient.py",
    "theano/tensor/tests/test_shared_randomstreams.py",
    "theano/sandbox/tests/test_rng_mrg.py",
    _SCAN + "test_pickling",
    _SCAN + "test_reduce_memory_consumption",
    _SCAN + "test_foldl_memory_consumption",
    _SCAN + "test_foldr_memory_consumption",
)
# The wider set: --wide (5 to 10 minutes with a warm compiledir).
WIDE_FILES = (
    "theano/compile/tests",
    "theano/scan_module/tests/test_scan.py",
    "theano/tensor/nnet/tests/test_nnet.py",
    "theano/tensor/tests/test_subtensor.py",
    "theano/tests/test_gradient.py",
    "theano/tensor/tests/test_shared_randomstreams.py",
    "theano/sandbox/tests/test_rng_mrg.py",
)
PASSES = ("plain", "cold", "warm")
_PYTEST_INI = "[pytest]\npython_files = test_*.py\n"


def _site_packages():
    import importlib.util
    spec = importlib.util.find_spec("theano")  # not imported: Theano needs fncache's fixes first
    return pathlib.Path(spec.origin).resolve().parent.parent


def _file_of(test):
    return test.split("::", 1)[0]


class Library:
    """What a pass needs to know about the library whose tests it runs."""

    def __init__(self, name, flags_variable, plugin, rootdir, ini=_PYTEST_INI):
        self.name, self.flags_variable, self.plugin = name, flags_variable, plugin
        self.rootdir, self.ini = rootdir, ini


def theano_library():
    return Library("theano", "THEANO_FLAGS", "theano_plugin", _site_packages())


def _run_pass(name, files, work, compiledir, timeout, library):
    env = dict(os.environ)
    flags = [f for f in env.get(library.flags_variable, "").split(",")
             if f and not f.startswith("base_compiledir=")]
    env[library.flags_variable] = ",".join(flags + ["base_compiledir=" + str(compiledir)])
    env["FNCACHE_DIR"] = str(work / "fncache")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop("FNCACHE_INSTALL", None)
    env.pop("FNCACHE_DISABLE", None)
    if name != "plain":
        env["FNCACHE_INSTALL"] = "1"
    outcomes = work / ("%s.json" % name)
    log = work / ("%s.log" % name)
    env["THEANO_SUITE_OUTCOMES"] = str(outcomes)
    command = [sys.executable, "-m", "pytest", "-p", library.plugin, "-p", "no:cacheprovider",
               "-c", str(work / "pytest.ini"), "--rootdir", str(library.rootdir),
               "-q", "-rN", *files]
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run(command, cwd=library.rootdir, env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=timeout)
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1) or not outcomes.exists():
        sys.exit("%s-suite: the %s pass did not run (pytest exit %d); see %s"
                 % (library.name, name, proc.returncode, log))
    return {test: outcome for test, (outcome, _) in json.loads(outcomes.read_text()).items()}, \
        seconds


def _counts(outcomes):
    counts = collections.defaultdict(collections.Counter)
    for test, outcome in outcomes.items():
        counts[_file_of(test)][outcome.split()[0]] += 1
    return counts


def _table(results):
    files = sorted({f for outcomes, _ in results.values() for f in _counts(outcomes)})
    lines = ["%-50s %s" % ("file (passed/failed/error/skipped)",
                           "  ".join("%-15s" % p for p in results))]
    for f in files:
        cells = []
        for outcomes, _ in results.values():
            c = _counts(outcomes)[f]
            cells.append("%-15s" % ("%d/%d/%d/%d" % (c["passed"], c["failed"], c["error"],
                                                    c["skipped"])))
        lines.append("%-50s %s" % (f, "  ".join(cells)))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*",
                        help="test files, folders or node ids, relative to site-packages")
    parser.add_argument("--wide", action="store_true", help="the wider set (WIDE_FILES)")
    parser.add_argument("--compiledir", default=str(ROOT / ".cache" / "theano-suite"))
    parser.add_argument("--workdir", help="keep the logs, outcomes (JSON) and cache here")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per pass")
    args = parser.parse_args(argv)
    files = args.files or (WIDE_FILES if args.wide else CI_FILES)
    os.makedirs(args.compiledir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="theano-suite-") as tmp:
        work = pathlib.Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        return run_passes(theano_library(), files, work, args.compiledir, args.timeout,
                          keep_hint=not args.workdir)


def run_passes(library, files, work, compiledir, timeout, keep_hint):
    """The three passes over ``files``, the table, and 0 if every outcome matched plain."""
    (work / "pytest.ini").write_text(library.ini)
    tag = library.name + "-suite"
    results = {}
    for name in PASSES:
        results[name] = _run_pass(name, files, work, compiledir, timeout, library)
        print("%s: %s pass, %d tests in %.0f s"
              % (tag, name, len(results[name][0]), results[name][1]), flush=True)
    print(_table(results))
    plain = results["plain"][0]
    if not plain:
        sys.exit("%s: no test ran" % tag)
    plain_failures = sorted(t for t, o in plain.items() if o.split()[0] in ("failed", "error"))
    if plain_failures:
        print("\nfailing plain (expected to fail the same way under fncache):")
        for test in plain_failures:
            print("  %s  %s" % (test, plain[test]))
    differ = []
    for name in PASSES[1:]:
        outcomes = results[name][0]
        for test in sorted(set(plain) | set(outcomes)):
            if plain.get(test) != outcomes.get(test):
                differ.append((test, name, plain.get(test, "absent"), outcomes.get(test, "absent")))
    if differ:
        print("\noutcomes that differ from plain:")
        for test, name, was, now in differ:
            print("  %s  %s: %s, plain: %s" % (test, name, now, was))
        if keep_hint:
            print("(rerun with --workdir DIR to keep the logs)")
    same = len(plain) - len({t for t, *_ in differ})
    print("%s: %d passed, %d failed" % (tag, same, len({t for t, *_ in differ})))
    return 1 if differ else 0

if __name__ == "__main__":
    sys.exit(main())
