"""How a memo hit finds its result, and what it checks before using it.

The entry: the memory tier of the open cache, else the disk tier read through
``store.peek`` (one read-only connection, opened as the decorator runs: the first hit of a
process does not wait for the cache directory to open), else every tier. Its signature is
checked once per process; the checked entry (and each proven blob mapping) then serves the
process's later hits.

A blob (an array of 1 MB or more) is memory-mapped read-only and proven to be the one the
signed entry names before it is used: in a directory nobody else can write, by the file
identity (device, inode, size, mtime in ns) the entry recorded when the blob was written or
last proven; otherwise by its BLAKE3 digest over every byte, after which, in a private
directory, the entry is sealed again with the file's identity.
"""
import collections
import logging
import mmap  # noqa: F401  (np.memmap imports it at its first use: a disk hit should not)
import threading
import time
import warnings

import numpy as np

from fncache.config import settings
from fncache.errors import EntryRejected, FncacheWarning
from fncache.keys.digest import content_digest
from fncache.keys.values import ValueHasher
from fncache.names import MEMO, MEMO_BLOB_PREFIX
from fncache.observe import counters
from fncache.store import arrays, current, envelope, opened, peek

_log = logging.getLogger("fncache")
KIND = "memo"
PREFIX = MEMO
BLOB_PREFIX = MEMO_BLOB_PREFIX
MISS = object()


def _validator(key):
    def validate(data):
        header, payload = envelope.open_envelope(key, data, settings.secret)
        if header.get("kind") != KIND:
            raise EntryRejected("corrupt", "entry is a %s entry, not a memo" % header.get("kind"))
        return header, payload
    return validate


