"""PyTensor's own reductions for the family pickler, and a stored maker made into a Function.

The family pickler writes the FunctionMaker (rewritten graph, accepted linker, In/Out
specs) with shared variables, their containers and the explicit inputs as positions.
PyTensor needs three reductions of its own:

- ``Params`` is an immutable dict: default pickling fills it with ``__setitem__``;
- an inner ``Function`` (Scan's and OpFromGraph's compiled inner graph, ``_fn``) is
  stored as its maker and made again with ``create`` (its thunks come from the records);
- a ``ProfileStats`` starts empty, as after a compile.
"""
import io
import pickle
import sys
import threading

from pytensor.compile.debug.profiling import ProfileStats
from pytensor.compile.executor import Function
from pytensor.link.basic import Container
from pytensor.link.c.params_type import Params

from fncache.backends.pytensor import cthunks, numbafiles
from fncache.errors import SerializationError


def create(maker, trust_input, name):
    """``maker.create()`` bound to the containers its In specs hold (the caller's)."""
    fn = maker.create([getattr(spec, "value", None) for spec in maker.inputs])
    fn.trust_input = trust_input
    fn.name = name
    return fn


def _restore_params(params_type, values):
    return Params(params_type, **values)


def _fresh_profile(cls, message):
    return cls(message=message) if message is not None else cls()


def reduce(obj):
    """The reduction of a PyTensor object whose default pickling is wrong, else NotImplemented."""
    cls = type(obj)
    if cls is Params:
        return _restore_params, (obj.__params_type__, dict(obj))
    if isinstance(obj, Function):
        return create, (obj.maker, obj.trust_input, obj.name)
    if isinstance(obj, ProfileStats):
        return _fresh_profile, (cls, getattr(obj, "message", None))
    return NotImplemented


class _Pickler(pickle.Pickler):
    """Writes shared variables, their containers and the explicit inputs as positions."""

    def __init__(self, file, shared, inputs):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._ids = {}
        for k, variable in enumerate(shared):
            self._ids[id(variable)] = ("v", k)
            self._ids[id(variable.container)] = ("c", k)
        for k, variable in enumerate(inputs):
            self._ids.setdefault(id(variable), ("i", k))

    def persistent_id(self, obj):
        token = self._ids.get(id(obj))
        if token is None and isinstance(obj, Container):
            raise SerializationError(
                "the function holds storage that belongs to no shared variable of its graph")
        return token

    def reducer_override(self, obj):
        return reduce(obj)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, shared, inputs):
        super().__init__(file)
        self._shared, self._inputs = shared, inputs

    def persistent_load(self, token):
        kind, k = token
        if kind == "i":
            return self._inputs[k]
        variable = self._shared[k]
        return variable if kind == "v" else variable.container


_DEEP_STACK_BYTES = 512 << 20   # pickle recurses once per variable and node
_DEEP_RECURSION_LIMIT = 1_000_000


def _in_deep_stack(func, *args):
    outcome = {}

    def target():
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    previous_limit = sys.getrecursionlimit()
    previous_size = threading.stack_size(_DEEP_STACK_BYTES)
    try:
        sys.setrecursionlimit(max(previous_limit, _DEEP_RECURSION_LIMIT))
        worker = threading.Thread(target=target, name="fncache-pickle")
        worker.start()
    finally:
        threading.stack_size(previous_size)
    worker.join()
    sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _dumps(fn, shared, inputs):
    buffer = io.BytesIO()
    try:
        # the maker's own trust_input and name: what the call asked for (the Function's may
        # have been changed since, and a NUMBA entry is stored at its first call)
        maker = fn.maker
        _Pickler(buffer, shared, inputs).dump((maker, maker.trust_input, maker.name))
    except SerializationError:
        raise
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise SerializationError("cannot pickle the compiled function: %s" % exc) from None
    return buffer.getvalue()


def dumps(fn, shared, inputs):
    """Bytes of ``fn``'s maker; ``shared`` (key order) and ``inputs`` written as positions."""
    n = len(inputs)
    if [s.variable for s in fn.maker.inputs[:n]] != list(inputs) or \
            [s.variable for s in fn.maker.inputs[n:]] != list(shared):
        raise SerializationError("the compiled function's inputs are not the key's")
    return _in_deep_stack(_dumps, fn, shared, inputs)


def loads(data, shared, inputs):
    """The function ``dumps`` stored, bound to ``shared`` and ``inputs``, its thunks from records."""
    with cthunks.loading(), numbafiles.loading():
        maker, trust_input, name = _Unpickler(io.BytesIO(data), shared, inputs).load()
        return create(maker, trust_input, name)
