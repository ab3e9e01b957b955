"""Where entries live: memory, local disk, and a team tier, behind one interface.

A tier maps a str key to bytes and knows nothing of Theano. ``Cache`` puts
the tiers named by the settings in order and keeps the directory's index
(entry records and statistics) beside them.
"""
import atexit
import functools
import os
import threading
import time

import diskcache

from fncache import counters
from fncache.store.disk import DiskStore
from fncache.store.memory import MemoryStore
from fncache.store.tiered import TieredStore

ENTRIES = "entries"  # diskcache folder of the entries themselves
INDEX = "index"  # diskcache folder of entry records and statistics (never evicted)
RECORD = "entry:"  # index key prefix of entry records


class Cache:
    """The tiers and index of one cache directory, as one process sees them."""

    def __init__(self, settings):
        self.settings = settings
        self.directory = settings.directory
        self.readonly = settings.readonly
        self.memory = MemoryStore(max_bytes=settings.memory_limit)
        tiers = [self.memory]
        self.disk = DiskStore(os.path.join(self.directory, ENTRIES),
                              size_limit=settings.size_limit, readonly=self.readonly)
        tiers.append(self.disk)
        self.store = TieredStore(tiers)
        self._lock = threading.Lock()
        self._touched = {}  # key -> [hits, last used], written to the records at flush

    @functools.cached_property
    def index(self):
        """Opened on first use: a cache hit never needs it (opening SQLite costs milliseconds)."""
        return diskcache.Cache(os.path.join(self.directory, INDEX),
                               eviction_policy="none", size_limit=1 << 40)

    # Entry records: what `fncache ls` shows without opening entries.
    def record(self, key, info):
        if not self.readonly:
            self.index.set(RECORD + key, dict(info, created=time.time()), retry=True)

    def entry_info(self, key):
        return self.index.get(RECORD + key, default=None, retry=True)

    def set_record(self, key, record):
        """Write a whole record as given (imports keep the original times)."""
        if not self.readonly:
            self.index.set(RECORD + key, dict(record), retry=True)

    def forget(self, key):
        if not self.readonly:
            self.index.delete(RECORD + key, retry=True)

    def records(self):
        """(key, record) for every entry record in the index."""
        for name in list(self.index.iterkeys()):
            if isinstance(name, str) and name.startswith(RECORD):
                record = self.index.get(name, default=None, retry=True)
                if record is not None:
                    yield name[len(RECORD):], record

    def touch(self, key):
        """Note a hit on ``key``: kept in memory, added to its record at flush.

        The hit path stays free of index writes; each key's record is written
        once per flush (at exit), however often the key was hit.
        """
        with self._lock:
            seen = self._touched.setdefault(key, [0, 0.0])
            seen[0] += 1
            seen[1] = time.time()

    def _flush_touches(self):
        with self._lock:
            touched, self._touched = self._touched, {}
        for key, (hits, last_used) in touched.items():
            with self.index.transact(retry=True):
                record = self.index.get(RECORD + key, default=None, retry=True) or {}
                record["hits"] = record.get("hits", 0) + hits
                record["last_used"] = max(last_used, record.get("last_used", 0.0))
                self.index.set(RECORD + key, record, retry=True)

    def flush_stats(self):
        if not self.readonly and (counters.pending() or self._touched):
            counters.flush(self.index)
            self._flush_touches()

    def close(self):
        try:
            self.flush_stats()
        finally:
            if "index" in self.__dict__:
                self.index.close()
            self.disk.close()


_current = None
_current_lock = threading.Lock()


def current():
    """The Cache for the current settings, opened on first use."""
    global _current
    from fncache.config import settings
    with _current_lock:
        if _current is None or _current.settings_snapshot != _snapshot(settings):
            if _current is not None:
                _current.close()
            _current = Cache(settings)
            _current.settings_snapshot = _snapshot(settings)
        return _current


def open_in_background():
    """Open the cache while the program builds its graphs.

    Opening the SQLite databases costs milliseconds that a cache hit would
    otherwise pay; a program always builds its graph between ``import fncache``
    and its first function. A failure here is left for the first real use to report.
    """
    def target():
        try:
            current()
        except Exception:
            pass
    threading.Thread(target=target, name="fncache-open", daemon=True).start()


def _forget_after_fork():
    """A forked child opens its own connections: SQLite handles must not cross a fork."""
    global _current, _current_lock
    _current, _current_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _snapshot(settings):
    return (settings.directory, settings.redis_url, settings.secret, settings.readonly,
            settings.size_limit, settings.memory_limit)


@atexit.register
def _close_at_exit():
    if _current is not None:
        try:
            _current.close()
        except Exception:
            pass  # statistics are best effort at exit
