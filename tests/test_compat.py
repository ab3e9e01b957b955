"""Theano 1.0.5 works on this Python after `import fncache` (issue: foundation)."""
import os
import subprocess
import sys

import numpy as np

from helpers import run_python

SCAN_AND_BLAS = '''
import numpy as np
import theano, theano.tensor as T
rng = np.random.RandomState(0)
x = T.dmatrix("x"); W = theano.shared(rng.randn(4, 4), "W")
h, _ = theano.scan(lambda xt, hp: T.tanh(T.dot(hp, W) + xt), sequences=x,
                   outputs_info=T.zeros((4,), "float64"))
cost = h.sum()
f = theano.function([x], [h, T.grad(cost, W)])
X = rng.randn(5, 4)
hv, gv = f(X)
# numpy reference, with a finite-difference check of the gradient
def run(Wv):
    hp = np.zeros(4); out = []
    for xt in X:
        hp = np.tanh(hp.dot(Wv) + xt); out.append(hp)
    return np.array(out)
eps = 1e-6; num = np.zeros((4, 4))
for i in range(4):
    for j in range(4):
        Wp = W.get_value().copy(); Wp[i, j] += eps
        Wm = W.get_value().copy(); Wm[i, j] -= eps
        num[i, j] = (run(Wp).sum() - run(Wm).sum()) / (2 * eps)
A = T.dmatrix("A"); B = T.dmatrix("B"); v = T.dvector("v")
g = theano.function([A, B, v], [T.dot(A, B), T.dot(A, v), T.dot(A, B).T.dot(v) + T.outer(v, v).sum(1)])
Av, Bv, vv = rng.randn(30, 30), rng.randn(30, 30), rng.randn(30)
r = g(Av, Bv, vv)
result["scan_ok"] = bool(np.allclose(hv, run(W.get_value())))
result["grad_ok"] = bool(np.allclose(gv, num, atol=1e-5))
result["blas_ok"] = bool(np.allclose(r[0], Av.dot(Bv)) and np.allclose(r[1], Av.dot(vv))
                         and np.allclose(r[2], Av.dot(Bv).T.dot(vv) + np.outer(vv, vv).sum(1)))
'''


def test_scan_with_gradient_and_blas_graphs_compute_numpys_numbers():
    result, counts, _ = run_python(SCAN_AND_BLAS)
    assert result == {"scan_ok": True, "grad_ok": True, "blas_ok": True}


def test_scan_uses_the_rebuilt_c_implementation():
    result, _, _ = run_python('''
import theano, theano.tensor as T
x = T.dvector("x")
s, _ = theano.scan(lambda a, acc: acc + a, sequences=x, outputs_info=T.constant(0.0, dtype="float64"))
f = theano.function([x], s[-1])
from theano.scan_module import scan_perform_ext
result["value"] = float(f([1.0, 2.0, 3.5]))
result["c_scan_version"] = scan_perform_ext.get_version()
''')
    assert result == {"value": 6.5, "c_scan_version": 0.296}


def test_scan_falls_back_to_python_loop_quietly_when_c_scan_cannot_build():
    result, _, proc = run_python('''
import logging, io
stream = io.StringIO()
handler = logging.StreamHandler(stream); logging.getLogger("fncache").addHandler(handler)
logging.getLogger("fncache").setLevel(logging.INFO)
import fncache.backends.theano.compat.scan as compat_scan
def broken():
    raise RuntimeError("no compiler today")
compat_scan.build_scan_perform = broken
import theano, theano.tensor as T
x = T.dvector("x")
s, _ = theano.scan(lambda a, acc: acc * 2 + a, sequences=x, outputs_info=T.constant(0.0, dtype="float64"))
f = theano.function([x], s)
result["values"] = f([1.0, 1.0, 1.0]).tolist()
result["log"] = stream.getvalue()
''')
    assert result["values"] == [1.0, 3.0, 7.0]
    assert result["log"].count("C scan unavailable") == 1
    assert "Traceback" not in proc.stderr


def test_user_flags_are_kept(tmp_path):
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\nfloatX = float32\n")
    flags = os.environ["THEANO_FLAGS"] + ",blas.ldflags=-L/opt/myblas -lmyblas,on_opt_error=raise"
    result, _, _ = run_python('''
import os
result["ldflags"] = theano.config.blas.ldflags
result["floatX"] = theano.config.floatX
result["on_opt_error"] = theano.config.on_opt_error
result["env_after_import"] = os.environ["THEANO_FLAGS"]
''', env={"THEANO_FLAGS": flags, "THEANORC": str(rc)})
    assert result["ldflags"] == "-L/opt/myblas -lmyblas"
    assert result["floatX"] == "float32"
    assert result["on_opt_error"] == "raise"
    assert result["env_after_import"] == flags  # fncache leaves the environment as it found it


def test_blas_ldflags_default_is_set_only_for_the_import():
    result, _, _ = run_python('''
import os
result["ldflags"] = theano.config.blas.ldflags
result["env"] = os.environ.get("THEANO_FLAGS")
''')
    assert result["ldflags"] == ""
    assert "blas.ldflags" not in (result["env"] or "")


def test_import_prints_no_deprecation_noise():
    proc = subprocess.run([sys.executable, "-W", "default", "-c",
                           "import fncache, theano, theano.tensor as T; x = T.dvector(); "
                           "f = theano.function([x], T.nnet.softmax(x.dimshuffle('x', 0)))"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr


WARM_GRAPH = '''
import numpy as np
import theano, theano.tensor as T
x = T.dmatrix("x"); W = theano.shared(np.ones((3, 4)), "W")
sm = T.nnet.softmax(T.dot(x, W)).dimshuffle(1, 0)
al = T.alloc(np.float64(2.0), x.shape[0], 3)
h, _ = theano.scan(lambda xt, hp: T.tanh(xt + hp), sequences=x, outputs_info=T.zeros_like(x[0]))
f = theano.function([x], [sm, al, h, T.grad(h.sum() + sm.sum(), W)])
out = f(np.arange(6.0).reshape(2, 3))
result["sum"] = float(sum(o.sum() for o in out))
'''


def test_second_fresh_process_runs_the_c_compiler_zero_times():
    first, _, _ = run_python(WARM_GRAPH, env={"PYTHONHASHSEED": "1"})
    second, counts, _ = run_python(WARM_GRAPH, env={"PYTHONHASHSEED": "2"})
    assert second == first
    assert counts["gcc"] == 0


def test_without_the_fixes_a_fresh_process_recompiles():
    """The fixes matter: with Theano's own versions restored, gcc runs again."""
    run_python(WARM_GRAPH, env={"PYTHONHASHSEED": "3"})
    stock = """
import fncache.backends.theano.compat.cversion as cv
cv.restore_theano_originals()
""" + WARM_GRAPH
    _, counts, _ = run_python(stock, env={"PYTHONHASHSEED": "4"})
    assert counts["gcc"] > 0
