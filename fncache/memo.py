"""Result memoization: a call's outputs kept under the values that determine them.

Key: ``memo:<function>:<digest>``. ``<function>`` is the graph key of a Theano function
(``fn.fncache_key``) or ``py:<module>.<qualname>`` of a Python function (so ``clear(fn)``
finds every entry of it); ``<digest>`` is BLAKE3 over the mode, the values of every
shared variable the Theano function reads (in the graph key's order) and the current
values of its explicit inputs' defaults (``f.value[...]``), or the Python function's code
fingerprint and the values it reads (``fncache.keys.code``), and the call's arguments
(keywords in the call's order: ``**kwargs`` sees it). Values are hashed by
``fncache.keys.values``; a value it cannot hash raises ``UnhashableValue`` (a TypeError)
rather than risking a wrong hit.

Entries live in the same tiers as compiled functions (``store.current()``): a signed
envelope of kind ``memo`` holding the result packed by ``store.arrays`` (large arrays as
raw blobs, memory-mapped on a disk hit).

Returned arrays are read-only (zero-copy views of the cached bytes), on a hit and on a
miss alike, so code that works on the first run also works on the second and nobody can
change a cached value through a result. ``np.array(result)`` gives a writable copy.
"""
import inspect
import logging
import time
import warnings

import numpy as np

from fncache import callsite
from fncache.config import settings
from fncache.errors import EntryRejected, FncacheError, FncacheTypeError, FncacheWarning
from fncache import format as entry_format
from fncache.keys import code as codekeys
from fncache.keys.digest import content_digest
from fncache.keys.values import UnhashableValue, ValueHasher
from fncache.names import MEMO, MEMO_BLOB_PREFIX
from fncache.observe import counters
from fncache.store import arrays, current, envelope

_log = logging.getLogger("fncache")
KIND = "memo"
PREFIX = MEMO
BLOB_PREFIX = MEMO_BLOB_PREFIX
MODES = ("pure", "replay", "rows")
DEFAULT_MIN_SECONDS = 0.001  # storing and hashing a result costs tens of microseconds
_MISS = object()


class MemoizeError(FncacheError, ValueError):
    """A function cannot be memoized as asked (bad option, rows without a batch axis...)."""


