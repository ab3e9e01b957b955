"""Graph keys: deterministic across processes, different whenever the
compiled function could differ, equal when only shared values change."""
import contextlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import OrderedDict

import fncache  # noqa: F401  (patch Theano before importing it)
import numpy as np
import pytest
import theano
import theano.tensor as T
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from theano.compile.builders import OpFromGraph
from theano.gof.op import COp
from theano.ifelse import ifelse
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.tensor.shared_randomstreams import RandomStreams

from fncache.backends.theano.env import environment_part, excluded_settings
from fncache.format import FORMAT_VERSION
from fncache.backends.theano.graph import signature
from fncache.errors import UnkeyableGraph
from fncache.keys.parts import PART_NAMES, GraphSignature

# Theano 1.0.5's own deprecation noise (np.complex, imp, pkg_resources).
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def key(*args, **kwargs):
    return signature(*args, **kwargs).key


# ---------------------------------------------------------------------------
# API shape
# ---------------------------------------------------------------------------
def test_signature_api_shape():
    x = T.dmatrix("x")
    W = theano.shared(np.ones((3, 3)), "W")
    sig = signature([x], T.dot(x, W) * 0.5, updates=[(W, W * 2)])
    assert isinstance(sig, GraphSignature)
    assert len(sig.key) == 64 and int(sig.key, 16) >= 0
    assert list(sig.parts) == list(PART_NAMES)
    assert sig.inputs == [x]
    assert sig.shared == [W]
    json.dumps(sig.details)  # JSON-serialisable
    node = sig.details["graph"][0]
    assert {"i", "op", "op_key", "inputs", "outputs"} <= set(node)
    assert FORMAT_VERSION == 3


def test_unknown_kwargs_raise_type_error():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="bogus"):
        signature([x], x, bogus=1)


def test_name_is_ignored():
    x = T.dvector("x")
    assert key([x], x * 2, name="a") == key([x], x * 2, name="b") == key([x], x * 2)


# ---------------------------------------------------------------------------
# Determinism across processes
# ---------------------------------------------------------------------------
_CHILD = textwrap.dedent(r"""
    import json, sys
    import fncache
    import numpy as np, theano, theano.tensor as T
    from collections import OrderedDict
    from theano.sandbox.rng_mrg import MRG_RandomStreams
    from theano.tensor.shared_randomstreams import RandomStreams
    from fncache.backends.theano.graph import signature

    junk = int(sys.argv[1])
    # unrelated objects created first, in a different number and order per run
    clutter = [T.dmatrix() * i for i in range(junk)]
    clutter += [theano.shared(np.zeros(i + 1)) for i in range(junk)]
    clutter.append({"k%d" % i: i for i in reversed(range(junk * 3))})
    clutter.append(set("abcdefgh"[:junk + 1]))

    x = T.dmatrix("x"); y = T.ivector("y"); lr = T.dscalar("lr")
    W = theano.shared(np.ones((4, 3)), "W"); b = theano.shared(np.zeros(3), "b")
    data = theano.shared(np.ones((10, 4)), "data"); idx = T.iscalar("idx")
    srng = MRG_RandomStreams(1); rs = RandomStreams(2)
    h = T.nnet.relu(T.dot(x, W) + b) * srng.binomial((x.shape[0], 3), p=0.5)
    p = T.nnet.softmax(h + rs.normal((3,)) * 0.01)
    loss = T.nnet.categorical_crossentropy(p, y).mean()
    seq, scan_upd = theano.scan(lambda v, acc: acc + T.tanh(v).sum(), sequences=h,
                                outputs_info=T.constant(0.0, dtype="float64"))
    gW, gb = T.grad(loss + 0.01 * seq[-1], [W, b])  # gradient through scan, too
    updates = OrderedDict([(W, W - lr * gW), (b, b - lr * gb)])
    sig = signature([theano.In(idx, value=0), y, lr], [loss, seq[-1]], updates=updates,
                    givens={x: data[idx:idx + 2]})
    print(json.dumps({"key": sig.key,
                      "shared": [s.name for s in sig.shared]}))
""")


def _run_child(seed, junk):
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(junk)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_same_graph_same_key_in_fresh_processes():
    a = _run_child(seed=1, junk=0)
    b = _run_child(seed=12345, junk=3)
    assert a["key"] == b["key"]
    assert a["shared"] == b["shared"]
    # shared variables named by what they are: weights first, random states after
    assert a["shared"][:3] == ["data", "W", "b"]


