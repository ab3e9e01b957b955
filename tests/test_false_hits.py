"""False hits (issue 15): what changes the right answer must change the key.

Each family is shown end to end with real fresh processes sharing one cache directory
(the second process must get the answer plain Theano or plain Python gives), plus a
property test that generates variations in-process.
"""
import functools
import os
import textwrap

import numpy as np
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fncache
import theano
import theano.tensor as T
from fncache.observe import counters
from fncache.backends.theano.graph import signature
from fncache.keys.values import hash_values

from forge import xxh3_twins
from helpers import run_python

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")]

SLOW = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def write(directory, name, text):
    path = os.path.join(str(directory), name)
    with open(path, "w") as fh:
        fh.write(textwrap.dedent(text))
    return path


def child(code, cache_dir, modules, *args, env=None):
    """Run ``code`` in a fresh interpreter that shares ``cache_dir`` and imports from ``modules``."""
    full_env = {"FNCACHE_DIR": str(cache_dir), "PYTHONPATH": str(modules) + os.pathsep
                + os.environ.get("PYTHONPATH", "")}
    full_env.update(env or {})
    result, counts, _ = run_python(code, env=full_env, args=args)
    return result, counts


# ---------------------------------------------------------------------------
# 1. C code that changes without a version
# ---------------------------------------------------------------------------
COP_MODULE = '''
import theano, theano.tensor as T
from theano.gof.op import COp


class AddK(COp):
    """Adds a constant written in its C file; no c_code_cache_version of its own."""
    __props__ = ()

    def __init__(self):
        COp.__init__(self, ["addk.c"], "APPLY_SPECIFIC(addk)")

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])
'''

COP_C = '''
#section support_code_apply

int APPLY_SPECIFIC(addk)(PyArrayObject* x, PyArrayObject** out) {
    Py_XDECREF(*out);
    *out = (PyArrayObject*)PyArray_FROMANY((PyObject*)x, NPY_FLOAT64, 0, 0,
                                           NPY_ARRAY_ENSURECOPY | NPY_ARRAY_C_CONTIGUOUS);
    if (*out == NULL) return 1;
    double* d = (double*)PyArray_DATA(*out);
    for (npy_intp i = 0; i < PyArray_SIZE(*out); ++i) d[i] += %s;
    return 0;
}
'''

C_CODE_MODULE = '''
import theano, theano.tensor as T

K = %s


class AddConst(theano.Op):
    """Its C code reads the module constant K; %s"""
    __props__ = ()
    %s

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] + K

    def c_code(self, node, name, inp, out, sub):
        return """
        Py_XDECREF(%%(o)s);
        %%(o)s = (PyArrayObject*)PyArray_FROMANY((PyObject*)%%(i)s, NPY_FLOAT64, 0, 0,
                                                 NPY_ARRAY_ENSURECOPY | NPY_ARRAY_C_CONTIGUOUS);
        if (%%(o)s == NULL) %%(fail)s
        for (npy_intp k = 0; k < PyArray_SIZE(%%(o)s); ++k)
            ((double*)PyArray_DATA(%%(o)s))[k] += %%(K)r;
        """ %% dict(o=out[0], i=inp[0], fail=sub["fail"], K=K)
'''

ADD_CHILD = '''
import importlib, sys
import numpy as np, theano.tensor as T
mod = importlib.import_module(sys.argv[1])
x = T.dvector("x")
f = fncache.function([x], getattr(mod, sys.argv[2])()(x) * 1.0)
result["y"] = f(np.zeros(2)).tolist()
result["key"] = f.fncache_key
'''


def test_cop_file_edited_between_runs_recompiles(tmp_path, cache_dir):
    write(tmp_path, "cop_addk.py", COP_MODULE)
    write(tmp_path, "addk.c", COP_C % "1.0")
    first, _ = child(ADD_CHILD, cache_dir, tmp_path, "cop_addk", "AddK")
    write(tmp_path, "addk.c", COP_C % "2.0")
    second, _ = child(ADD_CHILD, cache_dir, tmp_path, "cop_addk", "AddK")
    assert first["y"] == [1.0, 1.0]
    assert second["y"] == [2.0, 2.0]
    write(tmp_path, "addk.c", COP_C % "1.0")
    again, counts = child(ADD_CHILD, cache_dir, tmp_path, "cop_addk", "AddK")
    assert again["y"] == [1.0, 1.0] and again["key"] == first["key"]
    assert counts["optimize"] == 0  # the first run's entry serves it


