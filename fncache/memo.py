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
raw blobs, memory-mapped on a disk hit). A hit reads the disk tier through ``store.peek``
without waiting for the cache to open; an entry's signature is checked once per process and
a blob is proven to be the one its entry names (by the file identity the entry records, in a
directory only this user can write; by its digest elsewhere) before it is used.

A key remembers where each named part (the code, an argument, a global...) sits in its
encoding (``MemoKey``), so a miss can say what changed (``fncache.explain(fn)``, the miss log)
at no cost to a hit. Misses on one key compute once across processes (``store.locks``).

Returned arrays are read-only (zero-copy views of the cached bytes), on a hit and on a
miss alike, so code that works on the first run also works on the second and nobody can
change a cached value through a result. ``np.array(result)`` gives a writable copy.
"""
import collections
import inspect
import logging
import time
import warnings

import numpy as np

from fncache import callsite
from fncache.config import settings
from fncache.errors import FncacheError, FncacheTypeError, FncacheWarning
from fncache import format as entry_format
from fncache.keys import code as codekeys
from fncache.keys import explain as explaining
from fncache.keys.describe import describe_encoding
from fncache.keys.digest import content_digest
from fncache.keys.values import UnhashableValue, ValueHasher
from fncache.names import MEMO, MEMO_BLOB_PREFIX
from fncache.observe import counters, misslog
from fncache.memoread import forget_reads, lookup  # noqa: F401  (forget_reads: benchmarks)
from fncache.memoread import _prepare_reader, _written_identities
from fncache.store import arrays, current, envelope, locks
from fncache import memoread

_log = logging.getLogger("fncache")
KIND = memoread.KIND
PREFIX = MEMO
BLOB_PREFIX = MEMO_BLOB_PREFIX
MODES = ("pure", "replay", "rows")
DEFAULT_MIN_SECONDS = 0.001  # storing and hashing a result costs tens of microseconds
CHURN_WARNING = 2  # misses in a row on equal arguments, one global changing each time: warn
_MISS = memoread.MISS


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
def store(key, value, seconds, options, name, info=None):
    """Store ``value`` under ``key`` if the options allow; returns what the caller gets.

    ``info`` (where, parts, details of the key) goes in the entry's header, so that a later
    process can explain a miss against it."""
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
    header = dict(info or {}, kind=KIND, name=name, layout=layout, compute_seconds=seconds,
                  created=time.time(), expire=options.expire, size=size)
    if blobs:
        header["blob_files"] = _written_identities(cache, [b for b, _ in blobs])
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
    memoread.forget_prefix(prefix)
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


# ---------------------------------------------------------------- keys and their parts
class MemoKey:
    """A memo key, and where each named part of it sits in the key's encoding.

    ``spans`` lists (name, start, end, root): "code", "argument 'a'", "global 'SCALE' of f",
    "shared variable 'W'"..., with the global or closure name ``memoize(ignore=...)`` takes
    (root) for reads that have one. Part digests and short descriptions of the values are read
    off the encoding (large values are digests there), so keeping them costs a hit nothing.
    """

    __slots__ = ("key", "hasher", "spans", "code_parts", "_parts")

    def __init__(self, key, hasher, spans, code_parts=None):
        self.key, self.hasher, self.spans, self.code_parts = key, hasher, spans, code_parts
        self._parts = None

    @property
    def parts(self):
        """{part name: 16-hex digest}, in key order."""
        if self._parts is None:
            self._parts = {name: self.hasher.part_digest(start, end)[:16]
                           for name, start, end, _ in self.spans}
        return self._parts

    @property
    def details(self):
        """What explain shows: the values' descriptions and the code's pieces."""
        return {"memo": self.key.rsplit(":", 1)[0],
                "values": {name: describe_encoding(self.hasher.encoded(start, end))
                           for name, start, end, _ in self.spans if name != "code"},
                "code": dict(self.code_parts or {})}

    def roots(self):
        return {name: root for name, _, _, root in self.spans}


def _is_argument(name):
    return name == "code" or name.startswith(("argument ", "number of arguments",
                                              "keyword names", "mode"))


def _lock_name(key):
    """A lock file name for a memo key (keys hold dots and colons; digests do not)."""
    return "memo-" + content_digest(key.encode("utf-8"), keyed=False)


# ---------------------------------------------------------------- memoizers
class _Memoized:
    """Shared call logic: key, look up, compute what is missing, store."""

    where = "?"
    _code_parts = None

    def __init__(self, options):
        self.options = options
        self._last = None  # MemoKey of the last call
        self._last_miss = None  # (MemoKey of the call before, MemoKey) of the last miss
        self._churn = collections.Counter()  # root -> misses in a row it alone caused
        self._warned = set()
        self._fast = False  # the last result was computed faster than min_seconds

    def _hasher(self, args, kwargs, spans=None):
        """A ValueHasher fed with everything but the arguments (subclasses)."""
        raise NotImplementedError

    def _normalize(self, args, kwargs):
        return args, kwargs

    def _argument_names(self, count):
        return ["argument %d" % i for i in range(count)]

    def __call__(self, *args, **kwargs):
        if settings.disabled:
            return self._compute(args, kwargs)
        args, kwargs = self._normalize(args, kwargs)
        if self.options.mode == "rows":
            return self._call_rows(args, kwargs)
        spans = []
        hasher = self._hasher(args, kwargs, spans)
        _hash_arguments(hasher, args, kwargs, self._argument_names(len(args)), spans)
        key = MemoKey(self.prefix + hasher.hexdigest(), hasher, spans, self._code_parts)
        value = lookup(key.key)
        if value is not _MISS:
            counters.count("memo.hits")
            self._seen(key, True)
            return self._from_entry(value)
        return self._from_entry(self._fill(key, args, kwargs))

    def _fill(self, key, args, kwargs):
        """Compute and store a missed result; one process at a time per key (single flight:
        the others wait for its entry, at most ``wait_timeout``, then compute themselves)."""
        cache = current()
        if cache.readonly or self._fast:  # nothing will be stored: nothing to wait for
            return self._compute_and_store(key, args, kwargs)
        with locks.key_lock(cache.directory, _lock_name(key.key), settings.wait_timeout) as held:
            if held:  # another process may have stored it while we waited
                value = lookup(key.key)
                if value is not _MISS:
                    counters.count("memo.hits")
                    counters.count("memo.waited")
                    self._seen(key, True)
                    return value
            return self._compute_and_store(key, args, kwargs)

    def _compute_and_store(self, key, args, kwargs):
        counters.count("memo.misses")
        self._seen(key, False)
        started = time.perf_counter()
        entry = self._compute_entry(args, kwargs)
        seconds = time.perf_counter() - started
        self._fast = seconds < self.options.min_seconds
        return store(key.key, entry, seconds, self.options, self.name,
                     {"where": self.where, "parts": key.parts, "details": key.details})

    def _seen(self, key, hit):
        """Remember the call for explain; on a miss, log it and warn about a churning global."""
        previous, self._last = self._last, key
        if hit:
            self._churn.clear()
            return
        self._last_miss = (previous, key)
        try:
            explaining.register_memo(key.key, key.parts, lambda: key.details)
            if settings.miss_log:
                cache = current()
                misslog.record(cache, key, {"kind": KIND, "name": self.name,
                                            "where": self.where})
        except Exception as exc:  # explaining is a bonus; the call goes on
            _log.info("fncache: cannot log the memo miss of %s: %s", self.name, exc)
        if previous is None or previous.key.rsplit(":", 1)[0] != key.key.rsplit(":", 1)[0]:
            return
        old, new = previous.parts, key.parts
        changed = [name for name in new if old.get(name) != new[name]]
        if any(_is_argument(name) for name in changed) or set(old) != set(new):
            self._churn.clear()
            return
        roots = key.roots()
        churning = {roots[name] for name in changed if roots.get(name)}
        for root in list(self._churn):
            if root not in churning:
                del self._churn[root]
        for root in sorted(churning):
            self._churn[root] += 1
            if self._churn[root] >= CHURN_WARNING and root not in self._warned:
                self._warned.add(root)
                label = next(name for name in changed if roots.get(name) == root)
                warnings.warn(
                    "fncache: %s missed %d times in a row on equal arguments because %s "
                    "changed each time (its value is part of the memo key, so no result is "
                    "reused). If it cannot change the result, leave it out: "
                    "memoize(ignore=(%r,)); fncache.explain(fn) says what changed"
                    % (self.name, self._churn[root] + 1, label, root),
                    FncacheWarning, stacklevel=5)

    def explain_last_miss(self):
        """(MemoKey before, MemoKey) of the last miss; the first is None for a first call."""
        return self._last_miss

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


def _hash_arguments(hasher, args, kwargs, names=None, spans=None):
    """Feed the call's arguments one by one, so an error names the argument.

    Keywords go in the order given: ``_normalize`` has put them in the order the function
    sees them (a ``**kwargs`` dict keeps the call's order, and code may read it in order).
    ``spans`` (a list) gets each argument's (name, start, end, None), ``names`` naming them.
    """
    tell = hasher.tell
    start = tell()
    hasher.update(len(args))
    if spans is not None:
        spans.append(("number of arguments", start, tell(), None))
    for i, value in enumerate(args):
        start = tell()
        try:
            hasher.update(value)
        except UnhashableValue as exc:
            exc.path[:1] = ["argument %d" % i]
            raise
        if spans is not None:
            spans.append((names[i] if names else "argument %d" % i, start, tell(), None))
    for name, value in kwargs.items():
        start = tell()
        try:
            hasher.update(value)
        except UnhashableValue as exc:
            exc.path[:1] = ["argument %r" % name]
            raise
        if spans is not None:
            spans.append(("argument %r" % name, start, tell(), None))
    start = tell()
    hasher.update(list(kwargs))
    if spans is not None and kwargs:
        spans.append(("keyword names", start, tell(), None))


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
        self.where = callsite.where()
        explicit = [spec for spec in fn.maker.inputs if not spec.implicit]
        self._input_names = ["argument %r" % (spec.name or getattr(spec.variable, "name", None)
                                               or i) for i, spec in enumerate(explicit)]

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self._restore_defaults()

    def _restore_defaults(self):
        """What Theano's call does at its end (a miss has done it already; it is idempotent)."""
        for i, value in self.refeed:
            self.fn[i] = self.fn.fncache_backend.container_value(value)

    def _argument_names(self, count):
        names = self._input_names[:count]
        return names + ["argument %d" % i for i in range(len(names), count)]

    def _hasher(self, args, kwargs, spans=None):
        hasher = ValueHasher(allow_pickle=self.options.allow_pickle)
        start = hasher.tell()
        hasher.update(self.options.mode)
        hasher.update(len(self.shared))
        if spans is not None:
            spans.append(("mode", start, hasher.tell(), None))
        for i, var in enumerate(self.shared):  # shared variables by type and value
            start = hasher.tell()
            hasher.update(var)
            if spans is not None:
                spans.append(("shared variable %r" % (var.name or i), start, hasher.tell(), None))
        storage = self.fn.input_storage
        start = hasher.tell()
        hasher.update([storage[i].storage[0] for i in self.defaulted if i >= len(args)])
        if spans is not None and self.defaulted:
            spans.append(("values of the inputs' defaults", start, hasher.tell(), None))
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
        self.where = "%s:%d" % (func.__module__, func.__code__.co_firstlineno)
        self.prefix = "%spy:%s:" % (PREFIX, self.name)
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        self._positional = [p.name for p in params if p.kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        self._star = next((p.name for p in params
                           if p.kind == inspect.Parameter.VAR_POSITIONAL), "args")
        self._names = {}  # argument count -> the arguments' names
        kinds = [p.kind for p in self.signature.parameters.values()]
        # calls with exactly these positional arguments are already in canonical form
        self._plain_arity = len(kinds) if all(k == inspect.Parameter.POSITIONAL_OR_KEYWORD
                                              for k in kinds) else -1
        codekeys.fingerprint(func, options.ignore)  # walk now: errors show at decoration
        _prepare_reader()

    def _argument_names(self, count):
        names = self._names.get(count)
        if names is None:
            names = ["argument %r" % n for n in self._positional[:count]]
            names += ["argument '*%s[%d]'" % (self._star, i) for i in range(count - len(names))]
            self._names[count] = names
        return names

    def _hasher(self, args, kwargs, spans=None):
        fp = codekeys.fingerprint(self.func, self.options.ignore)
        self._code_parts = fp.static_parts
        hasher = ValueHasher(allow_pickle=self.options.allow_pickle)
        hasher.update((entry_format.FORMAT_VERSION, self.options.mode, fp.static))  # a new format, new keys
        if spans is not None:
            spans.append(("code", 0, hasher.tell(), None))
        fp.hash_reads(hasher, spans)
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