def test_unrelated_objects_and_auto_names_do_not_matter():
    def build(junk):
        extra = [T.dvector() for _ in range(junk)]  # shifts auto_ names / ids
        x = T.dvector("x")
        h = T.tanh(x) * 2
        h.name = "hidden%d" % junk  # internal names are ignored
        return key([x], [h.sum(), h], updates=None), extra

    assert build(0)[0] == build(7)[0]


def test_renaming_an_input_changes_the_key():
    x = T.dvector("x")
    k1 = key([x], x * 2)
    x.name = "z"
    assert key([x], x * 2) != k1


# ---------------------------------------------------------------------------
# Random pairs of graphs (hypothesis): equal recipes <=> equal keys
# ---------------------------------------------------------------------------
class _Ctx(object):
    """Fresh variables for building one graph from a recipe."""

    def __init__(self):
        self.x = T.dvector("x")
        self.y = T.dvector("y")
        self.M = T.dmatrix("M")
        self.W = [theano.shared(np.ones((3, 3)), "W0"), theano.shared(np.ones((3, 3)) * 2, "W1")]
        self.b = theano.shared(np.zeros(3), "b")
        self.mrg = MRG_RandomStreams(42)
        self.rs = RandomStreams(7)


def _scan_cumsum(c, a, p):
    out, _ = theano.scan(lambda v, acc: acc + v * (p + 1), sequences=a,
                         outputs_info=T.constant(0.0, dtype="float64"))
    return out


class _UserScale(theano.Op):
    """An op of the user's with Python code only; its factor is not in __props__."""
    __props__ = ()

    def __init__(self, factor):
        self.factor = factor

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] * self.factor


_OFFSETS = [1.0, -2.5]  # read by _UserCOffset.c_code: part of the C source


class _UserCOffset(theano.Op):
    """An op of the user's with C code (no version) that reads a module-level table."""
    __props__ = ("which",)

    def __init__(self, which):
        self.which = which

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] + _OFFSETS[self.which]

    def c_code(self, node, name, inp, out, sub):
        return """
        Py_XDECREF(%(o)s);
        %(o)s = (PyArrayObject*)PyArray_FROMANY((PyObject*)%(i)s, NPY_FLOAT64, 0, 0,
                                                NPY_ARRAY_ENSURECOPY | NPY_ARRAY_C_CONTIGUOUS);
        if (%(o)s == NULL) %(fail)s
        for (npy_intp k = 0; k < PyArray_SIZE(%(o)s); ++k)
            ((double*)PyArray_DATA(%(o)s))[k] += %(k)r;
        """ % dict(o=out[0], i=inp[0], fail=sub["fail"], k=_OFFSETS[self.which])


class _UserCOp(COp):
    """An op of the user's whose C code is in tests/user_cop.c (3 - x)."""
    __props__ = ()

    def __init__(self):
        COp.__init__(self, ["user_cop.c"], "APPLY_SPECIFIC(user_cop)")

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])