@pytest.mark.parametrize("version", ["", "def c_code_cache_version(self):\n        return (1,)"])
def test_c_code_reading_a_module_constant_recompiles(tmp_path, cache_dir, version):
    doc = "no c_code_cache_version" if not version else "a version, but empty __props__"
    write(tmp_path, "cconst.py", C_CODE_MODULE % ("1.0", doc, version))
    first, _ = child(ADD_CHILD, cache_dir, tmp_path, "cconst", "AddConst")
    write(tmp_path, "cconst.py", C_CODE_MODULE % ("2.0", doc, version))
    second, _ = child(ADD_CHILD, cache_dir, tmp_path, "cconst", "AddConst")
    assert (first["y"], second["y"]) == ([1.0, 1.0], [2.0, 2.0])


PLAIN_THEANO_CHILD = '''
import sys
import numpy as np, theano, theano.tensor as T
import cconst
x = T.dvector("x")
f = theano.function([x], cconst.AddConst()(x) * 1.0)
result["y"] = f(np.zeros(2)).tolist()
'''


def test_warm_compiledir_fix_keeps_a_user_op_with_empty_props_unversioned(tmp_path, cache_dir):
    """Plain theano.function (fncache imported, so its compiledir fixes are on): an op of the
    user's with ``__props__ = ()`` recompiles when its C code changes, as stock Theano does."""
    version = "def c_code_cache_version(self):\n        return (1,)"
    write(tmp_path, "cconst.py", C_CODE_MODULE % ("1.0", "versioned", version))
    first, _ = child(PLAIN_THEANO_CHILD, cache_dir, tmp_path)
    write(tmp_path, "cconst.py", C_CODE_MODULE % ("3.0", "versioned", version))
    second, _ = child(PLAIN_THEANO_CHILD, cache_dir, tmp_path)
    assert (first["y"], second["y"]) == ([1.0, 1.0], [3.0, 3.0])


def _import_fresh(directory, name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, os.path.join(str(directory), name + ".py"))
    module = importlib.util.module_from_spec(spec)
    import sys
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@SLOW
@given(st.lists(st.sampled_from(["1.0", "2.0", "-0.5", "1e-300"]), min_size=2, max_size=4))
def test_property_cop_source_and_c_code_constants_are_keyed(tmp_path_factory, constants):
    """Keys of graphs over a COp and a c_code op agree exactly when their C sources agree."""
    directory = tmp_path_factory.mktemp("cops")
    x = T.dvector("x")
    keys = []
    for k in constants:
        write(directory, "prop_cop.py", COP_MODULE.replace('"addk.c"', '"prop_addk.c"'))
        write(directory, "prop_addk.c", COP_C % k)
        write(directory, "prop_cconst.py", C_CODE_MODULE % (k, "-", ""))
        cop = _import_fresh(directory, "prop_cop")
        cc = _import_fresh(directory, "prop_cconst")
        keys.append((signature([x], cop.AddK()(x)).key, signature([x], cc.AddConst()(x)).key))
    for (k1, (a1, b1)) in zip(constants, keys):
        for (k2, (a2, b2)) in zip(constants, keys):
            assert (a1 == a2) == (k1 == k2)
            assert (b1 == b2) == (k1 == k2)


# ---------------------------------------------------------------------------
# 2. Rewrites the user registers
# ---------------------------------------------------------------------------
REWRITE_CHILD = '''
import sys
import theano, theano.tensor as T
from theano.gof.opt import local_optimizer

if sys.argv[1] == "register":
    @local_optimizer([T.exp])
    def exp_to_approx(node):
        """exp(x) ~ 1 + x + x**2 / 2"""
        if node.op == T.exp:
            x = node.inputs[0]
            return [1 + x + x ** 2 / 2]

    theano.tensor.opt.register_specialize(exp_to_approx)
x = T.dscalar("x")
f = fncache.function([x], T.exp(x))
result["y"] = float(f(1.0))
'''


def test_a_registered_rewrite_changes_the_key(tmp_path, cache_dir):
    with_rewrite, _ = child(REWRITE_CHILD, cache_dir, tmp_path, "register")
    without, _ = child(REWRITE_CHILD, cache_dir, tmp_path, "no")
    assert with_rewrite["y"] == 2.5
    assert without["y"] == pytest.approx(np.e)
    again, counts = child(REWRITE_CHILD, cache_dir, tmp_path, "register")
    assert again["y"] == 2.5 and counts["optimize"] == 0


