"""Local disk tier on diskcache: atomic entries, size limit, LRU eviction.

diskcache writes a large value to its own file and then commits the index
row in one SQLite transaction, so a reader in another process sees either
the whole entry or none of it, even if the writer is killed midway.

fncache stores only str keys and bytes, ints and str values, so nothing read
from a cache directory is ever unpickled here: in a shared directory a row
could have been written by anyone (``SafeDisk``), and value files are opened
without following a symlink below the folder. A read-only user opens the
database read-only and never changes a file (``ReadOnlyCache``).

Every write gives up (``SafeCache``): diskcache's ``retry=True`` would retry
``BEGIN IMMEDIATE`` forever, even on a full disk; here only a database locked by
another process is waited for, at most the connection's timeout. A damaged
database (SQLite's "malformed" or "not a database") is set aside as
``cache.db.damaged-<time>`` and a new one started, with one warning.
"""
import contextlib
import fcntl
import os
import re
import sqlite3
import threading
import time
import warnings

import diskcache
from diskcache.core import MODE_BINARY, MODE_PICKLE, MODE_RAW, MODE_TEXT, UNKNOWN

from fncache.errors import FncacheError, FncacheWarning
from fncache.store.shared import (DB_FILES, group_writable, make_dirs, open_below, remove_below,
                                  share_file)

_FILENAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{28}\.val")
_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
_warned = set()


def _warn(message):
    warnings.warn(message, FncacheWarning, stacklevel=3)


def _foreign(directory, what):
    """Warn once per directory about a row fncache never writes, and ignore it."""
    if directory not in _warned:
        _warned.add(directory)
        _warn("fncache: ignoring %s in %s; fncache never writes one, so someone else "
              "wrote to this cache directory" % (what, directory))
    return None


class DamagedDatabase(FncacheError, sqlite3.DatabaseError):
    """A cache database is damaged and could not be set aside here."""


def is_damage(exc):
    """True for SQLite's errors about a damaged file (not a locked or full one)."""
    return (isinstance(exc, sqlite3.DatabaseError)
            and (getattr(exc, "sqlite_errorcode", 0) & 0xFF in _DAMAGED
                 or str(exc) in ("database disk image is malformed", "file is not a database")))


def repair_hint(db):
    folder = os.path.dirname(os.path.dirname(db))
    return ("a user who can write %s can run `fncache --dir %s verify --fix` (or remove %s)"
            % (os.path.dirname(db), folder, db))


class SafeDisk(diskcache.Disk):
    """diskcache's Disk, minus unpickling and minus file names outside the directory.

    Value files are created, read and removed through ``open_below``: no
    symlink below the folder is followed.
    """

    def get(self, key, raw):
        if not raw:
            return _foreign(self._directory, "a pickled key")
        return super().get(key, raw)

    def store(self, value, read, key=UNKNOWN):
        if read or type(value) not in (bytes, str) or len(value) < self.min_file_size:
            return super().store(value, read, key)  # a row in the database, no file
        data = value if type(value) is bytes else value.encode("utf-8")
        for attempt in range(10):
            filename, _ = self.filename(key, value)
            try:
                fd = open_below(self._directory, filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                make_dirs=True)
            except FileNotFoundError:  # another process removed an empty folder meanwhile
                if attempt == 9:
                    raise
                continue
            with open(fd, "wb") as f:
                f.write(data)
            return len(data), MODE_BINARY if type(value) is bytes else MODE_TEXT, filename, None

    def fetch(self, mode, filename, value, read):
        if mode == MODE_PICKLE:
            return _foreign(self._directory, "a pickled value")
        if filename is None:
            return super().fetch(mode, filename, value, read)
        if not _FILENAME.fullmatch(filename):
            return _foreign(self._directory, "a value file outside the cache")
        f = _open_value(self._directory, filename)
        if read and mode == MODE_BINARY:
            return f
        with f:
            data = f.read()
        return data.decode("utf-8") if mode == MODE_TEXT else data

    def remove(self, file_path):
        if _FILENAME.fullmatch(file_path):
            with contextlib.suppress(OSError):
                remove_below(self._directory, file_path)


def _open_value(directory, filename):
    """A value file opened for reading, through no symlink (IOError, as diskcache expects)."""
    return open(os.path.join(directory, filename), "rb",
                opener=lambda path, flags: open_below(directory, filename, os.O_RDONLY))