# Each entry: (name, arity, number of parameter choices, builder(ctx, args, param)).
# Every entry adds at least one node and no two entries build the same graph.
VOCAB = [
    ("tanh", 1, 1, lambda c, a, p: T.tanh(a[0])),
    ("exp", 1, 1, lambda c, a, p: T.exp(a[0])),
    ("sigmoid", 1, 1, lambda c, a, p: T.nnet.sigmoid(a[0])),
    ("relu", 1, 1, lambda c, a, p: T.nnet.relu(a[0])),
    ("softplus", 1, 1, lambda c, a, p: T.nnet.softplus(a[0])),
    ("abs", 1, 1, lambda c, a, p: abs(a[0])),
    ("neg", 1, 1, lambda c, a, p: -a[0]),
    ("sqr", 1, 1, lambda c, a, p: T.sqr(a[0])),
    ("cos", 1, 1, lambda c, a, p: T.cos(a[0])),
    ("log1p_abs", 1, 1, lambda c, a, p: T.log1p(abs(a[0]))),
    ("add", 2, 1, lambda c, a, p: a[0] + a[1]),
    ("mul", 2, 1, lambda c, a, p: a[0] * a[1]),
    ("sub", 2, 1, lambda c, a, p: a[0] - a[1]),
    ("maximum", 2, 1, lambda c, a, p: T.maximum(a[0], a[1])),
    ("true_div", 2, 1, lambda c, a, p: a[0] / a[1]),
    ("scale", 1, 3, lambda c, a, p: a[0] * [0.5, 0.25, 2.0][p]),
    ("shift", 1, 2, lambda c, a, p: a[0] + np.float64([1.0, -1.0][p])),
    ("center", 1, 1, lambda c, a, p: a[0] - a[0].mean()),
    ("normalize", 1, 1, lambda c, a, p: a[0] / a[0].max()),
    ("times_sum", 1, 1, lambda c, a, p: a[0] * a[0].sum()),
    ("dot_input", 1, 1, lambda c, a, p: T.dot(c.M, a[0])),
    ("dot_shared", 1, 2, lambda c, a, p: T.dot(c.W[p], a[0])),
    ("plus_bias", 1, 1, lambda c, a, p: a[0] + c.b),
    ("slice", 1, 2, lambda c, a, p: a[0][[1, 2][p]:]),
    ("reverse", 1, 1, lambda c, a, p: a[0][::-1]),
    ("reshape", 1, 1, lambda c, a, p: a[0].reshape((a[0].shape[0],))),
    ("dimshuffle_sum", 1, 1, lambda c, a, p: a[0].dimshuffle("x", 0).sum(axis=0)),
    ("softmax", 1, 1, lambda c, a, p: T.nnet.softmax(a[0].dimshuffle("x", 0))[0]),
    ("alloc", 1, 1, lambda c, a, p: T.alloc(a[0].sum(), a[0].shape[0])),
    ("switch", 1, 1, lambda c, a, p: T.switch(a[0] > 0, a[0], -2 * a[0])),
    ("concatenate", 2, 1, lambda c, a, p: T.concatenate([a[0], a[1]])),
    ("cumsum", 1, 1, lambda c, a, p: T.cumsum(a[0])),
    ("sort", 1, 1, lambda c, a, p: T.sort(a[0])),
    ("clip", 1, 1, lambda c, a, p: T.clip(a[0], -1, 1)),
    ("mrg_uniform", 1, 1, lambda c, a, p: a[0] + c.mrg.uniform(a[0].shape)),
    ("rs_normal", 1, 1, lambda c, a, p: a[0] * c.rs.normal(a[0].shape)),
    ("ifelse", 2, 1, lambda c, a, p: ifelse(a[0].sum() > 0, a[0], a[1])),
    ("scan", 1, 2, _scan_cumsum),
    ("user_perform", 1, 3, lambda c, a, p: _UserScale([0.5, 2.0, -1.0][p])(a[0])),
    ("user_c_code", 1, 2, lambda c, a, p: _UserCOffset(p)(a[0])),
    ("user_cop", 1, 1, lambda c, a, p: _UserCOp()(a[0])),
]

_steps = st.lists(st.tuples(st.integers(0, len(VOCAB) - 1), st.integers(0, 50),
                            st.integers(0, 50), st.integers(0, 5)),
                  min_size=1, max_size=4)
_recipes = st.tuples(_steps, st.booleans())


def _canonical(recipe):
    """The recipe's structure. Shared variables are keyed by role and position,
    not by identity or value: which of W0/W1 a graph uses only matters
    relative to the other uses, so they are renumbered by first use."""
    steps, with_update = recipe
    out = []
    n_values = 2
    shared_order = []
    for op, a0, a1, param in steps:
        name, arity, n_params, _ = VOCAB[op]
        args = (a0 % n_values, a1 % n_values)[:arity]
        param = param % n_params
        if name == "dot_shared":
            if param not in shared_order:
                shared_order.append(param)
            param = ("W", shared_order.index(param))
        out.append((op, args, param))
        n_values += 1
    return tuple(out), with_update


def _raw_param(recipe, index):
    op, _, _, param = recipe[0][index]
    return param % VOCAB[op][2]


def _build(recipe):
    steps, with_update = _canonical(recipe)
    c = _Ctx()
    values = [c.x, c.y]
    for op, args, param in steps:
        raw = _raw_param(recipe, len(values) - 2)
        values.append(VOCAB[op][3](c, [values[i] for i in args], raw))
    outputs = values[2:]  # every step is an output, so every step is reachable
    updates = [(c.b, c.b + values[-1][:3])] if with_update else None
    return signature([c.x, c.y, c.M], outputs, updates=updates, on_unused_input="ignore")


_USER_VOCAB = [i for i, entry in enumerate(VOCAB)
               if entry[0].startswith("user_") or entry[0] in ("tanh", "add")]
_user_steps = st.lists(st.tuples(st.sampled_from(_USER_VOCAB), st.integers(0, 50),
                                 st.integers(0, 50), st.integers(0, 5)), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.tuples(_user_steps, st.booleans()), st.tuples(_user_steps, st.booleans()),
       st.integers(0, 10), st.sampled_from([0, 3]), st.integers(0, 60))
