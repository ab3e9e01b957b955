"""fncache.stats(): the numbers people ask of a cache, per tier and in total.

Reading the directory's totals is best effort, like writing them: when its
index cannot be read (a full disk can fail reads too) the answer holds this
process's own counts, and ``"totals"`` says so.
"""
import sqlite3
import time

from fncache.observe import counters

from fncache.compiled import unloadable
from fncache.store import current, is_blob
from fncache.names import META

TIERS = ("memory", "disk", "redis")
SINCE = META + "stats_since"  # index key: when the totals were last reset


def reset():
    """Set the directory's totals back to zero, remembering when."""
    cache = current()
    if cache.readonly or cache.index is None:
        raise PermissionError("the cache directory %s is read-only here; its statistics "
                              "cannot be reset" % cache.directory)
    counters.reset(cache.index)
    cache.index.set(SINCE, time.time(), retry=True)


def stats(session_only=False):
    """Hits, misses, bytes and seconds saved, per tier and in total.

    Totals cover every process that used the cache directory (``session_only``:
    just this process). Times are in seconds.
    """
    cache = current()
    raw, since, totals = counters.session(), None, "this process"
    if not session_only and cache.index is not None:
        try:
            raw = counters.totals(cache.index)
            since = cache.index.get(SINCE, default=None, retry=True)
            totals = "directory"
        except (OSError, sqlite3.Error) as exc:
            cache.index_failed(exc, "read")
    tiers = _tiers(raw)
    tiers["memory"].update(entries=len(cache.memory), bytes=cache.memory.total_bytes)
    if cache.disk is not None:
        try:
            keys = [k for k in cache.disk.keys() if isinstance(k, str)]
            blobs = sum(1 for k in keys if is_blob(k))
            tiers["disk"].update(entries=len(keys) - blobs, blobs=blobs,
                                 bytes=cache.disk.total_bytes)
        except (OSError, sqlite3.Error) as exc:
            cache.index_failed(exc, "read")
    if cache.refused:
        access = "refused: " + cache.refused
    elif cache.disk.writable:
        access = "shared" if cache.shared else "read-write"
    else:
        access = "read-only"
    return _summary(raw, cache.directory, access, since, totals, tiers,
                    sorted(unloadable.remembered(cache)))


def empty(directory):
    """What ``stats()`` says of a cache directory that does not exist yet (nothing at all)."""
    tiers = _tiers({})
    tiers["memory"].update(entries=0, bytes=0)
    tiers["disk"].update(entries=0, blobs=0, bytes=0)
    return _summary({}, directory, "not created yet", None, "directory", tiers, [])


def _tiers(raw):
    tiers = {}
    for name in TIERS:
        hits, misses = raw.get(name + ".hits", 0), raw.get(name + ".misses", 0)
        tiers[name] = {"hits": hits, "misses": misses, "errors": raw.get(name + ".errors", 0),
                       "hit_rate": hits / (hits + misses) if hits + misses else None}
    return tiers


def _summary(raw, directory, access, since, totals, tiers, unloadable_keys):
    rejected = {k.split(".", 1)[1]: v for k, v in raw.items() if k.startswith("rejected.")}
    hits = raw.get("compiled.hits", 0) + raw.get("memo.hits", 0)
    misses = raw.get("compile.count", 0) + raw.get("memo.misses", 0)
    return {
        "directory": directory,
        "access": access,
        "since": since,
        "totals": totals,
        "total": {"hits": hits, "misses": misses,
                  "hit_rate": hits / (hits + misses) if hits + misses else None,
                  "seconds_saved": (raw.get("saved.compile_ms", 0)
                                    + raw.get("saved.memo_ms", 0)) / 1000.0,
                  "entries_rejected": sum(rejected.values())},
        "tiers": tiers,
        "compiled": {"hits": raw.get("compiled.hits", 0),
                     "compiles": raw.get("compile.count", 0),
                     "compile_seconds": raw.get("compile_ms", 0) / 1000.0,
                     "load_seconds": raw.get("load_ms", 0) / 1000.0,
                     "seconds_saved": raw.get("saved.compile_ms", 0) / 1000.0},
        "memo": {"hits": raw.get("memo.hits", 0), "misses": raw.get("memo.misses", 0),
                 "seconds_saved": raw.get("saved.memo_ms", 0) / 1000.0},
        "rejected": rejected,
        "uncacheable": {k.split(".", 1)[1]: v for k, v in raw.items()
                        if k.startswith("uncacheable.")},
        "unloadable": unloadable_keys,  # keys compiled without storing
    }
