"""fncache.stats(): the numbers people ask of a cache, per tier and in total."""
import time

from fncache import counters, unloadable
from fncache.store import current, is_blob

TIERS = ("memory", "disk", "redis")
SINCE = "meta:stats_since"  # index key: when the totals were last reset


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
    raw = counters.session() if session_only or cache.index is None else counters.totals(cache.index)
    tiers = {}
    for name in TIERS:
        hits, misses = raw.get(name + ".hits", 0), raw.get(name + ".misses", 0)
        tiers[name] = {"hits": hits, "misses": misses, "errors": raw.get(name + ".errors", 0),
                       "hit_rate": hits / (hits + misses) if hits + misses else None}
    tiers["memory"].update(entries=len(cache.memory), bytes=cache.memory.total_bytes)
    if cache.disk is not None:
        keys = [k for k in cache.disk.keys() if isinstance(k, str)]
        blobs = sum(1 for k in keys if is_blob(k))
        tiers["disk"].update(entries=len(keys) - blobs, blobs=blobs, bytes=cache.disk.total_bytes)
    if cache.refused:
        access = "refused: " + cache.refused
    elif cache.disk.writable:
        access = "shared" if cache.shared else "read-write"
    else:
        access = "read-only"
    rejected = {k.split(".", 1)[1]: v for k, v in raw.items() if k.startswith("rejected.")}
    hits = raw.get("compiled.hits", 0) + raw.get("memo.hits", 0)
    misses = raw.get("compile.count", 0) + raw.get("memo.misses", 0)
    return {
        "directory": cache.directory,
        "access": access,
        "since": (None if session_only or cache.index is None
                  else cache.index.get(SINCE, default=None, retry=True)),
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
        "unloadable": sorted(unloadable.remembered(cache)),  # keys compiled without storing
    }
