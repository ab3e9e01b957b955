"""Reading the disk tier before the cache is open: a process's first memo hits.

Opening a cache directory (``store.Cache``: diskcache's two databases, some 150 SQL
statements) takes 10 ms or more, and the first hit of a process waited for it. A hit needs
one row: ``Reader`` opens the entries database read-only with one connection and reads a
key's row, and a value file through no symlink. It writes nothing: diskcache's record of
when an entry was last used (its LRU order) is brought up to date when the open cache
flushes (``accessed``).

A reader exists only for a directory the cache itself would use (see ``Cache``): not one
that is refused (others can write it and there is no secret, or a part of it is a
symlink). ``private`` says that nobody but this user can write it, which decides how a memo
blob is proven to be the one its signed entry names (see ``memo``).
"""
import os
import sqlite3
import threading

from fncache.store import shared

ENTRIES = "entries"
_MODE_RAW, _MODE_BINARY = 1, 2  # diskcache's modes of a row: value in the row, value in a file
_QUERY = ("SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1 "
          "AND (expire_time IS NULL OR expire_time > strftime('%s','now'))")
_readers = {}
_lock = threading.Lock()
_accessed = {}  # directory -> keys read here, for the LRU order


class Reader:
    """One read-only connection to a directory's entries database."""

    def __init__(self, directory, private):
        self.directory = directory
        self.folder = os.path.join(directory, ENTRIES)
        self.private = private
        self._local = threading.local()

    def _connection(self):
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.folder, "cache.db"),
                                  uri=True, timeout=5, isolation_level=None,
                                  check_same_thread=False)
            self._local.con = con
        return con

    def connect(self):
        """Open the connection now (a decorator does, so a first call need not)."""
        self._connection().execute(_QUERY, ("",)).fetchall()  # the statement compiled

    def _row(self, key):
        try:
            rows = self._connection().execute(_QUERY, (key,)).fetchall()
        except sqlite3.Error:
            return None  # locked, damaged, being replaced: the full path decides
        return rows[0] if rows else None

    def get(self, key):
        """The bytes stored under ``key``, or None (absent, or not readable this way)."""
        row = self._row(key)
        if row is None:
            return None
        mode, filename, value = row
        if mode == _MODE_RAW and isinstance(value, bytes):
            data = value
        elif mode == _MODE_BINARY and filename:
            f = self.open_file(filename)
            if f is None:
                return None
            with f:
                data = f.read()
        else:
            return None
        self._note(key)
        return data

    def open(self, key):
        """(open file, os.stat_result) of the file holding ``key``'s bytes, or None."""
        row = self._row(key)
        if row is None or row[0] != _MODE_BINARY or not row[1]:
            return None
        f = self.open_file(row[1])
        if f is None:
            return None
        self._note(key)
        return f, os.fstat(f.fileno())

    def open_file(self, filename):
        from fncache.store.disk import _FILENAME, _open_value
        if not _FILENAME.fullmatch(filename):
            return None  # not a name diskcache makes: the full path warns about it
        try:
            return _open_value(self.folder, filename)
        except OSError:
            return None  # evicted meanwhile

    def _note(self, key):
        with _lock:
            _accessed.setdefault(self.directory, set()).add(key)

    def close(self):
        con = getattr(self._local, "con", None)
        if con is not None:
            self._local.con = None
            con.close()


def reader(settings):
    """The Reader of the settings' cache directory, or None when the cache would not use it
    (refused), or it has no entries database yet."""
    directory = settings.directory
    secret = bool(settings.secret)
    with _lock:
        found = _readers.get((directory, secret), False)
    if found is not False:
        return found
    if not os.path.isfile(os.path.join(directory, ENTRIES, "cache.db")):
        return None  # nothing stored yet (asked again next time)
    writers = shared.other_writers(directory)
    planted = shared.planted_link(directory) if writers else None
    found = None
    if not planted and (writers is None or secret):
        found = Reader(directory, private=writers is None)
    with _lock:
        _readers[(directory, secret)] = found
    return found


def pending(directory):
    """Whether keys were read through a Reader of ``directory`` and not yet taken."""
    with _lock:
        return bool(_accessed.get(directory))


def accessed(directory):
    """The keys read through a Reader of ``directory`` since the last call (and forget them)."""
    with _lock:
        return sorted(_accessed.pop(directory, ()))


def _forget_after_fork():
    global _lock
    _readers.clear()
    _accessed.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