# ---------------------------------------------------------------------------
# 3. State reached from user code that is not a plain value
# ---------------------------------------------------------------------------
STATE_CHILD = '''
import functools, sys
import numpy as np

K = float(sys.argv[1])


class Scale:
    def __init__(self, k):
        self.k = k

    def apply(self, a):
        return a * self.k

    def __call__(self, a):
        return a * self.k


scale_method = Scale(K).apply
scale_partial = functools.partial(np.multiply, K)
scaler = Scale(K)
draw = np.random.RandomState(int(K)).rand
np.random.seed(int(K))
memo = fncache.memoize(min_seconds=0, allow_pickle=True)


@memo
def via_method(a):
    return scale_method(a)


@memo
def via_partial(a):
    return scale_partial(a)


@memo
def via_instance(a):
    return scaler(a)


@memo
def via_bound_builtin(n):
    return draw(n)


@memo
def via_global_random(n):
    return np.random.rand(n)


a = np.ones(3)
result["method"] = via_method(a).tolist()
result["partial"] = via_partial(a).tolist()
result["instance"] = via_instance(a).tolist()
for name, f in (("bound_builtin", via_bound_builtin), ("global_random", via_global_random)):
    try:
        result[name] = f(3).tolist()
    except fncache.UnhashableValue as exc:  # a hit would not move the generator's state
        result[name] = str(exc)
'''


def test_bound_partial_builtin_and_instance_state_is_keyed(tmp_path, cache_dir):
    first, _ = child(STATE_CHILD, cache_dir, tmp_path, "2")
    second, _ = child(STATE_CHILD, cache_dir, tmp_path, "3")
    for run, k in ((first, 2.0), (second, 3.0)):
        for name in ("method", "partial", "instance"):
            assert run[name] == [k] * 3, name
        assert run["bound_builtin"].startswith("global 'draw' of via_bound_builtin (the object "
                                               "it is bound to): draws from a numpy.random")
        assert run["global_random"].startswith("np.random.rand (bound to a RandomState): "
                                               "draws from a numpy.random")
        assert "ignore=" in run["global_random"]


class _Weights:
    def __init__(self, w):
        self.w = w

    def total(self, a):
        return a * self.w


_HOLDER = _Weights(0.0)
_BOUND = _HOLDER.total                     # a bound method: its __self__ holds state
_ITEMS = []
_COUNT = _ITEMS.__len__                    # a method-wrapper bound to a list
_SCALE = functools.partial(np.multiply, 1.0)


@fncache.memoize(min_seconds=0, allow_pickle=True)
def _through_callables(a):
    return _BOUND(a) + _SCALE(a) + _COUNT()


@SLOW
@given(st.lists(st.tuples(st.floats(-4, 4, allow_nan=False), st.floats(-4, 4, allow_nan=False),
                          st.integers(0, 3)), min_size=1, max_size=6))
def test_property_state_behind_callables_is_read_each_call(cache_dir, steps):
    """Whatever a bound method, a partial or a list's method holds is part of every call's key."""
    global _SCALE
    for w, p, n in steps:
        _HOLDER.w = w
        _SCALE = functools.partial(np.multiply, p)
        _ITEMS[:] = [0] * n
        assert _through_callables(1.0) == 1.0 * w + np.multiply(p, 1.0) + n


# ---------------------------------------------------------------------------
# 4. Dict and keyword order
# ---------------------------------------------------------------------------
ORDER_CHILD = '''
import sys, json
order = json.loads(sys.argv[1])


@fncache.memoize(min_seconds=0)
def in_order(d):
    return list(d.values())


@fncache.memoize(min_seconds=0)
def keywords(**kwargs):
    return list(kwargs)


weights = {"w1": 1.0, "w2": 2.0}
result["values"] = in_order({k: weights[k] for k in order})  # equal dicts, in another order
result["names"] = keywords(**{k: 1 for k in order})
'''


def test_dict_and_keyword_order_across_processes(tmp_path, cache_dir):
    first, _ = child(ORDER_CHILD, cache_dir, tmp_path, '["w1", "w2"]')
    second, _ = child(ORDER_CHILD, cache_dir, tmp_path, '["w2", "w1"]')
    assert first == {"values": [1.0, 2.0], "names": ["w1", "w2"]}
    assert second == {"values": [2.0, 1.0], "names": ["w2", "w1"]}


@fncache.memoize(min_seconds=0)
def _in_order(d, **kwargs):
    return [list(d.items()), list(kwargs.items())]


@SLOW
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(), min_size=1, max_size=5),
       st.randoms())
