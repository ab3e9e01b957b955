"""The interface the cache core needs from a graph library (one implementation per library).

The core (keys, store, compiled, memo, cli) never imports a graph library; it asks the
backend chosen from the graph's own objects (``fncache.backends.for_objects``). Methods
take and return the library's own objects (variables, compiled functions) and plain data.
A backend module may import its library at the top: the registry imports a backend only
when a graph of its library is at hand or its library is already imported.
"""
import abc
import contextlib
import sys


class Backend(abc.ABC):
    """One graph library as the cache core sees it."""

    #: Short name, stored in entry headers and shown by the CLI ("theano", "pytensor").
    name = None
    #: Top-level module names whose objects belong to this library (type(obj).__module__ root).
    roots = ()

    # --- recognise ---------------------------------------------------------------------------
    def owns(self, obj):
        """True if ``obj`` is one of this library's objects (by its class's module root)."""
        return type(obj).__module__.partition(".")[0] in self.roots

    def imported(self):
        """True if the library has been imported in this process."""
        return any(root in sys.modules for root in self.roots)

    @abc.abstractmethod
    def library_function(self):
        """The library's own ``function`` (the original, whatever ``hook`` put in its place)."""

    # --- key ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def signature(self, inputs, outputs, kwargs):
        """The GraphSignature of a ``function(inputs, outputs, **kwargs)`` call (walk + parts)."""

    @abc.abstractmethod
    def environment_part(self):
        """Fingerprint of everything outside the graph that changes compiled code (versions, flags)."""

    @abc.abstractmethod
    def versions(self):
        """{name: version} of the library: an entry unloadable under these is retried when they change."""

    # --- compile -----------------------------------------------------------------------------
    @abc.abstractmethod
    def compile(self, inputs, outputs, kwargs):
        """The library's compiled function, with a record of the artifacts each node used."""

    def when_ready(self, fn, callback):
        """Call ``callback()`` once ``fn``'s artifacts exist (the core stores the entry then):
        at once by default; PyTensor's Numba linker compiles at the first call."""
        callback()

    @abc.abstractmethod
    def uncacheable_reason(self, fn):
        """None if ``fn`` can be stored, else a short counter name (e.g. 'mode' for DebugMode)."""

    @abc.abstractmethod
    def default_name(self, frame):
        """The name the library gives an unnamed function compiled from ``frame`` (or None)."""

    @abc.abstractmethod
    def as_called(self, fn, kwargs):
        """Give a loaded function what this call's arguments give a compiled one (name, profiler)."""

    @abc.abstractmethod
    def summary(self, fn, sig):
        """Plain-data summary of a compiled graph for ``fncache show`` (nodes, ops, counts)."""

    # --- serialize ---------------------------------------------------------------------------
    @abc.abstractmethod
    def dumps(self, fn, shared, inputs):
        """(payload bytes, artifact paths) of ``fn`` without its shared values; paths relative
        to ``artifact_root()``. Raises fncache.errors.SerializationError if it cannot be stored safely."""

    @abc.abstractmethod
    def loads(self, payload, shared, inputs):
        """The function stored by ``dumps``, bound to the caller's ``shared`` and ``inputs``."""

    @abc.abstractmethod
    def dumps_types(self, variables):
        """Text describing the types of ``variables`` (stored in the header, for standins)."""

    @abc.abstractmethod
    def standins(self, text, shared=True):
        """Fresh variables of the types ``dumps_types`` wrote (``verify --deep`` loads with them)."""

    @abc.abstractmethod
    def artifact_root(self):
        """The directory artifact paths are relative to (Theano: config.compiledir)."""

    #: Artifact paths (relative to artifact_root) every entry carries, if present.
    helper_artifacts = ()
    #: File names in an artifact's folder carried with it and written after it (Theano: key.pkl).
    artifact_companions = ()

    # --- install() ---------------------------------------------------------------------------
    @abc.abstractmethod
    def hook(self, replacement):
        """Route every binding of the library's ``function`` through ``replacement``."""

    @abc.abstractmethod
    def unhook(self):
        """Restore the library's own ``function`` (idempotent)."""

    # --- cached_function ---------------------------------------------------------------------
    @abc.abstractmethod
    def type_for_value(self, value, position, name):
        """The library type an argument asks for (dtype and ndim), or FncacheTypeError."""

    @abc.abstractmethod
    def dispatch_key(self, args):
        """A cheap hashable key per call: equal exactly when ``type_for_value`` gives equal types."""

    @abc.abstractmethod
    def input_type(self, declared):
        """The type of a declared input (a type, or a variable whose type is meant)."""

    @abc.abstractmethod
    def is_shared_variable(self, obj):
        """True if ``obj`` is a shared variable (builders return (outputs, [(shared, new)]))."""

    # --- memo --------------------------------------------------------------------------------
    @abc.abstractmethod
    def container_value(self, value):
        """The value a default held in a storage container stands for (or ``value`` itself)."""

    def input_defaults(self, fn):
        """(positions of explicit inputs with a default, [(position, value)] that the library
        puts back after every call) of a compiled function; Theano's ``fn.defaults`` here."""
        defaulted = [i for i, (spec, (required, _, _)) in
                     enumerate(zip(fn.maker.inputs, fn.defaults))
                     if not spec.implicit and not required]
        refeed = [(i, value) for i, (_, refeed, value) in enumerate(fn.defaults) if refeed]
        return defaulted, refeed

    # --- tests -------------------------------------------------------------------------------
    def compiler_counters(self):
        """Context manager yielding a dict of counts of what a hit must not run (gcc, rewrites)."""
        return contextlib.nullcontext({})