class Options:
    """What ``memoize`` was asked: mode, batch axis, size cap, minimum time, expiry."""

    def __init__(self, mode="pure", axis=0, batched=(0,), max_bytes=None,
                 min_seconds=DEFAULT_MIN_SECONDS, expire=None, allow_pickle=False, ignore=()):
        if mode not in MODES:
            raise MemoizeError("memoize mode must be one of %s, not %r" % (", ".join(MODES), mode))
        for name, value in (("axis", axis), ("max_bytes", max_bytes), ("min_seconds", min_seconds),
                            ("expire", expire)):
            if value is None and name in ("max_bytes", "expire"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise MemoizeError("memoize %s must be a number >= 0, not %r" % (name, value))
        if isinstance(batched, int):
            batched = (batched,)
        if not batched or not all(isinstance(b, int) and b >= 0 for b in batched):
            raise MemoizeError("memoize batched must list argument positions, not %r" % (batched,))
        if isinstance(ignore, str):
            ignore = (ignore,)
        self.mode, self.axis, self.batched = mode, int(axis), tuple(batched)
        self.max_bytes, self.min_seconds, self.expire = max_bytes, min_seconds, expire
        self.allow_pickle, self.ignore = allow_pickle, tuple(ignore)

    @classmethod
    def from_argument(cls, value):
        """Options from ``memoize=True | "pure" | "replay" | "rows" | dict``; None for False."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, str):
            return cls(mode=value)
        if isinstance(value, dict):
            try:
                return cls(**value)
            except TypeError as exc:
                raise MemoizeError("memoize options: %s" % exc) from None
        if isinstance(value, Options):
            return value
        raise MemoizeError("memoize must be True, 'pure', 'replay', 'rows' or a dict of options, "
                           "not %r" % (value,))


# ------------------------------------------------------------------ entries
def _validator(key):
    def validate(data):
        header, payload = envelope.open_envelope(key, data, settings.secret)
        if header.get("kind") != KIND:
            raise EntryRejected("corrupt", "entry is a %s entry, not a memo" % header.get("kind"))
        return header, payload
    return validate


def _read_blob(cache, name, size):
    """A blob's bytes: the memory tier's, a read-only map of the disk file, or another tier's."""
    key = BLOB_PREFIX + name
    data = cache.memory.get(key)
    if data is not None:
        return data
    try:
        path = cache.disk.path(key) if cache.disk in cache.store.tiers else None
        if path is not None:
            mapped = np.memmap(path, dtype=np.uint8, mode="r", shape=(size,))
            if content_digest(mapped) != name:
                cache.store.delete(key)
                raise arrays.BlobDamaged("blob %s does not match its digest" % name)
            counters.count("memo.mapped")
            cache.memory.put(key, mapped)  # the checked mapping serves later hits (no copy)
            return mapped
    except (OSError, ValueError):
        pass  # evicted meanwhile, or shorter than recorded: try the other tiers

    def check(data):
        if len(data) != size or content_digest(data) != name:
            raise EntryRejected("corrupt", "blob %s does not match its digest" % name)
        return data
    data, _ = cache.store.get(key, check)
    if data is None:
        raise arrays.BlobMissing(name)
    return data


def lookup(key):
    """The stored result of ``key`` (arrays read-only), or _MISS."""
    cache = current()
    started = time.perf_counter()
    entry, _ = cache.store.get(key, _validator(key))
    if entry is None:
        return _MISS
    header, payload = entry
    expire = header.get("expire")
    if expire is not None and time.time() > header.get("created", 0) + expire:
        counters.count("memo.expired")
        cache.store.delete(key)
        return _MISS
    try:
        value = arrays.unpack(header["layout"], payload, lambda n, s: _read_blob(cache, n, s))
    except arrays.BlobMissing:
        counters.count("memo.blob_missing")
        return _MISS
    except Exception as exc:  # damaged blob or unreadable pickle: a miss, never a crash
        counters.count("rejected.corrupt")
        warnings.warn("fncache: ignoring a bad memo entry (%s: %s); it will be recomputed"
                      % (type(exc).__name__, exc), FncacheWarning, stacklevel=3)
        cache.store.delete(key)
        return _MISS
    counters.seconds("saved.memo", max(0.0, header.get("compute_seconds", 0.0)
                                       - (time.perf_counter() - started)))
    return value


def store(key, value, seconds, options, name):
    """Store ``value`` under ``key`` if the options allow; returns what the caller gets."""
    cache = current()
    if cache.readonly:
        return value
    if seconds < options.min_seconds:
        counters.count("memo.not_stored.fast")
        return value
    try:
        layout, payload, blobs = arrays.pack(value)
    except Exception as exc:  # pickling an odd result object
        _log.info("fncache: result of %s not memoized: cannot pickle it (%s)", name, exc)
        counters.count("memo.not_stored.unpicklable")
        return value
    size = len(payload) + sum(len(data) for _, data in blobs)
    if options.max_bytes is not None and size > options.max_bytes:
        counters.count("memo.not_stored.too_large")
        return value
    for blob_name, data in blobs:  # blobs first: a reader who finds the entry finds them
        cache.store.put(BLOB_PREFIX + blob_name, data)
    header = {"kind": KIND, "name": name, "layout": layout, "compute_seconds": seconds,
              "created": time.time(), "expire": options.expire, "size": size}
    cache.store.put(key, envelope.seal(key, header, payload, settings.secret))
    counters.count("memo.stored")
    local = dict(blobs)
    return arrays.unpack(layout, payload, lambda n, s: local[n])


def clear_prefix(prefix):
    """Delete every entry whose key starts with ``prefix`` (and the blobs they name)."""
    cache = current()
    removed = 0
    keys = set()
    for tier in cache.store.tiers:
        if hasattr(tier, "keys"):
            try:
                keys.update(k for k in tier.keys() if isinstance(k, str) and k.startswith(prefix))
            except Exception as exc:  # a tier that cannot list is skipped, like everywhere
                _log.info("fncache: cannot list the %s tier: %s", tier.name, exc)
    for key in sorted(keys):
        for tier in cache.store.tiers:
            try:
                data = tier.get(key)
                if data is not None:
                    for blob in arrays.blob_names(envelope.read_header(data).get("layout", [0])):
                        cache.store.delete(BLOB_PREFIX + blob)
                    break
            except Exception:
                continue  # a damaged entry has no blobs we can name; LRU removes them
        cache.store.delete(key)
        removed += 1
    return removed


# ---------------------------------------------------------------- memoizers
class _Memoized:
    """Shared call logic: key, look up, compute what is missing, store."""

    def __init__(self, options):
        self.options = options

    def _hasher(self, args, kwargs):
        """A ValueHasher fed with everything but the arguments (subclasses)."""
        raise NotImplementedError

    def _normalize(self, args, kwargs):
        return args, kwargs

    def __call__(self, *args, **kwargs):
        if settings.disabled:
            return self._compute(args, kwargs)
        args, kwargs = self._normalize(args, kwargs)
        if self.options.mode == "rows":
            return self._call_rows(args, kwargs)
        hasher = self._hasher(args, kwargs)
        _hash_arguments(hasher, args, kwargs)
        key = self.prefix + hasher.hexdigest()
        value = lookup(key)
        if value is not _MISS:
            counters.count("memo.hits")
            return self._from_entry(value)
        counters.count("memo.misses")
        started = time.perf_counter()
        entry = self._compute_entry(args, kwargs)
        seconds = time.perf_counter() - started
        return self._from_entry(store(key, entry, seconds, self.options, self.name))

    # pure mode: an entry is the result; replay overrides these two
    def _compute_entry(self, args, kwargs):
        return self._compute(args, kwargs)

    def _from_entry(self, entry):
        return entry

    # rows mode
    def _call_rows(self, args, kwargs):
        axis, batched = self.options.axis, self.options.batched
        if any(b >= len(args) for b in batched):
            raise MemoizeError("rows mode: %s takes the batched arguments %s positionally; got %d "
                               "arguments" % (self.name, list(batched), len(args)))
        rows = [np.asarray(args[b]) for b in batched]
        lengths = {r.shape[axis] if r.ndim > axis else None for r in rows}
        if len(lengths) != 1 or None in lengths:
            raise MemoizeError("rows mode: the batched arguments of %s must all have axis %d of "
                               "one length (got shapes %s)"
                               % (self.name, axis, [r.shape for r in rows]))
        n = lengths.pop()
        fixed = tuple(None if i in batched else a for i, a in enumerate(args))
        base = self._hasher(args, kwargs)
        base.update(("rows", axis, batched))
        _hash_arguments(base, fixed, kwargs)
        lead = (slice(None),) * axis
        keys, found = [], {}
        for i in range(n):
            hasher = base.copy()
            hasher.update(tuple(r[lead + (i,)] for r in rows))
            keys.append(self.prefix + hasher.hexdigest())
            value = lookup(keys[-1])
            if value is not _MISS:
                found[i] = value
        counters.count("memo.hits", len(found))
        counters.count("memo.misses", n - len(found))
        missing = [i for i in range(n) if i not in found]
        if missing:
            sub = list(args)
            for b, r in zip(batched, rows):
                sub[b] = np.take(r, missing, axis=axis)
            started = time.perf_counter()
            result = self._compute(tuple(sub), kwargs)
            seconds = (time.perf_counter() - started) / len(missing)
            kind, outputs = _as_outputs(result)
            for out in outputs:
                if not isinstance(out, np.ndarray) or out.ndim <= axis or \
                        out.shape[axis] != len(missing):
                    raise MemoizeError(
                        "rows mode: every output of %s must have the batch axis %d with one "
                        "row per input row (got %s for %d rows)"
                        % (self.name, axis, getattr(out, "shape", type(out).__name__),
                           len(missing)))
            for j, i in enumerate(missing):
                row = (kind, [np.array(out[lead + (j,)]) for out in outputs])
                found[i] = store(keys[i], row, seconds, self.options, self.name)
        if n == 0:
            return self._compute(args, kwargs)
        kind = found[0][0]
        stitched = [np.stack([found[i][1][k] for i in range(n)], axis=axis)
                    for k in range(len(found[0][1]))]
        for out in stitched:
            out.flags.writeable = False
        return stitched[0] if kind == "single" else (tuple(stitched) if kind == "tuple"
                                                     else stitched)

    def clear(self):
        """Delete this function's stored results; returns how many."""
        return clear_prefix(self.prefix)

    def __repr__(self):
        return "<memoized %s (%s)>" % (self.name, self.options.mode)


def _hash_arguments(hasher, args, kwargs):
    """Feed the call's arguments one by one, so an error names the argument.

    Keywords go in the order given: ``_normalize`` has put them in the order the function
    sees them (a ``**kwargs`` dict keeps the call's order, and code may read it in order).
    """
    hasher.update(len(args))
    for where, value in [("argument %d" % i, a) for i, a in enumerate(args)] + \
            [("argument %r" % name, v) for name, v in kwargs.items()]:
        try:
            hasher.update(value)
        except UnhashableValue as exc:
            exc.path[:1] = [where]
            raise
    hasher.update(list(kwargs))


def _as_outputs(result):
    if isinstance(result, list):
        return "list", result
    if isinstance(result, tuple):
        return "tuple", list(result)
    return "single", [result]


class MemoizedCompiledFunction(_Memoized):
    """A compiled function (of any backend) with memoized results; its attributes pass through."""

    def __init__(self, fn, options):
        super().__init__(options)
        self.fn = fn
        self.name = _label(fn)
        self.prefix = PREFIX + fn.fncache_key + ":"
        self.shared = fn.fncache_shared
        implicit = [i for i in fn.maker.inputs if i.implicit]
        self.updated = [var for var, spec in zip(self.shared, implicit) if spec.update is not None]
        # Explicit inputs with a default (In(x, value=...)): a call that leaves one out uses
        # the value in its container now, which f.value["x"] = ... (or f["x"] = ...) sets.
        # After every call Theano puts the refeed defaults back (a value set through f.value
        # serves one call); a hit must do the same.
        self.defaulted, self.refeed = fn.fncache_backend.input_defaults(fn)

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self._restore_defaults()

    def _restore_defaults(self):
        """What Theano's call does at its end (a miss has done it already; it is idempotent)."""
        for i, value in self.refeed:
            self.fn[i] = self.fn.fncache_backend.container_value(value)

    def _hasher(self, args, kwargs):
        hasher = ValueHasher(allow_pickle=self.options.allow_pickle)
        hasher.update(self.options.mode)
        hasher.update(self.shared)  # shared variables by type and value
        storage = self.fn.input_storage
        hasher.update([storage[i].storage[0] for i in self.defaulted if i >= len(args)])
        return hasher

    def _normalize(self, args, kwargs):
        return args, dict(sorted(kwargs.items()))  # keywords name inputs: their order is not seen

    def _compute(self, args, kwargs):
        return self.fn(*args, **kwargs)

    def _compute_entry(self, args, kwargs):
        outputs = self.fn(*args, **kwargs)
        if self.options.mode != "replay":
            return outputs
        return {"outputs": outputs, "shared": [v.get_value(borrow=False) for v in self.updated]}

    def _from_entry(self, entry):
        if self.options.mode != "replay" or not isinstance(entry, dict):
            return entry
        for var, value in zip(self.updated, entry["shared"]):
            var.set_value(value, borrow=False)  # a private, writable copy, as a real call leaves
        return entry["outputs"]

    def __getattr__(self, name):
        if name == "fn":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.fn, name)

    # Special methods are looked up on the type, never through __getattr__.
    def __getitem__(self, item):
        return self.fn[item]

    def __setitem__(self, item, value):
        self.fn[item] = value

    def __contains__(self, item):
        return item in self.fn


