"""How a memoized result becomes bytes, so that its arrays come back without a copy.

A result is pickled (protocol 5) with its contiguous arrays taken out of band:

- buffers smaller than ``BLOB_BYTES`` are appended to the pickle in one payload, each at
  a 64-byte aligned offset ("inline");
- larger buffers become separate raw entries ("blobs") named by the BLAKE3 digest of
  their bytes (``keys.values.content_digest``: keyed by the team secret when there is one),
  so that no one can make two results that share a blob. Raw bytes in diskcache's own file let a disk hit memory-map the file
  read-only (``np.memmap`` mode ``'r'``) instead of reading and copying it, and keep the
  envelope of the result small, so signing it and checking it cost microseconds.

Unpacking hands the pickle read-only views of those buffers, so arrays come back
read-only and zero-copy; arrays that pickle stored in band (non-contiguous views) are
marked read-only too (only inside lists, tuples and dicts). The layout is a JSON-able
list that goes in the signed header of the result's entry.
"""
import pickle

import numpy as np

from fncache.keys.digest import content_digest

BLOB_BYTES = 1 << 20
_ALIGN = 64


class BlobMissing(Exception):
    """A blob the layout names is in no tier (evicted): the result is a miss."""


class BlobDamaged(Exception):
    """A blob's bytes do not match the digest in the signed layout."""


def digest(data):
    return content_digest(data)


def pack(value):
    """(layout, payload, blobs) for ``value``; blobs is a list of (digest, bytes)."""
    buffers = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    parts, layout, blobs = [head], [len(head)], []
    offset = len(head)
    for buffer in buffers:
        raw = buffer.raw()
        if raw.nbytes >= BLOB_BYTES:
            data = bytes(raw)  # a copy: the caller may mutate the array it returned
            name = digest(data)
            blobs.append((name, data))
            layout.append(["blob", raw.nbytes, name])
            continue
        pad = -offset % _ALIGN
        parts.append(b"\0" * pad)
        offset += pad
        parts.append(raw)
        layout.append([offset, raw.nbytes])
        offset += raw.nbytes
    return layout, b"".join(parts), blobs


def blob_names(layout):
    return [part[2] for part in layout[1:] if part[0] == "blob"]


def unpack(layout, payload, read_blob):
    """The value back from ``pack``'s output; ``read_blob(name, size)`` gives a blob's buffer."""
    view = memoryview(payload).toreadonly()
    buffers = []
    for part in layout[1:]:
        if part[0] == "blob":
            buffers.append(read_blob(part[2], part[1]))
        else:
            offset, size = part
            buffers.append(view[offset:offset + size])
    value = pickle.loads(view[:layout[0]], buffers=buffers)
    return freeze(value)


def freeze(value):
    """Mark the arrays in ``value`` (and in its lists, tuples and dicts) read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (list, tuple)):
        for item in value:
            freeze(item)
    elif isinstance(value, dict):
        for item in value.values():
            freeze(item)
    return value
