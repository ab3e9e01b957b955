"""PyTensorBackend: PyTensor 3.3.x behind fncache's backend interface (fncache.backends.base).

Every linker a PyMC user meets: NUMBA (the default), CVM and C, FAST_COMPILE (VM with
Python thunks). A hit loads the rewritten, linked FunctionMaker and links it from
records: C thunks from their module files (``cthunks``), the NUMBA graph from Numba's
cache files without funcify (``numbafiles``). Those files travel with entries, relative
to ``base_compiledir`` (C modules under ``compiledir_<platform>/``, Numba's in ``numba/``).
"""
import copyreg
import os

import numpy as np
import pytensor
from pytensor.compile import maker as pt_maker
from pytensor.compile.debug.profiling import ProfileStats
from pytensor.compile.executor import Function
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.configdefaults import config
from pytensor.graph.basic import Variable
from pytensor.link.basic import Container
from pytensor.tensor.type import TensorType

from fncache.backends.base import Backend
from fncache.backends.family import pickler
from fncache.backends.pytensor import counters, cthunks, env, graph, hooks, numbafiles, serialize
from fncache.backends.pytensor.library import LIBRARY
from fncache.errors import FncacheTypeError, SerializationError

# The family pickler's patches (COp sources read lazily, plain pickles without fncache's
# records); PyTensor's own C thunk records (cthunks: per node, and the whole-graph linker
# of mode C) and Numba's (numbafiles).
pickler.lazy_c_sources(LIBRARY)
pickler.plain_tags(LIBRARY)
cthunks.apply()
numbafiles.apply()


class KeyedFunction(Function):
    """A PyTensor Function that takes the attributes the core gives its functions
    (``fncache_key``...): PyTensor's Function has ``__slots__``. It pickles, copies and
    behaves as a Function (copies and unpickled ones are plain Functions)."""

    __slots__ = ("fncache_key", "fncache_shared", "fncache_backend")


copyreg.pickle(KeyedFunction, copyreg.dispatch_table[Function])


def _keyable(fn):
    """``fn`` as a KeyedFunction: the same state in every slot (nothing in a Function
    refers to the object itself)."""
    if type(fn) is not Function:
        return fn
    keyed = KeyedFunction.__new__(KeyedFunction)
    for slot in Function.__slots__:
        if hasattr(fn, slot):
            setattr(keyed, slot, getattr(fn, slot))
    return keyed


def _compiledir_prefix():
    return os.path.relpath(str(config.compiledir), str(config.base_compiledir))