def test_property_dict_and_kwargs_order_is_part_of_the_value(cache_dir, d, rnd):
    items = list(d.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    for mapping in (d, shuffled):
        assert _in_order(mapping, **{"k" + k: v for k, v in mapping.items()}) == \
            [list(mapping.items()), [("k" + k, v) for k, v in mapping.items()]]
    assert (hash_values(d) == hash_values(shuffled)) == (list(d) == list(shuffled))
    assert hash_values(set(d)) == hash_values(set(shuffled))


# ---------------------------------------------------------------------------
# 5. In(value=...) defaults
# ---------------------------------------------------------------------------
def _defaults_pair():
    x, y = T.dscalar("x"), T.dscalar("y")
    args = ([y, theano.In(x, value=1.0)], x * y)
    return (theano.function(*args),
            fncache.function(*args, memoize={"min_seconds": 0}))


_default_steps = st.lists(st.tuples(st.sampled_from(["value", "item", "call", "call2"]),
                                    st.sampled_from([0.5, 2.0, 5.0, 7.0])),
                          min_size=1, max_size=8)


@SLOW
@given(_default_steps)
def test_property_memoized_defaults_behave_as_theano(cache_dir, steps):
    plain, memo = _defaults_pair()
    assert isinstance(memo, fncache.memo.MemoizedCompiledFunction)
    for what, v in steps:
        for f in (plain, memo):
            if what == "value":
                f.value["x"] = v
            elif what == "item":
                f["x"] = v
        if what == "call":
            assert memo(2.0) == plain(2.0)
        elif what == "call2":
            assert memo(2.0, v) == plain(2.0, v)
        assert memo["x"] == plain["x"] and memo.value["x"] == plain.value["x"]
        assert ("x" in memo) and ("nope" not in memo)


DEFAULTS_CHILD = '''
import sys
import theano, theano.tensor as T
x, y = T.dscalar("x"), T.dscalar("y")
f = fncache.function([y, theano.In(x, value=1.0)], x * y, memoize={"min_seconds": 0})
f.value["x"] = float(sys.argv[1])
result["y"] = float(f(2.0))
'''


def test_changed_default_across_processes(tmp_path, cache_dir):
    first, _ = child(DEFAULTS_CHILD, cache_dir, tmp_path, "1.0")
    second, _ = child(DEFAULTS_CHILD, cache_dir, tmp_path, "5.0")
    assert (first["y"], second["y"]) == (2.0, 10.0)


# ---------------------------------------------------------------------------
# 6. @cached_function dispatch
# ---------------------------------------------------------------------------
@fncache.cached_function
def _square(v):
    return v * v


def test_lists_of_ints_then_floats_dispatch_to_their_own_types(cache_dir):
    np.testing.assert_array_equal(_square([1, 2]), [1, 4])
    got = _square([4e9, 0.5])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.square([4e9, 0.5]))


_elements = st.one_of(st.integers(-2 ** 20, 2 ** 20), st.floats(-1e9, 1e9, allow_nan=False))


@SLOW
@given(st.lists(st.one_of(st.lists(_elements, min_size=1, max_size=3), _elements,
                          st.lists(st.lists(st.integers(-9, 9), min_size=2, max_size=2),
                                   min_size=1, max_size=2)), min_size=1, max_size=4))
def test_property_cached_function_results_equal_numpys(cache_dir, calls):
    for value in calls:
        expected = np.asarray(value) * np.asarray(value)
        got = _square(value)
        assert np.asarray(got).dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------------
# 7. Op attributes outside __props__
# ---------------------------------------------------------------------------
ATTR_MODULE = '''
import theano, theano.tensor as T


class Scale(theano.Op):
    """Equal __props__ for every factor: a slip Theano's contract allows."""
    __props__ = ()

    def __init__(self, factor):
        self.factor = factor

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] * self.factor
'''

ATTR_CHILD = '''
import sys
import numpy as np, theano.tensor as T
import attr_ops
x = T.dvector("x")
f = fncache.function([x], attr_ops.Scale(float(sys.argv[1]))(x))
result["y"] = f(np.ones(2)).tolist()
'''


def test_op_attributes_outside_props_are_keyed(tmp_path, cache_dir):
    write(tmp_path, "attr_ops.py", ATTR_MODULE)
    first, _ = child(ATTR_CHILD, cache_dir, tmp_path, "2")
    second, _ = child(ATTR_CHILD, cache_dir, tmp_path, "3")
    assert (first["y"], second["y"]) == ([2.0, 2.0], [3.0, 3.0])


