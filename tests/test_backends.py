"""One suite for both backends: the compile cache across real processes, install(), keys
and the memo, run against Theano (in .venv) and PyTensor (in .venv-pytensor) alike.

A hit must skip rewriting and compiling (0 graph rewrites, 0 gcc, 0 Numba compiles,
counted by wrapping the library's entry points in the child) and compute bit for bit
what the plain library computes: outputs and shared values after 3 steps with updates.
"""
import os

import numpy as np
import pytest

import backends
from backends import case_params, params, train


@pytest.mark.parametrize("library,workload,mode", case_params())
def test_fresh_process_hit_equals_plain_bit_for_bit(library, workload, mode, cache_dir):
    env = {"FNCACHE_DIR": str(cache_dir)}
    plain = backends.plain_warm(library, workload, mode, env)
    first = train(library, workload, mode, "fncache", env)
    second = train(library, workload, mode, "fncache", env)
    assert first["compiled"]["compiles"] == 1
    assert second["compiled"] == dict(second["compiled"], hits=1, compiles=0)
    assert library.compiled(second["counts"]) == library.nothing_compiled  # none at all
    assert second["counts"].get("numba_objmode") == plain["counts"].get("numba_objmode")
    assert second["steps"] == plain["steps"]  # outputs and shared values after each step
    assert first["steps"] == plain["steps"]
    assert plain["types"][0] in second["types"]  # the library's Function (or a subclass)


@pytest.mark.parametrize("library,workload,mode", [
    p for p in case_params() if p.values[2] in (None, "NUMBA", "CVM")
    and p.values[1] in ("ew", "dropout", "mlp", "logreg")])
def test_fresh_node_with_an_empty_compiledir_runs_no_compiler(library, workload, mode,
                                                              cache_dir, tmp_path):
    """Entry in the cache, library's compiledir empty: C modules and Numba cache files come
    with the entry (checked against the digests in its signed header)."""
    env = {"FNCACHE_DIR": str(cache_dir)}
    plain = backends.plain_warm(library, workload, mode, env)
    train(library, workload, mode, "fncache", env)
    empty = tmp_path / "empty-compiledir"
    flags = "THEANO_FLAGS" if library.name == "theano" else "PYTENSOR_FLAGS"
    fresh = train(library, workload, mode, "fncache",
                  dict(env, **{flags: "base_compiledir=%s" % empty}))
    assert fresh["compiled"] == dict(fresh["compiled"], hits=1, compiles=0)
    assert library.compiled(fresh["counts"]) == library.nothing_compiled
    assert fresh["steps"] == plain["steps"]


def _flags(library, compiledir):
    return {"THEANO_FLAGS" if library.name == "theano" else "PYTENSOR_FLAGS":
            "base_compiledir=%s" % compiledir}


@pytest.mark.parametrize("library", params())
def test_a_new_machine_gets_entries_and_compiled_code_from_redis(library, cache_dir, tmp_path,
                                                                redis_server):
    """Another machine: its own empty cache directory and compiledir, the team's Redis."""
    workload, mode = library.cases[0]
    env = {"FNCACHE_DIR": str(cache_dir), "FNCACHE_REDIS_URL": redis_server.url,
           "FNCACHE_SECRET": "team secret"}  # without one, fncache does not use Redis
    plain = backends.plain_warm(library, workload, mode, env)
    train(library, workload, mode, "fncache", env)
    elsewhere = dict(env, FNCACHE_DIR=str(tmp_path / "other-machine"),
                     **_flags(library, tmp_path / "other-compiledir"))
    fresh = train(library, workload, mode, "fncache", elsewhere)
    assert fresh["compiled"] == dict(fresh["compiled"], hits=1, compiles=0)
    assert library.compiled(fresh["counts"]) == library.nothing_compiled
    assert fresh["steps"] == plain["steps"]


@pytest.mark.parametrize("library", params())
def test_a_bundle_carries_entries_and_compiled_code(library, cache_dir, tmp_path):
    from helpers import run_cli
    workload, mode = library.cases[0]
    env = {"FNCACHE_DIR": str(cache_dir)}
    plain = backends.plain_warm(library, workload, mode, env)
    train(library, workload, mode, "fncache", env)
    bundle = tmp_path / "entries.tar.gz"
    run_cli("export", bundle, directory=cache_dir)
    other = tmp_path / "other-machine"
    run_cli("import", "--trust", bundle, directory=other)
    listed = run_cli("ls", "--json", directory=other).stdout
    assert '"backend": "%s"' % library.name in listed
    deep = run_cli("verify", "--deep", directory=other).stdout  # loaded in a child
    assert "1 ok, 0 damaged, 0 cannot load" in deep, deep
    fresh = train(library, workload, mode, "fncache",
                  dict(FNCACHE_DIR=str(other), **_flags(library, tmp_path / "empty")))
    assert fresh["compiled"] == dict(fresh["compiled"], hits=1, compiles=0)
    assert library.compiled(fresh["counts"]) == library.nothing_compiled
    assert fresh["steps"] == plain["steps"]