class MemoizedFunction(_Memoized):
    """A Python function whose results are memoized (``@fncache.memoize``)."""

    def __init__(self, func, options):
        if options.mode == "replay":
            raise MemoizeError("memoize mode 'replay' is for Theano functions with updates; "
                               "a Python function's side effects cannot be replayed")
        super().__init__(options)
        self.func = func
        self.name = "%s.%s" % (func.__module__, func.__qualname__)
        self.prefix = "%spy:%s:" % (PREFIX, self.name)
        self.signature = inspect.signature(func)
        kinds = [p.kind for p in self.signature.parameters.values()]
        # calls with exactly these positional arguments are already in canonical form
        self._plain_arity = len(kinds) if all(k == inspect.Parameter.POSITIONAL_OR_KEYWORD
                                              for k in kinds) else -1
        codekeys.fingerprint(func, options.ignore)  # walk now: errors show at decoration

    def _hasher(self, args, kwargs):
        fp = codekeys.fingerprint(self.func, self.options.ignore)
        hasher = ValueHasher(allow_pickle=self.options.allow_pickle)
        hasher.update((entry_format.FORMAT_VERSION, self.options.mode, fp.static))  # a new format, new keys
        fp.hash_reads(hasher)
        return hasher

    def _normalize(self, args, kwargs):
        if not kwargs and len(args) == self._plain_arity:
            return args, kwargs
        try:
            bound = self.signature.bind(*args, **kwargs)  # f(1, b=2) and f(1, 2) are one call
        except TypeError as exc:  # the call the function itself would refuse
            raise FncacheTypeError("%s(): %s" % (self.name, exc)) from None
        bound.apply_defaults()
        return bound.args, bound.kwargs

    def _compute(self, args, kwargs):
        return self.func(*args, **kwargs)


