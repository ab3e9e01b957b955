"""fncache: a compiled-function and result cache that makes Theano programs start fast.

The public names, nothing else. ``import fncache`` imports no graph library (a graph's
backend is imported when a graph is at hand) and no numpy: names whose modules need
them are attributes made on first use (module ``__getattr__``).
"""
__version__ = "0.1.0"

import functools as _functools
import importlib as _importlib
import os as _os

from fncache import backends as _backends
from fncache.backends import importhook as _importhook
from fncache.config import settings as _settings
from fncache.errors import (ConfigError, FncacheError, FncacheTypeError, FncacheValueError,  # noqa: F401
                            FncacheWarning, UnkeyableGraph, UnknownKeyError)

# public name -> module that defines it (imported at the first use of the name)
_LAZY = {
    "function": "fncache.api", "cached_function": "fncache.api", "graph_key": "fncache.api",
    "install": "fncache.api", "uninstall": "fncache.api", "configure": "fncache.api",
    "memoize": "fncache.memo", "clear": "fncache.memo", "MemoizeError": "fncache.memo",
    "explain": "fncache.keys.explain", "UnhashableValue": "fncache.keys.values",
    "profile": "fncache.observe.profiling", "stats": "fncache.observe.stats",
}

__all__ = ["function", "cached_function", "memoize", "clear", "graph_key", "explain", "install",
           "uninstall", "configure", "stats", "profile", "ConfigError", "FncacheError",
           "FncacheTypeError", "FncacheValueError", "FncacheWarning", "MemoizeError",
           "UnhashableValue", "UnkeyableGraph", "UnknownKeyError"]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'fncache' has no attribute %r" % name)
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def _library_imported(root):
    """Once the program imports a graph library: its backend and the front doors are imported
    (their modules are in place before the program compiles, drops privileges or forks; a
    first call pays no import) and, while the program builds its graphs, the cache opens in
    the background."""
    _backends.get(root)
    _importlib.import_module("fncache.api")
    if not _settings.disabled:
        _importlib.import_module("fncache.store").open_in_background()


_importhook.install()  # Theano's Python 3.11 fixes, applied when the program imports it
for _root in _backends.available():
    _importhook.when_imported(_root, _functools.partial(_library_imported, _root))
if _os.environ.get("FNCACHE_INSTALL", "").strip().lower() in ("1", "true", "yes", "on"):
    __getattr__("install")()
