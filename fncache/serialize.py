"""Compiled Theano function <-> bytes, rebound to the caller's shared variables.

What is stored is the optimized, linked ``FunctionMaker`` (graph, linker,
input and output specs), never the run-time state: thunks and storage are
rebuilt at load (fast, from the module records of ``fncache.thunks``), profile
objects start empty, SciPy BLAS handles left in node tags are dropped.

Shared variables are not stored by value. Each one, and its storage container,
is written as its position in the graph key's canonical order; the loader
hands back the caller's own objects at those positions, so updates act on the
caller's weights and random states, exactly as after a real compile.
"""
import copyreg
import gc
import io
import pickle
import sys
import threading

import cloudpickle
from theano.compile import function_module, profiling
from theano.gof import link, params_type, utils
from theano.scalar import basic as scalar_basic

from fncache import thunks


class SerializationError(Exception):
    """The function cannot be stored safely; it is compiled but not cached."""


# node.tag attributes that hold process-local objects (SciPy BLAS routines).
_RUNTIME_TAG_ATTRS = frozenset(["local_ger"])


def _restore_maker(state):
    maker = function_module.FunctionMaker.__new__(function_module.FunctionMaker)
    maker.__dict__.update(state)
    return maker


def _restore_function(maker, trust_input, name):
    defaults = [getattr(spec, "value", None) for spec in maker.inputs]
    fn = maker.create(defaults)
    fn.trust_input = trust_input
    fn.name = name
    return fn


def _restore_params(type_, values):
    return params_type.Params(type_, **values)


def _fresh_profile(cls, message):
    return cls(message=message) if message is not None else cls()


def _reduce(obj):
    """Reductions for Theano objects whose default pickling is wrong or slow."""
    if isinstance(obj, function_module.Function):
        return _restore_function, (obj.maker, obj.trust_input, obj.name)
    if isinstance(obj, function_module.FunctionMaker):
        return _restore_maker, (dict(obj.__dict__),)
    if isinstance(obj, utils.scratchpad) and not _RUNTIME_TAG_ATTRS.isdisjoint(obj.__dict__):
        state = {k: v for k, v in obj.__dict__.items() if k not in _RUNTIME_TAG_ATTRS}
        return copyreg.__newobj__, (utils.scratchpad,), state
    if isinstance(obj, params_type.Params):  # immutable dict: default pickling fails
        return _restore_params, (obj.__params_type__, dict(obj))
    if isinstance(obj, profiling.ProfileStats):
        return _fresh_profile, (type(obj), getattr(obj, "message", None))
    return NotImplemented


def _persistent_ids(shared):
    ids = {}
    for position, variable in enumerate(shared):
        ids[id(variable)] = ("v", position)
        ids[id(variable.container)] = ("c", position)
    return ids


class _Pickler(pickle.Pickler):
    def __init__(self, file, shared):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._ids = _persistent_ids(shared)

    def persistent_id(self, obj):
        token = self._ids.get(id(obj))
        if token is None and isinstance(obj, link.Container):
            raise SerializationError(
                "the function holds storage that belongs to no shared variable of its graph")
        return token

    def reducer_override(self, obj):
        return _reduce(obj)


class _CloudPickler(cloudpickle.CloudPickler):
    """Same rules as _Pickler, for graphs that hold lambdas or local classes."""

    def __init__(self, file, shared):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._ids = _persistent_ids(shared)

    persistent_id = _Pickler.persistent_id

    def reducer_override(self, obj):
        reduced = _reduce(obj)
        if reduced is NotImplemented:
            return super().reducer_override(obj)
        return reduced


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, shared):
        super().__init__(file)
        self._shared = shared

    def persistent_load(self, token):
        kind, position = token
        variable = self._shared[position]
        return variable if kind == "v" else variable.container


# Pickle walks a graph depth-first, one level of recursion per variable and
# node: deep graphs need far more than Python's default limit and C stack.
_DEEP_STACK_BYTES = 512 << 20  # reserved address space; pages are touched only as used
_DEEP_RECURSION_LIMIT = 1_000_000


def _in_deep_stack(func, *args):
    """Run ``func(*args)`` in a thread with a stack deep enough for big graphs."""
    outcome = {}

    def target():
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    previous_limit = sys.getrecursionlimit()
    previous_size = threading.stack_size(_DEEP_STACK_BYTES)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # (un)pickling makes many objects at once; collections during it only cost time
    try:
        sys.setrecursionlimit(max(previous_limit, _DEEP_RECURSION_LIMIT))
        worker = threading.Thread(target=target, name="fncache-pickle")
        worker.start()
    finally:
        threading.stack_size(previous_size)
    worker.join()
    sys.setrecursionlimit(previous_limit)
    if gc_was_enabled:
        gc.enable()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def dumps(fn, shared):
    """Bytes of compiled function ``fn``; ``shared`` in canonical key order."""
    return _in_deep_stack(_dumps, fn, shared)


def loads(data, shared):
    """The function stored by ``dumps``, bound to ``shared`` (same canonical order)."""
    return _in_deep_stack(_loads, data, shared)


def _dumps(fn, shared):
    for pickler_class in (_Pickler, _CloudPickler):
        buffer = io.BytesIO()
        try:
            pickler_class(buffer, shared).dump(fn)
            return buffer.getvalue()
        except SerializationError:
            raise
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            error = exc
    raise SerializationError("cannot pickle the compiled function: %s" % error)


def _loads(data, shared):
    with thunks.loading():
        return _Unpickler(io.BytesIO(data), shared).load()


def _lazy_composite_graphs():
    """Let Composite rebuild its inner FunctionGraph only when something needs it.

    Unpickling a Composite (every fused elementwise node) rebuilt and merged its
    inner graph at once; a C thunk never needs it, and Theano's own key files
    hold thousands of Composites.
    """
    cls = scalar_basic.Composite
    if getattr(cls, "_fncache_lazy", False):
        return

    def __getstate__(self):
        state = dict(self.__dict__)
        for rebuilt_on_demand in ("fgraph", "_impls", "prepare_node_called"):
            state.pop(rebuilt_on_demand, None)
        return state

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.prepare_node_called = set()

    def __getattr__(self, name):
        if name == "fgraph" and "inputs" in self.__dict__:
            self.init_fgraph()
            return self.__dict__["fgraph"]
        if name == "_impls" and "inputs" in self.__dict__:
            self.init_py_impls()
            return self.__dict__["_impls"]
        raise AttributeError(name)

    cls.__getstate__ = __getstate__
    cls.__setstate__ = __setstate__
    cls.__getattr__ = __getattr__
    cls._fncache_lazy = True


_lazy_composite_graphs()
thunks.apply()
