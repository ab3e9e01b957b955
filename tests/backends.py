"""The graph libraries the parametrized tests run against (one suite for both backends).

Each ``Library`` says how a child process or a test builds graphs with it: the module
(``theano`` / ``pytensor``), its example workloads (examples/workloads*.py), the modes a
user meets, and what a hit must not run (``backend.compiler_counters()`` names). Only the
library importable here is tested: Theano in .venv (Python 3.11), PyTensor in
.venv-pytensor (Python 3.12+); the other's parameters are skipped.
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")


class Library:
    def __init__(self, name, workloads, cases, nothing_compiled, flag):
        self.name = name
        self.workloads = workloads      # module name in examples/
        self.cases = cases              # (workload, mode argument or None: the default)
        self.nothing_compiled = nothing_compiled  # compiler_counters() of a hit
        self.flag = flag                # (config setting, other value) that changes code

    def compiled(self, counts):
        """The counts a hit must have at zero (Numba's ``with objmode`` blocks aside: Numba
        never caches them, so a warm plain run compiles them too; compared apart)."""
        return {k: v for k, v in counts.items() if k in self.nothing_compiled}

    @property
    def available(self):
        return importlib.util.find_spec(self.name) is not None

    def __repr__(self):
        return self.name

    def import_library(self):
        """The library module, imported in this process (fncache first, for Theano's fixes)."""
        import fncache  # noqa: F401
        return __import__(self.name)

    def change_flag(self):
        """A context in which ``self.flag``'s setting has its other value."""
        lib = self.import_library()
        setting, other = self.flag
        change = lib.config.change_flags if self.name == "pytensor" \
            else lib.configparser.change_flags
        return change(**{setting: other})

    def tensor(self):
        return __import__(self.name + ".tensor", fromlist=["tensor"])


THEANO = Library("theano", "workloads",
                 (("mlp", None), ("logreg", None), ("dropout", None)),
                 {"gcc": 0, "optimize": 0}, ("floatX", "float32"))
# NUMBA is PyTensor's default; a cold Numba build of the MLP or the scan RNN takes a
# minute here, so those two run in the C modes only.
# (mode C links the whole graph as one C module; without BLAS only elementwise graphs
# compile in it, in plain PyTensor too.)
PYTENSOR = Library("pytensor", "workloads_pytensor",
                   tuple((w, m) for w in ("ew", "dropout", "hier")
                         for m in ("NUMBA", "CVM", "FAST_COMPILE"))
                   + (("ew", "C"), ("mlp", "CVM"), ("rnn", "CVM"), ("rnn", "FAST_COMPILE")),
                   {"gcc": 0, "rewrite": 0, "numba": 0},
                   ("numba__fastmath", False))
ALL = (THEANO, PYTENSOR)


def _skip(lib):
    return pytest.mark.skipif(not lib.available,
                              reason="%s is not installed in this environment" % lib.name)


def params(*libraries):
    """pytest params over ``libraries`` (default: both), each skipped where it is absent."""
    return [pytest.param(lib, id=lib.name, marks=_skip(lib)) for lib in (libraries or ALL)]


def case_params():
    """(library, workload, mode) over both libraries' cases."""
    return [pytest.param(lib, w, m, id="%s-%s-%s" % (lib.name, w, m or "default"),
                         marks=_skip(lib)) for lib in ALL for w, m in lib.cases]


PRELUDE = '''
import hashlib, json, sys
import numpy as np
import fncache
from fncache import backends
import %(library)s
backend = backends.get(%(library)r)
result = {}

def digest(values):
    """sha256 of values bit for bit (arrays: dtype, shape, bytes; generators: their state)."""
    h = hashlib.sha256()
    for v in values:
        if isinstance(v, (np.random.Generator, np.random.RandomState)):
            state = v.bit_generator.state if isinstance(v, np.random.Generator) else v.get_state()
            h.update(repr(state).encode())
            continue
        a = np.asarray(v)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()
'''


def run_child(library, code, env=None, timeout=900):
    """Run ``code`` (after PRELUDE) in a fresh interpreter; return its ``result`` dict."""
    full = PRELUDE % {"library": library.name} + textwrap.dedent(code) + \
        '\nprint("RESULT " + json.dumps(result))\n'
    child_env = dict(os.environ)
    child_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True,
                          env=child_env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError("child failed (%d):\nSTDOUT:\n%s\nSTDERR:\n%s"
                             % (proc.returncode, proc.stdout[-4000:], proc.stderr[-6000:]))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise AssertionError("child printed no RESULT line:\n" + proc.stdout[-3000:])


TRAIN = '''
sys.path.insert(0, %(examples)r)
workloads = __import__(%(workloads)r)
w = workloads.ALL[%(workload)r]()
kwargs = dict(w.kwargs)
if %(mode)r is not None:
    kwargs["mode"] = %(mode)r
make = %(library)s.function if %(how)r == "plain" else fncache.function
with backend.compiler_counters() as counts:  # from here: graph building may compile dummies
    f = make(w.inputs, w.outputs, **kwargs)
    steps = []
    for _ in range(3):
        out = f(*w.data)
        outs = out if isinstance(out, list) else [out]
        steps.append([digest(outs), digest([s.get_value(borrow=True) for s in w.shared])])
result["steps"] = steps
result["counts"] = dict(counts)
result["compiled"] = fncache.stats(session_only=True)["compiled"]
result["types"] = [k.__module__ + "." + k.__name__ for k in type(f).__mro__]
'''


def plain_warm(library, workload, mode, env):
    """A plain run with the library's own caches warm: a cold Numba build can differ from a
    cached one in the last bits (Numba's, with or without fncache), so NUMBA runs twice."""
    if mode == "NUMBA" or (library.name == "pytensor" and mode is None):
        train(library, workload, mode, "plain", env)
    return train(library, workload, mode, "plain", env)


def train(library, workload, mode, how, env):
    """Outputs and shared values (digests) after 3 steps, counts, stats, in a fresh process."""
    return run_child(library, TRAIN % {"examples": EXAMPLES, "workloads": library.workloads,
                                       "workload": workload, "mode": mode, "how": how,
                                       "library": library.name}, env=env)