def test_pytensor_jax_mode_is_compiled_without_the_cache(cache_dir):
    """JAX (optional): PyTensor compiles it as usual; fncache does not store it."""
    pytest.importorskip("pytensor", reason="PyTensor is installed in .venv-pytensor only")
    pytest.importorskip("jax", reason="jax is not installed")
    import fncache
    import pytensor
    import pytensor.tensor as pt
    x = pt.dvector("x")
    before = fncache.stats(session_only=True)["compiled"]["compiles"]
    f = fncache.function([x], pt.exp(x).sum(), mode="JAX")
    g = pytensor.function([x], pt.exp(x).sum(), mode="JAX")
    assert f(np.ones(3)) == g(np.ones(3))
    assert fncache.stats(session_only=True)["compiled"]["compiles"] == before + 1


INSTALLED = '''
import fncache
fncache.install()
sys.path.insert(0, %(examples)r)
workloads = __import__(%(workloads)r)
w = workloads.ALL[%(workload)r]()
with backend.compiler_counters() as counts:
    f = %(library)s.function(w.inputs, w.outputs, **w.kwargs)
    out = f(*w.data)
result["counts"] = dict(counts)
result["compiled"] = fncache.stats(session_only=True)["compiled"]
result["out"] = digest(out if isinstance(out, list) else [out])
'''


@pytest.mark.parametrize("library", params())
def test_install_sends_the_library_function_through_the_cache(library, cache_dir):
    workload = library.cases[0][0]
    code = INSTALLED % {"examples": backends.EXAMPLES, "workloads": library.workloads,
                        "workload": workload, "library": library.name}
    env = {"FNCACHE_DIR": str(cache_dir)}
    first = backends.run_child(library, code, env)
    second = backends.run_child(library, code, env)
    assert first["compiled"]["compiles"] == 1
    assert second["compiled"] == dict(second["compiled"], hits=1, compiles=0)
    assert library.compiled(second["counts"]) == library.nothing_compiled
    assert second["out"] == first["out"]


# ----------------------------------------------------------------- keys, in this process
def _graph(library, spec):
    """A small graph from a plain spec: (input dtype, static length or None, [(op, const)...])."""
    lib = library.import_library()
    tt = library.tensor()
    dtype, length, steps = spec
    if library.name == "pytensor":
        x = tt.tensor(dtype=dtype, shape=(length,), name="x")
    else:
        x = tt.TensorType(dtype, (length == 1,))("x")
    y = x
    for op, const in steps:
        c = np.asarray(const, dtype=dtype) if not isinstance(const, bool) else const
        y = {"add": lambda a: a + c, "mul": lambda a: a * c, "tanh": tt.tanh,
             "exp": tt.exp, "max": lambda a: tt.maximum(a, c), "sum": lambda a: a.sum() + c,
             }[op](y)
    return lib, [x], y


def _key(library, spec, **kwargs):
    import fncache
    lib, inputs, output = _graph(library, spec)
    return fncache.graph_key(inputs, output, **kwargs)


NEAR_PAIRS = [  # each differs from the base in one thing only
    ("constant 0.0 / -0.0", ("float64", None, [("add", 0.0)]), ("float64", None, [("add", -0.0)])),
    ("constant 1 / 2", ("float64", None, [("mul", 1.0)]), ("float64", None, [("mul", 2.0)])),
    ("dtype", ("float64", None, [("tanh", 0)]), ("float32", None, [("tanh", 0)])),
    ("op", ("float64", None, [("tanh", 0)]), ("float64", None, [("exp", 0)])),
    ("order", ("float64", None, [("tanh", 0), ("exp", 0)]),
     ("float64", None, [("exp", 0), ("tanh", 0)])),
    ("static shape", ("float64", None, [("exp", 0)]), ("float64", 1, [("exp", 0)])),
    ("last bit", ("float64", None, [("add", 0.1)]),
     ("float64", None, [("add", float(np.nextafter(0.1, 1)))])),
]


