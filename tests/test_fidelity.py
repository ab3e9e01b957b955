"""Drop-in means drop-in: a function from fncache, compiled, loaded from memory or
loaded from disk in a fresh process, shows a program everything plain
theano.function's does (names, lookups, copies, pickles, profiles, errors)."""
import json
import os
import subprocess
import sys

import numpy as np

import fncache  # first: Theano needs its fixes
import theano
import theano.tensor as T
from helpers import run_python

FACTS = '''
import copy, pickle
import numpy as np
import theano, theano.tensor as T
from theano.gof.opt import check_stack_trace

def build():
    x = T.dvector("x")
    a = T.dscalar("a")
    W = theano.shared(np.arange(6.0).reshape(3, 2) / 10, "W")
    s = theano.shared(np.zeros(3), "s")
    h = T.dot(W, x) * a
    y = T.nnet.softmax(h.dimshuffle("x", 0)).flatten()
    return x, a, W, s, [theano.In(a, value=1.5, name="a")], [y.sum(), h], [(s, s + y)]

def make():
    x, a, W, s, ins, outs, updates = build()
    f = theano.function([x] + ins, outs, updates=updates, profile=True)
    return f, x, a, W, s

def run(f, *args):
    return [np.asarray(o).tolist() for o in f(*args)]

def facts(f, x, a, W, s):
    out = {}
    out["name"] = [f.name, f.maker.name, f.maker.fgraph.name]
    out["trust_input"] = f.trust_input
    out["inputs are the caller's"] = [f.maker.inputs[0].variable is x, f.maker.inputs[1].variable is a,
                                      [i.variable for i in f.maker.inputs[2:]] == [W, s]]
    out["input specs"] = [(i.name, i.update is not None, i.mutable, i.implicit, i.borrow, str(i.variable.type))
                          for i in f.maker.inputs]
    out["output specs"] = [(str(o.variable.type), o.borrow) for o in f.maker.outputs]
    out["index specs"] = [[type(entry).__name__, entry[0] is spec, entry[1], entry[2] == [spec]]
                          for table in (f.indices, f.maker.indices)
                          for entry, spec in zip(table, f.maker.inputs)]
    out["lookups"] = [x in f, "a" in f, a in f, s in f.container, f.container[s] is s.container,
                      f.container[W] is W.container, f["a"], f[a], f.value[s].tolist(),
                      f.container[x].value, f.container["x"] is f.container[x]]
    out["calls"] = [run(f, [1.0, 2.0]), run(f, [1.0, 2.0], 3.0)]
    f["a"] = 2.0
    out["calls"].append(run(f, [0.5, 0.5]))
    f.container[a].value = 1.5
    out["after calls"] = s.get_value().tolist()
    out["profile"] = [type(f.profile).__name__, getattr(f.profile, "message", None),
                      getattr(f.profile, "fct_callcount", None)]
    nodes = f.maker.fgraph.toposort()
    out["stack traces"] = [getattr(v.tag, "trace", None) for n in nodes for v in n.outputs]
    out["check_stack_trace"] = [check_stack_trace(f, ops_to_check=type(n.op)) for n in nodes]
    try:
        f([1.0, 2.0, 3.0])
    except Exception as exc:
        message = str(exc)
        out["error"] = [type(exc).__name__, "Backtrace when the node is created" in message,
                        "h = T.dot(W, x) * a" in message]
    data = pickle.dumps(f)
    out["pickle needs fncache"] = b"fncache" in data
    out["pickled calls"] = run(pickle.loads(data), [1.0, 2.0])
    out["deepcopy calls"] = run(copy.deepcopy(f), [1.0, 2.0])
    g = f.copy()
    out["copy"] = [g.name, g.maker.inputs[0].variable is x, run(g, [1.0, 1.0]), s.get_value().tolist()]
    g = f.copy(share_memory=True)
    out["copy sharing memory"] = [g.maker.fgraph is f.maker.fgraph, run(g, [1.0, 1.0]),
                                  s.get_value().tolist()]
    s2 = theano.shared(np.ones(3), "s2")
    g = f.copy(swap={s: s2})
    out["copy with swap"] = [run(g, [2.0, 1.0]), s.get_value().tolist(), s2.get_value().tolist(),
                             g[s2].tolist(), s2 in g.container]
    f.free()
    out["after free"] = run(f, [1.0, 2.0])
    s.set_value(np.zeros(3))
    return out
'''

