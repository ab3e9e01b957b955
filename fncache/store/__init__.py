"""Where entries live: memory, local disk, and a team tier, behind one interface.

A tier maps a str key to bytes and knows nothing of Theano. ``Cache`` puts
the tiers named by the settings in order and keeps the directory's index
(entry records and statistics) beside them.

Who may write the directory decides how it is used (see shared.py): a
directory others can write is refused without a team secret (fncache warns
once and the run compiles without it), and with one when a part of it is a
symlink; a directory this user cannot write is read only, and a
group-writable one is written group-writable.
"""
import atexit
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import warnings

from fncache.observe import counters
from fncache.keys.digest import content_digest
from fncache.store import locks, peek, shared
from fncache.names import MEMO_BLOB_PREFIX, MODULE_PREFIX, RECORD
from fncache.store.disk import DiskStore, ReadOnlyCache, open_cache
from fncache.store.memory import MemoryStore
from fncache.errors import FncacheWarning
from fncache.store.tiered import TieredStore

ENTRIES = "entries"  # diskcache folder of the entries themselves
INDEX = "index"  # diskcache folder of entry records and statistics (never evicted)

# Blobs: side data stored beside entries and named by the digest of their bytes
# (compiled C modules, large memo arrays). They are not envelopes: the signed
# entries that use them list their digests.
_BLOB_DIGESTS = {MODULE_PREFIX: lambda data: hashlib.sha256(data).hexdigest(),
                 MEMO_BLOB_PREFIX: content_digest}


def is_blob(key):
    return key.startswith(tuple(_BLOB_DIGESTS))


def blob_intact(key, data):
    """Whether ``data`` matches the digest that names blob ``key``."""
    for prefix, digest in _BLOB_DIGESTS.items():
        if key.startswith(prefix):
            return digest(data) == key[len(prefix):]
    return False
_log = logging.getLogger("fncache.store")
_told = set()  # (what, where) this process has already warned or logged about
_opening = threading.local()  # .background: this thread opens the cache ahead of first use
_pending = []  # warnings of a background opening, given at the first use in the program

SECRET_HINT = ("set a team secret: export FNCACHE_SECRET=... in every process, or put it in a "
               "file only you can read (chmod 600 FILE) and export FNCACHE_SECRET_FILE=FILE")


def _tell_once(what, where, message, warn):
    if (what, where) in _told:
        return
    _told.add((what, where))
    if warn and getattr(_opening, "background", False):
        _pending.append(message)  # said where the program can see (and catch) it
    elif warn:
        warnings.warn(message, FncacheWarning, stacklevel=4)
    else:
        _log.info(message)


