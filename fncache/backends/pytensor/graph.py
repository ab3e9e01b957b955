"""The structural key of a ``pytensor.function`` call.

``signature(inputs, outputs, updates=..., givens=..., mode=..., **kwargs)`` takes what
``pytensor.function`` takes. It first lets PyTensor itself clone the graph, apply givens,
find the shared variables and wire the updates (``construct_function_ins_and_outs``, the
step ``function()`` starts with), then keys exactly that graph: the one PyTensor goes on
to rewrite and link. Hence ``sig.shared`` is, in order, the shared variables PyTensor
makes implicit inputs of the compiled function, and a loaded function is bound to them.

The key is a list of named parts, each a sha256 of a canonical, type-tagged tuple of
plain Python values (the ``environment`` part from ``env.py``): ``mode`` (linker and its
settings, rewrite query), ``rewrites`` (what is registered in PyTensor's rewrite
database: PyMC adds its own at import), ``options``, ``inputs`` (types, names, In
settings, default values), ``shared`` (class, type, role; never values), ``outputs``,
``constants`` (by value) and ``graph`` (nodes in topological order: op, inputs by
reference, output types). Ops are keyed by their class and ``__props__`` (PyTensor's own
equality) and, for classes without props or from outside PyTensor, by every instance
attribute too; inner graphs (Composite, Scan, OpFromGraph: ``op.fgraph``) are walked.
A class from outside the versioned libraries is keyed by a digest of its code. Anything
that cannot be described exactly raises ``UnkeyableGraph``: a false hit is the worst bug.
"""
import enum
import functools
import gc
import hashlib
import inspect
import sys
import types
import weakref

import numpy as np
from pytensor.compile import io, mode as pt_mode, sharedvalue
from pytensor.compile.rebuild import construct_function_ins_and_outs
from pytensor.graph import basic, fg, op as graph_op, type as graph_type
from pytensor.graph.traversal import io_toposort

from fncache.backends.pytensor import env
from fncache.errors import BadCall, FncacheTypeError, UnkeyableGraph
from fncache.keys import explain
from fncache.keys.digest import sha256_hex
from fncache.keys.parts import GraphSignature, fold

FUNCTION_KWARGS = frozenset(["no_default_updates", "accept_inplace", "name", "rebuild_strict",
                             "allow_input_downcast", "profile", "on_unused_input",
                             "trust_input"])
# Modules whose code the environment part versions (library versions, Python version).
_VERSIONED_ROOTS = frozenset(["pytensor", "numpy", "scipy", "numba", "fncache", "builtins"]) \
    | frozenset(sys.stdlib_module_names)
# Attributes set by doc decorators: left out of every fallback fingerprint.
_DOC_ATTRS = frozenset(["__doc__", "__module__", "__epydoc_asRoutine"])
# Attributes of PyTensor's own classes left out too: derived, run-time or display state.
# (An object of the user's keeps all its attributes: its code may read any of them.)
_EXCLUDED = _DOC_ATTRS | {
    "ufunc", "nfunc",                    # numpy ufunc caches Elemwise builds at run time
    "fn", "_fn", "_fn_cache", "_cmodule_key", "_hash_inner_graph",  # compiled inner functions
    "prepare_node_called", "_impls", "_c_code", "nodenames",   # generated code, caches
    "_lop_op_cache", "_rop_op_cache", "_frozen_lop", "_frozen_rop",  # gradient-only caches
    "pullback_overrides", "pushforward_overrides",   # gradient construction only
    "name",                              # display name
}


class _Unfit(Exception):
    """Internal: a value cannot be fingerprinted (reason in args[0])."""


def _root(module_name):
    return (module_name or "").partition(".")[0]


def _class_path(cls):
    return "%s.%s" % (cls.__module__, cls.__qualname__)