def test_random_graph_pairs_of_user_ops(r1, r2, step, field, value):
    """The same properties over the user's ops (Python perform with an attribute outside
    __props__, c_code reading a module table, a COp file) mixed with a few of Theano's:
    random pairs, and near-identical pairs (one op, argument or parameter changed)."""
    k1 = _build(r1).key
    assert _build(r1).key == k1
    assert (k1 == _build(r2).key) == (_canonical(r1) == _canonical(r2))
    steps = [list(s) for s in r1[0]]
    steps[step % len(steps)][field] = _USER_VOCAB[value % len(_USER_VOCAB)] if field == 0 \
        else value
    r3 = ([tuple(s) for s in steps], r1[1])
    assert (k1 == _build(r3).key) == (_canonical(r1) == _canonical(r3))


def test_vocabulary_is_large_and_distinct():
    assert len(VOCAB) >= 30
    keys = {key_ for key_ in (_build(([(i, 0, 0, 0)], False)).key for i in range(len(VOCAB)))}
    assert len(keys) == len(VOCAB)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(_recipes, _recipes)
def test_random_graph_pairs(r1, r2):
    k1 = _build(r1).key
    assert _build(r1).key == k1  # rebuilt from the same recipe: same key
    k2 = _build(r2).key
    assert (k1 == k2) == (_canonical(r1) == _canonical(r2))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(_recipes, st.integers(0, 10), st.integers(0, 4), st.integers(0, 60))
def test_random_graph_and_a_one_field_mutation(r1, step, field, value):
    """Near-identical pairs: one op, argument, parameter or update flag changed."""
    steps, with_update = r1
    steps = [list(s) for s in steps]
    if field == 4:
        with_update = not with_update
    else:
        steps[step % len(steps)][field] = value % len(VOCAB) if field == 0 else value
    r2 = ([tuple(s) for s in steps], with_update)
    k1, k2 = _build(r1).key, _build(r2).key
    assert (k1 == k2) == (_canonical(r1) == _canonical(r2))


