"""Local disk tier on diskcache: atomic entries, size limit, LRU eviction.

diskcache writes a large value to its own file and then commits the index
row in one SQLite transaction, so a reader in another process sees either
the whole entry or none of it, even if the writer is killed midway.
"""
import os

import diskcache


class DiskStore:
    name = "disk"

    def __init__(self, directory, size_limit=10 << 30, readonly=False):
        self.directory = directory
        self.writable = not readonly
        os.makedirs(directory, exist_ok=True)
        self._cache = diskcache.Cache(
            directory,
            size_limit=size_limit,
            eviction_policy="least-recently-used",
            cull_limit=10,
            statistics=False,
        )

    def get(self, key):
        return self._cache.get(key, default=None, read=False, retry=True)

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
            self._cache.set(key, bytes(data), retry=True)

    def delete(self, key):
        if self.writable:
            self._cache.delete(key, retry=True)

    def keys(self):
        return list(self._cache.iterkeys())

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
