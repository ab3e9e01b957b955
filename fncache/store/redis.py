"""Team tier: entries in a Redis server that many machines share.

Every wait on Redis (connecting, each reply) is bounded by ``timeout`` and
nothing is retried, so a dead or stalled server costs one timeout per call;
TieredStore then skips this tier for a while and tries it again later.

Layout: ``<prefix>e:<key>`` holds one marker byte, then the value: ``R`` raw
bytes, ``Z`` zstd-compressed bytes, ``M`` a JSON manifest of a value too large
for one Redis string, whose chunks live under ``<prefix>c:<key>:<token>:<i>``.
A writer sets the chunks first and the manifest last, each write with a fresh
token, so a reader sees a whole value, or a miss when a chunk is
gone (expired, or removed by a newer write). Reads refresh the TTL, so the
entries a team uses stay while unused ones expire.

This tier returns bytes only; the caller verifies the entry's signature
before anything is unpickled (see envelope.py).
"""
import json
import os
import threading

import zstandard

from fncache.store import envelope

CHUNK_BYTES = 4 << 20
COMPRESS_ABOVE = 4096  # smaller values gain little on the wire
RAW, ZSTD, MANIFEST = b"R", b"Z", b"M"


class RedisStore:
    name = "redis"

    def __init__(self, url, prefix="fncache:", ttl=30 * 86400, timeout=0.5, readonly=False,
                 compress=True, chunk_bytes=CHUNK_BYTES):
        self.prefix = prefix
        self.ttl = int(ttl)
        self.compress = compress
        self.chunk_bytes = chunk_bytes
        self.writable = not readonly
        self.url, self.timeout = url, timeout
        self._client = None
        self._client_lock = threading.Lock()

    @property
    def _redis(self):
        """The client, made on first use: importing redis-py costs 80 ms a disk hit need not pay."""
        with self._client_lock:
            if self._client is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry
                # from_url builds a connection pool; retries are off so a timeout is final.
                self._client = redis.Redis.from_url(
                    self.url, socket_connect_timeout=self.timeout, socket_timeout=self.timeout,
                    retry=Retry(NoBackoff(), 0), health_check_interval=0)
            return self._client

    def _entry(self, key):
        return self.prefix + "e:" + key

    def _chunk_keys(self, key, manifest):
        return ["%sc:%s:%s:%d" % (self.prefix, key, manifest["token"], i)
                for i in range(manifest["chunks"])]

    def get(self, key):
        stored = self._redis.getex(self._entry(key), ex=self.ttl)
        if stored is None:
            return None
        marker, body = stored[:1], stored[1:]
        if marker == MANIFEST:
            manifest = _manifest(body)
            if manifest is None:
                return b""  # damaged: the caller rejects it as a truncated entry
            pipe = self._redis.pipeline(transaction=False)
            for name in self._chunk_keys(key, manifest):
                pipe.getex(name, ex=self.ttl)
            parts = pipe.execute()
            if any(part is None for part in parts):
                return None  # a chunk expired or a newer write replaced it: a miss
            body = b"".join(parts)
            if len(body) != manifest["size"]:
                return b""
            marker = ZSTD if manifest["zstd"] else RAW
        if marker == ZSTD:
            try:
                return zstandard.ZstdDecompressor().decompress(body)
            except zstandard.ZstdError:
                return b""
        if marker == RAW:
            return body
        return b""

    def put(self, key, data):
        if not self.writable:
            return
        data = bytes(data)
        marker, body = RAW, data
        if self.compress and len(data) > COMPRESS_ABOVE and not envelope.is_compressed(data):
            packed = zstandard.ZstdCompressor(level=1).compress(data)
            if len(packed) < 0.9 * len(data):
                marker, body = ZSTD, packed
        pipe = self._redis.pipeline(transaction=False)
        if len(body) < self.chunk_bytes:
            pipe.set(self._entry(key), marker + body, ex=self.ttl, get=True)
        else:
            manifest = {"token": os.urandom(8).hex(), "size": len(body), "zstd": marker == ZSTD,
                        "chunks": -(-len(body) // self.chunk_bytes)}
            for i, name in enumerate(self._chunk_keys(key, manifest)):
                pipe.set(name, body[i * self.chunk_bytes:(i + 1) * self.chunk_bytes], ex=self.ttl)
            pipe.set(self._entry(key), MANIFEST + json.dumps(manifest).encode(), ex=self.ttl,
                     get=True)
        previous = pipe.execute()[-1]
        self._drop_chunks(key, previous)

    def delete(self, key):
        if self.writable:
            self._drop_chunks(key, self._redis.getdel(self._entry(key)))

    def _drop_chunks(self, key, stored):
        """Remove the chunks of a manifest that was just replaced or deleted."""
        if stored is not None and stored[:1] == MANIFEST:
            manifest = _manifest(stored[1:])
            if manifest is not None:
                self._redis.delete(*self._chunk_keys(key, manifest))

    def keys(self):
        start = len(self._entry(""))
        return [name.decode("utf-8", "replace")[start:] for name in
                self._redis.scan_iter(match=_glob_escape(self._entry("")) + "*", count=1000)]

    def close(self):
        if self._client is not None:
            self._client.close()


def _manifest(body):
    """The manifest dict, or None when it is damaged."""
    try:
        manifest = json.loads(body)
        if (isinstance(manifest, dict) and isinstance(manifest.get("token"), str)
                and manifest["token"].isalnum() and isinstance(manifest.get("chunks"), int)
                and 0 < manifest["chunks"] < 1 << 20 and isinstance(manifest.get("size"), int)):
            manifest["zstd"] = bool(manifest.get("zstd"))
            return manifest
    except ValueError:
        pass
    return None


def _glob_escape(text):
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
