"""A Keras 2.3.1 conv net (Conv2D, BatchNormalization, MaxPooling2D, Dense) under `fncache run`.

examples/keras_convnet.py is an ordinary Keras program on the Theano backend. Run
three times in fresh processes sharing one cache directory: plain Theano
(FNCACHE_DISABLE=1), then fncache twice. The second fncache run loads every
function Keras asks for (no compile, no graph optimization, no gcc) and prints the
same losses and predictions as plain Theano, bit for bit.
"""
import os
import re
import subprocess
import sys

from helpers import run_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = os.path.join(ROOT, "examples", "keras_convnet.py")


def fncache_run(env):
    proc = subprocess.run([sys.executable, "-m", "fncache", "run", "--summary", PROGRAM],
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, FNCACHE_EXAMPLE_QUICK="1", **env))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def summary(stderr):
    found = re.search(r"fncache: compiled (\d+) functions, (\d+) loaded from cache", stderr)
    assert found, stderr[-3000:]
    return int(found.group(1)), int(found.group(2))


def test_keras_convnet_second_run_loads_every_function_bit_for_bit(cache_dir):
    plain = fncache_run({"FNCACHE_DISABLE": "1"})
    assert "predictions sha256:" in plain.stdout and summary(plain.stderr)[0] == 0  # nothing cached
    first = fncache_run({})
    compiled, loaded = summary(first.stderr)
    assert compiled >= 10  # training, evaluation, prediction and Keras's helpers
    assert first.stdout == plain.stdout

    code = '''
import os, sys
from fncache import cli
from fncache.observe import counters
os.environ["FNCACHE_EXAMPLE_QUICK"] = "1"
try:
    cli.main(["run", "--summary", %r])
except SystemExit as exit:
    result["exit"] = exit.code
result["session"] = counters.session()
''' % PROGRAM
    result, counts, proc = run_python(code)
    assert result["exit"] in (0, None), proc.stderr[-3000:]
    second = result["session"]
    assert second.get("compile.count", 0) == 0 and second["compiled.hits"] == compiled + loaded
    assert not any(k.startswith(("rejected", "uncacheable")) for k in second), second
    assert counts == {"gcc": 0, "optimize": 0}
    assert "FncacheWarning" not in proc.stderr
    printed = proc.stdout[:proc.stdout.index("RESULT ")]
    assert printed == plain.stdout  # the same losses and predictions, bit for bit
