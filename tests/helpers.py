"""Run Python code in a fresh process and read back what it measured.

The prelude counts what a cache hit must not do: C compiler runs (Theano's
``GCC_compiler.compile_str``) and graph optimizations (``FunctionMaker``
construction, which is where Theano optimizes). The child prints one JSON
line ``RESULT {...}`` with the counts and whatever the code put in ``result``.
"""
import json
import os
import subprocess
import sys
import textwrap

PRELUDE = '''
import json, sys, atexit
import fncache
import theano
from theano.gof import cmodule
from theano.compile import function_module
counts = {"gcc": 0, "optimize": 0}
_compile_str = cmodule.GCC_compiler.compile_str
def _counting_compile_str(*a, **k):
    counts["gcc"] += 1
    return _compile_str(*a, **k)
cmodule.GCC_compiler.compile_str = staticmethod(_counting_compile_str)
_maker_init = function_module.FunctionMaker.__init__
def _counting_maker_init(self, *a, **k):
    counts["optimize"] += 1
    return _maker_init(self, *a, **k)
function_module.FunctionMaker.__init__ = _counting_maker_init
result = {}
'''

EPILOGUE = '''
print("RESULT " + json.dumps({"counts": counts, "result": result}))
'''


def run_python(code, env=None, timeout=600, check=True, args=()):
    """Run ``code`` (with the counting prelude) in a new interpreter; return (result, counts, proc)."""
    full = PRELUDE + textwrap.dedent(code) + EPILOGUE
    child_env = dict(os.environ)
    child_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", full, *args], capture_output=True, text=True,
                          env=child_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("child failed (%d):\nSTDOUT:\n%s\nSTDERR:\n%s"
                             % (proc.returncode, proc.stdout[-5000:], proc.stderr[-5000:]))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            data = json.loads(line[len("RESULT "):])
            return data["result"], data["counts"], proc
    if check:
        raise AssertionError("child printed no RESULT line:\n" + proc.stdout[-3000:] + proc.stderr[-3000:])
    return None, None, proc


def run_cli(*args, directory=None, check=0, cwd=None, env=None, input="", timeout=600,
            python_args=()):
    """Run ``python [PYTHON_ARGS] -m fncache [--dir DIRECTORY] ARGS...`` in a fresh process;
    assert its exit status (unless ``check`` is None) and return the CompletedProcess."""
    command = [sys.executable, *python_args, "-m", "fncache"]
    if directory is not None:
        command += ["--dir", str(directory)]
    proc = subprocess.run(command + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, input=input,
                          env=dict(os.environ, **(env or {})))
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc
