"""fncache: a compiled-function and result cache that makes Theano programs start fast."""
__version__ = "0.1.0"

from fncache import compat  # noqa: F401  (makes Theano work on this Python first)
from fncache.api import cached_function, configure, function, install, uninstall  # noqa: E402
from fncache.config import ConfigError, settings as _settings  # noqa: E402
from fncache.errors import FncacheError, FncacheTypeError, FncacheValueError, UnknownKeyError  # noqa: E402,E501
from fncache.keys.explain import explain  # noqa: E402
from fncache.keys.values import UnhashableValue  # noqa: E402
from fncache.memo import MemoizeError, clear, memoize  # noqa: E402
from fncache.keys.graph import UnkeyableGraph, signature as _signature  # noqa: E402
from fncache.store import open_in_background as _open_in_background  # noqa: E402
from fncache.profiling import profile  # noqa: E402
from fncache.store.tiered import FncacheWarning  # noqa: E402
from fncache.summary import stats  # noqa: E402


def graph_key(inputs, outputs, updates=None, givens=None, mode=None, **theano_function_kwargs):
    """The hex key of a graph: equal keys mean the compiled functions behave the same."""
    return _signature(inputs, outputs, updates=updates, givens=givens, mode=mode,
                      **theano_function_kwargs).key


__all__ = ["function", "cached_function", "memoize", "clear", "graph_key", "explain", "install",
           "uninstall", "configure", "stats", "profile", "ConfigError", "FncacheError", "FncacheTypeError", "FncacheValueError", "FncacheWarning",
           "MemoizeError", "UnhashableValue", "UnkeyableGraph", "UnknownKeyError"]

import os as _os  # noqa: E402

if _os.environ.get("FNCACHE_INSTALL", "").strip().lower() in ("1", "true", "yes", "on"):
    install()
if not _settings.disabled:
    _open_in_background()
