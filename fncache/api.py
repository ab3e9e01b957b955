"""Front doors: fncache.function, @cached_function, install()/uninstall(), graph_key.

Each dispatches to the backend of the graph's own objects (fncache.backends); nothing here
imports a graph library.
"""
import functools
import inspect
import threading

from fncache import backends, compiled, memo
from fncache.backends import importhook
from fncache.config import settings
from fncache.errors import FncacheTypeError

_THEANO_FUNCTION_KWARGS = ("mode", "updates", "givens", "no_default_updates", "accept_inplace",
                           "name", "rebuild_strict", "allow_input_downcast", "profile",
                           "on_unused_input")


_UNSET = object()  # an argument the caller did not give: the library's own default applies


def function(inputs, outputs=None, mode=None, updates=None, givens=None,
             no_default_updates=_UNSET, accept_inplace=_UNSET, name=None, rebuild_strict=_UNSET,
             allow_input_downcast=_UNSET, profile=_UNSET, on_unused_input=_UNSET, memoize=False,
             **library_kwargs):
    """Drop-in for ``theano.function`` and ``pytensor.function``: same arguments (PyTensor's
    ``trust_input`` too), same result, compiled once. Arguments not given are not passed on,
    so the library's own defaults (and deprecation warnings) apply.

    ``memoize=True | "replay" | "rows" | {options}`` also memoizes its results (fncache.memoize).
    """
    options = memo.Options.from_argument(memoize)
    backend = backends.for_objects(inputs, outputs, updates, givens)
    given = dict(no_default_updates=no_default_updates, accept_inplace=accept_inplace,
                 rebuild_strict=rebuild_strict, allow_input_downcast=allow_input_downcast,
                 profile=profile, on_unused_input=on_unused_input)
    kwargs = {k: v for k, v in given.items() if v is not _UNSET}
    kwargs.update(library_kwargs)
    return _function(backend, options, inputs, outputs, mode=mode, updates=updates,
                     givens=givens, name=name, **kwargs)


def _function(backend, options, inputs, outputs, **kwargs):
    fn = compiled.function(backend, inputs, outputs, **kwargs)
    return fn if options is None else memo.memoize_compiled(fn, options)


def graph_key(inputs, outputs, updates=None, givens=None, mode=None, **function_kwargs):
    """The hex key of a graph: equal keys mean the compiled functions behave the same."""
    backend = backends.for_objects(inputs, outputs, updates, givens)
    return backend.signature(inputs, outputs, dict(function_kwargs, updates=updates,
                                                   givens=givens, mode=mode)).key


# ---------------------------------------------------------------- install()
_installed = False


def _hook_for(backend):
    return function


def install():
    """Send every ``theano.function`` call in this process through the cache (a library
    imported later is hooked when it is imported)."""
    global _installed
    if not _installed:
        _installed = True
        for root in backends.BACKENDS:
            importhook.when_imported(root, functools.partial(_hook, root))


def _hook(root):
    if _installed:
        backend = backends.get(root)
        backend.hook(_hook_for(backend))


def uninstall():
    """Undo ``install()``: ``theano.function`` is Theano's own again."""
    global _installed
    if _installed:
        _installed = False
        backends.uninstall_all()


# ---------------------------------------------------------- @cached_function
def _split_builder_result(result, backend):
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
                        and backend.is_shared_variable(p[0]) for p in updates)):
            return outputs, updates
    return result, None


def _builder_backend(builder):
    """The backend a builder's graphs belong to (inputs undeclared): the graph-library modules
    its code reads (its globals), else the one library imported, else a clear error."""
    code_globals = getattr(builder, "__globals__", {})
    names = getattr(getattr(builder, "__code__", None), "co_names", ())
    found = backends.for_modules(code_globals[n] for n in names
                                 if n in code_globals and inspect.ismodule(code_globals[n]))
    if found is not None:
        return found
    loaded = backends.imported()
    if len(loaded) == 1:
        return loaded[0]
    raise FncacheTypeError("cached_function: cannot tell which graph library %s builds with "
                           "(%s imported); declare its input types with inputs=[...]"
                           % (getattr(builder, "__qualname__", builder),
                              ", ".join(b.name for b in loaded) or "none"))


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
        self._backend = None
        if inputs is not None:
            if len(inputs) != len(self.parameter_names):
                raise FncacheTypeError("cached_function: %d input types for %d builder parameters"
                                % (len(inputs), len(self.parameter_names)))
            self._backend = backends.for_objects(inputs)
            self.declared_types = [self._backend.input_type(t) for t in inputs]
        self.specializations = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, builder)

    @property
    def backend(self):
        """The backend of the builder's graphs (chosen at the first call if not declared)."""
        if self._backend is None:
            self._backend = _builder_backend(self.builder)
        return self._backend

    def compile_for(self, types):
        """The compiled function for these input types (built, loaded or remembered)."""
        variables = [t(name=n) for t, n in zip(types, self.parameter_names)]
        outputs, updates = _split_builder_result(self.builder(*variables), self.backend)
        kwargs = dict(self.theano_kwargs)
        kwargs.setdefault("name", getattr(self.builder, "__qualname__", None))
        return _function(self.backend, self.memo_options, variables, outputs, updates=updates,
                         **kwargs)

    def fncache_memoize(self, options):
        """``memoize(cached)``: memoize the functions it compiles from now on."""
        self.memo_options = options
        return self

    def fncache_clear(self):
        """``fncache.clear(cached)``: delete the stored results of every specialization."""
        return sum(memo.clear(f) for f in list(self.specializations.values())
                   if memo.is_memoized(f))

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != len(self.parameter_names):
            args = self._bind(args, kwargs)
        key = self.backend.dispatch_key(args) if self.declared_types is None else len(args)
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
                    self.backend.type_for_value(a, i, n)
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
