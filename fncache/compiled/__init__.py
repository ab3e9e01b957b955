"""Lookup-or-compile: the compile cache's one path, generic over a backend.

key the graph -> look in the tiers -> (miss) take the key's lock -> look again
-> compile with artifact recording -> serialize -> store. A graph that cannot be
keyed or stored safely, and any failure of the cache itself, is compiled
exactly as the library would, and the reason is counted in the statistics. What
the library rejects, the library raises: fncache's own checks never stand in its
place. A loaded function is given what this call gives a compiled one (its name,
its profiler), so it cannot be told from one.
"""
import logging
import os
import sqlite3
import sys
import time

from fncache import callsite
from fncache.compiled import artifacts, unloadable
from fncache.config import settings
from fncache.errors import EntryRejected, SerializationError, UnkeyableGraph
from fncache.observe import counters, misslog, profiling
from fncache.store import current, envelope, locks

_log = logging.getLogger("fncache")
KIND = "compiled"


class _Uncacheable(Exception):
    """Internal: this call goes to the library uncached (args: reason, what happened)."""


def rebuild(backend, cache, header, payload, shared, inputs):
    """(function, modules written) from an opened entry, bound to ``shared`` and
    ``inputs``: what a hit does. ``fncache verify --deep`` calls it too, in a child process.
    """
    written = 0
    if isinstance(header.get("modules"), list):
        written = artifacts.install(cache, backend, header["modules"])
    return backend.loads(payload, shared, inputs), written


def _loader(backend, cache, sig, secret):
    def load(data):
        header, payload = envelope.open_envelope(sig.key, data, secret)
        if header.get("kind") != KIND:
            raise EntryRejected("corrupt", "entry is a %s entry, not a compiled function"
                                % header.get("kind"))
        started = time.perf_counter()
        try:
            fn, written = rebuild(backend, cache, header, payload, sig.shared, sig.inputs)
        except Exception as exc:  # an entry this process cannot rebuild is a miss
            reason = "%s: %s" % (type(exc).__name__, exc)
            if not isinstance(exc, (OSError, MemoryError)):  # those may pass; the rest will not
                unloadable.remember(cache, sig.key, reason, backend.name)
                reason += ("; it will be compiled without storing until fncache or %s changes"
                           % backend.name.capitalize())
            raise EntryRejected("corrupt", "cannot rebuild the function: " + reason) from None
        counters.count("modules.installed", written)
        seconds = time.perf_counter() - started
        counters.seconds("load", seconds)
        counters.seconds("saved.compile", max(0.0, header.get("compile_seconds", 0.0) - seconds))
        return fn
    return load


def _keyed(fn, sig, backend):
    """Expose the graph key, the shared variables in key order (the memo keys on them) and
    the backend that made the function."""
    fn.fncache_key = sig.key
    fn.fncache_shared = tuple(sig.shared)
    fn.fncache_backend = backend
    return fn


def function(backend, inputs, outputs=None, **kwargs):
    """The library's ``function(inputs, outputs, **kwargs)`` through the compile cache.

    Whatever the library would raise for the call is raised by the library itself; any
    other failure of the cache (keying, loading, storing) compiles the function
    as the library would, counted under ``uncacheable`` with its reason.
    """
    if settings.disabled:
        return backend.library_function()(inputs, outputs, **kwargs)
    listed = kwargs.get("name")  # the name listings show: the caller's own, if any
    if listed is None:
        kwargs = dict(kwargs, name=backend.default_name(sys._getframe(1)))
    try:
        return _through_cache(backend, inputs, outputs, kwargs, listed)
    except _Uncacheable as exc:
        reason, cause = exc.args
        counters.count("uncacheable." + reason)
        if reason.endswith("error"):  # a fault of fncache's, not a property of the graph
            _log.warning("fncache: compiling without the cache (%s: %s: %s)",
                         reason, type(cause).__name__, cause)
        else:
            _log.info("fncache: compiling without the cache: %s", cause)
        return backend.library_function()(inputs, outputs, **kwargs)


