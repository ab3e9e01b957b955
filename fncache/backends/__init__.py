"""The backends registry: which graph library a set of objects belongs to.

A backend is chosen from the graph's own objects (the module root of their classes),
never from a global switch, and its module is imported only then: ``import fncache``
imports no graph library. ``imported()`` lists the backends whose library the program
has imported (``install()`` hooks those, and the import hook the others when they come).
"""
import importlib
import importlib.util
import sys

from fncache.errors import FncacheTypeError

#: library module root -> (backend module, class name). A backend registers here.
BACKENDS = {
    "theano": ("fncache.backends.theano.backend", "TheanoBackend"),
    "pytensor": ("fncache.backends.pytensor.backend", "PyTensorBackend"),
}
#: library module root -> module with ``before_import() -> token`` (runs before the library's
#: module body), ``end_import(token)`` (after it, also when it raised) and ``after_import()``
#: (after a successful import, or at once if the library was imported before fncache); see
#: fncache.backends.importhook. It must not import the library at its own import.
PREPARE = {
    "theano": "fncache.backends.theano.compat",
}
#: The module roots of every known graph library (frames and objects of these are "library").
LIBRARY_ROOTS = tuple(BACKENDS)

_instances = {}


def get(root):
    """The backend instance for a library module root ("theano"), imported on first use."""
    backend = _instances.get(root)
    if backend is None:
        if root not in BACKENDS:
            raise FncacheTypeError("fncache has no backend for %r (known: %s)"
                                   % (root, ", ".join(BACKENDS)))
        # The library first: its import runs the import hook's callbacks, which may ask for
        # this backend (and so import it) before the backend module's own import of it ends.
        importlib.import_module(root)
        backend = _instances.get(root)
        if backend is None:
            module_name, class_name = BACKENDS[root]
            module = importlib.import_module(module_name)
            backend = _instances.setdefault(root, getattr(module, class_name)())
    return backend


def root_of(obj):
    """The graph-library module root of ``obj``'s class, or None."""
    root = type(obj).__module__.partition(".")[0]
    return root if root in BACKENDS else None


def _roots(values, found, depth=0):
    for value in values:
        root = root_of(value)
        if root is not None:
            found.add(root)
        elif depth < 3 and isinstance(value, (list, tuple)):
            _roots(value, found, depth + 1)
        elif depth < 3 and isinstance(value, dict):
            _roots(value.keys(), found, depth + 1)
            _roots(value.values(), found, depth + 1)


def available():
    """The library roots whose backend module is installed (a registered backend may not be)."""
    return [root for root in BACKENDS
            if importlib.util.find_spec(BACKENDS[root][0].rpartition(".")[0]) is not None]


def imported():
    """The backends whose library this process has imported, in registry order."""
    return [get(root) for root in BACKENDS if root in sys.modules]


def for_objects(*values):
    """The backend of the graph objects in ``values`` (lists, tuples, dicts looked into).

    With no graph object at all (``function([], [])``) it is the one library imported;
    objects of two libraries, or nothing to go by, are a FncacheTypeError.
    """
    found = set()
    _roots(values, found)
    if len(found) == 1:
        return get(found.pop())
    if len(found) > 1:
        raise FncacheTypeError("one graph mixes objects of %s" % " and ".join(sorted(found)))
    loaded = [root for root in BACKENDS if root in sys.modules]
    if len(loaded) == 1:
        return get(loaded[0])
    raise FncacheTypeError("cannot tell which graph library these objects belong to (%s imported)"
                           % (", ".join(loaded) or "none"))


def for_modules(modules):
    """The backend of the first graph-library module among ``modules`` (a builder's globals)."""
    for module in modules:
        root = getattr(module, "__name__", "").partition(".")[0]
        if root in BACKENDS:
            return get(root)
    return None


def install_all(replacement_for):
    """Hook every imported library's ``function``: ``replacement_for(backend)`` gives the hook."""
    for backend in imported():
        backend.hook(replacement_for(backend))


def uninstall_all():
    """Unhook every backend that was hooked (idempotent)."""
    for backend in list(_instances.values()):
        backend.unhook()
