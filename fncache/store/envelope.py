"""The bytes of one cache entry: a versioned, signed envelope around a payload.

Layout::

    b"FNCE" | u16 format | u8 flags | 32-byte HMAC-SHA256 | u32 n | n bytes of JSON header | payload

The MAC covers every other byte: the fixed fields (format, flags, header
length), the entry's key, the header and the payload as stored (compressed,
when the flags say so). With a team secret it is a signature; without one it
is keyed with the empty key and only catches damage: anyone can make such an
entry ("unsigned"). Unpickling runs code, so nothing is decompressed or
unpickled before ``open_envelope`` has checked the format and the MAC, and a
compressed payload must say (zstd's frame header) that it decompresses to at
most ``MAX_PAYLOAD_BYTES``.
"""
import hashlib
import hmac
import json
import struct

import zstandard

from fncache.errors import EntryRejected
from fncache import format as entry_format

MAGIC = b"FNCE"
_FIXED = struct.Struct(">4sHB32sI")
_MAC_AT = 7  # offset of the MAC inside the fixed fields
FLAG_ZSTD = 1
COMPRESS_ABOVE = 1 << 20  # default: arrays gain little from zstd; callers with text-like data pass less
MAX_HEADER_BYTES = 64 << 20  # a JSON header larger than this is damage
MAX_PAYLOAD_BYTES = 4 << 30  # a compressed payload decompresses to at most this (larger: raw)


def _mac(secret, fixed, key, header, payload):
    """HMAC-SHA256 over the fixed fields (MAC zeroed), key, header and payload."""
    mac = hmac.new(secret or b"", digestmod=hashlib.sha256)
    mac.update(fixed[:_MAC_AT])
    mac.update(fixed[_MAC_AT + 32:])
    mac.update(key.encode("utf-8"))
    mac.update(b"\0")
    mac.update(header)
    mac.update(payload)
    return mac.digest()


def seal(key, header, payload, secret=None, compress_above=COMPRESS_ABOVE):
    """Envelope bytes for ``payload`` stored under ``key``, with ``header`` (a JSON-able dict)."""
    flags = 0
    if compress_above < len(payload) <= MAX_PAYLOAD_BYTES:
        payload = zstandard.ZstdCompressor(level=3, write_content_size=True).compress(payload)
        flags |= FLAG_ZSTD
    header_bytes = json.dumps(dict(header, key=key), sort_keys=True).encode("utf-8")
    fixed = _FIXED.pack(MAGIC, entry_format.FORMAT_VERSION, flags, bytes(32), len(header_bytes))
    mac = _mac(secret, fixed, key, header_bytes, payload)
    return fixed[:_MAC_AT] + mac + fixed[_MAC_AT + 32:] + header_bytes + payload


def reseal(key, data, secret):
    """The same entry (which must open) with its MAC made under ``secret`` instead."""
    fixed, header_bytes, payload = _split(data)
    raw = bytes(data[:_FIXED.size])
    return (raw[:_MAC_AT] + _mac(secret, raw, key, header_bytes, payload)
            + raw[_MAC_AT + 32:] + header_bytes + payload)


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
    if version != entry_format.FORMAT_VERSION:
        raise EntryRejected("version-mismatch",
                            "entry has format %d, this fncache reads %d"
                            % (version, entry_format.FORMAT_VERSION))
    if header_len > MAX_HEADER_BYTES:
        raise EntryRejected("corrupt", "entry declares a %d-byte header (at most %d)"
                            % (header_len, MAX_HEADER_BYTES))
    end = _FIXED.size + header_len
    if end > len(data):
        raise EntryRejected("corrupt", "entry is truncated inside its header")
    return fixed, bytes(data[_FIXED.size:end]), bytes(data[end:])


def mac_matches(key, data, secret):
    """Whether ``data`` (which must split) carries a MAC made under ``secret``."""
    (_, _, _, mac, _), header_bytes, payload = _split(data)
    return hmac.compare_digest(mac, _mac(secret, bytes(data[:_FIXED.size]), key, header_bytes,
                                         payload))


def open_envelope(key, data, secret=None):
    """(header, payload) of a verified entry, or EntryRejected saying why not.

    Reasons: 'unsigned' (a secret is set and the entry was sealed without
    one), 'bad-signature' (signed with another secret, or damaged), 'corrupt',
    'version-mismatch'.
    """
    (_, _, flags, mac, _), header_bytes, payload = _split(data)
    fixed = bytes(data[:_FIXED.size])
    if not hmac.compare_digest(mac, _mac(secret, fixed, key, header_bytes, payload)):
        if secret and hmac.compare_digest(mac, _mac(None, fixed, key, header_bytes, payload)):
            raise EntryRejected("unsigned", "entry is not signed (it was sealed without a "
                                            "secret, so anyone could have made it)")
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
        payload = decompress(payload, MAX_PAYLOAD_BYTES, "entry payload")
    return header, payload


def decompress(data, limit, what):
    """One zstd frame that says it holds at most ``limit`` bytes, decompressed; else
    EntryRejected. Nothing is allocated for a frame that declares more (or nothing)."""
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError as exc:
        raise EntryRejected("corrupt", "%s is not zstd data: %s" % (what, exc)) from None
    if size < 0 or size > limit:
        raise EntryRejected("corrupt", "%s declares %s bytes decompressed (at most %d)"
                            % (what, "unknown" if size < 0 else size, limit))
    try:
        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise EntryRejected("corrupt", "%s does not decompress: %s" % (what, exc)) from None
    if len(out) != size:
        raise EntryRejected("corrupt", "%s decompresses to %d bytes, not the %d it declares"
                            % (what, len(out), size))
    return out