@pytest.mark.parametrize("library", params())
@pytest.mark.parametrize("what,a,b", NEAR_PAIRS, ids=[p[0] for p in NEAR_PAIRS])
def test_near_identical_graphs_get_different_keys(library, what, a, b):
    if library.name == "theano" and what.startswith("constant 0.0"):
        pytest.skip("Theano's constant cache makes 0.0 and -0.0 one constant: one graph")
    assert _key(library, a) == _key(library, a)  # built twice: one key
    assert _key(library, a) != _key(library, b)


@pytest.mark.parametrize("library", params())
def test_modes_and_config_flags_are_in_the_key(library):
    spec = ("float64", None, [("tanh", 0), ("sum", 1.0)])
    base = _key(library, spec)
    assert _key(library, spec, mode="FAST_COMPILE") != base
    with library.change_flag():
        assert _key(library, spec) != base
    assert _key(library, spec) == base


def test_pytensor_modes_each_get_their_own_key():
    lib = backends.PYTENSOR
    if not lib.available:
        pytest.skip("pytensor is not installed in this environment")
    spec = ("float64", None, [("exp", 0), ("sum", 0.5)])
    # (FAST_RUN is NUMBA in PyTensor 3.3: the same Mode object, so the same key)
    keys = {m: _key(lib, spec, mode=m) for m in ("NUMBA", "CVM", "C", "FAST_COMPILE")}
    assert len(set(keys.values())) == len(keys), keys


try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    _step = st.tuples(st.sampled_from(["add", "mul", "tanh", "exp", "max", "sum"]),
                      st.sampled_from([0.0, -0.0, 0.5, 1.0, 2.0, 1e-300]))
    _spec = st.tuples(st.sampled_from(["float64", "float32"]), st.sampled_from([None, 1, 3]),
                      st.lists(_step, min_size=1, max_size=4))

    @pytest.mark.parametrize("library", params())
    @settings(max_examples=40, deadline=None)
    @given(a=_spec, b=_spec)
    def test_equal_keys_only_for_equal_graphs(library, a, b):
        """A property: two specs share a key exactly when they describe the same graph."""
        def canonical(spec):  # what the spec builds: "sum" makes later steps scalar ops
            dtype, length, steps = spec
            as_float = float
            if library.name == "theano":  # Theano's types know broadcastable, not lengths,
                length = length == 1  # and its constant cache merges 0.0 and -0.0
                as_float = lambda c: float(c) + 0.0  # noqa: E731
            return (dtype, length, tuple(
                (op, None if op in ("tanh", "exp") else repr(as_float(np.asarray(c, dtype=dtype))))
                for op, c in steps))  # tanh and exp take no constant
        assert (_key(library, a) == _key(library, b)) == (canonical(a) == canonical(b))


# ----------------------------------------------------------------------------------- memo
@pytest.mark.parametrize("library", params())
def test_memoized_results_follow_inputs_and_shared_values(library, cache_dir):
    import fncache
    lib = library.import_library()
    tt = library.tensor()
    x = tt.dvector("x")
    w = lib.shared(np.arange(3.0), "w")
    f = fncache.function([x], (x * w).sum(), memoize={"min_seconds": 0})

    def hits():
        return fncache.stats(session_only=True)["memo"]["hits"]
    a = np.ones(3)
    before = hits()
    first = f(a)
    assert f(a) == first == 3.0
    assert hits() == before + 1
    w.set_value(np.full(3, 2.0))  # a shared value it reads changed: computed again
    assert f(a) == 6.0
    assert f(a * 2) == 12.0
    assert hits() == before + 1
    assert f(a * 2) == 12.0
    assert hits() == before + 2


# ------------------------------------------------- a program's changes stay its own
@pytest.mark.parametrize("library", params())
def test_a_function_changed_before_its_first_call_stores_what_the_call_asked_for(
        library, cache_dir):
    """An entry is what the call compiled, not what the program did to its function later
    (a NUMBA entry is stored at the function's first call)."""
    import fncache
    library.import_library()
    tt = library.tensor()

    def build():
        x = tt.dvector("x")
        return fncache.function([x], tt.exp(x).sum(), name="f")
    f = build()
    f.trust_input = True
    f.name = "renamed"
    assert f(np.ones(2)) == pytest.approx(2 * np.e)
    g = build()  # a hit: the entry stored at f's first call
    assert fncache.stats(session_only=True)["compiled"]["hits"] >= 1
    assert g.trust_input is False and g.name == "f"


def test_pytensor_vm_settings_made_before_the_first_call_hold():
    """PyTensor's own test_free: ``f.vm.allow_gc = False`` before the first call."""
    pytest.importorskip("pytensor", reason="PyTensor is installed in .venv-pytensor only")
    import fncache
    import pytensor.tensor as pt
    from pytensor.graph.basic import Constant
    x = pt.dvector("x")
    f = fncache.function([x], x + 1, mode="NUMBA")
    f.vm.allow_gc = False
    f(np.ones(1))
    assert any(v[0] is not None for k, v in f.vm.storage_map.items()
               if not isinstance(k, Constant))


