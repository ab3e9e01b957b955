"""PyTensor's own tests, plain and under fncache.install(): every outcome must match.

    python tests/pytensor_suite.py            # the CI selection (make test runs it)
    python tests/pytensor_suite.py --wide     # the wider set
    python tests/pytensor_suite.py tests/compile/test_maker.py ...  # files or node ids

PyTensor's wheel ships no tests; a selection of its test files, taken from its
repository at tag rel-3.3.0 (the newest tag; they pass against the installed
3.3.x), lives in third_party/pytensor-tests. Like tests/theano_suite.py, this
runs them three times, each in its own pytest process: plain (no fncache), then
with FNCACHE_INSTALL=1 and an empty cache directory (cold: every function
compiled and stored), then again on that directory (warm: every cacheable
function loaded), compares each test's outcome with the plain run's and exits 1
if any differs; its last line is "pytensor-suite: N passed, M failed". One
PyTensor base_compiledir serves the three passes: .cache/pytensor-suite
(``--compiledir`` for another), so Numba and gcc compile each op once per run.
"""
import argparse
import os
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
UPSTREAM = ROOT / "third_party" / "pytensor-tests"
sys.path.insert(0, str(HERE))

import theano_suite  # noqa: E402  (the passes and the report; it imports no graph library)

# The function machinery (function(), In/Out, copies, pickling, modes, shared
# variables) and random generators as shared state.
CI_FILES = (
    "tests/compile/test_maker.py",
    "tests/compile/test_executor.py",
    "tests/compile/test_shared.py",
    "tests/compile/test_mode.py",
    "tests/tensor/random/test_utils.py",
    "tests/tensor/random/test_variable.py",
)
# Also OpFromGraph (inner compiled functions) and a small training loop.
WIDE_FILES = CI_FILES + ("tests/compile/test_builders.py", "tests/compile/test_nn_workflow.py")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="test files or node ids, relative to "
                        "third_party/pytensor-tests")
    parser.add_argument("--wide", action="store_true", help="the wider set (WIDE_FILES)")
    parser.add_argument("--compiledir", default=str(ROOT / ".cache" / "pytensor-suite"))
    parser.add_argument("--workdir", help="keep the logs, outcomes (JSON) and cache here")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per pass")
    args = parser.parse_args(argv)
    files = args.files or (WIDE_FILES if args.wide else CI_FILES)
    os.makedirs(args.compiledir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pytensor-suite-") as tmp:
        work = pathlib.Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        library = theano_suite.Library(
            name="pytensor", flags_variable="PYTENSOR_FLAGS", plugin="pytensor_plugin",
            rootdir=UPSTREAM, ini="[pytest]\nxfail_strict = true\n")
        return theano_suite.run_passes(library, files, work, args.compiledir, args.timeout,
                                       keep_hint=not args.workdir)


if __name__ == "__main__":
    sys.exit(main())
