"""Keys whose entries cannot be rebuilt here: compiled again, never stored again.

An entry can pass its signature check and still fail to load (its pickle holds
an object this process cannot rebuild). Without a memory, every run would load
it, fail, warn, compile and store it again. The first failure is remembered in
the cache directory's index under the key, with its reason and the fncache and
library (Theano) versions that failed; while both are unchanged, the function is
compiled without being stored (counted under ``uncacheable.unloadable``). A new
fncache or library tries again, and ``fncache clear`` forgets them all. Versions are
read from the installed distributions, so listing them imports no graph library.
"""
import functools
import hashlib
import importlib.metadata
import json
import os
import sqlite3
import time

from fncache.names import UNLOADABLE

PREFIX = UNLOADABLE


@functools.lru_cache(maxsize=None)
def _fncache_version():
    """fncache's version, with a digest of its code: a fixed checkout is a new version."""
    import fncache
    root = os.path.dirname(os.path.abspath(fncache.__file__))
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                digest.update(os.path.relpath(os.path.join(folder, name), root).encode("utf-8"))
                with open(os.path.join(folder, name), "rb") as f:
                    digest.update(f.read())
    return "%s+%s" % (fncache.__version__, digest.hexdigest()[:12])


@functools.lru_cache(maxsize=None)
def _library_version(library):
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(library="theano"):
    """{"fncache": version+digest, library: version}: what an unloadable memo is valid for."""
    return {"fncache": _fncache_version(), library: _library_version(library)}


def remember(cache, key, reason, library="theano"):
    """Note that ``key``'s entry cannot be rebuilt by this fncache and library (best effort)."""
    if cache.readonly or cache.index is None:
        return
    memo = dict(versions(library), backend=library, reason=reason, time=time.time())
    try:
        cache.index.set(PREFIX + key, json.dumps(memo), retry=True)  # JSON, never a pickle
    except (OSError, sqlite3.Error) as exc:
        cache.index_failed(exc)


def recall(cache, key):
    """What is remembered about ``key`` (reason, versions, time, ``current``), or None."""
    if cache.index is None:
        return None
    try:
        text = cache.index.get(PREFIX + key, default=None, retry=True)
        memo = json.loads(text) if isinstance(text, str) else None
    except (OSError, sqlite3.Error, ValueError):
        return None
    if not isinstance(memo, dict):
        return None
    library = memo.get("backend", "theano")  # memos written before backends were Theano's
    memo["current"] = all(memo.get(name) == value
                          for name, value in versions(library).items())
    return memo


def reason(cache, key):
    """Why ``key`` cannot be loaded with this fncache and library, or None (worth a try)."""
    memo = recall(cache, key)
    return memo.get("reason", "?") if memo is not None and memo["current"] else None


def remembered(cache):
    """{key: memo} of every remembered key whose versions are the current ones."""
    if cache.index is None:
        return {}
    found = {}
    for name in list(cache.index.iterkeys()):
        if isinstance(name, str) and name.startswith(PREFIX):
            memo = recall(cache, name[len(PREFIX):])
            if memo is not None and memo["current"]:
                found[name[len(PREFIX):]] = memo
    return found


def forget_all(cache):
    if cache.index is None:
        return
    for name in list(cache.index.iterkeys()):
        if isinstance(name, str) and name.startswith(PREFIX):
            cache.index.delete(name, retry=True)