@functools.lru_cache(maxsize=None)
def _code_digest(cls_or_function):
    """sha256 of the source of code from outside the versioned libraries."""
    try:
        source = inspect.getsource(cls_or_function)
    except (OSError, TypeError):  # defined in exec'd code, a notebook...: its bytecode
        if isinstance(cls_or_function, type):
            functions = sorted((k, v) for k, v in vars(cls_or_function).items()
                               if isinstance(v, types.FunctionType))
            if not functions:
                raise _Unfit("no source or code for %r" % (cls_or_function,)) from None
            source = repr([(k, _code_text(f.__code__)) for k, f in functions])
        else:
            code = getattr(cls_or_function, "__code__", None)
            if code is None:
                raise _Unfit("no source for %r" % (cls_or_function,)) from None
            source = _code_text(code)
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def _code_text(code):
    """A code object as text: bytecode, constants (nested code too), names."""
    consts = tuple(_code_text(c) if isinstance(c, types.CodeType) else repr(c)
                   for c in code.co_consts)
    return repr((code.co_code, consts, code.co_names))


def _class_fp(cls):
    if _root(cls.__module__) in _VERSIONED_ROOTS:
        return ("class", _class_path(cls))
    return ("class", _class_path(cls), tuple(_code_digest(k) for k in cls.__mro__
                                             if _root(k.__module__) not in _VERSIONED_ROOTS))


def _text(obj):
    try:
        return str(obj)
    except Exception:  # display only
        return type(obj).__name__


def _file_digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        raise _Unfit("C source file %s cannot be read" % path) from None


def _float_fp(value):
    return ("float", value.hex() if value == value else "nan")


