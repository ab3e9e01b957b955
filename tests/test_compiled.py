"""The compile cache across real processes: a hit skips optimization and gcc, and
computes bit for bit what plain theano.function computes."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from helpers import run_python

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")

TRAIN = '''
import sys
sys.path.insert(0, %(examples)r)
import numpy as np
import workloads
w = workloads.ALL[%(workload)r]()
make = theano.function if %(how)r == "theano" else fncache.function
counts.update(gcc=0, optimize=0)  # building the graph (theano.scan) compiles a dummy; count from here
f = make(w.inputs, w.outputs, **w.kwargs)
steps = []
for _ in range(3):
    out = f(*w.data)
    outs = out if isinstance(out, list) else [out]
    steps.append({"outputs": [np.asarray(o).tolist() for o in outs],
                  "shared": [np.asarray(s.get_value()).tolist() for s in w.shared]})
result["steps"] = steps
result["stats"] = fncache.stats(session_only=True)["compiled"]
result["full"] = fncache.stats(session_only=True)
'''


def train(workload, how, env):
    return run_python(TRAIN % {"examples": EXAMPLES, "workload": workload, "how": how}, env=env)


@pytest.mark.parametrize("workload", ["mlp", "rnn", "logreg", "dropout", "multi_output"])
def test_fresh_process_hit_equals_plain_theano_bit_for_bit(workload, cache_dir):
    env = {"FNCACHE_DIR": str(cache_dir)}
    first, first_counts, _ = train(workload, "fncache", env)
    second, counts, _ = train(workload, "fncache", env)
    plain, _, _ = train(workload, "theano", env)
    assert first["stats"]["compiles"] == 1
    assert second["stats"] == dict(second["stats"], hits=1, compiles=0), second["full"]
    assert counts == {"gcc": 0, "optimize": 0}  # no graph optimization, no C compiler
    assert second["steps"] == plain["steps"]  # outputs and shared values after each step
    assert first["steps"] == plain["steps"]


def test_memory_tier_serves_a_graph_built_again_in_the_same_process(cache_dir):
    result, counts, _ = run_python('''
import sys
sys.path.insert(0, %r)
import workloads
w1 = workloads.mlp(); f1 = fncache.function(w1.inputs, w1.outputs, **w1.kwargs)
w2 = workloads.mlp(); f2 = fncache.function(w2.inputs, w2.outputs, **w2.kwargs)
a = float(f1(*w1.data)); b = float(f2(*w2.data))
result["same"] = a == b
result["bound_to_own_weights"] = bool((w1.shared[0].get_value() == w2.shared[0].get_value()).all())
result["tiers"] = {k: v["hits"] for k, v in fncache.stats(session_only=True)["tiers"].items()}
''' % EXAMPLES, env={"FNCACHE_DIR": str(cache_dir)})
    assert result["same"] and result["bound_to_own_weights"]
    assert result["tiers"]["memory"] == 1


def test_hit_is_bound_to_the_callers_shared_variables(cache_dir):
    code = '''
import numpy as np, theano.tensor as T
x = T.dvector("x"); w = theano.shared(np.array([1.0, 2.0]), "w")
f = fncache.function([x], (x * w).sum(), updates=[(w, w + x)])
result["out"] = [float(f([1.0, 1.0])), float(f([0.5, 0.5]))]
result["w"] = w.get_value().tolist()
w.set_value(np.array([10.0, 10.0]))
result["after_set"] = float(f([1.0, 0.0]))
'''
    env = {"FNCACHE_DIR": str(cache_dir)}
    first, _, _ = run_python(code, env=env)
    second, counts, _ = run_python(code, env=env)
    assert counts["optimize"] == 0
    assert first == second == {"out": [3.0, 2.5], "w": [2.5, 3.5], "after_set": 10.0}


def test_cached_function_decorator_dispatches_on_argument_types(cache_dir):
    code = '''
import numpy as np, theano.tensor as T
@fncache.cached_function
def affine(x, a):
    return x * a + 1
r1 = affine(np.ones(3), 2.0)
r2 = affine(np.ones(3), 3.0)                       # same signature: no new compile
r3 = affine(np.ones((2, 2), dtype="float32"), 2.0)  # new signature: new specialization
@fncache.cached_function(inputs=[T.dmatrix, T.dvector])
def mv(m, v):
    return T.dot(m, v), [(counter, counter + 1)]
counter = theano.shared(0, "counter")
r4 = mv(np.eye(2), np.array([1.0, 2.0]))
mv(np.eye(2), np.array([1.0, 2.0]))
result["values"] = [r1.tolist(), r2.tolist(), r3.tolist(), r4.tolist(), int(counter.get_value())]
result["specializations"] = len(affine.specializations)
result["dtype3"] = str(r3.dtype)
result["stats"] = fncache.stats(session_only=True)["compiled"]
result["full"] = fncache.stats(session_only=True)
'''
    env = {"FNCACHE_DIR": str(cache_dir)}
    first, _, _ = run_python(code, env=env)
    second, counts, _ = run_python(code, env=env)
    assert first["values"] == [[3.0] * 3, [4.0] * 3, [[3.0, 3.0], [3.0, 3.0]], [1.0, 2.0], 2]
    assert first["specializations"] == 2 and first["dtype3"] == "float64"
    assert first["stats"]["compiles"] == 3
    assert second["values"] == first["values"]
    assert second["stats"]["hits"] == 3 and second["stats"]["compiles"] == 0
    assert counts["optimize"] == 0


EXISTING_PROGRAM = '''
import numpy as np
import theano, theano.tensor as T
x = T.dvector("x"); acc = theano.shared(np.zeros(4), "acc")
s, _ = theano.scan(lambda a, prev: prev * 0.5 + a, sequences=x, outputs_info=T.constant(0.0, dtype="float64"))
f = theano.function([x], s[-1], updates=[(acc, acc + s[:4])])
g = theano.function([x], T.nnet.sigmoid(x).sum())
print("values", f(np.arange(6.0)), g(np.arange(3.0)), acc.get_value().tolist())
'''


def test_existing_program_runs_unchanged_under_fncache_run(cache_dir, tmp_path):
    script = tmp_path / "program.py"
    script.write_text(EXISTING_PROGRAM)
    env = dict(os.environ, FNCACHE_DIR=str(cache_dir))
    runs = [subprocess.run([sys.executable, "-m", "fncache", "run", "--summary", str(script)],
                           capture_output=True, text=True, env=env) for _ in range(2)]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr
    plain = subprocess.run([sys.executable, "-c", "import fncache\n" + EXISTING_PROGRAM],
                           capture_output=True, text=True, env=env)
    values = [p.stdout.splitlines()[0] for p in runs + [plain]]
    assert values[0] == values[1] == values[2]
    assert "compiled 2 functions" in runs[0].stderr
    assert "compiled 0 functions, 2 loaded from cache" in runs[1].stderr


def test_damaged_entry_is_a_miss_with_a_warning_and_is_replaced(cache_dir):
    code = '''
import numpy as np, theano.tensor as T, warnings
x = T.dvector("x")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    f = fncache.function([x], (x ** 2).sum())
result["value"] = float(f([1.0, 2.0]))
result["warnings"] = [str(w.message) for w in caught if issubclass(w.category, fncache.FncacheWarning)]
result["stats"] = fncache.stats(session_only=True)
'''
    env = {"FNCACHE_DIR": str(cache_dir)}
    run_python(code, env=env)
    import diskcache
    entries = diskcache.Cache(str(cache_dir / "entries"))
    (key,) = [k for k in entries.iterkeys() if not k.startswith("cmodule:")]
    data = bytearray(entries[key])
    data[len(data) // 2] ^= 0xFF
    entries[key] = bytes(data)
    entries.close()
    damaged, _, _ = run_python(code, env=env)
    assert damaged["value"] == 5.0
    assert len(damaged["warnings"]) == 1 and "bad entry" in damaged["warnings"][0]
    assert damaged["stats"]["rejected"] == {"corrupt": 1}
    assert damaged["stats"]["compiled"]["compiles"] == 1
    healed, counts, _ = run_python(code, env=env)
    assert healed["warnings"] == [] and counts["optimize"] == 0


def test_concurrent_misses_compile_once(cache_dir):
    code = '''
import sys
sys.path.insert(0, %r)
import workloads
w = workloads.rnn(n_hidden=24)
counts.update(gcc=0, optimize=0)
f = fncache.function(w.inputs, w.outputs, **w.kwargs)
result["loss"] = float(f(*w.data))
result["compiles"] = fncache.stats(session_only=True)["compiled"]["compiles"]
''' % EXAMPLES
    from helpers import PRELUDE, EPILOGUE
    import textwrap
    env = dict(os.environ, FNCACHE_DIR=str(cache_dir))
    procs = [subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(code) + EPILOGUE],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    import json
    results = [json.loads([l for l in o.splitlines() if l.startswith("RESULT ")][0][7:])["result"]
               for o, _ in outs]
    assert sum(r["compiles"] for r in results) == 1
    assert len({r["loss"] for r in results}) == 1


def test_entry_from_another_format_version_is_a_miss(cache_dir):
    code = '''
import theano.tensor as T
import fncache.format
from fncache.backends.theano import env
env.environment_part()  # the key keeps this version's environment: only the envelope differs
fncache.format.FORMAT_VERSION = %d
x = T.dvector("x")
f = fncache.function([x], x.sum() * 3)
result["value"] = float(f([1.0]))
result["stats"] = fncache.stats(session_only=True)
'''
    env = {"FNCACHE_DIR": str(cache_dir)}
    run_python(code % 1, env=env)
    other, _, _ = run_python(code % 2, env=env)
    assert other["value"] == 3.0
    assert other["stats"]["rejected"] == {"version-mismatch": 1}


def test_disabled_compiles_like_theano(cache_dir):
    result, counts, _ = run_python('''
import theano.tensor as T
x = T.dvector("x")
f = fncache.function([x], x.sum())
result["value"] = float(f([1.0, 2.0]))
result["stats"] = fncache.stats(session_only=True)["compiled"]
result["full"] = fncache.stats(session_only=True)
''', env={"FNCACHE_DIR": str(cache_dir), "FNCACHE_DISABLE": "1"})
    assert result["value"] == 3.0 and result["stats"]["compiles"] == 0 and counts["optimize"] == 1


def test_empty_compiledir_gets_modules_from_the_entry_and_compiles_nothing(cache_dir, tmp_path):
    """A hit on a machine whose compiledir is empty installs the entry's C modules (checked
    against the signed digests) and runs no compiler; without them in the cache, the load
    rebuilds them with gcc, from C sources the stored ops no longer carry."""
    code = '''
import numpy as np
import theano.tensor as T
x = T.dmatrix("x")
f = fncache.function([x], T.exp(x.dimshuffle(1, 0)) * 2 + x.sum())
result["out"] = f(np.arange(6.0).reshape(2, 3)).tolist()
session = fncache.stats(session_only=True)
result["hits"] = session["compiled"]["hits"]
'''
    first, _, _ = run_python(code, env={"FNCACHE_DIR": str(cache_dir)})
    flags = [f for f in os.environ["THEANO_FLAGS"].split(",") if not f.startswith("base_compiledir=")]

    def fresh_machine(name):
        empty = tmp_path / name
        return run_python(code, env={"FNCACHE_DIR": str(cache_dir), "THEANO_FLAGS": ",".join(
            flags + ["base_compiledir=%s" % empty])})

    carried, counts, _ = fresh_machine("empty-1")
    assert carried["hits"] == 1 and counts == {"gcc": 0, "optimize": 0}
    assert carried["out"] == first["out"]

    import diskcache
    with diskcache.Cache(str(cache_dir / "entries")) as entries:
        module_keys = [k for k in entries.iterkeys() if k.startswith("cmodule:")]
        assert module_keys
        for key in module_keys:
            del entries[key]
    rebuilt, counts, _ = fresh_machine("empty-2")
    assert rebuilt["hits"] == 1 and counts["optimize"] == 0
    assert counts["gcc"] > 0  # the missing modules were built again, not reported as errors
    assert rebuilt["out"] == first["out"]


def test_loaded_fused_ops_unpack_their_graphs_on_demand(cache_dir):
    """Entries keep fused scalar graphs packed; anything that asks for them (Theano's own
    pickling of ops, the Python implementation) gets the whole graph back."""
    code = '''
import pickle, numpy as np, theano.tensor as T
x = T.dmatrix("x")
f = fncache.function([x], T.tanh(x.dimshuffle(1, 0) * 3 + 1).sum(axis=0))
composites = [n.op.scalar_op for n in f.maker.fgraph.apply_nodes
              if type(getattr(n.op, "scalar_op", None)).__name__ == "Composite"]
copies = [pickle.loads(pickle.dumps(c)) for c in composites]
result.update(out=f(np.arange(6.0).reshape(2, 3)).tolist(), composites=len(composites),
              equal=[a == b and hash(a) == hash(b) for a, b in zip(composites, copies)],
              state=[sorted(set(c.__getstate__()) & {"inputs", "outputs"}) for c in composites],
              inner=[len(c.fgraph.apply_nodes) for c in copies],
              impl=[c.impl(*[0.5] * c.nin) for c in composites],
              hits=fncache.stats(session_only=True)["compiled"]["hits"])
'''
    first, _, _ = run_python(code, env={"FNCACHE_DIR": str(cache_dir)})
    second, counts, _ = run_python(code, env={"FNCACHE_DIR": str(cache_dir)})
    assert (first["hits"], second["hits"]) == (0, 1) and counts["optimize"] == 0
    assert second["composites"] >= 1 and all(second["equal"])
    assert second["state"] == [["inputs", "outputs"]] * second["composites"]
    assert all(n >= 2 for n in second["inner"]) and second["inner"] == first["inner"]
    assert second["impl"] == first["impl"] and second["out"] == first["out"]