def _identity(st):
    """A file's identity: device, inode, size and modification time (ns)."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _read_blob(name, size, proven, reproven):
    """A blob's bytes: the memory tier's, a read-only map of the disk file, or another tier's.

    A mapped file is proven to be the blob the signed entry names before it is used: in a
    directory nobody else can write, by its identity matching the one the entry recorded
    (``proven``: name -> identity) when it was written or last checked; otherwise by its
    BLAKE3 digest, which reads every byte (``reproven`` gets the identity then, so the
    entry can record it).
    """
    key = BLOB_PREFIX + name
    mapped = _mapped.get(name)
    if mapped is not None:
        return mapped
    cache = opened()
    if cache is not None:
        data = cache.memory.get(key)
        if data is not None:
            return data
    reader = peek.reader(settings)
    found = reader.open(key) if reader is not None else None
    if found is not None:
        f, st = found
        with f:
            if st.st_size == size:
                mapped = np.memmap(f, dtype=np.uint8, mode="r", shape=(size,))
                if reader.private and proven.get(name) == _identity(st):
                    counters.count("memo.blob_by_identity")
                else:
                    if content_digest(mapped) != name:
                        current().store.delete(key)
                        raise arrays.BlobDamaged("blob %s does not match its digest" % name)
                    counters.count("memo.blob_by_digest")
                    if reader.private:
                        reproven[name] = _identity(st)
                counters.count("memo.mapped")
                _remember_mapped(name, mapped)  # the proven mapping serves later hits
                return mapped
    cache = current()
    try:
        path = cache.disk.path(key) if cache.disk in cache.store.tiers else None
        if path is not None:
            mapped = np.memmap(path, dtype=np.uint8, mode="r", shape=(size,))
            if content_digest(mapped) != name:
                cache.store.delete(key)
                raise arrays.BlobDamaged("blob %s does not match its digest" % name)
            counters.count("memo.blob_by_digest")
            counters.count("memo.mapped")
            _remember_mapped(name, mapped)  # the checked mapping serves later hits (no copy)
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


_prepared = []


def _prepare_reader():
    """Ready the hit path now, as a decorator runs, rather than at the first call: open the
    disk tier's read connection, and pay once the first-use costs of what a hit runs
    (BLAKE3, HMAC, JSON and unpickling an array: some 250 us in all)."""
    try:
        reader = peek.reader(settings)
        if reader is not None:
            reader.connect()
        if not _prepared:
            _prepared.append(True)
            hasher = ValueHasher()
            hasher.update((0, "pure", 1.0, np.zeros(1)))
            key = PREFIX + hasher.hexdigest()
            layout, payload, _ = arrays.pack(np.zeros(1))
            header, payload = _validator(key)(envelope.seal(key, {"kind": KIND}, payload,
                                                              settings.secret))
            arrays.unpack(layout, payload, None)
    except Exception:  # the first call will see it again, and fall back
        pass


# Entries and blob mappings this process has read and checked: later hits use them as they
# are (the bytes cannot change in this process), also before the cache is open.
_checked = collections.OrderedDict()  # key -> (entry bytes, (header, payload))
_CHECKED_ENTRIES, _CHECKED_BYTES = 1024, 64 << 20
_checked_bytes = [0]
_mapped = collections.OrderedDict()  # blob name -> proven read-only mapping
_checked_where = [None]  # the cache they were read from: (directory, Redis URL, secret)
_MAPPED_BLOBS = 256


_reads_lock = threading.Lock()


def _remember_checked(key, data, entry):
    _forget_checked(key)
    if len(data) > _CHECKED_BYTES // 4:
        return
    with _reads_lock:
        _checked[key] = (data, entry)
        _checked_bytes[0] += len(data)
        while len(_checked) > _CHECKED_ENTRIES or _checked_bytes[0] > _CHECKED_BYTES:
            _, (old, _) = _checked.popitem(last=False)
            _checked_bytes[0] -= len(old)


def _forget_checked(key):
    with _reads_lock:
        known = _checked.pop(key, None)
        if known is not None:
            _checked_bytes[0] -= len(known[0])


def forget_reads():
    """Forget the entries and mappings this process has read (the next hit reads the tiers
    again, as a fresh process would): for benchmarks and tests."""
    with _reads_lock:
        _checked.clear()
        _checked_bytes[0] = 0
        _mapped.clear()


def _remember_mapped(name, mapped):
    with _reads_lock:
        _mapped[name] = mapped
        while len(_mapped) > _MAPPED_BLOBS:
            _mapped.popitem(last=False)


def _entry(key, validate):
    """(header, payload) of ``key``'s valid entry, or None: the memory tier of the open cache,
    then the disk read without opening the cache (store.peek), then every tier."""
    where = (settings.directory, settings.redis_url, settings.secret)
    if where != _checked_where[0]:  # another cache: what was read from the last one is not here
        forget_reads()
        _checked_where[0] = where
    known = _checked.get(key)
    if known is not None:  # read and checked in this process already
        counters.count("memory.hits")
        return known[1]
    cache = opened()
    if cache is not None:
        data = cache.memory.get(key)
        if data is not None:
            try:
                entry = validate(data)
                counters.count("memory.hits")
                _remember_checked(key, data, entry)
                return entry
            except EntryRejected:
                pass  # the tiers' own path counts, warns and removes it
    reader = peek.reader(settings)
    data = reader.get(key) if reader is not None else None
    if data is not None:
        try:
            entry = validate(data)
        except EntryRejected:
            entry = None
        if entry is not None:
            counters.count("memory.misses")
            counters.count("disk.hits")
            if cache is not None:
                cache.memory.put(key, data)
            _remember_checked(key, data, entry)
            return entry
    entry, _ = current().store.get(key, validate)
    return entry


def lookup(key):
    """The stored result of ``key`` (arrays read-only), or MISS."""
    started = time.perf_counter()
    entry = _entry(key, _validator(key))
    if entry is None:
        return MISS
    header, payload = entry
    expire = header.get("expire")
    if expire is not None and time.time() > header.get("created", 0) + expire:
        counters.count("memo.expired")
        _forget_checked(key)
        current().store.delete(key)
        return MISS
    proven, reproven = header.get("blob_files") or {}, {}
    try:
        value = arrays.unpack(header["layout"], payload,
                              lambda n, s: _read_blob(n, s, proven, reproven))
    except arrays.BlobMissing:
        counters.count("memo.blob_missing")
        _forget_checked(key)
        return MISS
    except Exception as exc:  # damaged blob or unreadable pickle: a miss, never a crash
        _forget_checked(key)
        counters.count("rejected.corrupt")
        warnings.warn("fncache: ignoring a bad memo entry (%s: %s); it will be recomputed"
                      % (type(exc).__name__, exc), FncacheWarning, stacklevel=3)
        current().store.delete(key)
        return MISS
    if reproven:
        _record_identities(key, header, payload, reproven)
    counters.seconds("saved.memo", max(0.0, header.get("compute_seconds", 0.0)
                                       - (time.perf_counter() - started)))
    return value


def _record_identities(key, header, payload, identities):
    """Seal the entry again with the identities of blob files just proven by their digest,
    so the next process maps them without reading them (best effort)."""
    cache = current()
    if cache.disk is None or not cache.disk.writable:
        return
    header = dict(header, blob_files=dict(header.get("blob_files") or {}, **identities))
    try:
        cache.store.put(key, envelope.seal(key, header, payload, settings.secret))
    except Exception as exc:
        _log.info("fncache: cannot record the blob files of %s: %s", key, exc)


def _written_identities(cache, names):
    """{blob name: file identity} of the blob files just written, in a directory nobody else
    can write (elsewhere the digest is always checked, and nothing is recorded)."""
    reader = peek.reader(settings)
    if reader is None or not reader.private or cache.disk is None or not cache.disk.writable:
        return {}
    identities = {}
    for name in names:
        found = reader.open(BLOB_PREFIX + name)
        if found is not None:
            f, st = found
            f.close()
            identities[name] = _identity(st)
    return identities




def forget_prefix(prefix):
    """Forget what this process read of the entries whose keys start with ``prefix``."""
    with _reads_lock:
        mine = [k for k in _checked if k.startswith(prefix)]
    for key in mine:
        _forget_checked(key)