def _through_cache(backend, inputs, outputs, kwargs, listed):
    key_started = time.perf_counter()
    try:
        sig = backend.signature(inputs, outputs, kwargs)
    except UnkeyableGraph as exc:
        # BadCall included: the library decides; it raises its own error or compiles the call
        raise _Uncacheable("unkeyable", exc) from None
    except Exception as exc:
        raise _Uncacheable("key_error", exc) from None
    try:
        cache = current()
        label = None
        if profiling.active():
            label = listed or callsite.where()
            profiling.note(sig.key, label, "key", time.perf_counter() - key_started)
        fn = _lookup(backend, cache, sig, kwargs, label)
    except Exception as exc:
        raise _Uncacheable("load_error", exc) from None
    if fn is None:
        with locks.key_lock(cache.directory, sig.key, settings.wait_timeout) as held:
            if held:  # another process may have stored it while we waited
                try:
                    fn = _lookup(backend, cache, sig, kwargs, label)
                except Exception as exc:
                    raise _Uncacheable("load_error", exc) from None
            if fn is None:
                started = time.perf_counter()
                fn = _compile_and_store(backend, cache, sig, inputs, outputs, kwargs, listed)
                if label is not None:
                    profiling.note(sig.key, label, "compile", time.perf_counter() - started)
    return _keyed(profiling.wrap(fn, sig.key, label), sig, backend)


def _lookup(backend, cache, sig, kwargs, label):
    """The cached function for ``sig``, made as this call would make it; None on a miss."""
    started = time.perf_counter()
    fn, _ = cache.store.get(sig.key, _loader(backend, cache, sig, settings.secret))
    if fn is not None:
        counters.count("compiled.hits")
        cache.touch(sig.key)
        backend.as_called(fn, kwargs)
        if label is not None:
            profiling.note(sig.key, label, "load", time.perf_counter() - started)
    return fn


def _compile_and_store(backend, cache, sig, inputs, outputs, kwargs, listed):
    started = time.perf_counter()
    fn = backend.compile(inputs, outputs, kwargs)  # the library's own errors reach the caller
    compile_seconds = time.perf_counter() - started
    counters.count("compile.count")
    counters.seconds("compile", compile_seconds)
    reason = backend.uncacheable_reason(fn)
    if reason is not None:
        counters.count("uncacheable." + reason)
        return fn
    if cache.readonly:
        return fn
    where = callsite.where()  # the caller's line, now: the store may come at the first call

    def store():
        try:
            _store(backend, cache, sig, fn, listed, compile_seconds, where)
        except Exception as exc:  # the function is compiled: storing it is only a bonus
            counters.count("uncacheable.store_error")
            _log.warning("fncache: compiled but not cached (store_error: %s: %s)",
                         type(exc).__name__, exc)
    backend.when_ready(fn, store)  # at once, or once its artifacts exist (Numba: first call)
    return fn


def _store(backend, cache, sig, fn, listed, compile_seconds, where):
    info = {"kind": KIND, "backend": backend.name, "name": listed or "",
            "where": where, "compile_seconds": compile_seconds, "pid": os.getpid(),
            "graph": backend.summary(fn, sig), "parts": dict(sig.parts)}
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
        payload, module_paths = backend.dumps(fn, sig.shared, sig.inputs)
    except SerializationError as exc:
        _log.info("fncache: compiled but not cached: %s", exc)
        counters.count("uncacheable.serialize")
        return
    # A pickled graph shrinks tenfold under zstd and reads back at 2 GB/s.
    header = dict(info, modules=artifacts.store(cache, backend, module_paths),
                  shared_types=backend.dumps_types(sig.shared),
                  input_types=backend.dumps_types(sig.inputs))
    data = envelope.seal(sig.key, header, payload, settings.secret, compress_above=16 << 10)
    cache.store.put(sig.key, data)
    cache.record(sig.key, dict(info, size=len(data)))