class SafeCache(diskcache.Cache):
    """A diskcache.Cache whose writes are bounded and whose damaged database is replaced.

    ``retry=True`` waits only for a database that another process has locked,
    and at most the connection's timeout; any other failure to begin a write
    (disk full, I/O error, read-only file system) is raised at once as the
    ``sqlite3.OperationalError`` it is. An operation that finds the database
    damaged sets it aside (``cache.db.damaged-<time>``, with its WAL files),
    starts a new one, warns once and runs again.
    """

    def __init__(self, directory, shared=False, **settings):
        self._init_settings = dict(settings, disk=SafeDisk, statistics=False)
        self._shared = shared
        self.repairs = []  # what this process set aside: [{"database", "set_aside", "reason"}]
        self.db_path = os.path.join(directory, "cache.db")
        make_dirs(directory, shared)
        try:
            self._start(directory)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self._directory, self._local = directory, threading.local()
            self.set_aside(str(exc))

    def _start(self, directory):
        with group_writable(self._shared):
            diskcache.Cache.__init__(self, directory, **self._init_settings)
        if self._shared:
            share_file(self.db_path)
        self._db_inode = _inode(self.db_path)

    @contextlib.contextmanager
    def _transact(self, retry=False, filename=None):
        deadline = time.monotonic() + max(1.0, self._timeout)
        stack = contextlib.ExitStack()
        while True:
            try:
                inner = stack.enter_context(super()._transact(retry=False))
                break
            except diskcache.Timeout as exc:
                cause = exc.__context__
                if retry and _locked(cause) and time.monotonic() < deadline:
                    time.sleep(0.001)
                    continue
                if filename is not None:
                    self._disk.remove(filename)
                if isinstance(cause, sqlite3.Error):
                    raise cause from None
                raise
        with stack:
            yield inner

    def _again_if_damaged(self, call):
        try:
            return call()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc) or isinstance(exc, DamagedDatabase):
                raise
            self.set_aside(str(exc))
        return call()

    def integrity(self):
        """SQLite's quick_check of the database: None when whole, else what it says."""
        try:
            rows = self._sql("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            return str(exc)
        problems = [row[0] for row in rows if row[0] != "ok"]
        return "; ".join(problems[:3]) if problems else None

    def remove_orphans(self, older_than=60.0):
        """Remove the value files no row names (a set-aside database listed them); how many.

        Files younger than ``older_than`` seconds stay: a writer commits its row
        only after writing the file.
        """
        named = {name for (name,) in self._sql("SELECT filename FROM Cache WHERE filename "
                                                "IS NOT NULL").fetchall()}
        cutoff, removed = time.time() - older_than, 0
        for root, _, files in os.walk(self._directory):  # walk follows no symlink
            for name in files:
                relative = os.path.relpath(os.path.join(root, name), self._directory)
                if not _FILENAME.fullmatch(relative) or relative in named:
                    continue
                with contextlib.suppress(OSError):
                    if os.lstat(os.path.join(root, name)).st_mtime < cutoff:
                        remove_below(self._directory, relative)
                        removed += 1
        return removed

    def set_aside(self, reason):
        """Rename the damaged database (and its WAL files) aside and start a new one.

        Under an flock on the folder, and only if ``cache.db`` is still the file
        this process opened: another process may have replaced it already.
        """
        folder = os.path.dirname(self.db_path)
        with contextlib.suppress(Exception):
            self.close()
        self._local = threading.local()  # every thread reconnects to the new file
        try:
            lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise DamagedDatabase("the cache database %s is damaged (%s) and cannot be set "
                                  "aside (%s); %s" % (self.db_path, reason, exc.strerror,
                                                      repair_hint(self.db_path))) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            aside = None
            if _inode(self.db_path) == getattr(self, "_db_inode", _inode(self.db_path)):
                aside = "%s.damaged-%s-%d" % (self.db_path, time.strftime("%Y%m%d-%H%M%S"),
                                              os.getpid())
                try:
                    for name in DB_FILES:
                        with contextlib.suppress(FileNotFoundError):
                            os.rename(os.path.join(folder, name), aside + name[len("cache.db"):])
                except OSError as exc:
                    raise DamagedDatabase(
                        "the cache database %s is damaged (%s) and cannot be set aside (%s); %s"
                        % (self.db_path, reason, exc.strerror, repair_hint(self.db_path))
                    ) from None
            self._start(folder)
        finally:
            os.close(lock)
        if aside is not None:
            self.repairs.append({"database": self.db_path, "set_aside": aside, "reason": reason})
            _warn("fncache: the cache database %s was damaged (%s); it is set aside as %s and "
                  "a new one is started (what it listed is rebuilt as it is used)"
                  % (self.db_path, reason, os.path.basename(aside)))

    @contextlib.contextmanager
    def transact(self, retry=False):
        try:
            with super().transact(retry=retry):
                yield
        except sqlite3.DatabaseError as exc:
            if is_damage(exc) and not isinstance(exc, DamagedDatabase):
                self.set_aside(str(exc))  # this transaction is lost; the next one works
            raise

    def iterkeys(self, reverse=False):
        return iter(self._again_if_damaged(lambda: list(super(SafeCache, self).iterkeys(reverse))))


def _bounded(name):
    method = getattr(diskcache.Cache, name)

    def call(self, *args, **kwargs):
        return self._again_if_damaged(lambda: method(self, *args, **kwargs))
    call.__name__ = name
    return call


for _name in ("get", "set", "add", "delete", "incr", "touch", "clear", "cull", "volume",
              "__len__"):
    setattr(SafeCache, _name, _bounded(_name))


def _locked(exc):
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


class ReadOnlyCache:
    """The read side of a diskcache directory, opened without writing anything.

    A fresh SQLite connection per read: read-only mode while a writer has the
    database open (its WAL file exists), else immutable mode, which needs no
    lock files. A read racing a writer can fail or return damaged bytes; both
    end as a miss (the caller verifies every entry). A database SQLite finds
    damaged reads as empty, with one warning saying how to repair it (``damage``
    says why); it is tried again at the next read, as a race with a writer can
    look like damage.
    """

    def __init__(self, directory):
        self.directory = directory
        self.db_path = os.path.join(directory, "cache.db")
        self.damage = None
        self.repairs = []
        self._told = False

    def _query(self, sql, args=()):
        if not os.path.exists(self.db_path):
            return []
        flags = "mode=ro" if os.path.exists(self.db_path + "-wal") else "mode=ro&immutable=1"
        con = sqlite3.connect("file:%s?%s" % (self.db_path, flags), uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            if not self._told:
                self._told = True
                _warn("fncache: the cache database %s is damaged (%s); reading it as empty. "
                      "To repair it, %s" % (self.db_path, exc, repair_hint(self.db_path)))
            self.damage = str(exc)
            return []
        finally:
            con.close()

    def get(self, key, default=None, read=False, retry=True):
        rows = self._query("SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1 "
                           "AND (expire_time IS NULL OR expire_time > strftime('%s','now'))",
                           (key,))
        if not rows:
            return default
        mode, filename, value = rows[0]
        if mode == MODE_RAW:
            return bytes(value) if isinstance(value, bytes) else value
        if mode in (MODE_BINARY, MODE_TEXT) and filename and _FILENAME.fullmatch(filename):
            try:
                with _open_value(self.directory, filename) as f:
                    data = f.read()
            except OSError:
                return default  # evicted between the query and the read
            return data.decode("utf-8", "replace") if mode == MODE_TEXT else data
        return _foreign(self.directory, "a value fncache does not write") or default

    def iterkeys(self):
        return iter([key for (key,) in self._query("SELECT key FROM Cache WHERE raw = 1")])

    def __len__(self):
        return len(self._query("SELECT rowid FROM Cache"))

    def volume(self):
        size = self._query("SELECT COALESCE(SUM(size), 0) FROM Cache")
        return (size[0][0] if size else 0) + (os.path.getsize(self.db_path)
                                              if os.path.exists(self.db_path) else 0)

    def integrity(self):
        self.damage = None
        rows = self._query("PRAGMA quick_check")
        if self.damage is not None:
            return self.damage
        problems = [row[0] for row in rows if row[0] != "ok"]
        return "; ".join(problems[:3]) if problems else None

    def _readonly(self, *args, **kwargs):
        raise PermissionError("the cache directory %s is open read-only" % self.directory)

    set = delete = clear = incr = transact = _readonly

    def close(self):
        pass


class DiskStore:
    name = "disk"

    def __init__(self, directory, size_limit=10 << 30, readonly=False, shared=False):
        self.directory = directory
        self.writable = not readonly
        self.shared = shared
        if readonly:
            self._cache = ReadOnlyCache(directory)
            return
        self._cache = open_cache(directory, shared, size_limit=size_limit,
                                 eviction_policy="least-recently-used", cull_limit=10)

    @property
    def database(self):
        """The SafeCache (or ReadOnlyCache) under this tier, for checks and repairs."""
        return self._cache

    def get(self, key):
        data = self._cache.get(key, default=None, read=False, retry=True)
        return data if isinstance(data, bytes) else None

    def path(self, key):
        """The file holding ``key``'s bytes (so they can be memory-mapped), or None.

        Small values live inside diskcache's SQLite index and have no file.
        """
        handle = self._cache.get(key, default=None, read=True, retry=True)
        if handle is None or isinstance(handle, bytes):
            return None
        handle.close()
        return handle.name

    def put(self, key, data):
        if self.writable:
            with group_writable(self.shared):
                self._cache.set(key, bytes(data), retry=True)

    def used(self, keys):
        """Mark ``keys`` used now in the LRU order (they were read without this tier:
        store.peek), in one transaction."""
        if not self.writable or not keys:
            return
        now = time.time()
        with self._cache.transact(retry=True):
            for key in keys:
                self._cache._sql("UPDATE Cache SET access_time = ? WHERE key = ? AND raw = 1",
                                 (now, key))

    def delete(self, key):
        if self.writable:
            self._cache.delete(key, retry=True)

    def keys(self):
        return [k for k in self._cache.iterkeys() if isinstance(k, str)]

    def clear(self):
        if self.writable:
            self._cache.clear(retry=True)

    @property
    def total_bytes(self):
        return self._cache.volume()

    def __len__(self):
        return len(self._cache)

    def close(self):
        self._cache.close()


def open_cache(directory, shared, **settings):
    """A writable SafeCache that never unpickles; group-writable when ``shared``."""
    return SafeCache(directory, shared=shared, **settings)
