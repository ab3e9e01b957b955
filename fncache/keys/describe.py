"""A few words about an encoded value, read back from its encoding (``keys.values``).

Explain shows what a memo key's argument or global was: ``2.5``, ``'abc'``, ``float64 array
of shape (5, 4)``, ``list of 3 items``. The words come from the bytes a key was hashed from
(a value itself may be gone, or be another process's), so describing never runs user code.
"""
import struct

import numpy as np

from fncache.keys.values import _DIRECT_BYTES
_SCALARS = {b"i": struct.Struct("<q"), b"f": struct.Struct("<d")}
_FIXED = {b"N": 1, b"?": 2, b"i": 9, b"f": 9, b"c": 17, b".": 1}


def _skip(data, at):
    """Where the encoding that starts at ``at`` ends, for the plain tags; None otherwise."""
    if at is None or at >= len(data):
        return None
    tag = data[at:at + 1]
    if tag in _FIXED:
        return at + _FIXED[tag]
    if tag in (b"s", b"y", b"Y", b"I"):
        (n,) = struct.unpack_from("<Q", data, at + 1)
        return at + 9 + (32 if n >= _DIRECT_BYTES and tag != b"I" else n)
    if tag == b"t":  # a plain dtype: D, length, its str, "."
        (n,) = struct.unpack_from("<Q", data, at + 2)
        end = at + 10 + n
        return end + 1 if data[end:end + 1] == b"." else None
    if tag in (b"(", b"[", b"{"):
        (n,) = struct.unpack_from("<Q", data, at + 1)
        at += 9
        for _ in range(2 * n if tag == b"{" else n):
            at = _skip(data, at)
            if at is None:
                return None
        return at
    return None


def describe_encoding(data):
    """What one encoded value is, in a few words: ``2.5``, ``'abc'``, ``float64 array of
    shape (5, 4)``, ``list of 3 items``. Read back from its encoding (never from the object,
    so describing runs no user code); anything else is named by its tag."""
    if not data:
        return "nothing"
    tag = data[:1]
    try:
        if tag == b"N":
            return "None"
        if tag == b"?":
            return "True" if data[1:2] == b"\x01" else "False"
        if tag in _SCALARS:
            return repr(_SCALARS[tag].unpack_from(data, 1)[0])
        if tag == b"s":
            (n,) = struct.unpack_from("<Q", data, 1)
            if n <= 40 and len(data) == 9 + n:
                return repr(data[9:].decode("utf-8", "replace"))
            return "a str of %d bytes" % n
        if tag in (b"y", b"Y"):
            return "%d bytes" % struct.unpack_from("<Q", data, 1)[0]
        if tag in (b"(", b"[", b"{", b"S", b"z"):
            (n,) = struct.unpack_from("<Q", data, 1)
            kind = {b"(": "tuple", b"[": "list", b"{": "dict", b"S": "set", b"z": "frozenset"}
            return "%s of %d items" % (kind[tag], n)
        if tag == b"A":
            (ndim,) = struct.unpack_from("<Q", data, 1)
            shape = struct.unpack_from("<%dQ" % ndim, data, 9)
            at = 9 + 8 * ndim
            (n,) = struct.unpack_from("<Q", data, at + 1)
            dtype = data[at + 9:at + 9 + n].decode("ascii", "replace")
            return "%s array of shape %s" % (np.dtype(dtype).name if dtype.isprintable() else
                                              dtype, tuple(shape))
        if tag == b"V":  # type name, type attributes, then the value
            at = _skip(data, _skip(data, 1))
            return describe_encoding(data[at:]) if at is not None else "a Theano shared variable"
    except (struct.error, TypeError, ValueError):
        pass
    names = {b"g": "numpy scalar", b"R": "RandomState", b"G": "Generator", b"H": "hashed object",
             b"P": "pickled object", b"n": "namedtuple", b"E": "enum member"}
    return "a " + names.get(tag, "value")