class _Keyer:
    """Fingerprints of values, types, ops and inner graphs (plain nested tuples)."""

    def __init__(self):
        self._ops = {}  # id(op) -> (op, fp): an op is keyed once per call
        self.c_sources = []  # (class, digest of its C files): the user's C code
    def value(self, v):
        t = type(v)
        if v is None or t in (bool, int, str, bytes):
            return (t.__name__, v)
        if t is float:
            return _float_fp(v)
        if t in (tuple, list):
            return (t.__name__,) + tuple(self.value(x) for x in v)
        if isinstance(v, dict):  # dict order reaches code that iterates it
            return (_class_path(t),) + tuple((self.value(k), self.value(x)) for k, x in v.items())
        if t in (set, frozenset):
            return (t.__name__,) + tuple(sorted(repr(self.value(x)) for x in v))
        if isinstance(v, np.ndarray):
            if v.dtype.hasobject:
                raise _Unfit("an object array")
            data = np.ascontiguousarray(v)
            return ("ndarray", v.dtype.str, v.shape, hashlib.sha256(data.tobytes()).hexdigest())
        if isinstance(v, np.generic):
            return ("npscalar", v.dtype.str, v.tobytes())
        if isinstance(v, np.dtype):
            return ("dtype", v.str)
        if isinstance(v, enum.Enum):
            return ("enum", _class_path(t), v.name)
        if isinstance(v, slice):
            return ("slice", self.value(v.start), self.value(v.stop), self.value(v.step))
        if isinstance(v, type):
            return _class_fp(v)
        if isinstance(v, (types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
            return self.function(v)
        if isinstance(v, functools.partial):
            return ("partial", self.function(v.func), self.value(v.args), self.value(v.keywords))
        if isinstance(v, graph_op.Op):
            return self.op(v)
        if isinstance(v, graph_type.Type):
            return self.type(v)
        if isinstance(v, fg.AbstractFunctionGraph):  # FunctionGraph, FrozenFunctionGraph
            return self.inner_graph(v)
        if isinstance(v, pt_mode.Mode):
            return mode_fp(self, v)
        if isinstance(v, (np.random.Generator, np.random.RandomState)):
            raise _Unfit("a random generator held by an op")
        return self.instance(v)

    def function(self, f):
        module = getattr(f, "__module__", None)
        name = getattr(f, "__qualname__", getattr(f, "__name__", None))
        if name is None or "<lambda>" in name or "<locals>" in name:
            if _root(module) in _VERSIONED_ROOTS and getattr(f, "__closure__", None) is None:
                return ("function", module, name, _code_digest(f))
            raise _Unfit("a lambda or local function %r" % (f,))
        if _root(module) in _VERSIONED_ROOTS:
            return ("function", module, name)
        return ("function", module, name, _code_digest(f))

    def instance(self, v):
        cls = type(v)
        state = {}
        if hasattr(v, "__dict__"):
            state.update(vars(v))
        for klass in cls.__mro__:
            for slot in klass.__dict__.get("__slots__", ()):
                if slot not in ("__dict__", "__weakref__") and hasattr(v, slot):
                    state[slot] = getattr(v, slot)
        if not state and cls.__reduce__ is object.__reduce__ and not hasattr(v, "__dict__"):
            raise _Unfit("an object of %s with no visible state" % _class_path(cls))
        excluded = _EXCLUDED if _root(cls.__module__) == "pytensor" else _DOC_ATTRS
        return (_class_fp(cls),) + tuple(
            (k, self.value(state[k])) for k in sorted(state) if k not in excluded)

    def type(self, t):
        props = getattr(type(t), "__props__", None)
        if props is not None and _root(type(t).__module__) == "pytensor":
            return (_class_fp(type(t)),) + tuple(self.value(getattr(t, p)) for p in props)
        return self.instance(t)

    def op(self, o):
        cached = self._ops.get(id(o))
        if cached is not None and cached[0] is o:
            return cached[1]
        cls = type(o)
        props = getattr(cls, "__props__", None)
        fp = (_class_fp(cls),)
        if props is not None:
            fp += (("props",) + tuple((p, self.value(getattr(o, p))) for p in props),)
        if props is None or _root(cls.__module__) != "pytensor":
            # no props (equality of its own), or code that may read any attribute
            fp += (self.instance(o)[1:],)
        files = o.__dict__.get("func_files")
        if files and _root(cls.__module__) != "pytensor":
            self.c_sources.append((_class_path(cls), tuple(_file_digest(f) for f in files)))
        inner = getattr(o, "fgraph", None)
        if inner is not None and (props is None or "fgraph" not in props):
            fp += (("fgraph", self.inner_graph(inner)),)
        self._ops[id(o)] = (o, fp)
        return fp

    def inner_graph(self, graph):
        """An inner graph (frozen or not): input types, nodes, outputs by reference."""
        refs = {}
        for k, var in enumerate(graph.inputs):
            refs[var] = ("in", k)
        nodes = []
        constants = []
        for j, node in enumerate(graph.toposort()):
            args = []
            for var in node.inputs:
                ref = refs.get(var)
                if ref is None:
                    if isinstance(var, basic.Constant):
                        ref = refs[var] = ("k", len(constants))
                        constants.append((self.type(var.type), self.value(var.data)))
                    else:
                        raise _Unfit("an inner graph variable from nowhere")
                args.append(ref)
            for m, out in enumerate(node.outputs):
                refs[out] = ("n", j, m)
            nodes.append((self.op(node.op), tuple(args),
                          tuple(self.type(o.type) for o in node.outputs)))
        outputs = []
        for var in graph.outputs:
            ref = refs.get(var)
            if ref is None and isinstance(var, basic.Constant):
                ref = ("const-out", self.type(var.type), self.value(var.data))
            if ref is None:
                raise _Unfit("an inner graph output from nowhere")
            outputs.append(ref)
        return ("graph", tuple(self.type(v.type) for v in graph.inputs), tuple(constants),
                tuple(nodes), tuple(outputs))


def mode_fp(keyer, mode):
    """The linker (class and settings) and the rewriter (query or instance) of a Mode."""
    linker = mode.linker
    linker_state = {k: v for k, v in vars(linker).items()
                    if k not in ("fgraph", "no_recycling", "profile", "updated_vars",
                                 "schedule", "storage_map")}
    rewriter = mode._optimizer
    return ("mode", _class_fp(type(mode)), _class_fp(type(linker)),
            tuple((k, keyer.value(v)) for k, v in sorted(linker_state.items())),
            keyer.value(rewriter) if not isinstance(rewriter, str) else ("str", rewriter))


def _origin(rewriter):
    """The module whose code a registered rewrite runs (a decorated function's, or its class's)."""
    fn = getattr(rewriter, "fn", None)
    module = getattr(fn, "__module__", None) if callable(fn) else None
    return module or type(rewriter).__module__


def _rewrites_fp():
    """The rewrites registered in PyTensor's database by code outside PyTensor (PyMC's, the
    user's), by position, module and its version. PyTensor's own are versioned by the
    environment part; it registers some lazily (the Numba dispatch adds its own at the
    first NUMBA compile), so keying them would change keys within a process."""
    from pytensor.compile.mode import optdb
    seen = set()
    out = []

    def walk(db, path):
        if id(db) in seen:
            return
        seen.add(id(db))
        for name in sorted(getattr(db, "__db__", {})):
            found = []
            for item in db.__db__[name]:  # a set: sorted below by what is keyed
                origin = _origin(item)
                root = _root(origin)
                if root != "pytensor":
                    found.append((path + (name,), _class_path(type(item)), origin,
                                  str(getattr(sys.modules.get(root), "__version__", None))))
                if hasattr(item, "__db__"):
                    walk(item, path + (name,))
            out.extend(sorted(found))
    walk(optdb, ())
    return tuple(out)


_rewrites_cache = [None, None]


def _rewrites_part():
    from pytensor.compile.mode import optdb
    size = (len(getattr(optdb, "__db__", {})), sum(len(v) for v in optdb.__db__.values()),
            len(sys.modules))
    if _rewrites_cache[0] != size:
        _rewrites_cache[:] = [size, sha256_hex(("rewrites", _rewrites_fp()))]
    return _rewrites_cache[1]


def _in_spec_fp(keyer, spec):
    return (spec.name if not spec.shared else None, spec.mutable, spec.borrow, spec.strict,
            spec.allow_downcast, spec.implicit, spec.update is not None)


def signature(inputs, outputs=None, updates=None, givens=None, mode=None, **kwargs):
    """Structural key of ``pytensor.function(inputs, outputs, ...)`` (UnkeyableGraph if none)."""
    unknown = sorted(set(kwargs) - FUNCTION_KWARGS)
    if unknown:
        raise FncacheTypeError("unexpected keyword argument(s): %s" % ", ".join(unknown))
    if not isinstance(inputs, (list, tuple)):
        raise BadCall("inputs must be a list or a tuple")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _signature(inputs, outputs, updates, givens, mode, kwargs)
    except _Unfit as exc:
        raise UnkeyableGraph("cannot key this graph: %s" % exc.args[0]) from None
    finally:
        if gc_was_enabled:
            gc.enable()


def _signature(inputs, outputs, updates, givens, mode, kwargs):
    try:
        specs, cloned = construct_function_ins_and_outs(
            list(inputs), outputs, updates=updates, givens=givens,
            no_default_updates=kwargs.get("no_default_updates") or False,
            rebuild_strict=kwargs.get("rebuild_strict", True),
            allow_input_downcast=kwargs.get("allow_input_downcast"))
        mode_instance = pt_mode.get_mode(mode)
    except Exception as exc:  # PyTensor rejects the call: it raises its own error for it
        raise BadCall("pytensor.function rejects this call (%s: %s)"
                      % (type(exc).__name__, exc)) from None
    keyer = _Keyer()
    explicit = [s for s in specs if not s.shared]
    shared_specs = [s for s in specs if s.shared]
    if len(explicit) != len(inputs):
        raise _Unfit("inputs that PyTensor splits or merges")
    single = not isinstance(cloned, (list, tuple))
    out_specs = [cloned] if single else list(cloned)
    out_vars = [getattr(o, "variable", o) for o in out_specs]
    # updates of shared variables and of explicit inputs (In(x, update=..., mutable=True))
    update_vars = [s.update for s in specs if s.update is not None]
    refs = {}
    for k, s in enumerate(explicit):
        refs[s.variable] = ("i", k)
    for k, s in enumerate(shared_specs):
        refs[s.variable] = ("s", k)
    constants, nodes = [], []
    for j, node in enumerate(io_toposort([s.variable for s in specs], out_vars + update_vars)):
        args = []
        for var in node.inputs:
            ref = refs.get(var)
            if ref is None:
                if not isinstance(var, basic.Constant):
                    raise BadCall("the graph needs a variable that is not an input: %s" % var)
                ref = refs[var] = ("c", len(constants))
                constants.append((keyer.type(var.type), keyer.value(var.data)))
            args.append(ref)
        for m, out in enumerate(node.outputs):
            refs[out] = ("n", j, m)
        nodes.append((keyer.op(node.op), tuple(args),
                      tuple(keyer.type(o.type) for o in node.outputs)))

    def ref_of(var):
        ref = refs.get(var)
        if ref is None and isinstance(var, basic.Constant):
            ref = refs[var] = ("c", len(constants))
            constants.append((keyer.type(var.type), keyer.value(var.data)))
        if ref is None:
            raise BadCall("an output that is not computed from the inputs: %s" % var)
        return ref

    outputs_fp = ("single" if single else "list",) + tuple(
        (ref_of(v), getattr(o, "borrow", None)) for o, v in zip(out_specs, out_vars))
    updates_fp = tuple(ref_of(s.update) if s.update is not None else None for s in specs)
    profile = kwargs.get("profile")
    options = tuple((k, keyer.value(kwargs.get(k, default))) for k, default in
                    (("no_default_updates", None), ("accept_inplace", False),
                     ("rebuild_strict", True), ("allow_input_downcast", None),
                     ("on_unused_input", None), ("trust_input", False))) + (
        ("profile", bool(profile) if not isinstance(profile, str) else True),)
    payloads = {
        "mode": ("pytensor",) + mode_fp(keyer, mode_instance),
        "options": options,
        "inputs": tuple((keyer.type(s.variable.type), _in_spec_fp(keyer, s),
                         keyer.value(s.value) if s.value is not None else None)
                        for s in explicit),
        "shared": tuple((_class_path(type(s.variable)), keyer.type(s.variable.type),
                         _in_spec_fp(keyer, s)) for s in shared_specs),
        "outputs": (outputs_fp, updates_fp),
        "constants": tuple(constants),
        "graph": tuple(nodes),
        "c_code": tuple(keyer.c_sources),
    }
    environment, env_details = env.environment_part()
    key, parts = fold(payloads, {"environment": environment, "rewrites": _rewrites_part()})
    topo = io_toposort([s.variable for s in specs], out_vars + update_vars)

    def details():  # what explain() prints of a differing part (built only when asked)
        graph = [{"op": _text(node.op), "op_key": sha256_hex(fp[0])[:16],
                  "inputs": [":".join(map(str, ref)) for ref in fp[1]],
                  "outputs": [_text(o.type) for o in node.outputs]}
                 for node, fp in zip(topo, nodes)]
        inputs = [{"position": k, "name": s.name, "type": _text(s.variable.type),
                   "mutable": s.mutable, "borrow": s.borrow} for k, s in enumerate(explicit)]
        shared = [{"position": k, "class": type(s.variable).__name__,
                   "type": _text(s.variable.type), "update": s.update is not None}
                  for k, s in enumerate(shared_specs)]
        return {"environment": env_details, "graph": graph, "inputs": inputs,
                "shared": shared}
    sig = GraphSignature(key, parts, tuple(s.variable for s in shared_specs),
                         tuple(s.variable for s in explicit), details)
    explain.register(sig)
    return sig
