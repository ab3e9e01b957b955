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
from fncache.store import envelope, resp

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
        self._connection = None
        self._connection_lock = threading.Lock()

    def _execute(self, *commands, writes=False):
        """The replies to ``commands``, sent in one pipeline (the connection made on first use)."""
        with self._connection_lock:
            if self._connection is None:
                self._connection = resp.connect(self.url, self.timeout)
            return self._connection.execute(commands, writes=writes)

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
        return self.get_many([key])[0]

    def get_many(self, keys):
        """The values of ``keys`` (as ``get`` gives them), their entries fetched in one pipeline."""
        stored = self._execute(*[("GETEX", self._entry(key), "EX", self.ttl) for key in keys])
        return [self._value(key, value) for key, value in zip(keys, stored)]

    def _value(self, key, stored):
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
            parts = self._execute(*[("GETEX", name, "EX", self.ttl)
                                    for name in self._chunk_keys(key, manifest)])
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
        commands = []
        if len(body) < self.chunk_bytes:
            head = self._tag(key, marker, body) if marker == ZSTD else b""
            commands.append(("SET", self._entry(key), marker + head + body, "EX", self.ttl, "GET"))
        else:
            manifest = {"token": os.urandom(8).hex(), "size": len(body), "zstd": marker == ZSTD,
                        "chunks": -(-len(body) // self.chunk_bytes)}
            if marker == ZSTD:
                manifest["tag"] = self._tag(key, ZSTD, body).hex()
            for i, name in enumerate(self._chunk_keys(key, manifest)):
                commands.append(("SET", name, body[i * self.chunk_bytes:(i + 1) * self.chunk_bytes],
                                 "EX", self.ttl))
            text = json.dumps(manifest).encode()
            commands.append(("SET", self._entry(key),
                             MANIFEST + self._tag(key, MANIFEST, text) + text, "EX", self.ttl, "GET"))
        previous = self._execute(*commands, writes=True)[-1]
        self._drop_chunks(key, previous)

    def delete(self, key):
        if self.writable:
            self._drop_chunks(key, self._execute(("GETDEL", self._entry(key)), writes=True)[0])

    def _drop_chunks(self, key, stored):
        """Remove the chunks of a manifest that was just replaced or deleted."""
        if stored is not None and stored[:1] == MANIFEST:
            body = self._opened(key, MANIFEST, stored[1:])
            manifest = _manifest(body) if body is not None else None
            if manifest is not None:
                self._execute(("DEL",) + tuple(self._chunk_keys(key, manifest)), writes=True)

    def keys(self):
        start, pattern = len(self._entry("")), _glob_escape(self._entry("")) + "*"
        names, cursor = [], b"0"
        while True:
            cursor, batch = self._execute(("SCAN", cursor, "MATCH", pattern, "COUNT", 1000))[0]
            names.extend(name.decode("utf-8", "replace")[start:] for name in batch)
            if cursor in (b"0", 0, "0"):
                return list(dict.fromkeys(names))  # SCAN may return a name twice

    def close(self):
        with self._connection_lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


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
