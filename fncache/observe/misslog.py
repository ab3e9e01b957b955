"""The miss log: why was this function compiled again?

Opt-in (``FNCACHE_MISS_LOG=1`` or ``configure(miss_log=True)``) because it
writes on every compile miss. Each miss keeps the key, the function's name and
place, and the key's named parts with their details (when small enough), so
``fncache explain --last-miss`` can diff it, after the fact and from another
process, against the nearest earlier key of the same function. Bounded: the
newest ``MAX_MISSES`` are kept.
"""
import json
import os
import time

from fncache.names import MISS

MAX_MISSES = 64
MAX_DETAILS_BYTES = 512 * 1024  # larger graphs are logged by part digests only
PREFIX = MISS


def record(cache, sig, info):
    """Log one compile miss of ``sig`` (a GraphSignature) into ``cache``'s index."""
    if cache.readonly or cache.index is None:
        return
    details = None
    try:
        text = json.dumps(sig.details)
        if len(text) <= MAX_DETAILS_BYTES:
            details = json.loads(text)
    except (TypeError, ValueError):
        details = None  # the parts alone still say which part differs
    entry = {"key": sig.key, "name": info.get("name") or "", "where": info.get("where") or "?",
             "kind": info.get("kind") or "", "time": time.time(), "pid": os.getpid(),
             "parts": dict(sig.parts), "details": details}
    name = "%s%020d:%d" % (PREFIX, time.time_ns(), os.getpid())
    cache.index.set(name, json.dumps(entry), retry=True)  # never pickles: see store/disk.py
    names = _names(cache)
    for old in names[:-MAX_MISSES]:
        cache.index.delete(old, retry=True)


def _names(cache):
    if cache.index is None:
        return []
    return sorted(k for k in cache.index.iterkeys() if isinstance(k, str) and k.startswith(PREFIX))


def misses(cache):
    """Logged misses, oldest first."""
    found = []
    for name in _names(cache):
        text = cache.index.get(name, default=None, retry=True)
        try:
            entry = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            found.append(entry)
    return found


def clear(cache):
    for name in _names(cache):
        cache.index.delete(name, retry=True)
