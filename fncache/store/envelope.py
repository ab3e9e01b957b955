"""The bytes of one cache entry: a versioned, signed envelope around a payload.

Layout::

    b"FNCE" | u16 format | u8 flags | 32-byte HMAC-SHA256 | u32 n | n bytes of JSON header | payload

The MAC covers the entry's key, the header and the payload. With a team
secret it is a signature; without one it is keyed with the empty key and
still catches damage. Unpickling runs code, so nothing is unpickled before
``open_envelope`` has checked the format, the MAC and the key.
"""
import hashlib
import hmac
import json
import struct

import zstandard

from fncache.errors import EntryRejected
from fncache.keys.env import FORMAT_VERSION

MAGIC = b"FNCE"
_FIXED = struct.Struct(">4sHB32sI")
FLAG_ZSTD = 1
COMPRESS_ABOVE = 1 << 20  # default: arrays gain little from zstd; callers with text-like data pass less


def _mac(secret, key, header, payload):
    mac = hmac.new(secret or b"", digestmod=hashlib.sha256)
    mac.update(key.encode("utf-8"))
    mac.update(b"\0")
    mac.update(header)
    mac.update(payload)
    return mac.digest()


def seal(key, header, payload, secret=None, compress_above=COMPRESS_ABOVE):
    """Envelope bytes for ``payload`` stored under ``key``, with ``header`` (a JSON-able dict)."""
    flags = 0
    if len(payload) > compress_above:
        payload = zstandard.ZstdCompressor(level=3).compress(payload)
        flags |= FLAG_ZSTD
    header_bytes = json.dumps(dict(header, key=key), sort_keys=True).encode("utf-8")
    mac = _mac(secret, key, header_bytes, payload)
    return _FIXED.pack(MAGIC, FORMAT_VERSION, flags, mac, len(header_bytes)) + header_bytes + payload


def is_compressed(data):
    """True for an entry whose payload is already zstd-compressed (don't compress it again)."""
    return data[:4] == MAGIC and len(data) > 6 and bool(data[6] & FLAG_ZSTD)


def read_header(data):
    """The JSON header of an entry, without checking its MAC (for listings only)."""
    fixed, header_bytes, _ = _split(data)
    return json.loads(header_bytes)


def _split(data):
    if len(data) < _FIXED.size:
        raise EntryRejected("corrupt", "entry is truncated (%d bytes)" % len(data))
    fixed = _FIXED.unpack_from(data)
    magic, version, flags, mac, header_len = fixed
    if magic != MAGIC:
        raise EntryRejected("corrupt", "entry does not start with the fncache marker")
    if version != FORMAT_VERSION:
        raise EntryRejected("version-mismatch",
                            "entry has format %d, this fncache reads %d" % (version, FORMAT_VERSION))
    end = _FIXED.size + header_len
    if end > len(data):
        raise EntryRejected("corrupt", "entry is truncated inside its header")
    return fixed, bytes(data[_FIXED.size:end]), bytes(data[end:])


def open_envelope(key, data, secret=None):
    """(header, payload) of a verified entry, or EntryRejected saying why not."""
    (_, _, flags, mac, _), header_bytes, payload = _split(data)
    if not hmac.compare_digest(mac, _mac(secret, key, header_bytes, payload)):
        if secret:
            raise EntryRejected("bad-signature", "entry signature does not match the team secret")
        raise EntryRejected("corrupt", "entry checksum does not match (damaged, or signed "
                                       "with a secret this process does not have)")
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise EntryRejected("corrupt", "entry header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("key") != key:
        raise EntryRejected("corrupt", "entry belongs to another key")
    if flags & FLAG_ZSTD:
        try:
            payload = zstandard.ZstdDecompressor().decompress(payload)
        except zstandard.ZstdError as exc:
            raise EntryRejected("corrupt", "entry payload does not decompress: %s" % exc) from None
    return header, payload
