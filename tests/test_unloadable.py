"""Entries that pass their signature check but cannot be loaded.

An op holding an object whose pickle cannot be rebuilt (as a closed resource or
a class that changed would) stores fine and fails every load. fncache must not
rewrite such an entry on every run: it remembers the key as unloadable, with
the reason, and compiles the function without storing it until fncache or
Theano changes. ``fncache verify --deep`` finds such entries by loading each
one in a child process.
"""
import json
import os

import pytest

from helpers import run_cli, run_python

OPS = '''
import os
import theano
import theano.tensor as T


def _refuse():
    raise RuntimeError("a Frozen helper cannot be restored")


def _die():
    os._exit(3)


class Frozen(tuple):
    """A helper whose pickle cannot be rebuilt (a tuple, so that the graph key can hold it:
    an op's attributes are keyed, and one fncache cannot fingerprint is never stored)."""

    def __new__(cls):
        return tuple.__new__(cls, (7,))

    def __reduce__(self):
        return (_refuse, ())


class Fatal(Frozen):
    """A helper whose unpickling ends the process."""

    def __reduce__(self):
        return (_die, ())


class Doubler(theano.Op):
    __props__ = ("fatal",)

    def __init__(self, fatal=False):
        self.fatal = fatal
        self.helper = Fatal() if fatal else Frozen()  # not a prop, but keyed all the same

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] * 2
'''

PROGRAM = '''
import warnings
import numpy as np
import theano.tensor as T
from doubler_ops import Doubler
from fncache.observe import counters
x = T.dvector("x")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    f = fncache.function([x], Doubler()(x) + 1, name="doubler")
result["value"] = f(np.arange(3.0)).tolist()
result["warnings"] = [str(w.message) for w in caught if issubclass(w.category, fncache.FncacheWarning)]
result["session"] = counters.session()
result["key"] = f.fncache_key
'''


@pytest.fixture
def ops_env(cache_dir, tmp_path):
    (tmp_path / "doubler_ops.py").write_text(OPS)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {"FNCACHE_DIR": str(cache_dir), "PYTHONPATH": path}


def cli(env, *args, check=0):
    return run_cli(*args, env=env, check=check)


def unexpected(session):
    return {k for k in session if k.startswith(("rejected", "uncacheable"))}


def test_an_entry_that_cannot_load_is_remembered_and_not_rewritten(ops_env):
    first, _, _ = run_python(PROGRAM, env=ops_env)
    assert first["value"] == [1.0, 3.0, 5.0] and first["warnings"] == []
    assert first["session"]["compile.count"] == 1 and not unexpected(first["session"])
    key = first["key"]
    assert [e["key"] for e in json.loads(cli(ops_env, "ls", "--json").stdout)] == [key]

    second, _, _ = run_python(PROGRAM, env=ops_env)  # the load fails once, and is remembered
    assert second["value"] == [1.0, 3.0, 5.0]
    (warning,) = second["warnings"]
    assert "cannot rebuild the function: RuntimeError: a Frozen helper cannot be restored" in warning
    assert "without storing until fncache or Theano changes" in warning
    assert second["session"]["compile.count"] == 1
    assert second["session"]["uncacheable.unloadable"] == 1

    third, _, _ = run_python(PROGRAM, env=dict(ops_env, FNCACHE_MISS_LOG="1"))
    assert third["value"] == [1.0, 3.0, 5.0] and third["warnings"] == []  # no load, no warning
    assert third["session"]["compile.count"] == 1
    assert unexpected(third["session"]) == {"uncacheable.unloadable"}
    assert json.loads(cli(ops_env, "ls", "--json").stdout) == []  # not stored again

    stats = cli(ops_env, "stats").stdout
    assert "unloadable 2" in stats and "unloadable keys     1" in stats
    assert json.loads(cli(ops_env, "stats", "--json").stdout)["unloadable"] == [key]
    shown = cli(ops_env, "show", key[:12]).stdout
    assert ("cannot be loaded by this fncache and Theano: RuntimeError: a Frozen helper cannot "
            "be restored (compiled without storing" in shown)
    explained = cli(ops_env, "explain", "--last-miss").stdout
    assert "doubler" in explained and "its entry cannot be loaded here (RuntimeError" in explained

    # What another fncache version remembered is not this one's memory: it tries again.
    run_python('''
import json
from fncache.store import current
index = current().index
memo = json.loads(index.get("unloadable:" + %r))
index.set("unloadable:" + %r, json.dumps(dict(memo, fncache="0.0.1+older")))
''' % (key, key), env=ops_env)
    fourth, _, _ = run_python(PROGRAM, env=ops_env)
    assert fourth["session"]["compile.count"] == 1 and not unexpected(fourth["session"])
    assert [e["key"] for e in json.loads(cli(ops_env, "ls", "--json").stdout)] == [key]
    assert json.loads(cli(ops_env, "stats", "--json").stdout)["unloadable"] == []
    assert "this version will try again" in cli(ops_env, "show", key[:12]).stdout


