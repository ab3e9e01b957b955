"""What is in a cache directory, and keeping it clean: list, find, verify, prune, clear.

Works on the local disk tier's keys and the index's entry records, never by
unpickling: an entry's envelope header (read without trusting it) fills in
what a record lacks, and ``verify`` checks MACs with ``envelope.open_envelope``.
Any kind of entry (compiled functions, memo results, ...) is handled alike:
its kind, name and place come from what its writer recorded.
"""
import fnmatch
import time

from fncache.observe import misslog

from fncache.compiled import unloadable
from fncache.errors import EntryRejected, FncacheError, FncacheValueError, UnknownKeyError
from fncache.store import ENTRIES, blob_intact, envelope, is_blob

DAMAGED_DATABASE = "damaged-database"
_FIELDS = ("kind", "backend", "name", "where", "compile_seconds", "compute_seconds", "created",
           "graph", "parts")


class ReadOnlyError(FncacheError, PermissionError):
    """The cache directory is read-only; the command would have to write to it."""


def _usable(cache):
    """The disk tier, or ReadOnlyError when the directory is refused (it is not opened at all)."""
    if cache.disk is None:
        raise ReadOnlyError("fncache does not use the cache at %s (%s)"
                            % (cache.directory, cache.readonly_reason))
    return cache.disk


def _writable(cache):
    if not _usable(cache).writable:
        raise ReadOnlyError("the cache at %s is read-only here (%s); nothing was changed"
                            % (cache.directory, cache.readonly_reason))


def _cost_seconds(record):
    """What one hit saves: compile seconds for functions, compute seconds for results."""
    for field in ("compile_seconds", "compute_seconds", "seconds"):
        value = record.get(field)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def entry(cache, key, record=None, data=None):
    """One entry as a plain dict: key, kind, name, where, size, hits, seconds saved,
    times, graph summary and key parts."""
    record = dict(record if record is not None else (cache.entry_info(key) or {}))
    if data is None and (record.get("size") is None or "kind" not in record):
        data = cache.disk.get(key)
    if data is not None and "kind" not in record:
        try:
            header = envelope.read_header(data)
        except (EntryRejected, ValueError):
            header = {"kind": "damaged"}
        for field in _FIELDS:
            if field in header:
                record.setdefault(field, header[field])
    size = record.get("size")
    if size is None:
        size = len(data) if data is not None else 0
    hits = int(record.get("hits", 0))
    cost = _cost_seconds(record)
    backend = record.get("backend") or ("theano" if record.get("kind") == "compiled" else "-")
    return {"key": key, "kind": record.get("kind") or "?", "backend": backend,
            "name": record.get("name") or "",
            "where": record.get("where") or "?", "size": int(size), "hits": hits,
            "saves_seconds": cost, "saved_seconds": cost * hits,
            "created": record.get("created"), "last_used": record.get("last_used"),
            "graph": record.get("graph"), "parts": record.get("parts")}


SORTS = {
    "size": lambda e: -e["size"],
    "hits": lambda e: -e["hits"],
    "saved": lambda e: -e["saved_seconds"],
    "age": lambda e: e["created"] or 0.0,
    "used": lambda e: -(e["last_used"] or e["created"] or 0.0),
    "name": lambda e: (e["name"], e["where"]),
}


def entries(cache, sort="size", name=None):
    """Every entry on the local disk tier, as dicts (see ``entry``), sorted."""
    if sort not in SORTS:
        raise FncacheValueError("sort must be one of %s, not %r" % (", ".join(SORTS), sort))
    records = dict(cache.records())
    found = []
    for key in entry_keys(cache):
        e = entry(cache, key, records.get(key))
        if name is None or fnmatch.fnmatchcase(e["name"], name):
            found.append(e)
    return sorted(found, key=SORTS[sort])


def entry_keys(cache):
    """Keys of the entries on the local disk tier (not the blobs they use)."""
    return [k for k in _usable(cache).keys() if isinstance(k, str) and not is_blob(k)]


def find(cache, prefix):
    """The one key that starts with ``prefix`` (entries, records and logged misses)."""
    if not isinstance(prefix, str) or not prefix.strip():
        raise UnknownKeyError("a key or key prefix is required")
    prefix = prefix.strip()
    keys = set(entry_keys(cache))
    keys.update(k for k, _ in cache.records())
    keys.update(m["key"] for m in misslog.misses(cache))
    keys.update(unloadable.remembered(cache))
    matches = sorted(k for k in keys  # a memo key also by its digest, as listings show it
                     if k.startswith(prefix) or k.split(":", 1)[-1].startswith(prefix)
                     or k.rsplit(":", 1)[-1].startswith(prefix))
    if not matches:
        raise UnknownKeyError("no entry in %s has a key starting with %r"
                              % (cache.directory, prefix))
    if len(matches) > 1:
        raise UnknownKeyError("%r matches %d keys (%s...); give more characters"
                              % (prefix, len(matches), ", ".join(m[:16] for m in matches[:3])))
    return matches[0]


