"""Numba: carry a function's cache files, and load it without funcify or a Numba compile.

PyTensor's NUMBA linker funcifies every node (generates Python source per op), wraps
the whole graph in ``def numba_funcified_fgraph(*args): return jitable_func(*args)``
registered under ``"<fgraph key>_fastmath<0|1>"``, and Numba compiles it (or loads it
from ``base_compiledir/numba``) at the function's first call. Its files are named by
that key: ``string.numba_funcified_fgraph-<key>_fastmath1.py312.nbi`` (the index:
overload key -> data file) and ``....<n>.nbc`` (object code of the whole graph).

Recording (``with recording():``, at compile time) keeps the key and the wrapper's
name on the linker, which is pickled with the maker. ``files(fn)`` lists the key's
files once Numba has compiled or loaded the function (``after_first_call``: Numba's
``compile`` of the graph's dispatcher is wrapped, so nothing the user sees changes). Loading (``with loading():``)
replaces funcify by a stand-in wrapper of the same name and bytecode, registered under
the same key: Numba finds the overload in the index and loads its object code. Only if
the index lacks the call's signature does the stand-in run the real funcify first, so
the result is the same function either way.

Carried files are written only where this machine has none of that name (fncache's
artifact install): where an index of the same graph exists already, Numba reads that one
and compiles an overload it lacks, as without fncache.
"""
import glob
import os
import threading
import weakref

from pytensor.configdefaults import config

_state = threading.local()
KEY = "_fncache_numba_key"      # linker attribute: the fgraph key (pickled with the maker)
NAME = "_fncache_numba_name"    # linker attribute: the wrapper's function name
_WRAPPER = "def {name}(*args): return jitable_func(*args)"
stats = {"stand_ins": 0, "funcified": 0}  # this process (tests read them)


class _Switch:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        setattr(_state, self.name, getattr(_state, self.name, 0) + 1)

    def __exit__(self, *exc):
        setattr(_state, self.name, getattr(_state, self.name) - 1)


def _flag(name):
    return getattr(_state, name, 0) > 0


def recording():
    return _Switch("recording")


def loading():
    return _Switch("loading")


def cache_dir():
    from pytensor.link.numba import cache
    return str(cache.NUMBA_CACHE_PATH)


def _disambiguator(key):
    return "%s_fastmath%d" % (key, int(config.numba__fastmath))


def linker_of(fn):
    """The NumbaLinker of a compiled function, or None (other linkers)."""
    from pytensor.link.numba.linker import NumbaLinker
    linker = getattr(getattr(fn, "maker", None), "linker", None)
    return linker if isinstance(linker, NumbaLinker) else None


def files(fn):
    """Cache files of ``fn``'s whole-graph function, relative to base_compiledir."""
    linker = linker_of(fn)
    key = getattr(linker, KEY, None) if linker is not None else None
    if key is None:
        return []
    base = str(config.base_compiledir)
    pattern = os.path.join(glob.escape(cache_dir()), "*-%s.py*" % _disambiguator(key))
    return sorted(os.path.relpath(p, base) for p in glob.glob(pattern))


def after_first_call(fn, callback):
    """Call ``callback()`` once ``fn``'s whole-graph function is compiled or loaded (Numba
    does it at the first call, and writes its cache files then); at once for functions of
    other linkers, or if it has run already."""
    linker = linker_of(fn)
    waiting = _first_compile.get(linker) if linker is not None else None
    if waiting is None or waiting[0].overloads:
        callback()
    else:
        waiting[1].append(callback)


# linker -> (its Numba dispatcher, callbacks to run after the dispatcher's first compile);
# kept apart from the linker, which is pickled with the maker.
_first_compile = weakref.WeakKeyDictionary()


_applied = False


def apply():
    """Hook NumbaLinker's funcify and jit steps (once)."""
    global _applied
    if _applied:
        return
    _applied = True
    from pytensor.link.numba.linker import NumbaLinker  # imports no Numba: C users pay nothing

    pytensor_convert = NumbaLinker.fgraph_convert
    pytensor_jit = NumbaLinker.jit_compile

    def fgraph_convert(self, fgraph, **kwargs):
        key = self.__dict__.get(KEY)
        if _flag("loading") and key is not None and config.numba__cache:
            from pytensor.link.numba import cache as pt_cache
            from pytensor.link.numba.dispatch import basic as dispatch_basic
            name = self.__dict__.get(NAME, "numba_funcified_fgraph")
            env = dict(vars(dispatch_basic), jitable_func=None)
            stand_in = pt_cache.compile_numba_function_src(
                _WRAPPER.format(name=name), name, global_env=env,
                cache_key=_disambiguator(key))

            def funcify():  # only when Numba must compile: the real function body
                real, _ = pytensor_convert(self, fgraph, **kwargs)
                env["jitable_func"] = real.py_func.__globals__["jitable_func"]
                stats["funcified"] += 1

            self._fncache_funcify = funcify
            stats["stand_ins"] += 1
            return _PyFunc(stand_in), key
        fn, key = pytensor_convert(self, fgraph, **kwargs)
        if _flag("recording") and key is not None:
            self.__dict__[KEY] = key
            self.__dict__[NAME] = fn.py_func.__name__
        return fn, key

    def jit_compile(self, fn_and_cache):
        dispatcher = pytensor_jit(self, fn_and_cache)
        funcify = self.__dict__.pop("_fncache_funcify", None)
        waiting = []
        if _flag("recording"):
            _first_compile[self] = (dispatcher, waiting)
        if funcify is None and not waiting and not _flag("recording"):
            return dispatcher
        numba_compile = dispatcher.compile
        pending = [funcify is not None]

        def compile(sig):
            if pending[0]:
                from numba.core import sigutils
                args, _ = sigutils.normalize_signature(sig)
                if dispatcher.overloads.get(tuple(args)) is None \
                        and not _in_index(dispatcher, sig):
                    funcify()
                    pending[0] = False
            entry_point = numba_compile(sig)  # Numba's lock is released again here
            while waiting:
                waiting.pop(0)()
            return entry_point

        dispatcher.compile = compile
        return dispatcher

    NumbaLinker.fgraph_convert = fgraph_convert
    NumbaLinker.jit_compile = jit_compile


class _PyFunc:
    """What ``jit_compile`` reads from fgraph_convert's result: ``.py_func``."""

    def __init__(self, py_func):
        self.py_func = py_func


def _in_index(dispatcher, sig):
    cache = dispatcher._cache
    key = cache._index_key(sig, dispatcher.targetctx.codegen())
    return key in cache._cache_file._load_index()