class Cache:
    """The tiers and index of one cache directory, as one process sees them.

    ``refused`` says why the directory is not used at all (None when it is);
    ``readonly`` is True when nothing is written anywhere; ``readonly_reason``
    says why nothing is written in the directory (None when it is written).
    """

    def __init__(self, settings):
        self.settings = settings
        self.directory = settings.directory
        self.memory = MemoryStore(max_bytes=settings.memory_limit)
        self.disk = self.index = self.redis = None
        self.readonly_reason = None
        self.shared = shared.is_group_shared(self.directory)
        writers = shared.other_writers(self.directory)
        planted = shared.planted_link(self.directory) if writers else None
        self.refused = planted or (None if settings.secret else writers)
        tiers = [self.memory]
        if self.refused:
            self.readonly_reason = "refused: " + self.refused
        if planted:
            _tell_once("refused", self.directory,
                       "fncache: not using the cache directory %s: %s, and other users can "
                       "write the directory (%s), so the link may lead this process to change "
                       "files elsewhere; remove it, or use another directory"
                       % (self.directory, planted, writers), warn=True)
        elif self.refused:
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
                                        compress=settings.redis_compress,
                                        secret=settings.secret)
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
        self._touched = {}  # key -> [hits, last used], written to the records at flush

    def _open_directory(self, settings):
        if settings.readonly:
            self.readonly_reason = "FNCACHE_READONLY is set"
        elif not shared.can_write(self.directory):
            self.readonly_reason = "this user cannot write it"
            _tell_once("readonly", self.directory, "fncache: %s is not writable by this user; "
                       "using it read-only" % self.directory, warn=False)
        else:
            try:
                self.disk = DiskStore(os.path.join(self.directory, ENTRIES),
                                      size_limit=settings.size_limit, shared=self.shared)
                self.index = open_cache(os.path.join(self.directory, INDEX), self.shared,
                                        eviction_policy="none", size_limit=1 << 40)
            except (OSError, sqlite3.Error) as exc:
                for part in (self.disk, self.index):
                    if part is not None:
                        part.close()
                self.readonly_reason = "it cannot be opened for writing (%s: %s)" % (
                    type(exc).__name__, exc)
                _tell_once("readonly", self.directory, "fncache: cannot open %s for writing "
                           "(%s: %s); using it read-only" % (self.directory, type(exc).__name__,
                                                             exc), warn=True)
        if self.readonly_reason is not None:
            self.disk = DiskStore(os.path.join(self.directory, ENTRIES), readonly=True)
            self.index = ReadOnlyCache(os.path.join(self.directory, INDEX))

    @property
    def _index_writable(self):
        return self.disk is not None and self.disk.writable

    # Entry records: what `fncache ls` shows without opening entries. JSON, never pickles.
    def record(self, key, info):
        """Record a new entry; best effort, since a full or read-only disk must not stop a run."""
        try:
            self.set_record(key, dict(info, created=time.time()))
        except (OSError, sqlite3.Error) as exc:
            self.index_failed(exc)

    def index_failed(self, exc, what="write"):
        """The index could not be written (or read): the run goes on; the tiers warn about
        the disk."""
        _tell_once("index-" + what, self.directory, "fncache: cannot %s the index of %s (%s: "
                   "%s); carrying on without it" % (what, self.directory, type(exc).__name__,
                                                    exc), warn=False)

    def set_record(self, key, record):
        """Write a whole record as given (imports keep the original times)."""
        if self._index_writable:
            self.index.set(RECORD + key, json.dumps(record), retry=True)

    def entry_info(self, key):
        if self.index is None:
            return None
        return _parse_record(self.index.get(RECORD + key, default=None, retry=True))

    def forget(self, key):
        if self._index_writable:
            self.index.delete(RECORD + key, retry=True)

    def records(self):
        """(key, record) for every entry record in the index."""
        if self.index is None:
            return
        for name in list(self.index.iterkeys()):
            if isinstance(name, str) and name.startswith(RECORD):
                record = _parse_record(self.index.get(name, default=None, retry=True))
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
                record = self.entry_info(key) or {}
                record["hits"] = record.get("hits", 0) + hits
                record["last_used"] = max(last_used, record.get("last_used", 0.0))
                self.set_record(key, record)

    def flush_stats(self):
        """Add this process's counts and hits to the index; best effort, like records."""
        if self._index_writable and (counters.pending() or self._touched):
            try:
                with shared.group_writable(self.shared):
                    counters.flush(self.index)
                    self._flush_touches()
            except (OSError, sqlite3.Error) as exc:
                self.index_failed(exc)
        if self._index_writable:
            try:  # what store.peek read without this tier: its place in the LRU order
                self.disk.used(peek.accessed(self.directory))
            except (OSError, sqlite3.Error) as exc:
                self.index_failed(exc)

    def databases(self):
        """(name, database) of the SQLite files this cache uses: entries, index."""
        return [(name, part.database if name == ENTRIES else part)
                for name, part in ((ENTRIES, self.disk), (INDEX, self.index)) if part is not None]

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
        snapshot = _snapshot(settings)  # before opening: a change made meanwhile reopens
        if _current is None or _current.settings_snapshot != snapshot:
            if _current is not None:
                _current.close()
            _current = Cache(settings)
            _current.settings_snapshot = snapshot
        cache = _current
    while _pending and not getattr(_opening, "background", False):
        warnings.warn(_pending.pop(0), FncacheWarning, stacklevel=3)
    return cache


def opened():
    """The Cache for the current settings if it is open already, else None; never waits
    (``current()`` may be opening it in the background)."""
    from fncache.config import settings
    cache = _current
    if cache is not None and getattr(cache, "settings_snapshot", None) == _snapshot(settings):
        return cache
    return None


def _parse_record(text):
    try:
        record = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def open_in_background():
    """Open the cache while the program builds its graphs.

    Opening the SQLite databases costs milliseconds that a cache hit would
    otherwise pay; a program always builds its graph between ``import fncache``
    and its first function. Only an existing directory is opened (a new one has
    nothing to hit), unless a Redis tier is set: a hit from Redis is written to
    the local directory, and making its databases (SQLite's syncs) takes longer
    than opening them. A failure is left for the first real use to report. A
    process that can change its user or group opens a directory others write at
    first use, as whoever it is by then.
    """
    from fncache.config import settings
    if not (os.path.isdir(os.path.join(settings.directory, ENTRIES))
            or (settings.redis_url and settings.secret)):
        return
    if (shared.may_change_identity() and os.path.isdir(settings.directory)
            and shared.other_writers(settings.directory) is not None):
        return  # it may drop privileges first: opened now, it would write there as who it is now

    def target():
        _opening.background = True
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
    """What reopens the cache when it changes: the settings marked so (config.SETTINGS), and
    who this process is (a program that drops privileges reads what it may, writes nothing
    it may not)."""
    return settings.snapshot() + (shared.identity(),)


@atexit.register
def _close_at_exit():
    from fncache.config import settings
    try:
        if _current is None and peek.pending(settings.directory):
            current()  # hits read without opening the cache: count them, mark them used
        if _current is not None:
            _current.close()
    except Exception:
        pass  # statistics are best effort at exit