def _label(fn):
    """The function's name, or where the user made it (Theano names unnamed ones after us)."""
    if fn.name and "fncache" not in fn.name:
        return fn.name
    return "the function made at %s" % callsite.where()


def _impure_reason(fn):
    updated = [spec.variable for spec in fn.maker.inputs if spec.update is not None]
    if not updated:
        return None
    names = ", ".join(str(v.name or v.type) for v in updated[:5])
    return "it updates shared variables (%s%s): a hit would skip the updates" % (
        names, ", ..." if len(updated) > 5 else "")


def memoize_compiled(fn, options):
    """Memoize a function from ``fncache.function``; impure ones come back unwrapped."""
    if settings.disabled:
        return fn
    if getattr(fn, "fncache_key", None) is None:
        counters.count("memo.unkeyable")
        warnings.warn("fncache: %s is not memoized: its graph has no cache key (see "
                      "fncache.stats()['uncacheable'])" % _label(fn),
                      FncacheWarning, stacklevel=3)
        return fn
    reason = _impure_reason(fn)
    if reason and options.mode != "replay":
        counters.count("memo.impure")
        warnings.warn("fncache: %s is not memoized: %s. Pass memoize='replay' to store the new "
                      "shared values with the outputs and apply them on a hit."
                      % (_label(fn), reason), FncacheWarning, stacklevel=3)
        return fn
    if any(spec.update is not None and not spec.implicit for spec in fn.maker.inputs):
        warnings.warn("fncache: %s is not memoized: an explicit input has an update"
                      % _label(fn), FncacheWarning, stacklevel=3)
        return fn
    return MemoizedCompiledFunction(fn, options)