def test_pytensor_benchmark_runs_and_writes_its_results(tmp_path):
    """benchmarks/bench_pytensor.py --quick (numbers are the page's business, not a test's)."""
    pytest.importorskip("pytensor", reason="PyTensor is installed in .venv-pytensor only")
    import json
    import subprocess
    import sys
    script = os.path.join(backends.EXAMPLES, "..", "benchmarks", "bench_pytensor.py")
    subprocess.run([sys.executable, script, "--quick"], check=True, timeout=900,
                   env=dict(os.environ, FNCACHE_BENCH_RESULTS=str(tmp_path)),
                   capture_output=True)
    with open(tmp_path / "pytensor.json") as f:
        data = json.load(f)
    cases = {(r["workload"], r["mode"]): r["contenders"] for r in data["results"]}
    assert set(cases) == {("ew", "NUMBA"), ("ew", "CVM")}
    for contenders in cases.values():
        assert {"plain_warm", "disk_hit", "fresh_node", "memory_hit"} <= set(contenders)
        assert contenders["disk_hit"]["rows"][0]["compiled"]["hits"] == 2  # disk, then memory


@pytest.mark.parametrize("library", params())
def test_explain_names_the_part_and_the_node_that_differ(library):
    import io

    import fncache
    library.import_library()
    tt = library.tensor()
    x = tt.dvector("x")
    out = io.StringIO()
    lines = fncache.explain(([x], tt.exp(x).sum()), ([x], tt.tanh(x).sum()), file=out)
    assert lines and all(line.startswith("graph:") for line in lines), lines
    assert "node 0" in lines[0] and "xp" in lines[0] and "anh" in lines[0], lines
    assert fncache.explain(([x], tt.exp(x).sum()), ([x], tt.exp(x).sum()), file=out) == []


def _scale_op_class(library):
    """A user's op whose behaviour depends on an attribute outside ``__props__``."""
    lib = library.import_library()
    base = lib.graph.op.Op if library.name == "pytensor" else lib.gof.Op
    apply_ = lib.graph.basic.Apply if library.name == "pytensor" else lib.gof.Apply

    class Scale(base):
        __props__ = ()

        def __init__(self, factor, fn=None):
            self.factor = factor
            self.fn = fn

        def make_node(self, x):
            return apply_(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = np.asarray(inputs[0] * self.factor)
    # found by name in other processes, as a user's module-level class is
    Scale.__qualname__ = Scale.__name__ = "Scale_" + library.name
    globals()[Scale.__name__] = Scale
    return Scale


@pytest.mark.parametrize("library", params())
def test_user_ops_are_keyed_by_every_attribute(library):
    """Equal by __props__, different in what perform reads: different keys."""
    import fncache
    Scale = _scale_op_class(library)
    tt = library.tensor()
    x = tt.dvector("x")
    keys = {fncache.graph_key([x], Scale(2.0)(x)), fncache.graph_key([x], Scale(3.0)(x)),
            fncache.graph_key([x], Scale(2.0, fn=np.sin)(x)),
            fncache.graph_key([x], Scale(2.0, fn=np.cos)(x))}
    assert len(keys) == 4
    assert fncache.graph_key([x], Scale(2.0)(x)) == fncache.graph_key([x], Scale(2.0)(x))


def test_pytensor_demo_runs_and_its_results_agree(cache_dir):
    """examples/demo_pytensor.py (make demo), quick: pm.sample and a graph, bit for bit."""
    pytest.importorskip("pymc", reason="PyMC is installed in .venv-pytensor only")
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, os.path.join(backends.EXAMPLES, "demo_pytensor.py"),
                           "--quick"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "identical in all runs, bit for bit" in proc.stdout, proc.stdout
    assert "pm.sample" in proc.stdout and "DIFFER" not in proc.stdout


@pytest.mark.parametrize("library", params())
def test_the_update_of_an_explicit_input_is_in_the_key(library):
    """In(s, update=..., mutable=True): two updates, two keys (PyTensor's test_pickle graph)."""
    import fncache
    lib = library.import_library()
    tt = library.tensor()
    x, s = tt.dscalar("x"), tt.dscalar("s")
    In = lib.compile.io.In if library.name == "pytensor" else lib.In
    keys = {fncache.graph_key([x, In(s, update=s + x, mutable=True)], s * x),
            fncache.graph_key([x, In(s, update=s - x, mutable=True)], s * x)}
    assert len(keys) == 2