PROGRAM = "import fncache\n" + FACTS + '''
import json, sys
result = {}
for how in sys.argv[1].split(","):  # one line makes every function: names and traces name it
    if how != "plain":
        fncache.install()
    before = fncache.stats(session_only=True)
    result[how] = facts(*make())
    after = fncache.stats(session_only=True)
    result[how + " stats"] = {"compiles": after["compiled"]["compiles"] - before["compiled"]["compiles"],
                              "memory hits": after["tiers"]["memory"]["hits"] - before["tiers"]["memory"]["hits"],
                              "disk hits": after["tiers"]["disk"]["hits"] - before["tiers"]["disk"]["hits"]}
print("FACTS " + json.dumps(result, default=lambda v: np.asarray(v).tolist()))
'''


def test_a_loaded_function_shows_a_program_what_a_compiled_one_does(cache_dir, tmp_path):
    (tmp_path / "program").mkdir()  # beside the cache directory, "fncache" would be that folder
    script = tmp_path / "program" / "program.py"
    script.write_text(PROGRAM)
    result = _facts(script, "plain,compile,memory")
    result.update(_facts(script, "disk"))  # a fresh process
    assert result["compile stats"] == {"compiles": 1, "memory hits": 0, "disk hits": 0}
    assert result["memory stats"] == {"compiles": 0, "memory hits": 1, "disk hits": 0}
    assert result["disk stats"] == {"compiles": 0, "memory hits": 0, "disk hits": 1}
    plain = result["plain"]
    assert plain["name"][0] == "%s:%d" % (script, _line_of(script, "f = theano.function"))
    assert plain["error"][1:] == [True, True] and True in plain["check_stack_trace"]
    assert plain["pickle needs fncache"] is False
    for how in ("compile", "memory", "disk"):
        for fact in plain:
            assert result[how][fact] == plain[fact], (how, fact)


def _line_of(path, text):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(text)


def _facts(script, hows):
    """Run the program in a fresh interpreter; the facts it printed."""
    proc = subprocess.run([sys.executable, str(script), hows], capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    for line in proc.stdout.splitlines():
        if line.startswith("FACTS "):
            return json.loads(line[len("FACTS "):])
    raise AssertionError(proc.stdout[-3000:] + proc.stderr[-3000:])


LOADED_GRAPH = '''
import numpy as np
import theano.tensor as T
x = T.dvector("x")
f = fncache.function([x], T.exp(x) * 2 + T.tanh(x))  # one fused elementwise node
if sys.argv[1] == "reuse":
    # a graph made from the loaded function's own graph: its fused op comes from the entry
    y = f.maker.fgraph.outputs[0] * 3
    g = fncache.function([f.maker.fgraph.inputs[0]], y)
    result["g"] = g([0.5, 1.0]).tolist()
    result["stats"] = fncache.stats(session_only=True)
'''


def test_a_graph_made_from_a_loaded_functions_graph_is_keyed_and_compiled(cache_dir):
    run_python(LOADED_GRAPH, args=["first"])
    result, _, _ = run_python(LOADED_GRAPH, args=["reuse"])
    expected = (np.exp([0.5, 1.0]) * 2 + np.tanh([0.5, 1.0])) * 3
    assert np.allclose(result["g"], expected)
    assert result["stats"]["compiled"]["hits"] == 1 and result["stats"]["uncacheable"] == {}


class ScaleOp(theano.Op):
    """A Python op whose ``__props__`` attribute fails when read; Theano never reads it
    (the op defines its own equality and str), fncache's keying does."""

    __props__ = ("scale",)

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __str__(self):
        return "ScaleOp"

    @property
    def scale(self):
        raise RuntimeError("scale is computed lazily elsewhere")

    def make_node(self, a):
        return theano.Apply(self, [a], [a.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] * 2


def test_a_failure_inside_keying_compiles_as_theano_would_and_is_counted(cache_dir):
    x = T.dvector("x")
    before = fncache.stats(session_only=True)["uncacheable"].get("key_error", 0)
    f = fncache.function([x], ScaleOp()(x) + 1)
    assert f([1.0, 2.0]).tolist() == [3.0, 5.0]
    assert fncache.stats(session_only=True)["uncacheable"].get("key_error", 0) == before + 1


def test_cached_function_takes_keyword_arguments_and_a_builder_without_updates(cache_dir):
    @fncache.cached_function
    def affine(x, a=2.0):
        return x * a + 1, []  # outputs and (no) updates

    assert affine(np.ones(2), a=3.0).tolist() == [4.0, 4.0]
    assert affine(a=3.0, x=np.ones(2)).tolist() == [4.0, 4.0]
    assert affine(np.ones(2), 3.0).tolist() == [4.0, 4.0]
    assert affine(np.ones(2)).tolist() == [3.0, 3.0]  # the default, as an input
    assert len(affine.specializations) == 1