# ---------------------------------------------------------------------------
# One targeted change per bullet: changing only that changes the key
# ---------------------------------------------------------------------------
def _pair(name):
    """Two signatures that differ only in `name`, and the part that must say so."""
    x = T.dmatrix("x")
    W = theano.shared(np.ones((3, 3)), "W")
    V = theano.shared(np.ones((3, 3)), "V")
    if name == "input dtype":
        xf = T.fmatrix("x")
        return signature([x], x * 2), signature([xf], xf * 2), "inputs"
    if name == "broadcastable":
        r = T.drow("x")
        return signature([x], x * 2), signature([r], r * 2), "inputs"
    if name == "input name":
        z = T.dmatrix("z")
        return signature([x], x * 2), signature([z], z * 2), "inputs"
    if name == "In borrow":
        return (signature([theano.In(x, borrow=True)], x * 2),
                signature([theano.In(x, borrow=False)], x * 2), "inputs")
    if name == "In mutable":
        return (signature([theano.In(x, mutable=True)], x * 2),
                signature([theano.In(x, mutable=False, borrow=True)], x * 2), "inputs")
    if name == "In value":
        s = T.dscalar("s")
        return (signature([x, theano.In(s, value=1.0)], x * s),
                signature([x, theano.In(s, value=2.0)], x * s), "inputs")
    if name == "In update":
        s = T.dscalar("s")
        return (signature([x, theano.In(s, value=1.0, update=s + 1)], x * s),
                signature([x, theano.In(s, value=1.0, update=s * 2)], x * s), "inputs")
    if name == "constant value":
        return signature([x], x * 0.5), signature([x], x * 0.25), "constants"
    if name == "constant dtype":
        return (signature([x], x * np.float64(0.5)), signature([x], x * np.float32(0.5)),
                "constants")
    if name == "folded constant":
        c2, c3 = T.constant(2.0), T.constant(3.0)
        c4 = T.constant(4.0)
        return signature([x], x + c2 * c3), signature([x], x + c2 * c4), "constants"
    if name == "shared type":
        Wf = theano.shared(np.ones((3, 3), "float32"), "W")
        return signature([x], T.dot(x, W)), signature([x], T.dot(x, Wf)), "shared"
    if name == "shared broadcastable":
        Wr = theano.shared(np.ones((1, 3)), "W", broadcastable=(True, False))
        Wm = theano.shared(np.ones((1, 3)), "W")
        return signature([x], x + Wr), signature([x], x + Wm), "shared"
    if name == "which shared is updated":
        out = T.dot(x, W) + T.dot(x, V)
        return (signature([x], out, updates=[(W, W * 2)]),
                signature([x], out, updates=[(V, V * 2)]), "shared")
    if name == "update graph":
        return (signature([x], T.dot(x, W), updates=[(W, W * 2)]),
                signature([x], T.dot(x, W), updates=[(W, W + 2)]), "shared")
    if name == "givens":
        y = T.dmatrix("y")
        return (signature([y], x * 2, givens={x: y + 1}),
                signature([y], x * 2, givens={x: y - 1}), "options")
    if name == "givens present":
        y = T.dmatrix("y")
        return signature([y], x * 2, givens={x: y}), signature([y], y * 2), "options"
    if name == "output order":
        return signature([x], [x * 2, x + 1]), signature([x], [x + 1, x * 2]), "outputs"
    if name == "Out borrow":
        return (signature([x], theano.Out(x * 2, borrow=True)),
                signature([x], theano.Out(x * 2, borrow=False)), "outputs")
    if name == "output container":
        return signature([x], [x * 2]), signature([x], x * 2), "outputs"
    if name == "dict output keys":
        return signature([x], {"a": x * 2}), signature([x], {"b": x * 2}), "outputs"
    if name == "on_unused_input":
        return (signature([x], x * 2, on_unused_input="ignore"),
                signature([x], x * 2, on_unused_input="warn"), "options")
    if name == "no_default_updates":
        srng = MRG_RandomStreams(1)
        out = x + srng.uniform((3, 3))
        return (signature([x], out, no_default_updates=False),
                signature([x], out, no_default_updates=True), "options")
    if name == "allow_input_downcast":
        return (signature([x], x * 2, allow_input_downcast=True),
                signature([x], x * 2, allow_input_downcast=None), "options")
    if name == "accept_inplace":
        return (signature([x], x * 2, accept_inplace=True),
                signature([x], x * 2, accept_inplace=False), "options")
    if name == "rebuild_strict":
        return (signature([x], x * 2, rebuild_strict=True),
                signature([x], x * 2, rebuild_strict=False), "options")
    if name == "profile":
        return (signature([x], x * 2, profile=False),
                signature([x], x * 2, profile=True), "options")
    if name == "mode linker":
        return (signature([x], x * 2, mode=theano.Mode(linker="cvm", optimizer="fast_run")),
                signature([x], x * 2, mode=theano.Mode(linker="py", optimizer="fast_run")),
                "mode")
    if name == "mode optimizer excluding":
        mode = theano.compile.get_default_mode()
        return (signature([x], x * 2, mode=mode),
                signature([x], x * 2, mode=mode.excluding("fusion")), "mode")
    if name == "mode optimizer including":
        mode = theano.compile.get_default_mode()
        return (signature([x], x * 2, mode=mode),
                signature([x], x * 2, mode=mode.including("local_remove_all_assert")), "mode")
    if name == "mode optimizer name":
        return (signature([x], x * 2, mode="FAST_RUN"),
                signature([x], x * 2, mode="FAST_COMPILE"), "mode")
    if name == "inner graph constant":
        v = T.dvector("v")
        a, _ = theano.scan(lambda e: e * 2.0, sequences=v)
        b, _ = theano.scan(lambda e: e * 3.0, sequences=v)
        return signature([v], a), signature([v], b), "graph"
    if name == "floatX":
        old = theano.config.floatX
        try:
            theano.config.floatX = "float64"
            a = signature([x], x * 2)
            theano.config.floatX = "float32"
            b = signature([x], x * 2)
        finally:
            theano.config.floatX = old
        return a, b, "environment"
    raise AssertionError(name)


CASES = [
    "input dtype", "broadcastable", "input name", "In borrow", "In mutable", "In value",
    "In update", "constant value", "constant dtype", "folded constant", "shared type",
    "shared broadcastable", "which shared is updated", "update graph", "givens", "givens present",
    "output order", "Out borrow", "output container", "dict output keys", "on_unused_input",
    "no_default_updates", "allow_input_downcast", "accept_inplace", "rebuild_strict",
    "profile", "mode linker", "mode optimizer excluding", "mode optimizer including",
    "mode optimizer name", "inner graph constant", "floatX",
]


@pytest.mark.parametrize("name", CASES)
def test_each_change_changes_the_key(name):
    a, b, part = _pair(name)
    assert a.key != b.key
    assert a.parts[part] != b.parts[part]


def test_changing_a_shared_value_keeps_the_key():
    x = T.dmatrix("x")
    W = theano.shared(np.ones((3, 3)), "W")
    out = T.dot(x, W)
    k1 = key([x], out, updates=[(W, W * 0.9)])
    W.set_value(np.random.rand(3, 3))
    assert key([x], out, updates=[(W, W * 0.9)]) == k1
    W2 = theano.shared(np.zeros((3, 3)), "other_name")  # another variable, same role
    assert key([x], T.dot(x, W2), updates=[(W2, W2 * 0.9)]) == k1


