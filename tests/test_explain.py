"""explain(): names the part that differs, in words a user can act on."""
import json
import os
import sys

import fncache  # noqa: F401  (patch Theano before importing it)
import numpy as np
import pytest
import theano
import theano.tensor as T

import fncache.keys.explain as explain_module
from fncache.keys.explain import UnknownKey, explain, lookup, register
from fncache.backends.theano.graph import signature

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_graph_key import CASES, _pair  # noqa: E402  (the targeted pairs)


# Theano 1.0.5's own deprecation noise (np.complex, imp, pkg_resources).
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")]


def _parts_named(lines):
    return [line.split(":", 1)[0] for line in lines]


@pytest.mark.parametrize("name", CASES)
def test_explain_names_the_differing_part_first(name, capsys):
    a, b, part = _pair(name)
    lines = explain(a, b)
    assert lines, name
    assert _parts_named(lines)[0] == part, lines
    printed = capsys.readouterr().out
    assert lines[0] in printed


@pytest.mark.parametrize("name, expected", [
    ("input dtype", "inputs: input 0 'x' type TensorType(float64, matrix) vs "
                    "TensorType(float32, matrix)"),
    ("input name", "inputs: input 0 'x' name x vs z"),
    ("In value", "inputs: input 1 's' value 1.0 vs 2.0"),
    ("constant value", "constants: node 1 (Elemwise{mul,no_inplace}) input 1: "
                       "constant float32 0.5 vs float32 0.25"),
    ("floatX", "environment: floatX float64 vs float32"),
    ("on_unused_input", "options: on_unused_input ignore vs warn"),
    ("profile", "options: profile False vs True"),
    ("Out borrow", "outputs: output 0 borrow True vs False"),
    ("output container", "outputs: returned as list vs single"),
    ("shared type", "shared: shared variable 0 type TensorType(float64, matrix) vs "
                    "TensorType(float32, matrix)"),
    ("which shared is updated", "shared: shared variable 0 update explicit vs None"),
])
def test_explain_wording(name, expected):
    a, b, _ = _pair(name)
    assert expected in explain(a, b)


def test_explain_graph_node_and_op_parameters():
    x = T.dvector("x")
    lines = explain(signature([x], T.tanh(x) * 2), signature([x], T.exp(x) * 2))
    assert "graph: node 0: op Elemwise{tanh,no_inplace} vs Elemwise{exp,no_inplace}" in lines
    mode = theano.compile.get_default_mode()
    lines = explain(signature([x], x * 2, mode=mode),
                    signature([x], x * 2, mode=mode.excluding("fusion")))
    assert any(line.startswith("mode: optimizer") and "fusion" in line for line in lines)
    v = T.dvector("v")
    a, _ = theano.scan(lambda e: e * 2.0, sequences=v)
    b, _ = theano.scan(lambda e: e * 3.0, sequences=v)
    lines = explain(signature([v], a), signature([v], b))
    graph_lines = [line for line in lines if line.startswith("graph:")]
    assert graph_lines and "op parameters" in graph_lines[0]
    assert "2.0" in graph_lines[0] and "3.0" in graph_lines[0]


def test_explain_accepts_keys_signatures_and_tuples():
    x = T.dvector("x")
    s1 = signature([x], x * 2)
    s2 = signature([x], x * 3)
    by_sig = explain(s1, s2)
    assert explain(s1.key, s2.key) == by_sig
    assert explain(([x], x * 2), ([x], x * 3)) == by_sig
    assert explain(s1.key, ([x], x * 3)) == by_sig
    assert explain({"inputs": [x], "outputs": x * 2}, s2) == by_sig


def test_identical_keys(capsys):
    x = T.dvector("x")
    assert explain(([x], x * 2), ([x], x * 2)) == []
    assert "identical" in capsys.readouterr().out


def test_unknown_key_is_a_clear_key_error():
    with pytest.raises(KeyError) as info:
        explain("0" * 64, "1" * 64)
    assert isinstance(info.value, UnknownKey)
    assert "unknown to this process" in str(info.value)
    with pytest.raises(UnknownKey):
        lookup("f" * 64)