GOOD = '''
import numpy as np
import theano, theano.tensor as T
from doubler_ops import Doubler
m, y = T.dmatrix("m"), T.ivector("y")
W = theano.shared(np.zeros((4, 3)), "W")
b = theano.shared(np.zeros(3), "b")
p = T.nnet.softmax(T.dot(m, W) + b)
cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
fncache.function([m, y], cost, updates=[(W, W - 0.1 * T.grad(cost, W)), (b, b - 0.1 * T.grad(cost, b))],
                 name="train")
img = T.tensor4("img")
fncache.function([img], T.nnet.conv2d(img, theano.shared(np.ones((2, 1, 3, 3)))), name="conv")
fncache.memoize(lambda v: v * 2, min_seconds=0)(np.arange(4.0))
x = T.dvector("x")
fncache.function([x], Doubler()(x) + 1, name="doubler")  # the graph of PROGRAM
fncache.function([x], Doubler(fatal=True)(x) * 3, name="fatal")
'''


def test_verify_deep_loads_each_entry_in_a_child_process(ops_env):
    run_python(GOOD, env=ops_env)
    listed = {e["name"]: e["key"] for e in json.loads(cli(ops_env, "ls", "--json").stdout)}
    assert {"train", "conv", "doubler", "fatal"} <= set(listed) and len(listed) == 5

    plain = cli(ops_env, "verify").stdout
    assert "5 entries checked (bytes and signatures only; --deep also loads each entry): 5 ok" in plain

    # The CLI's own process never loads an entry: here it would fail if it tried.
    code = '''
import io, contextlib, json
from fncache import cli
from fncache.backends.family import pickler
def refuse(*args):
    raise AssertionError("loaded in the CLI's process")
pickler.loads = refuse
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        cli.main(["verify", "--deep", "--json"])
    except SystemExit as exit:
        result["exit"] = exit.code
result["report"] = json.loads(out.getvalue())
'''
    result, _, _ = run_python(code, env=ops_env)
    report = result["report"]
    assert result["exit"] == 1
    assert report["loaded"] == 3  # train (bound to stand-ins of W and b), conv, the memo result
    bad = {d["name"]: d["reason"] for d in report["cannot_load"]}
    assert set(bad) == {"doubler", "fatal"}
    assert bad["doubler"] == "RuntimeError: a Frozen helper cannot be restored"
    assert bad["fatal"].startswith("loading it ended the process (exit status 3)")

    text = cli(ops_env, "verify", "--deep", check=1).stdout
    assert "5 entries checked and loaded in a child process: 3 ok, 0 damaged, 2 cannot load" in text
    assert listed["doubler"][:16] in text and "a Frozen helper cannot be restored" in text

    fixed = cli(ops_env, "verify", "--deep", "--fix", check=1).stdout  # removes and remembers them
    assert "2 cannot load (2 removed)" in fixed
    assert set(json.loads(cli(ops_env, "stats", "--json").stdout)["unloadable"]) \
        == {listed["doubler"], listed["fatal"]}
    assert "3 entries checked and loaded in a child process: 3 ok, 0 damaged, 0 cannot load" \
        in cli(ops_env, "verify", "--deep").stdout
    again, _, _ = run_python(PROGRAM, env=ops_env)  # the program compiles it and stores nothing
    assert again["warnings"] == [] and again["session"]["uncacheable.unloadable"] == 1