def test_constant_values_are_keyed_by_content():
    x = T.dvector("x")
    big1 = np.arange(1000.0)
    big2 = big1.copy()
    big2[-1] = -1
    assert key([x], x + big1) == key([x], x + big1.copy())
    assert key([x], x + big1) != key([x], x + big2)
    assert key([x], x + big1) != key([x], x + big1[::-1])


def test_environment_notices_config_changes():
    d1, details1 = environment_part()
    assert details1["config.floatX"] == theano.config.floatX
    old = theano.config.floatX
    try:
        theano.config.floatX = "float32" if old != "float32" else "float64"
        d2, details2 = environment_part()
        assert d2 != d1 and details2["config.floatX"] == theano.config.floatX
    finally:
        theano.config.floatX = old
    assert environment_part()[0] == d1
    excluded = excluded_settings()
    assert "compiledir" in excluded and "floatX" not in excluded
    assert "config.compiledir" not in details1 and "config.blas.ldflags" in details1
    for name in ("theano.version", "numpy.version", "python.soabi", "fncache.format_version",
                 "c.gcc_version", "config.cxx", "config.gcc.cxxflags", "config.device"):
        assert name in details1, name


# ---------------------------------------------------------------------------
# Shared variables: canonical order, default updates, givens
# ---------------------------------------------------------------------------
def test_default_updates_fixpoint_and_no_default_updates_list():
    x = T.dvector("x")
    counter = theano.shared(np.float64(0), "counter")
    step = theano.shared(np.float64(1), "step")
    step.default_update = step * 2          # reached only through counter's update
    counter.default_update = counter + step
    sig = signature([x], x * counter)
    assert [s.name for s in sig.shared] == ["counter", "step"]
    updates = {d["position"]: d["update"] for d in sig.details["shared"]}
    assert updates == {0: "default", 1: "default"}
    sig2 = signature([x], x * counter, no_default_updates=[step])
    assert [d["update"] for d in sig2.details["shared"]] == ["default", None]
    assert sig2.key != sig.key
    sig3 = signature([x], x * counter, updates=[(counter, counter - 1)])
    assert [d["update"] for d in sig3.details["shared"]] == ["explicit"]
    assert [s.name for s in sig3.shared] == ["counter"]


def test_shared_order_matches_the_compiled_function():
    x = T.dvector("x")
    W = theano.shared(np.ones((3, 3)), "W")
    b = theano.shared(np.zeros(3), "b")
    unused_repl = theano.shared(np.ones(3), "unused")
    srng = MRG_RandomStreams(3)
    rs = RandomStreams(4)
    y = T.dvector("y")
    seq, upd = theano.scan(lambda v, acc: acc + v, sequences=x,
                           outputs_info=T.constant(0.0, dtype="float64"))
    out = T.dot(W, x) + b * srng.uniform((3,)) + rs.normal((3,)) + seq[-1]
    kwargs = dict(updates=[(b, b + 1)], givens=[(y, unused_repl * 2)],
                  mode="FAST_COMPILE", on_unused_input="ignore")
    sig = signature([x], [out, y], **kwargs)
    fn = theano.function([x], [out, y], **kwargs)
    implicit = [i.variable for i in fn.maker.inputs[len(sig.inputs):]]
    assert implicit == sig.shared
    fn(np.ones(3))
    # run-time state Theano attaches while compiling and running (Scan.fn,
    # ufunc caches, ...) must not change the key
    assert signature([x], [out, y], **kwargs).key == sig.key


def test_givens_replacing_a_shared_variable():
    x = T.dmatrix("x")
    W = theano.shared(np.ones((3, 3)), "W")
    V = theano.shared(np.ones((3, 3)), "V")
    sig = signature([x], T.dot(x, W), givens={W: V * 2})
    assert sig.shared == [V]  # W is not read by the compiled function
    fn = theano.function([x], T.dot(x, W), givens={W: V * 2})
    assert [i.variable for i in fn.maker.inputs[1:]] == [V]
    # the same as writing V * 2 directly? not the same call, so not the same key
    assert sig.key != key([x], T.dot(x, V * 2))
    assert sig.key == key([x], T.dot(x, W), givens={W: V * 2})


