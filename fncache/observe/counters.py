"""Counters and timings: kept in process, added to the cache directory's totals.

Counters are named ``<area>.<event>`` (``disk.hits``, ``compile.count``,
``rejected.corrupt``, ``uncacheable.<reason>``...). Seconds are kept as
integer milliseconds under names ending in ``_ms``. The process adds its
counts to the directory's persistent totals at exit (and on ``flush()``),
so ``fncache stats`` sums every process that ever used the directory.
"""
import collections
import threading

from fncache.names import STAT

_lock = threading.Lock()
_pending = collections.Counter()  # not yet added to the persistent totals
_session = collections.Counter()  # everything this process counted
PREFIX = STAT


def count(name, amount=1):
    with _lock:
        _pending[name] += amount
        _session[name] += amount


def seconds(name, value):
    count(name + "_ms", int(round(value * 1000)))


def session():
    with _lock:
        return dict(_session)


def pending():
    """Whether this process has counts not yet added to the totals."""
    with _lock:
        return bool(_pending)


def flush(disk_cache):
    """Add this process's pending counts to the totals kept in ``disk_cache``."""
    with _lock:
        pending = dict(_pending)
        _pending.clear()
    try:
        with disk_cache.transact(retry=True):
            for name, amount in pending.items():
                disk_cache.incr(PREFIX + name, amount, default=0, retry=True)
    except Exception:
        with _lock:  # keep them for the next try
            _pending.update(pending)
        raise


def totals(disk_cache):
    """Persistent totals from ``disk_cache`` plus what this process has not flushed."""
    result = collections.Counter()
    for key in disk_cache.iterkeys():
        if isinstance(key, str) and key.startswith(PREFIX):
            value = disk_cache.get(key, default=0, retry=True)
            if isinstance(value, int):
                result[key[len(PREFIX):]] += value
    with _lock:
        result.update(_pending)
    return dict(result)


def reset(disk_cache):
    for key in list(disk_cache.iterkeys()):
        if isinstance(key, str) and key.startswith(PREFIX):
            disk_cache.delete(key, retry=True)
    with _lock:
        _pending.clear()
        _session.clear()
