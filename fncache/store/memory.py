"""In-process tier: an LRU bounded by total bytes and by entry count."""
import collections
import threading


class MemoryStore:
    name = "memory"
    writable = True

    def __init__(self, max_bytes=256 << 20, max_entries=1024):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._items = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key, data):
        if len(data) > self.max_bytes:
            return  # would evict everything else and still not fit
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted)

    def delete(self, key):
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)

    def keys(self):
        with self._lock:
            return list(self._items)

    def clear(self):
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def total_bytes(self):
        return self._bytes

    def __len__(self):
        return len(self._items)