def test_inner_graphs_and_fallback_ops_are_keyed():
    s = T.dscalar("s")
    a, b = T.dscalar(), T.dscalar()
    W = theano.shared(np.float64(2.0), "W")
    ofg1 = OpFromGraph([a, b], [a + b * W])
    ofg2 = OpFromGraph([a, b], [a - b * W])
    assert key([s], ofg1(s, s)) != key([s], ofg2(s, s))
    assert key([s], ofg1(s, s)) == key([s], OpFromGraph([a, b], [a + b * W])(s, s))
    assert signature([s], ofg1(s, s)).shared == [W]
    ci = theano.scalar.float64()
    comp1 = theano.scalar.Composite([ci], [theano.scalar.exp(ci) * 2])
    comp2 = theano.scalar.Composite([ci], [theano.scalar.exp(ci) * 3])
    x = T.dvector("x")
    assert key([x], T.Elemwise(comp1)(x)) != key([x], T.Elemwise(comp2)(x))
    str(comp1)  # sets a lazily derived name; must not change the key
    assert key([x], T.Elemwise(comp1)(x)) == key(
        [x], T.Elemwise(theano.scalar.Composite([ci], [theano.scalar.exp(ci) * 2]))(x))


class _LambdaOp(theano.Op):
    __props__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def make_node(self, a):
        return theano.Apply(self, [a], [a.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = self.fn(inputs[0])


def _module_level_double(v):
    return v * 2


def test_unkeyable_values_raise_with_a_reason():
    x = T.dvector("x")
    with pytest.raises(UnkeyableGraph, match="_LambdaOp property 'fn'.*lambda"):
        signature([x], _LambdaOp(lambda v: v * 2)(x))
    factor = 3

    def closure(v):
        return v * factor
    with pytest.raises(UnkeyableGraph, match="closure"):
        signature([x], _LambdaOp(closure)(x))
    # a module-level function is fine, and is keyed by name (+ code digest)
    k = key([x], _LambdaOp(_module_level_double)(x))
    assert k == key([x], _LambdaOp(_module_level_double)(x))
    assert k != key([x], _LambdaOp(np.negative)(x))
    with pytest.raises(UnkeyableGraph):
        signature([], x * 2)  # missing input: Theano would raise too
    assert issubclass(UnkeyableGraph, ValueError)


def test_updates_as_ordered_dict_list_or_dict_agree():
    x = T.dvector("x")
    a = theano.shared(np.zeros(3), "a")
    b = theano.shared(np.zeros(3), "b")
    pairs = [(a, a + x), (b, b * 2)]
    k = key([x], x.sum(), updates=pairs)
    assert key([x], x.sum(), updates=OrderedDict(pairs)) == k
    assert key([x], x.sum(), updates=dict(pairs)) == k


def test_linear_time_measurement(capsys):
    """Printed measurement only (no timed assert)."""
    x = T.dvector("x")
    y = x
    n = 0
    while n < 10000:
        y = T.tanh(y) if n % 2 else y + x
        n += 1
    signature([x], y)
    start = time.perf_counter()
    sig = signature([x], y)
    elapsed = time.perf_counter() - start
    nodes = len(sig.details["graph"])
    with capsys.disabled():
        print("\n[graph key] %d nodes in %.3f s = %.0f nodes/s" % (nodes, elapsed, nodes / elapsed))
    assert nodes == 10000


def test_each_part_digest_is_logged_at_debug(caplog):
    x = T.dvector("x")
    with caplog.at_level("DEBUG", logger="fncache.keys.parts"):
        sig = signature([x], x * 2)
    logged = [r.getMessage() for r in caplog.records if r.name == "fncache.keys.parts"]
    for name in PART_NAMES:
        assert any(("part %s = %s" % (name, sig.parts[name])) in m for m in logged), name


# ---------------------------------------------------------------------------
# Ops, types and rewrites of the user's (issue 15)
# ---------------------------------------------------------------------------
def test_user_op_attributes_and_c_source_are_keyed():
    x = T.dvector("x")
    v = np.array([1.0, 2.0])
    # the three kinds (Python, c_code, COp file) compute what they say, and run-time state
    # Theano may leave on an op does not change its key
    for op, expected in ((_UserScale(2.0), v * 2.0), (_UserCOffset(1), v - 2.5),
                         (_UserCOp(), 3.0 - v)):
        out = op(x)
        before = signature([x], out)
        np.testing.assert_array_equal(theano.function([x], out)(v), expected)
        assert signature([x], out).key == before.key, type(op).__name__
    a, b = signature([x], _UserScale(2.0)(x)), signature([x], _UserScale(3.0)(x))
    assert a.key != b.key and a.parts["graph"] != b.parts["graph"]
    assert "@factor=2.0" in a.details["graph"][0]["op_key"]
    k = signature([x], _UserCOffset(0)(x))
    assert [e["op"] for e in k.details["c_code"]] == ["_UserCOffset{which=0}"]
    _OFFSETS[0] = 7.0  # the table its c_code reads
    try:
        changed = signature([x], _UserCOffset(0)(x))
    finally:
        _OFFSETS[0] = 1.0
    assert changed.key != k.key and changed.parts["c_code"] != k.parts["c_code"]
    assert [p for p in PART_NAMES if changed.parts[p] != k.parts[p]] == ["c_code"]
    assert signature([x], _UserCOffset(0)(x)).key == k.key
    # Theano's own ops contribute no C source entries: their code is versioned
    assert signature([x], T.tanh(x) * 2).details["c_code"] == []


def test_a_user_op_attribute_that_cannot_be_fingerprinted_is_not_cached(cache_dir):
    x = T.dvector("x")
    with pytest.raises(UnkeyableGraph, match="_UserScale attribute 'factor' .*not in __props__"):
        signature([x], _UserScale(object())(x))
    before = fncache.stats(session_only=True)["uncacheable"].get("unkeyable", 0)
    fn = fncache.function([x], _UserScale(np.random.RandomState(0))(x) * 0.0)
    assert getattr(fn, "fncache_key", None) is None
    assert fncache.stats(session_only=True)["uncacheable"]["unkeyable"] == before + 1


def _noop_rewrite(node):
    """Never changes a graph; registered only to see the key notice it."""
    return False


@contextlib.contextmanager
def _registered(db, name, opt, *args, **kwargs):
    """Register ``opt`` in ``db`` and take it out again by hand (Theano has no remove)."""
    keys = set(db.__db__)
    db.register(name, opt, *args, **kwargs)
    try:
        yield
    finally:
        for key in list(db.__db__):
            db.__db__[key].discard(opt)
            if key not in keys:
                del db.__db__[key]
        db._names.discard(name)
        for table in ("__position__", "__final__", "__cleanup__"):
            getattr(db, table, {}).pop(name, None)


_rewrite_names = itertools.count()
_REWRITE_DBS = {"specialize": (), "canonicalize": (), "stabilize": (), "optdb": (48.5,)}


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(sorted(_REWRITE_DBS)), st.booleans()),
                min_size=1, max_size=3))
