"""Lookup-or-compile: the compile cache's one path.

key the graph -> look in the tiers -> (miss) take the key's lock -> look again
-> compile with module recording -> serialize -> store. A graph that cannot be
keyed or stored safely, and any failure of the cache itself, is compiled
exactly as Theano would, and the reason is counted in the statistics. What
Theano rejects, Theano raises: fncache's own checks never stand in its place.
A loaded function is given what this call gives a compiled one (its name,
its profiler), so it cannot be told from one.
"""
import logging
import os
import sqlite3
import sys
import time

import theano

from fncache import counters, graphinfo, misslog, modules, profiling, serialize, thunks, unloadable
from fncache.config import settings
from fncache.errors import EntryRejected
from fncache.keys.graph import UnkeyableGraph, signature
from fncache.store import current, envelope, locks

_log = logging.getLogger("fncache")
KIND = "compiled"

# The real theano.function, whatever install() later puts in its place.
theano_function = sys.modules["theano.compile.function"].function


def _compile(inputs, outputs, kwargs):
    with thunks.recording():
        return theano_function(inputs, outputs, **kwargs)


class _Uncacheable(Exception):
    """Internal: this call goes to Theano uncached (args: reason, what happened)."""


def _is_fncache(frame):
    module = frame.f_globals.get("__name__", "")
    return module == "fncache" or module.startswith("fncache.")


def theano_name(frame):
    """The name ``theano.function`` gives an unnamed function called from ``frame``.

    Theano names it after its caller's file and line, skipping frames in
    theano/gof (``var.eval()``); fncache's own frames are skipped first, so a
    function gets the same name compiled or loaded, with or without fncache.
    """
    while frame is not None and _is_fncache(frame):
        frame = frame.f_back
    while frame is not None and "theano/gof" in frame.f_code.co_filename \
            and frame.f_back is not None:
        frame = frame.f_back
    if frame is None:
        return None
    return "%s:%d" % (frame.f_code.co_filename, frame.f_lineno)