# ---------------------------------------------------------------------------
# 8. Forged collisions
# ---------------------------------------------------------------------------
@SLOW
@given(st.integers(0, 2 ** 32), st.integers(4, 14))
def test_property_crafted_xxh3_twins_get_distinct_keys(seed, stripe):
    """Twins crafted where fncache's first encoding put array bytes: 47 bytes into a
    hash_values stream, at 0 in a graph constant's digest."""
    base = np.random.default_rng(seed).random(1024)
    pos = stripe * 64 + 16 * (seed % 4)
    for offset in (47, 0):
        one, two = xxh3_twins(base, offset, pos, seed)
        assert not np.array_equal(one.view(np.uint64), two.view(np.uint64))
        # the attack works on XXH3 itself...
        assert xxhash.xxh3_128_hexdigest(bytes(offset) + one.tobytes()) == \
            xxhash.xxh3_128_hexdigest(bytes(offset) + two.tobytes())
        # ...and not on the keys: memo values and graph constants
        if offset:
            assert hash_values(one) != hash_values(two)
        else:
            x = T.dvector("x")
            assert signature([x], x + one).key != signature([x], x + two).key


# Under fncache's first encoding a memoized f(a) streamed 160 bytes before a's data.
TWINS_CHILD = '''
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from forge import xxh3_twins


@fncache.memoize(min_seconds=0)
def head(a):
    return a[:40].copy()


twins = xxh3_twins(np.random.default_rng(1).random(4096), 160, 256)
result["bits"] = head(twins[int(sys.argv[1])]).view(np.uint64).tolist()
result["expected"] = twins[int(sys.argv[1])][:40].view(np.uint64).tolist()
'''

BLOB_CHILD = '''
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from forge import xxh3_twins

TWINS = xxh3_twins(np.random.default_rng(2).random(1 << 17), 0, 4096)  # 1 MB: raw blobs


@fncache.memoize(min_seconds=0)
def big(i):
    return TWINS[i] * 1.0


for i in map(int, sys.argv[1].split(",")):
    result[str(i)] = bool(np.array_equal(big(i).view(np.uint64), TWINS[i].view(np.uint64)))
'''


def test_crafted_twin_inputs_and_results_are_told_apart(tmp_path, cache_dir):
    here = os.path.dirname(os.path.abspath(__file__))
    for i in (0, 1):
        got, _ = child(TWINS_CHILD, cache_dir, tmp_path, str(i), here)
        assert got["bits"] == got["expected"]
    results = {}
    for calls in ("0", "1", "0,1"):
        got, _ = child(BLOB_CHILD, cache_dir, tmp_path, calls, here)
        results.update({calls + ":" + k: v for k, v in got.items()})
    assert all(results.values()), results


def test_only_global_random_state_a_function_reads_is_keyed(cache_dir):
    """``np.random.standard_normal`` draws from numpy's global RandomState: refused (a hit would
    not move it); a local Generator's method of the same name is not a global read."""
    @fncache.memoize(min_seconds=0)
    def local_rng(n, seed):
        return np.random.default_rng(seed).standard_normal(n)

    @fncache.memoize(min_seconds=0)
    def global_rng(n):
        return np.random.standard_normal(n)

    before = counters.session().get("memo.hits", 0)
    first = local_rng(3, 0)
    np.random.standard_normal(5)  # the global state moves
    np.testing.assert_array_equal(local_rng(3, 0), first)
    assert counters.session().get("memo.hits", 0) == before + 1
    with pytest.raises(fncache.UnhashableValue, match=r"np\.random\.standard_normal .*draws"):
        global_rng(3)


class _Times(theano.Op):
    """An op of the user's whose factor is a property: 0.0 == -0.0 and 1 == True == 1.0."""
    __props__ = ("k",)

    def __init__(self, k):
        self.k = k

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] * self.k


@pytest.mark.parametrize("a, b", [(0.0, -0.0), (1, True), (1, 1.0)])
def test_user_ops_equal_under_eq_but_not_in_value_get_their_own_keys(a, b):
    x, y = T.dvector("x"), T.dvector("y")
    mixed = signature([x, y], _Times(a)(x) + _Times(b)(y))
    same = signature([x, y], _Times(a)(x) + _Times(a)(y))
    assert mixed.key != same.key


def test_graph_keys_do_not_depend_on_the_secret():
    """Memo keys and blob names are keyed by the team secret; graph keys are not (every
    process that builds a graph must find its entry)."""
    from fncache.config import settings
    x = T.dvector("x")
    build = lambda: signature([x], x + np.arange(20.0)).key  # noqa: E731
    saved, settings.secret = settings.secret, None
    try:
        plain, memo_plain = build(), hash_values(np.arange(20.0))
        settings.secret = b"a team secret"
        assert build() == plain and hash_values(np.arange(20.0)) != memo_plain
    finally:
        settings.secret = saved
