"""Lookup-or-compile: the compile cache's one path.

key the graph -> look in the tiers -> (miss) take the key's lock -> look again
-> compile with module recording -> serialize -> store. A graph that cannot be
keyed or stored safely is compiled exactly as Theano would, and the reason is
counted in the statistics.
"""
import logging
import os
import sqlite3
import sys
import time

import theano
from theano.compile.function_module import UnusedInputError
from theano.gof.fg import MissingInputError

from fncache import counters, graphinfo, misslog, modules, profiling, serialize, thunks, unloadable
from fncache.config import settings
from fncache.errors import EntryRejected
from fncache.keys.graph import BadCall, UnkeyableGraph, signature
from fncache.store import current, envelope, locks

_log = logging.getLogger("fncache")
KIND = "compiled"

# The real theano.function, whatever install() later puts in its place.
theano_function = sys.modules["theano.compile.function"].function


def _theano(inputs, outputs, kwargs):
    """theano.function, with the caller's graph mistakes said plainly as BadCall."""
    try:
        return theano_function(inputs, outputs, **kwargs)
    except (UnusedInputError, MissingInputError) as exc:
        raise BadCall("%s: %s" % (type(exc).__name__, exc)) from None


def _compile(inputs, outputs, kwargs):
    with thunks.recording():
        return _theano(inputs, outputs, kwargs)


def _uncacheable(reason, inputs, outputs, kwargs):
    counters.count("uncacheable." + reason)
    return _theano(inputs, outputs, kwargs)


def _where():
    """module:line of the user's call, for listings."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("fncache", "theano")):
        frame = frame.f_back
    if frame is None:
        return "?"
    return "%s:%d" % (frame.f_globals.get("__name__", "?"), frame.f_lineno)


def rebuild(cache, header, payload, shared):
    """(function, modules written) from an opened entry, bound to ``shared``: what a hit does.

    ``fncache verify --deep`` calls it too, in a child process.
    """
    written = 0
    if isinstance(header.get("modules"), list):
        written = modules.install(cache, header["modules"])
    return serialize.loads(payload, shared), written


def _loader(cache, sig, secret):
    def load(data):
        header, payload = envelope.open_envelope(sig.key, data, secret)
        if header.get("kind") != KIND:
            raise EntryRejected("corrupt", "entry is a %s entry, not a compiled function"
                                % header.get("kind"))
        started = time.perf_counter()
        try:
            fn, written = rebuild(cache, header, payload, sig.shared)
        except Exception as exc:  # an entry this process cannot rebuild is a miss
            reason = "%s: %s" % (type(exc).__name__, exc)
            if not isinstance(exc, (OSError, MemoryError)):  # those may pass; the rest will not
                unloadable.remember(cache, sig.key, reason)
                reason += "; it will be compiled without storing until fncache or Theano changes"
            raise EntryRejected("corrupt", "cannot rebuild the function: " + reason) from None
        counters.count("modules.installed", written)
        seconds = time.perf_counter() - started
        counters.seconds("load", seconds)
        counters.seconds("saved.compile", max(0.0, header.get("compile_seconds", 0.0) - seconds))
        return fn
    return load


def _keyed(fn, sig):
    """Expose the graph key and the shared variables in key order (the memo keys on them)."""
    fn.fncache_key = sig.key
    fn.fncache_shared = tuple(sig.shared)
    return fn


def function(inputs, outputs=None, **kwargs):
    """``theano.function`` through the compile cache."""
    if settings.disabled:
        return theano_function(inputs, outputs, **kwargs)
    name = kwargs.get("name")
    key_started = time.perf_counter()
    try:
        sig = signature(inputs, outputs, **kwargs)
    except BadCall:
        raise  # Theano would reject the call too: say what is wrong, from here
    except UnkeyableGraph as exc:
        _log.info("fncache: compiling without cache: %s", exc)
        return _uncacheable("unkeyable", inputs, outputs, kwargs)
    cache = current()
    label = None
    if profiling.active():
        label = name or _where()
        profiling.note(sig.key, label, "key", time.perf_counter() - key_started)

    def lookup():
        started = time.perf_counter()
        fn, _ = cache.store.get(sig.key, _loader(cache, sig, settings.secret))
        if fn is not None:
            counters.count("compiled.hits")
            cache.touch(sig.key)
            fn.name = name
            if label is not None:
                profiling.note(sig.key, label, "load", time.perf_counter() - started)
        return fn

    fn = lookup()
    if fn is not None:
        return _keyed(profiling.wrap(fn, sig.key, label), sig)
    with locks.key_lock(cache.directory, sig.key, settings.wait_timeout) as held:
        fn = lookup() if held else None  # another process may have stored it while we waited
        if fn is None:
            started = time.perf_counter()
            fn = _compile_and_store(cache, sig, inputs, outputs, kwargs)
            if label is not None:
                profiling.note(sig.key, label, "compile", time.perf_counter() - started)
        return _keyed(profiling.wrap(fn, sig.key, label), sig)


def _compile_and_store(cache, sig, inputs, outputs, kwargs):
    started = time.perf_counter()
    fn = _compile(inputs, outputs, kwargs)
    compile_seconds = time.perf_counter() - started
    counters.count("compile.count")
    counters.seconds("compile", compile_seconds)
    if type(fn.maker) is not theano.compile.function_module.FunctionMaker:
        counters.count("uncacheable.mode")  # DebugMode and kin build their own makers
        return fn
    if cache.readonly:
        return fn
    info = {"kind": KIND, "name": kwargs.get("name") or "", "where": _where(),
            "compile_seconds": compile_seconds, "pid": os.getpid(),
            "graph": graphinfo.summary(fn, sig), "parts": dict(sig.parts)}
    if settings.miss_log:
        try:
            misslog.record(cache, sig, info)
        except (OSError, sqlite3.Error) as exc:
            cache.index_failed(exc)
    why = unloadable.reason(cache, sig.key)
    if why is not None:  # its entry failed to load: storing it again would fail again
        _log.info("fncache: compiled but not stored: its entry cannot be loaded (%s)", why)
        counters.count("uncacheable.unloadable")
        return fn
    try:
        payload, module_paths = serialize.dumps(fn, sig.shared)
    except serialize.SerializationError as exc:
        _log.info("fncache: compiled but not cached: %s", exc)
        counters.count("uncacheable.serialize")
        return fn
    # A pickled graph shrinks tenfold under zstd and reads back at 2 GB/s.
    header = dict(info, modules=modules.store(cache, module_paths),
                  shared_types=serialize.dumps_types(sig.shared))
    data = envelope.seal(sig.key, header, payload, settings.secret, compress_above=16 << 10)
    cache.store.put(sig.key, data)
    cache.record(sig.key, dict(info, size=len(data)))
    return fn
