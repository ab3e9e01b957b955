"""Front doors: fncache.function, @cached_function, install()/uninstall()."""
import functools
import inspect
import sys
import threading

import numpy as np
import theano
import theano.tensor as T

from fncache import compiled, memo
from fncache.config import settings
from fncache.errors import FncacheTypeError

_THEANO_FUNCTION_KWARGS = ("mode", "updates", "givens", "no_default_updates", "accept_inplace",
                           "name", "rebuild_strict", "allow_input_downcast", "profile",
                           "on_unused_input")


def function(inputs, outputs=None, mode=None, updates=None, givens=None, no_default_updates=False,
             accept_inplace=False, name=None, rebuild_strict=True, allow_input_downcast=None,
             profile=None, on_unused_input=None, memoize=False):
    """Drop-in for ``theano.function``: same arguments, same result, compiled once.

    ``memoize=True | "replay" | "rows" | {options}`` also memoizes its results (fncache.memoize).
    """
    options = memo.Options.from_argument(memoize)
    fn = compiled.function(
        inputs, outputs, mode=mode, updates=updates, givens=givens,
        no_default_updates=no_default_updates, accept_inplace=accept_inplace, name=name,
        rebuild_strict=rebuild_strict, allow_input_downcast=allow_input_downcast,
        profile=profile, on_unused_input=on_unused_input)
    return fn if options is None else memo.memoize_theano(fn, options)


# ---------------------------------------------------------------- install()
_installed = None


def install():
    """Send every ``theano.function`` call in this process through the cache."""
    global _installed
    if _installed is None:
        _installed = compiled.theano_function
        theano.function = function
        theano.compile.function = function
        sys.modules["theano.compile.function"].function = function


def uninstall():
    """Undo ``install()``: ``theano.function`` is Theano's own again."""
    global _installed
    if _installed is not None:
        theano.function = _installed
        theano.compile.function = _installed
        sys.modules["theano.compile.function"].function = _installed
        _installed = None


# ---------------------------------------------------------- @cached_function
def _type_of_argument(value, position, name):
    """The Theano type a call argument asks for: dtype and ndim, like a JIT."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise FncacheTypeError("argument %d (%s): arrays of dtype %s cannot be Theano inputs"
                            % (position, name, value.dtype))
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
        return _type_of_argument(np.asarray(value), position, name)
    raise FncacheTypeError("argument %d (%s): %s values cannot be Theano inputs; pass arrays or scalars"
                    % (position, name, type(value).__name__))


def _dispatch_signature(args):
    """The dispatch key: per argument, exactly the Theano type it would be given.

    (dtype, ndim) as ``_type_of_argument`` derives them, cheaply: arrays and scalars by
    their dtype, Python floats by the current floatX, lists and tuples by the array numpy
    makes of them (``[1, 2]`` is int64, ``[4e9, 0.5]`` float64). Anything else keys by its
    class and is refused by ``_type_of_argument`` when the call specializes.
    """
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


def _split_builder_result(result):
    """(outputs, updates) from what a graph builder returned.

    A builder returns its outputs, or ``(outputs, updates)`` where updates is a
    dict or a list of ``(shared_variable, new_value)`` pairs.
    """
    if isinstance(result, tuple) and len(result) == 2:
        outputs, updates = result
        if isinstance(updates, dict):
            return outputs, updates
        if (isinstance(updates, list)  # [] too: a builder that has no updates this time
                and all(isinstance(p, tuple) and len(p) == 2
                        and isinstance(p[0], theano.compile.SharedVariable) for p in updates)):
            return outputs, updates
    return result, None


class CachedFunction:
    """A graph builder compiled once per argument signature, through the cache."""

    def __init__(self, builder, inputs=None, memoize=False, **theano_kwargs):
        unknown = set(theano_kwargs) - set(_THEANO_FUNCTION_KWARGS)
        if unknown:
            raise FncacheTypeError("cached_function got unknown arguments: %s" % ", ".join(sorted(unknown)))
        if "updates" in theano_kwargs:
            raise FncacheTypeError("cached_function: return updates from the builder instead")
        self.builder = builder
        self.memo_options = memo.Options.from_argument(memoize)
        self.theano_kwargs = theano_kwargs
        self.builder_signature = inspect.signature(builder)
        self.parameter_names = list(self.builder_signature.parameters)
        self.declared_types = None
        if inputs is not None:
            if len(inputs) != len(self.parameter_names):
                raise FncacheTypeError("cached_function: %d input types for %d builder parameters"
                                % (len(inputs), len(self.parameter_names)))
            self.declared_types = [t.type if isinstance(t, theano.Variable) else t for t in inputs]
        self.specializations = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, builder)

    def compile_for(self, types):
        """The compiled function for these input types (built, loaded or remembered)."""
        variables = [t(name=n) for t, n in zip(types, self.parameter_names)]
        outputs, updates = _split_builder_result(self.builder(*variables))
        kwargs = dict(self.theano_kwargs)
        kwargs.setdefault("name", getattr(self.builder, "__qualname__", None))
        fn = compiled.function(variables, outputs, updates=updates, **kwargs)
        return fn if self.memo_options is None else memo.memoize_theano(fn, self.memo_options)

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != len(self.parameter_names):
            args = self._bind(args, kwargs)
        key = _dispatch_signature(args) if self.declared_types is None else len(args)
        fn = self.specializations.get(key)
        if fn is None:
            fn = self._specialize(key, args)
        return fn(*args)

    def _bind(self, args, kwargs):
        """The call's arguments as the builder's parameters, in order, defaults filled in."""
        try:
            bound = self.builder_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise FncacheTypeError("%s() takes %d arguments, got %d (%s)"
                                   % (self.__name__, len(self.parameter_names),
                                      len(args) + len(kwargs), exc)) from None
        bound.apply_defaults()
        return bound.args

    def _specialize(self, key, args):
        if len(args) != len(self.parameter_names):
            raise FncacheTypeError("%s() takes %d arguments, got %d"
                            % (self.__name__, len(self.parameter_names), len(args)))
        with self._lock:
            fn = self.specializations.get(key)
            if fn is None:
                types = self.declared_types or [
                    _type_of_argument(a, i, n)
                    for i, (a, n) in enumerate(zip(args, self.parameter_names))]
                fn = self.compile_for(types)
                self.specializations[key] = fn
        return fn


def cached_function(builder=None, *, inputs=None, memoize=False, **theano_kwargs):
    """Decorate a graph builder: ``@cached_function`` or ``@cached_function(inputs=[...], memoize=True)``."""
    if builder is None:
        return lambda b: CachedFunction(b, inputs=inputs, memoize=memoize, **theano_kwargs)
    if not callable(builder):
        raise FncacheTypeError("cached_function decorates a function that builds a Theano graph, not %s"
                        % type(builder).__name__)
    return CachedFunction(builder, inputs=inputs, memoize=memoize, **theano_kwargs)


def configure(**changes):
    """Change settings for this process (directory, redis_url, secret, readonly, size_limit...)."""
    settings.update(**changes)