class PyTensorBackend(Backend):
    """PyTensor: key from PyTensor's own clone of the call, compile with records, maker pickling."""

    name = "pytensor"
    roots = ("pytensor",)
    SerializationError = SerializationError
    artifact_companions = ("key.pkl",)

    def __init__(self):
        self._hooked = False

    @property
    def helper_artifacts(self):
        prefix = _compiledir_prefix()
        return tuple(os.path.join(prefix, p) for p in cthunks.HELPER_FILES)

    def library_function(self):
        return hooks.ORIGINAL

    # --- key -------------------------------------------------------------------------------
    def signature(self, inputs, outputs, kwargs):
        return graph.signature(inputs, outputs, **kwargs)

    def environment_part(self):
        return env.environment_part()

    def versions(self):
        return {"pytensor": pytensor.__version__}

    # --- compile ---------------------------------------------------------------------------
    def compile(self, inputs, outputs, kwargs):
        with cthunks.recording(), numbafiles.recording():
            return _keyable(hooks.ORIGINAL(inputs, outputs, **kwargs))

    def when_ready(self, fn, callback):
        """Call ``callback()`` once ``fn``'s artifacts exist: at once, or after a NUMBA
        function's first call (Numba compiles or loads its cache then)."""
        numbafiles.after_first_call(fn, callback)

    def uncacheable_reason(self, fn):
        if type(fn.maker) is not pt_maker.FunctionMaker:
            return "mode"  # DebugMode builds its own maker
        linker = type(fn.maker.linker).__name__
        if linker not in ("VMLinker", "CLinker", "NumbaLinker", "PerformLinker",
                          "OpWiseCLinker"):
            return "linker"  # JAX, PyTorch, MLX: their compiled code is not carried
        return None

    def default_name(self, frame):
        return None  # PyTensor leaves an unnamed function unnamed

    def as_called(self, fn, kwargs):
        name = kwargs.get("name")
        fn.name = fn.maker.name = name
        profile = kwargs.get("profile")
        if profile is None:
            profile = config.profile or config.print_global_stats or None
        if profile is True:
            profile = ProfileStats(message=name)
        elif isinstance(profile, str):
            profile = ProfileStats(message=profile)
        fn.profile = fn.maker.profile = profile or None

    def summary(self, fn, sig):
        nodes = fn.maker.fgraph.toposort()
        ops = {}
        for node in nodes:
            ops[type(node.op).__name__] = ops.get(type(node.op).__name__, 0) + 1
        updates = sum(1 for spec in fn.maker.inputs if spec.update is not None)
        return {"linker": type(fn.maker.linker).__name__, "nodes": len(nodes),
                "ops": dict(sorted(ops.items())), "inputs": len(sig.inputs),
                "outputs": len(fn.maker.outputs), "shared": len(sig.shared),
                "updates": updates}

    # --- serialize -------------------------------------------------------------------------
    def dumps(self, fn, shared, inputs):
        payload = serialize.dumps(LIBRARY, fn, shared, inputs)
        prefix = _compiledir_prefix()
        paths = [os.path.join(prefix, p) for p in sorted(cthunks.module_paths(fn))]
        return payload, paths + numbafiles.files(fn)

    def loads(self, payload, shared, inputs):
        return _keyable(serialize.loads(payload, shared, inputs))

    def dumps_types(self, variables):
        return pickler.dumps_types(LIBRARY, variables)

    def standins(self, text, shared=True):
        if not shared:
            return pickler.input_standins(text)
        # PyTensor's SharedVariable takes (type, value, strict, ..., container, name)
        return [SharedVariable(type_, None, None, container=Container(type_, storage=[None]),
                               name="standin_%d" % k)
                for k, type_ in enumerate(pickler.types(text))]

    def artifact_root(self):
        return str(config.base_compiledir)

    # --- install() -------------------------------------------------------------------------
    def hook(self, replacement):
        if not self._hooked:
            hooks.hook(replacement)
            self._hooked = True

    def unhook(self):
        if self._hooked:
            hooks.unhook()
            self._hooked = False

    # --- cached_function -------------------------------------------------------------------
    def type_for_value(self, value, position, name):
        """The PyTensor type a call argument asks for: dtype and ndim (no static shape)."""
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufc":
                raise FncacheTypeError("argument %d (%s): arrays of dtype %s cannot be PyTensor "
                                       "inputs" % (position, name, value.dtype))
            return TensorType(value.dtype.name, shape=(None,) * value.ndim)
        if isinstance(value, np.generic):
            return TensorType(value.dtype.name, shape=())
        if isinstance(value, bool):
            return TensorType("bool", shape=())
        if isinstance(value, int):
            return TensorType("int64", shape=())
        if isinstance(value, float):
            return TensorType(config.floatX, shape=())
        if isinstance(value, (list, tuple)):
            return self.type_for_value(np.asarray(value), position, name)
        raise FncacheTypeError("argument %d (%s): %s values cannot be PyTensor inputs; pass "
                               "arrays or scalars" % (position, name, type(value).__name__))

    def dispatch_key(self, args):
        sig = []
        for a in args:
            t = type(a)
            if t is np.ndarray or isinstance(a, np.generic):
                sig.append((a.dtype.num, a.ndim))
            elif t is float:
                sig.append((config.floatX, 0))
            elif t is int:
                sig.append(("int64", 0))
            elif t is bool:
                sig.append(("bool", 0))
            elif t is list or t is tuple:
                a = np.asarray(a)
                sig.append((a.dtype.num, a.ndim))
            else:
                sig.append((t,))
        return tuple(sig)

    def input_type(self, declared):
        return declared.type if isinstance(declared, Variable) else declared

    def is_shared_variable(self, obj):
        return isinstance(obj, SharedVariable)

    # --- memo ------------------------------------------------------------------------------
    def container_value(self, value):
        return value.storage[0] if isinstance(value, Container) else value

    def input_defaults(self, fn):
        """PyTensor keeps a default in its input's container (``required`` False) and puts
        nothing back after a call."""
        defaulted = [i for i, c in enumerate(fn.input_storage)
                     if not c.implicit and not c.required]
        return defaulted, []

    # --- tests -----------------------------------------------------------------------------
    def compiler_counters(self):
        """Counts gcc runs, rewrites and Numba compiles (fncache.backends.pytensor.counters)."""
        return counters.counting()