def memoize(func=None, *, mode="pure", axis=0, batched=(0,), max_bytes=None,
            min_seconds=DEFAULT_MIN_SECONDS, expire=None, allow_pickle=False, ignore=()):
    """Memoize a function's results by the values of its arguments and of what it reads.

    ``@memoize`` or ``@memoize(...)`` on a Python function, or ``memoize(fn)`` on a compiled
    function from ``fncache.function``. Options: ``mode`` 'pure' | 'replay' (Theano functions
    with updates) | 'rows' (row by row along ``axis`` of the arguments at positions
    ``batched``); ``max_bytes``: results larger than this are not stored; ``min_seconds``:
    results computed faster than this are not stored (default 1 ms); ``expire``: seconds
    an entry stays valid; ``allow_pickle``: hash unknown argument types by their pickle;
    ``ignore``: names of globals that cannot change the result (a logger).
    """
    options = Options(mode=mode, axis=axis, batched=batched, max_bytes=max_bytes,
                      min_seconds=min_seconds, expire=expire, allow_pickle=allow_pickle,
                      ignore=ignore)
    if func is None:
        return lambda f: _wrap(f, options)
    return _wrap(func, options)


def _wrap(func, options):
    if hasattr(type(func), "fncache_memoize"):  # a @cached_function
        return func.fncache_memoize(options)
    if hasattr(func, "maker") and hasattr(func, "fncache_key"):
        return memoize_compiled(func, options)
    if inspect.isfunction(func):
        return MemoizedFunction(func, options)
    raise MemoizeError("memoize takes a Python function or a function from fncache.function, "
                       "not %s" % type(func).__name__)


def is_memoized(fn):
    """True for what memoize() returns (a function whose results are stored)."""
    return isinstance(fn, _Memoized)


def clear(fn):
    """Delete every stored result of ``fn`` (a memoized function); returns how many were removed.

    Entries that exist only in a team tier that cannot list its keys are left to expire.
    """
    if isinstance(fn, _Memoized):
        return fn.clear()
    if hasattr(type(fn), "fncache_clear"):  # a @cached_function
        return fn.fncache_clear()
    if inspect.isfunction(fn):  # the undecorated function: its name is the prefix
        return clear_prefix("%spy:%s.%s:" % (PREFIX, fn.__module__, fn.__qualname__))
    raise MemoizeError("clear() takes a memoized function, not %s" % type(fn).__name__)
