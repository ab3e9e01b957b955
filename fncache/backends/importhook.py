"""Prepare a graph library when the program imports it (a ``sys.meta_path`` finder).

Theano 1.0.5 needs a flag set before its module body runs and fixes applied after
(``fncache.backends.theano.compat``); fncache itself must not import Theano. The finder
wraps the library's loader: ``token = before_import()``, the library's own module body,
``end_import(token)`` (also when the body raised), ``after_import()``, then the callbacks waiting for that library (``install()`` made
before the import). A library imported before fncache gets ``after_import()`` at once.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys
import threading

from fncache.backends import BACKENDS, PREPARE

_lock = threading.RLock()
_prepared = set()  # roots whose after_import has run
_waiting = {}  # root -> callbacks to run once the library is imported


def _prepare_module(root):
    return importlib.import_module(PREPARE[root]) if PREPARE.get(root) else None


def _imported(root):
    """Run after_import and the waiting callbacks for ``root`` (once)."""
    with _lock:
        if root in _prepared:
            return
        _prepared.add(root)
        module = _prepare_module(root)
        if module is not None:
            module.after_import()
        callbacks = _waiting.pop(root, [])
    for callback in callbacks:
        callback()


class _PreparingLoader(importlib.abc.Loader):
    """The library's own loader with before_import/after_import around its module body."""

    def __init__(self, root, loader):
        self.root, self.loader = root, loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        prepare = _prepare_module(self.root)
        token = prepare.before_import() if prepare is not None else None
        try:
            self.loader.exec_module(module)
        finally:
            if prepare is not None:
                prepare.end_import(token)
        _imported(self.root)

    def __getattr__(self, name):  # get_filename, is_package, get_code ... as the original
        return getattr(self.loader, name)


class _LibraryFinder(importlib.abc.MetaPathFinder):
    """Finds a graph library's top-level package as the other finders do, then wraps its loader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in BACKENDS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and not isinstance(spec.loader, _PreparingLoader):
                    spec.loader = _PreparingLoader(fullname, spec.loader)
                return spec
        return None


def install():
    """Put the finder first in ``sys.meta_path`` (once); prepare libraries already imported."""
    with _lock:
        if not any(isinstance(f, _LibraryFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _LibraryFinder())
    for root in BACKENDS:
        if root in sys.modules:
            _imported(root)


def when_imported(root, callback):
    """Call ``callback()`` now if library ``root`` is imported, else right after its import."""
    install()
    with _lock:
        if root not in _prepared:
            _waiting.setdefault(root, []).append(callback)
            return
    callback()