def test_property_user_rewrites_are_keyed(registrations):
    """Each registration changes the key (part 'rewrites' only); taking them out again,
    in any order, brings the original key back."""
    from theano.gof.opt import local_optimizer
    x = T.dvector("x")

    def key_now():
        return signature([x], T.exp(x) * 2)

    original = key_now()
    seen = {original.key}
    with contextlib.ExitStack() as stack:
        for db_name, tagged in registrations:
            name = "noop_rewrite_%d" % next(_rewrite_names)
            db = theano.compile.optdb if db_name == "optdb" else theano.compile.optdb[db_name]
            opt = local_optimizer([T.exp])(_noop_rewrite)
            if db_name == "optdb":
                opt = theano.gof.opt.in2out(opt)
            tags = ("fast_run",) + (("user_tag",) if tagged else ())
            stack.enter_context(_registered(db, name, opt, *(_REWRITE_DBS[db_name] + tags)))
            now = key_now()
            assert now.key not in seen
            assert [p for p in PART_NAMES if now.parts[p] != original.parts[p]] == ["rewrites"]
            assert any(e["name"] == name and e["status"] == "registered"
                       for e in now.details["rewrites"])
            assert key_now().key == now.key
            seen.add(now.key)
    assert key_now().key == original.key


def test_removing_or_retagging_theanos_own_rewrite_is_keyed():
    x = T.dvector("x")
    original = signature([x], T.exp(x) * 2)
    specialize = theano.compile.optdb["specialize"]
    fast_run = specialize.__db__["fast_run"]
    order = list(fast_run)
    specialize.remove_tags("local_mul_specialize", "fast_run")
    try:
        changed = signature([x], T.exp(x) * 2)
    finally:
        specialize.add_tags("local_mul_specialize", "fast_run")
    assert changed.key != original.key
    assert [e["status"] for e in changed.details["rewrites"]][:1] == ["changed"]
    retagged = signature([x], T.exp(x) * 2)
    # the tag set is whole again, but the rewrite now runs last among fast_run's
    assert retagged.key != original.key
    assert [e["status"] for e in retagged.details["rewrites"]] == ["order"]
    for obj in order:  # put Theano's order back (by hand), then tell the databases
        fast_run.discard(obj)
        fast_run.add(obj)
    specialize.add_tags("local_mul_specialize")
    assert signature([x], T.exp(x) * 2).key == original.key
