"""TheanoBackend: Theano 1.0.5 behind fncache's backend interface (fncache.backends.base)."""
import contextlib
import os
import sys

import numpy as np
import theano
import theano.tensor as T
from theano.compile import function_module
from theano.compile.sharedvalue import SharedVariable
from theano.gof import cmodule
from theano.gof.link import Container

from fncache.backends.base import Backend
from fncache.backends.family import cthunks, pickler
from fncache.backends.theano import env, graph, graphinfo, serialize
from fncache.backends.theano.library import LIBRARY
from fncache.errors import FncacheTypeError

# The real theano.function, whatever install() later puts in its place.
_THEANO_FUNCTION = sys.modules["theano.compile.function"].function

serialize.lazy_composite_graphs()  # fused Composites rebuild their inner graph only on demand
pickler.apply(LIBRARY)  # lazy C sources, plain tags, C thunk records


class TheanoBackend(Backend):
    """Theano 1.0.5: graph walk and fingerprints, compile with module records, maker pickling."""

    name = "theano"
    roots = ("theano",)
    # Theano builds this helper at the first C thunk of a process: every entry needs it.
    helper_artifacts = (os.path.join("cutils_ext", "cutils_ext.so"),)
    # The module's key file travels with it, so Theano's own ModuleCache reuses the module.
    artifact_companions = ("key.pkl",)

    def __init__(self):
        self._hooked = None

    def library_function(self):
        return _THEANO_FUNCTION

    # --- key -------------------------------------------------------------------------------
    def signature(self, inputs, outputs, kwargs):
        return graph.signature(inputs, outputs, **kwargs)

    def environment_part(self):
        return env.environment_part()

    def versions(self):
        return {"theano": theano.__version__}

    # --- compile ---------------------------------------------------------------------------
    def compile(self, inputs, outputs, kwargs):
        with cthunks.recording():
            return _THEANO_FUNCTION(inputs, outputs, **kwargs)

    def uncacheable_reason(self, fn):
        if type(fn.maker) is not function_module.FunctionMaker:
            return "mode"  # DebugMode and kin build their own makers
        return None

    def default_name(self, frame):
        """Theano names an unnamed function after its caller's file and line, skipping
        frames in theano/gof (``var.eval()``); fncache's own frames are skipped first, so a
        function gets the same name compiled or loaded, with or without fncache."""
        while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "fncache":
            frame = frame.f_back
        while frame is not None and "theano/gof" in frame.f_code.co_filename \
                and frame.f_back is not None:
            frame = frame.f_back
        if frame is None:
            return None
        return "%s:%d" % (frame.f_code.co_filename, frame.f_lineno)

    def as_called(self, fn, kwargs):
        name = kwargs["name"]
        fn.name = fn.maker.name = fn.maker.fgraph.name = name
        profile = kwargs.get("profile")
        if isinstance(fn.profile, theano.compile.profiling.ProfileStats):
            if isinstance(profile, theano.compile.profiling.ProfileStats):
                fn.profile = fn.maker.profile = fn.maker.fgraph.profile = profile
            else:
                fn.profile.message = profile if isinstance(profile, str) else name

    def summary(self, fn, sig):
        return graphinfo.summary(fn, sig)

    # --- serialize -------------------------------------------------------------------------
    def dumps(self, fn, shared, inputs):
        return pickler.dumps(LIBRARY, fn, shared, inputs)

    def loads(self, payload, shared, inputs):
        return pickler.loads(payload, shared, inputs)

    def dumps_types(self, variables):
        return pickler.dumps_types(LIBRARY, variables)

    def standins(self, text, shared=True):
        return pickler.standins(LIBRARY, text) if shared else pickler.input_standins(text)

    def artifact_root(self):
        return theano.config.compiledir

    # --- install() -------------------------------------------------------------------------
    def hook(self, replacement):
        if self._hooked is None:
            self._hooked = replacement
            theano.function = replacement
            theano.compile.function = replacement
            sys.modules["theano.compile.function"].function = replacement

    def unhook(self):
        if self._hooked is not None:
            theano.function = _THEANO_FUNCTION
            theano.compile.function = _THEANO_FUNCTION
            sys.modules["theano.compile.function"].function = _THEANO_FUNCTION
            self._hooked = None

    # --- cached_function -------------------------------------------------------------------
    def type_for_value(self, value, position, name):
        """The Theano type a call argument asks for: dtype and ndim, like a JIT."""
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufc":
                raise FncacheTypeError("argument %d (%s): arrays of dtype %s cannot be Theano "
                                       "inputs" % (position, name, value.dtype))
            return T.TensorType(value.dtype.name, (False,) * value.ndim)
        if isinstance(value, np.generic):
            return T.TensorType(value.dtype.name, ())
        if isinstance(value, bool):
            return T.TensorType("bool", ())
        if isinstance(value, int):
            return T.TensorType("int64", ())
        if isinstance(value, float):
            return T.TensorType(theano.config.floatX, ())
        if isinstance(value, (list, tuple)):
            return self.type_for_value(np.asarray(value), position, name)
        raise FncacheTypeError("argument %d (%s): %s values cannot be Theano inputs; pass arrays "
                               "or scalars" % (position, name, type(value).__name__))

    def dispatch_key(self, args):
        """Per argument, exactly the Theano type it would be given: (dtype, ndim) as
        ``type_for_value`` derives them, cheaply: arrays and scalars by their dtype, Python
        floats by the current floatX, lists and tuples by the array numpy makes of them
        (``[1, 2]`` is int64, ``[4e9, 0.5]`` float64). Anything else keys by its class and is
        refused by ``type_for_value`` when the call specializes."""
        sig = []
        for a in args:
            t = type(a)
            if t is np.ndarray:
                sig.append((a.dtype.num, a.ndim))  # num: as fine as the dtype's name, and faster
            elif t is float:
                sig.append((theano.config.floatX, 0))
            elif t is int:
                sig.append(("int64", 0))
            elif t is bool:
                sig.append(("bool", 0))
            elif t is list or t is tuple:
                a = np.asarray(a)
                sig.append((a.dtype.num, a.ndim))
            elif isinstance(a, (np.ndarray, np.generic)):
                sig.append((a.dtype.num, a.ndim))
            else:
                sig.append((t,))
        return tuple(sig)

    def input_type(self, declared):
        return declared.type if isinstance(declared, theano.Variable) else declared

    def is_shared_variable(self, obj):
        return isinstance(obj, SharedVariable)

    # --- memo ------------------------------------------------------------------------------
    def container_value(self, value):
        return value.storage[0] if isinstance(value, Container) else value

    # --- tests -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def compiler_counters(self):
        """Counts gcc runs (GCC_compiler.compile_str) and optimizations (FunctionMaker builds)."""
        counts = {"gcc": 0, "optimize": 0}
        compile_str = cmodule.GCC_compiler.__dict__["compile_str"]
        maker_init = function_module.FunctionMaker.__init__

        def counting_compile_str(*args, **kwargs):
            counts["gcc"] += 1
            return compile_str.__func__(*args, **kwargs)

        def counting_maker_init(self, *args, **kwargs):
            counts["optimize"] += 1
            return maker_init(self, *args, **kwargs)
        cmodule.GCC_compiler.compile_str = staticmethod(counting_compile_str)
        function_module.FunctionMaker.__init__ = counting_maker_init
        try:
            yield counts
        finally:
            cmodule.GCC_compiler.compile_str = compile_str
            function_module.FunctionMaker.__init__ = maker_init
