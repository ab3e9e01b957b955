"""Where entries live: memory, local disk, and a team tier, behind one interface.

A tier maps a str key to bytes and knows nothing of Theano. ``Cache`` puts
the tiers named by the settings in order and keeps the directory's index
(entry records and statistics) beside them.

Who may write the directory decides how it is used (see shared.py): a
directory others can write is refused without a team secret (fncache warns
once and the run compiles without it), a directory this user cannot write is
read only, and a group-writable one is written group-writable.
"""
import atexit
import json
import logging
import os
import sqlite3
import threading
import time
import warnings

from fncache import counters
from fncache.store import locks, shared
from fncache.store.disk import DiskStore, ReadOnlyCache, open_cache
from fncache.store.memory import MemoryStore
from fncache.store.tiered import FncacheWarning, TieredStore

ENTRIES = "entries"  # diskcache folder of the entries themselves
INDEX = "index"  # diskcache folder of entry records and statistics (never evicted)
_log = logging.getLogger("fncache.store")
_told = set()  # (what, where) this process has already warned or logged about

SECRET_HINT = ("set a team secret: export FNCACHE_SECRET=... in every process, or put it in a "
               "file only you can read (chmod 600 FILE) and export FNCACHE_SECRET_FILE=FILE")


def _tell_once(what, where, message, warn):
    if (what, where) in _told:
        return
    _told.add((what, where))
    if warn:
        warnings.warn(message, FncacheWarning, stacklevel=4)
    else:
        _log.info(message)


class Cache:
    """The tiers and index of one cache directory, as one process sees them.

    ``refused`` says why the directory is not used at all (None when it is);
    ``readonly`` is True when nothing is written anywhere.
    """

    def __init__(self, settings):
        self.settings = settings
        self.directory = settings.directory
        self.memory = MemoryStore(max_bytes=settings.memory_limit)
        self.disk = self.index = self.redis = None
        self.shared = shared.is_group_shared(self.directory)
        self.refused = None if settings.secret else shared.other_writers(self.directory)
        tiers = [self.memory]
        if self.refused:
            _tell_once("refused", self.directory,
                       "fncache: not using the cache directory %s without a secret, because "
                       "other users can write it (%s), and loading an entry runs its code; %s"
                       % (self.directory, self.refused, SECRET_HINT), warn=True)
        else:
            self._open_directory(settings)
            tiers.append(self.disk)
        if settings.redis_url:
            if settings.secret:
                from fncache.store.redis import RedisStore
                self.redis = RedisStore(settings.redis_url, prefix=settings.redis_prefix,
                                        ttl=settings.redis_ttl, timeout=settings.redis_timeout,
                                        readonly=settings.readonly,
                                        compress=settings.redis_compress)
                tiers.append(self.redis)
            else:
                _tell_once("refused", settings.redis_url,
                           "fncache: not using the Redis tier %s without a secret: anyone who "
                           "can reach it can write entries, and loading an entry runs its code; "
                           "%s" % (settings.redis_url, SECRET_HINT), warn=True)
        self.readonly = not any(t.writable for t in tiers[1:])
        if self.disk is None or not self.disk.writable:
            locks.disable(self.directory)  # nothing to wait for: this process stores nothing here
        self.store = TieredStore(tiers)
        self._lock = threading.Lock()

    def _open_directory(self, settings):
        readonly = settings.readonly
        if not readonly and not shared.can_write(self.directory):
            readonly = True
        if not readonly:
            try:
                self.disk = DiskStore(os.path.join(self.directory, ENTRIES),
                                      size_limit=settings.size_limit, shared=self.shared)
                self.index = open_cache(os.path.join(self.directory, INDEX), self.shared,
                                        eviction_policy="none", size_limit=1 << 40)
            except (OSError, sqlite3.Error):
                readonly = True
        if readonly:
            if not settings.readonly:
                _tell_once("readonly", self.directory,
                           "fncache: %s is not writable by this user; using it read-only"
                           % self.directory, warn=False)
            self.disk = DiskStore(os.path.join(self.directory, ENTRIES), readonly=True)
            self.index = ReadOnlyCache(os.path.join(self.directory, INDEX))

    @property
    def _index_writable(self):
        return self.disk is not None and self.disk.writable

    # Entry records: what `fncache ls` shows without opening entries. JSON, never pickles.
    def record(self, key, info):
        if self._index_writable:
            self.index.set("entry:" + key, json.dumps(dict(info, created=time.time())),
                           retry=True)

    def entry_info(self, key):
        if self.index is None:
            return None
        record = self.index.get("entry:" + key, default=None, retry=True)
        try:
            return json.loads(record) if isinstance(record, str) else None
        except ValueError:
            return None

    def flush_stats(self):
        if self._index_writable:
            with shared.group_writable(self.shared):
                counters.flush(self.index)

    def close(self):
        try:
            self.flush_stats()
        finally:
            for part in (self.index, self.disk, self.redis):
                if part is not None:
                    part.close()


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


def _snapshot(settings):
    return (settings.directory, settings.redis_url, settings.redis_prefix, settings.redis_ttl,
            settings.redis_timeout, settings.redis_compress, settings.secret, settings.readonly,
            settings.size_limit, settings.memory_limit)


@atexit.register
def _close_at_exit():
    if _current is not None:
        try:
            _current.close()
        except Exception:
            pass  # statistics are best effort at exit