def verify(cache, secret=None, fix=False):
    """Check both SQLite databases, and every entry's envelope and MAC; with ``fix``
    set damaged databases aside and remove the damaged entries.

    Blobs (compiled modules, large memo arrays) are checked against the digest
    that names them. Returns ``{"checked", "ok"`` (entries), ``"blobs", "damaged":
    [{key, reason, message}], "other_version", "stale_records", "removed"}``; a
    damaged database is a row with reason 'damaged-database' and its path as key
    (its entries are not checked until it is repaired). Entries of another
    fncache format version are counted, neither damage nor removed: that version
    may still be using them. Stale records describe entries the disk tier no
    longer holds (evicted); ``fix`` removes them too, but they are not damage, and
    the value files no row names (``"orphan_files_removed"``).
    """
    if fix:
        _writable(cache)
    _usable(cache)
    damaged, broken = _databases(cache, fix)
    keys = [] if ENTRIES in broken else [k for k in cache.disk.keys() if isinstance(k, str)]
    other_version = 0
    for key in keys:
        data = cache.disk.get(key)
        if data is None:
            continue  # removed by another process meanwhile
        if is_blob(key):
            if not blob_intact(key, data):
                damaged.append({"key": key, "reason": "corrupt",
                                "message": "blob does not match the digest that names it"})
            continue
        try:
            envelope.open_envelope(key, data, secret)
        except EntryRejected as exc:
            if exc.reason == "version-mismatch":
                other_version += 1  # another fncache version's entry: not damage, not ours to remove
                continue
            damaged.append({"key": key, "reason": exc.reason, "message": str(exc)})
    present = set(keys)
    stale = ([] if broken else [k for k, _ in cache.records() if k not in present])
    removed = 0
    orphans = 0
    if fix:
        for bad in damaged:
            if bad["reason"] != DAMAGED_DATABASE:
                _remove(cache, bad["key"])
                removed += 1
        for key in stale:
            cache.forget(key)
        orphans = cache.disk.database.remove_orphans()
    entries_checked = sum(1 for k in keys if not is_blob(k))
    bad_entries = sum(1 for d in damaged if d["reason"] != DAMAGED_DATABASE
                      and not is_blob(d["key"]))
    return {"checked": entries_checked, "ok": entries_checked - other_version - bad_entries,
            "blobs": len(keys) - entries_checked, "damaged": damaged,
            "other_version": other_version, "stale_records": len(stale), "removed": removed,
            "orphan_files_removed": orphans}


def _databases(cache, fix):
    """Damage in the SQLite files: what this process set aside, and what is still there.

    Returns (rows for ``verify``'s damaged list, names of databases still damaged).
    """
    rows, broken = [], set()
    for name, db in cache.databases():
        problem = db.integrity()
        if problem is not None and fix:
            db.set_aside(problem)
            problem = None
        while db.repairs:
            repair = db.repairs.pop(0)
            rows.append({"key": repair["database"], "reason": DAMAGED_DATABASE,
                         "message": "%s; set aside as %s and a new one started"
                                    % (repair["reason"], repair["set_aside"])})
        if problem is not None:
            broken.add(name)
            rows.append({"key": db.db_path, "reason": DAMAGED_DATABASE,
                         "message": "%s; `fncache --dir %s verify --fix` sets it aside and "
                                    "starts a new one" % (problem, cache.directory)})
    return rows, broken


def _remove(cache, key):
    cache.disk.delete(key)
    cache.memory.delete(key)
    cache.forget(key)


def prune(cache, max_size=None, older_than=None, unused_for=None, dry_run=False, now=None):
    """Remove entries older than ``older_than`` seconds, unused for ``unused_for``
    seconds, then the least recently used until the disk tier holds at most
    ``max_size`` bytes. Returns ``{"removed": [entries], "freed", "kept", "bytes"}``."""
    if max_size is None and older_than is None and unused_for is None:
        raise FncacheValueError("prune needs --max-size, --older-than or --unused-for")
    if not dry_run:
        _writable(cache)
    now = time.time() if now is None else now
    listed = entries(cache, sort="used")  # most recently used first
    doomed, kept = [], []
    for e in listed:
        created = e["created"] or 0.0
        used = e["last_used"] or created
        if older_than is not None and created < now - older_than:
            doomed.append(e)
        elif unused_for is not None and used < now - unused_for:
            doomed.append(e)
        else:
            kept.append(e)
    if max_size is not None:
        total = sum(e["size"] for e in kept)
        while kept and total > max_size:
            e = kept.pop()  # least recently used
            total -= e["size"]
            doomed.append(e)
    if not dry_run:
        for e in doomed:
            _remove(cache, e["key"])
    return {"removed": doomed, "freed": sum(e["size"] for e in doomed),
            "kept": len(kept), "bytes": sum(e["size"] for e in kept)}


def clear(cache):
    """Remove every entry, record, logged miss and unloadable key (statistics are kept)."""
    _writable(cache)
    n = len(entry_keys(cache))
    cache.disk.clear()
    cache.memory.clear()
    for key, _ in list(cache.records()):
        cache.forget(key)
    misslog.clear(cache)
    unloadable.forget_all(cache)
    return n
