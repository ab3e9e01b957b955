"""Team tier: entries in a Redis server that many machines share.

Every wait on Redis (connecting, each reply) is bounded by ``timeout`` and
nothing is retried, so a dead or stalled server costs one timeout per call;
TieredStore then skips this tier for a while and tries it again later.

Layout: ``<prefix>e:<key>`` holds one marker byte, then the value: ``R`` raw
bytes; ``Z`` a 32-byte tag, then zstd-compressed bytes; ``M`` a tag, then a
JSON manifest of a value too large for one Redis string, whose chunks live
under ``<prefix>c:<key>:<token>:<i>``. A writer sets the chunks first and the
manifest last, each write with a fresh token, so a reader sees a whole value,
or a miss when a chunk is gone (expired, or removed by a newer write). Reads
refresh the TTL, so the entries a team uses stay while unused ones expire.

Anyone who can reach the server can write it, so this tier acts on nothing
it has not authenticated: a tag is an HMAC-SHA256 under the team secret of the
key, the marker and the bytes that follow, and is checked before a manifest
is read or a value decompressed (the manifest carries the tag of a
compressed value's joined chunks). Declared sizes are bounded: a value
decompresses to, or is joined from chunks into, at most ``MAX_VALUE_BYTES``.
Raw values are returned as they are: the caller verifies the entry's
signature, or a blob's digest, before anything is unpickled (see envelope.py).
"""
import hashlib
import hmac
import json
import logging
import os
import threading

import zstandard

from fncache.errors import EntryRejected
from fncache.store import envelope

CHUNK_BYTES = 4 << 20
COMPRESS_ABOVE = 4096  # smaller values gain little on the wire
MAX_VALUE_BYTES = envelope.MAX_PAYLOAD_BYTES  # larger values are not stored in Redis
RAW, ZSTD, MANIFEST = b"R", b"Z", b"M"
TAG_BYTES = 32
_log = logging.getLogger("fncache.store")


class RedisStore:
    name = "redis"

    def __init__(self, url, prefix="fncache:", ttl=30 * 86400, timeout=0.5, readonly=False,
                 compress=True, chunk_bytes=CHUNK_BYTES, secret=None):
        self.prefix = prefix
        self._secret = secret or b""
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

    def _tag(self, key, marker, *parts):
        mac = hmac.new(self._secret, b"fncache-redis\0", digestmod=hashlib.sha256)
        mac.update(key.encode("utf-8") + b"\0" + marker)
        for part in parts:
            mac.update(part)
        return mac.digest()

    def _opened(self, key, marker, stored):
        """The bytes after ``stored``'s tag, if the tag is right; else None."""
        tag, body = stored[:TAG_BYTES], stored[TAG_BYTES:]
        if len(tag) == TAG_BYTES and hmac.compare_digest(tag, self._tag(key, marker, body)):
            return body
        return None

    def get(self, key):
        """The value of ``key``; None for a miss, b"" for a damaged or unauthenticated value."""
        stored = self._redis.getex(self._entry(key), ex=self.ttl)
        if stored is None:
            return None
        marker, body = stored[:1], stored[1:]
        if marker == RAW:
            return body
        if marker not in (ZSTD, MANIFEST):
            return b""
        body = self._opened(key, marker, body)
        if body is None:
            return b""  # not made with this secret: never parsed or decompressed
        if marker == MANIFEST:
            manifest = _manifest(body)
            if manifest is None:
                return b""
            pipe = self._redis.pipeline(transaction=False)
            for name in self._chunk_keys(key, manifest):
                pipe.getex(name, ex=self.ttl)
            parts = pipe.execute()
            if any(part is None for part in parts):
                return None  # a chunk expired or a newer write replaced it: a miss
            body = b"".join(parts)
            if len(body) != manifest["size"]:
                return b""
            if not manifest["zstd"]:
                return body
            if not hmac.compare_digest(self._tag(key, ZSTD, body), manifest["tag"]):
                return b""
        try:
            return envelope.decompress(body, MAX_VALUE_BYTES, "Redis value")
        except EntryRejected:
            return b""

    def put(self, key, data):
        if not self.writable:
            return
        data = bytes(data)
        if len(data) > MAX_VALUE_BYTES:
            _log.info("fncache: not storing %s in Redis: %d bytes (at most %d)",
                      key, len(data), MAX_VALUE_BYTES)
            return
        marker, body = RAW, data
        if self.compress and len(data) > COMPRESS_ABOVE and not envelope.is_compressed(data):
            packed = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(data)
            if len(packed) < 0.9 * len(data):
                marker, body = ZSTD, packed
        pipe = self._redis.pipeline(transaction=False)
        if len(body) < self.chunk_bytes:
            head = self._tag(key, marker, body) if marker == ZSTD else b""
            pipe.set(self._entry(key), marker + head + body, ex=self.ttl, get=True)
        else:
            manifest = {"token": os.urandom(8).hex(), "size": len(body), "zstd": marker == ZSTD,
                        "chunks": -(-len(body) // self.chunk_bytes)}
            if marker == ZSTD:
                manifest["tag"] = self._tag(key, ZSTD, body).hex()
            for i, name in enumerate(self._chunk_keys(key, manifest)):
                pipe.set(name, body[i * self.chunk_bytes:(i + 1) * self.chunk_bytes], ex=self.ttl)
            text = json.dumps(manifest).encode()
            pipe.set(self._entry(key), MANIFEST + self._tag(key, MANIFEST, text) + text,
                     ex=self.ttl, get=True)
        previous = pipe.execute()[-1]
        self._drop_chunks(key, previous)

    def delete(self, key):
        if self.writable:
            self._drop_chunks(key, self._redis.getdel(self._entry(key)))

    def _drop_chunks(self, key, stored):
        """Remove the chunks of a manifest that was just replaced or deleted."""
        if stored is not None and stored[:1] == MANIFEST:
            body = self._opened(key, MANIFEST, stored[1:])
            manifest = _manifest(body) if body is not None else None
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
    """The manifest dict (sizes within bounds), or None when it is damaged."""
    try:
        manifest = json.loads(body)
        if (isinstance(manifest, dict) and isinstance(manifest.get("token"), str)
                and manifest["token"].isalnum() and isinstance(manifest.get("chunks"), int)
                and isinstance(manifest.get("size"), int)
                and 0 < manifest["chunks"] <= manifest["size"] <= MAX_VALUE_BYTES):
            manifest["zstd"] = bool(manifest.get("zstd"))
            if manifest["zstd"]:
                manifest["tag"] = bytes.fromhex(manifest["tag"])
            return manifest
    except (ValueError, KeyError, TypeError):
        pass
    return None


def _glob_escape(text):
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