def test_details_survive_json_and_register_across_processes():
    x = T.dmatrix("x")
    a = signature([x], x * 0.5)
    b = signature([x], x * 0.25)
    # what a persistent cache would store and load in another process
    stored = json.loads(json.dumps({"key": a.key, "parts": a.parts, "details": a.details}))
    register("persisted-" + stored["key"], stored["parts"], stored["details"])
    parts, details = lookup("persisted-" + a.key)
    assert parts == a.parts and details == stored["details"]
    lines = explain("persisted-" + a.key, b)
    assert lines == explain(a, b)
    assert lines[0].startswith("constants:")


def test_registry_is_bounded(monkeypatch):
    x = T.dvector("x")
    first = signature([x], x * 1.5).key
    for i in range(explain_module.MAX_ENTRIES + 5):
        register("synthetic-%d" % i, {"graph": str(i)}, None)
    with pytest.raises(UnknownKey):
        lookup(first)
    assert len(explain_module._registry) <= explain_module.MAX_ENTRIES
    # big graphs are bounded by their total node count, too
    monkeypatch.setattr(explain_module, "MAX_NODES", 300)
    x = T.dvector("x")
    y = x
    for _ in range(100):
        y = T.tanh(y)
    big = signature([x], y).key
    signature([x], y * 2)
    signature([x], y * 3)
    signature([x], y * 4)
    with pytest.raises(UnknownKey):
        lookup(big)
    assert explain_module._nodes <= explain_module.MAX_NODES


def test_missing_details_fall_back_to_digests():
    register("bare-a", {"graph": "aa" * 32, "mode": "m"}, None)
    register("bare-b", {"graph": "bb" * 32, "mode": "m"}, None)
    assert explain("bare-a", "bare-b") == ["graph: digest %s vs %s" % ("aa" * 8, "bb" * 8)]


def test_shared_value_change_explains_as_identical():
    x = T.dmatrix("x")
    W = theano.shared(np.ones((3, 3)), "W")
    a = signature([x], T.dot(x, W))
    W.set_value(np.zeros((3, 3)))
    assert explain(a, signature([x], T.dot(x, W))) == []


def test_explain_takes_compiled_functions_and_a_one_signature_cached_function(cache_dir):
    x = T.dvector("x")
    f2, f3 = fncache.function([x], x * 2), fncache.function([x], x * 3)
    assert explain(f2, f3) == explain(f2.fncache_key, f3.fncache_key) != []

    def scaled(factor):
        @fncache.cached_function
        def g(v):
            return v * factor
        return g
    g2, g3 = scaled(2.0), scaled(3.0)
    g2(np.ones(2)), g3(np.ones(2))
    lines = explain(g2, g3)
    assert lines and lines[0].startswith("constants:") and "2.0 vs" in lines[0], lines
    g3(np.ones(2, dtype="float32"))  # a second signature: which one is meant?
    with pytest.raises(TypeError, match="compiled 2 signatures"):
        explain(g2, g3)


K = 1.0  # read by AddK.c_code


class AddK(theano.Op):
    """C code that reads the module constant K (no c_code_cache_version)."""
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] + K

    def c_code(self, node, name, inp, out, sub):
        return "Py_XDECREF(%s); %s = (PyArrayObject*)PyArray_NewCopy(%s, NPY_CORDER); %r;" % (
            out[0], out[0], inp[0], K)


def test_explain_names_a_changed_c_source_and_a_registered_rewrite():
    global K
    from test_graph_key import _noop_rewrite, _registered
    from theano.gof.opt import local_optimizer
    x = T.dvector("x")
    before = signature([x], AddK()(x))
    K = 2.0
    try:
        after = signature([x], AddK()(x))
    finally:
        K = 1.0
    assert explain(before, after) == ["c_code: C source of AddK changed"]
    plain = signature([x], T.exp(x))
    exp_to_approx = local_optimizer([T.exp])(_noop_rewrite)
    with _registered(theano.compile.optdb["specialize"], "exp_to_approx", exp_to_approx,
                     "fast_run"):
        with_rewrite = signature([x], T.exp(x))
    assert explain(plain, with_rewrite) == [
        "rewrites: rewrite exp_to_approx registered in specialize (second key only)"]
    assert explain(with_rewrite, plain)[0].endswith("(first key only)")