def _where():
    """module:line of the user's call, for listings."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("fncache", "theano")):
        frame = frame.f_back
    if frame is None:
        return "?"
    return "%s:%d" % (frame.f_globals.get("__name__", "?"), frame.f_lineno)


def rebuild(cache, header, payload, shared, inputs):
    """(function, modules written) from an opened entry, bound to ``shared`` and
    ``inputs``: what a hit does. ``fncache verify --deep`` calls it too, in a child process.
    """
    written = 0
    if isinstance(header.get("modules"), list):
        written = modules.install(cache, header["modules"])
    return serialize.loads(payload, shared, inputs), written


def _loader(cache, sig, secret):
    def load(data):
        header, payload = envelope.open_envelope(sig.key, data, secret)
        if header.get("kind") != KIND:
            raise EntryRejected("corrupt", "entry is a %s entry, not a compiled function"
                                % header.get("kind"))
        started = time.perf_counter()
        try:
            fn, written = rebuild(cache, header, payload, sig.shared, sig.inputs)
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
    """``theano.function`` through the compile cache.

    Whatever Theano would raise for the call is raised by Theano itself; any
    other failure of the cache (keying, loading, storing) compiles the function
    as Theano would, counted under ``uncacheable`` with its reason.
    """
    if settings.disabled:
        return theano_function(inputs, outputs, **kwargs)
    listed = kwargs.get("name")  # the name listings show: the caller's own, if any
    if listed is None:
        kwargs = dict(kwargs, name=theano_name(sys._getframe(1)))
    try:
        return _through_cache(inputs, outputs, kwargs, listed)
    except _Uncacheable as exc:
        reason, cause = exc.args
        counters.count("uncacheable." + reason)
        if reason.endswith("error"):  # a fault of fncache's, not a property of the graph
            _log.warning("fncache: compiling without the cache (%s: %s: %s)",
                         reason, type(cause).__name__, cause)
        else:
            _log.info("fncache: compiling without the cache: %s", cause)
        return theano_function(inputs, outputs, **kwargs)


def _through_cache(inputs, outputs, kwargs, listed):
    key_started = time.perf_counter()
    try:
        sig = signature(inputs, outputs, **kwargs)
    except UnkeyableGraph as exc:
        # BadCall included: Theano decides; it raises its own error or compiles the call
        raise _Uncacheable("unkeyable", exc) from None
    except Exception as exc:
        raise _Uncacheable("key_error", exc) from None
    try:
        cache = current()
        label = None
        if profiling.active():
            label = listed or _where()
            profiling.note(sig.key, label, "key", time.perf_counter() - key_started)
        fn = _lookup(cache, sig, kwargs, label)
    except Exception as exc:
        raise _Uncacheable("load_error", exc) from None
    if fn is None:
        with locks.key_lock(cache.directory, sig.key, settings.wait_timeout) as held:
            if held:  # another process may have stored it while we waited
                try:
                    fn = _lookup(cache, sig, kwargs, label)
                except Exception as exc:
                    raise _Uncacheable("load_error", exc) from None
            if fn is None:
                started = time.perf_counter()
                fn = _compile_and_store(cache, sig, inputs, outputs, kwargs, listed)
                if label is not None:
                    profiling.note(sig.key, label, "compile", time.perf_counter() - started)
    return _keyed(profiling.wrap(fn, sig.key, label), sig)


def _lookup(cache, sig, kwargs, label):
    """The cached function for ``sig``, made as this call would make it; None on a miss."""
    started = time.perf_counter()
    fn, _ = cache.store.get(sig.key, _loader(cache, sig, settings.secret))
    if fn is not None:
        counters.count("compiled.hits")
        cache.touch(sig.key)
        _as_called(fn, kwargs)
        if label is not None:
            profiling.note(sig.key, label, "load", time.perf_counter() - started)
    return fn


def _as_called(fn, kwargs):
    """Give a loaded function what this call's arguments give a compiled one: its name
    and its profiler (Theano's ProfileStats named after the function, or the caller's own)."""
    name = kwargs["name"]
    fn.name = fn.maker.name = fn.maker.fgraph.name = name
    profile = kwargs.get("profile")
    if isinstance(fn.profile, theano.compile.profiling.ProfileStats):
        if isinstance(profile, theano.compile.profiling.ProfileStats):
            fn.profile = fn.maker.profile = fn.maker.fgraph.profile = profile
        else:
            fn.profile.message = profile if isinstance(profile, str) else name


def _compile_and_store(cache, sig, inputs, outputs, kwargs, listed):
    started = time.perf_counter()
    fn = _compile(inputs, outputs, kwargs)  # Theano's own errors reach the caller as they are
    compile_seconds = time.perf_counter() - started
    counters.count("compile.count")
    counters.seconds("compile", compile_seconds)
    if type(fn.maker) is not theano.compile.function_module.FunctionMaker:
        counters.count("uncacheable.mode")  # DebugMode and kin build their own makers
        return fn
    if cache.readonly:
        return fn
    try:
        _store(cache, sig, fn, listed, compile_seconds)
    except Exception as exc:  # the function is compiled: storing it is only a bonus
        counters.count("uncacheable.store_error")
        _log.warning("fncache: compiled but not cached (store_error: %s: %s)",
                     type(exc).__name__, exc)
    return fn


def _store(cache, sig, fn, listed, compile_seconds):
    info = {"kind": KIND, "name": listed or "", "where": _where(),
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
        return
    try:
        payload, module_paths = serialize.dumps(fn, sig.shared, sig.inputs)
    except serialize.SerializationError as exc:
        _log.info("fncache: compiled but not cached: %s", exc)
        counters.count("uncacheable.serialize")
        return
    # A pickled graph shrinks tenfold under zstd and reads back at 2 GB/s.
    header = dict(info, modules=modules.store(cache, module_paths),
                  shared_types=serialize.dumps_types(sig.shared),
                  input_types=serialize.dumps_types(sig.inputs))
    data = envelope.seal(sig.key, header, payload, settings.secret, compress_above=16 << 10)
    cache.store.put(sig.key, data)
    cache.record(sig.key, dict(info, size=len(data)))
