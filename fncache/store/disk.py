"""Local disk tier on diskcache: atomic entries, size limit, LRU eviction.

diskcache writes a large value to its own file and then commits the index
row in one SQLite transaction, so a reader in another process sees either
the whole entry or none of it, even if the writer is killed midway.

fncache stores only str keys and bytes, ints and str values, so nothing read
from a cache directory is ever unpickled here: in a shared directory a row
could have been written by anyone (``SafeDisk``). A read-only user opens the
database read-only and never changes a file (``ReadOnlyCache``).
"""
import os
import re
import sqlite3
import warnings

import diskcache
from diskcache.core import MODE_BINARY, MODE_PICKLE, MODE_RAW

from fncache.store.shared import group_writable, make_dirs, share_file

_FILENAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{28}\.val")
_warned = set()


def _foreign(directory, what):
    """Warn once per directory about a row fncache never writes, and ignore it."""
    if directory not in _warned:
        _warned.add(directory)
        from fncache.store.tiered import FncacheWarning
        warnings.warn("fncache: ignoring %s in %s; fncache never writes one, so someone else "
                      "wrote to this cache directory" % (what, directory), FncacheWarning,
                      stacklevel=2)
    return None


class SafeDisk(diskcache.Disk):
    """diskcache's Disk, minus unpickling and minus file names outside the directory."""

    def get(self, key, raw):
        if not raw:
            return _foreign(self._directory, "a pickled key")
        return super().get(key, raw)

    def fetch(self, mode, filename, value, read):
        if mode == MODE_PICKLE:
            return _foreign(self._directory, "a pickled value")
        if filename is not None and not _FILENAME.fullmatch(filename):
            return _foreign(self._directory, "a value file outside the cache")
        return super().fetch(mode, filename, value, read)

    def remove(self, file_path):
        if _FILENAME.fullmatch(file_path):
            super().remove(file_path)


class ReadOnlyCache:
    """The read side of a diskcache directory, opened without writing anything.

    A fresh SQLite connection per read: read-only mode while a writer has the
    database open (its WAL file exists), else immutable mode, which needs no
    lock files. A read racing a writer can fail or return damaged bytes; both
    end as a miss (the caller verifies every entry).
    """

    def __init__(self, directory):
        self.directory = directory
        self._db = os.path.join(directory, "cache.db")

    def _query(self, sql, args=()):
        if not os.path.exists(self._db):
            return []
        flags = "mode=ro" if os.path.exists(self._db + "-wal") else "mode=ro&immutable=1"
        con = sqlite3.connect("file:%s?%s" % (self._db, flags), uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
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
        if mode == MODE_BINARY and filename and _FILENAME.fullmatch(filename):
            try:
                with open(os.path.join(self.directory, filename), "rb") as f:
                    return f.read()
            except OSError:
                return default  # evicted between the query and the read
        return _foreign(self.directory, "a value fncache does not write") or default

    def iterkeys(self):
        return iter([key for (key,) in self._query("SELECT key FROM Cache WHERE raw = 1")])

    def __len__(self):
        return len(self._query("SELECT rowid FROM Cache"))

    def volume(self):
        size = self._query("SELECT COALESCE(SUM(size), 0) FROM Cache")
        return (size[0][0] if size else 0) + (os.path.getsize(self._db)
                                              if os.path.exists(self._db) else 0)

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
    """A writable diskcache.Cache that never unpickles; group-writable when ``shared``."""
    make_dirs(directory, shared)
    with group_writable(shared):
        cache = diskcache.Cache(directory, disk=SafeDisk, statistics=False, **settings)
    if shared:
        share_file(os.path.join(directory, "cache.db"))
    return cache
