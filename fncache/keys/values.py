"""Hashing of argument *values* for result memoization.

A memo entry is keyed by the values of a function's inputs, so two calls may
share a key only if they would return the same result.  Everything here errs
on the side of a spurious miss (two equal values hashing differently, e.g.
``-0.0`` vs ``0.0``) and never towards a false hit.

Public API::

    hash_values(*objs, allow_pickle=False) -> str   # 64 hex chars (BLAKE3-256)
    h = ValueHasher(allow_pickle=False); h.update(obj); h.hexdigest()
    UnhashableValue                                  # subclass of TypeError
    (content_digest(data) -> str, BLAKE3 of raw bytes, is in fncache.keys.digest)

Encoding
--------
Each value is written as a self-delimiting, type-tagged byte string: one tag
byte, then fixed-size fields or a length (``<Q``) before any variable-size
data.  Because every encoding is self-delimiting, the concatenation of several
encodings is uniquely decodable, so no two different sequences of values
produce the same byte stream.  Variable-size data of ``_DIRECT_BYTES`` (16 kB)
or more (an array's elements, a long str or bytes, a hook's or a pickle's
bytes) is not written itself: its own 32-byte BLAKE3 digest is (its length,
written before it, says which of the two follows).  The stream is then hashed
with BLAKE3 in one shot.  Large data is thus hashed once, in place, on several
threads when it is very large (``_THREADS_BYTES``).

BLAKE3 is a cryptographic hash: nobody can craft two inputs with one key, as
anyone can for a fast non-cryptographic hash such as XXH3 (a shared cache or a
service memoizing requests takes inputs from others).  With a team secret
(``fncache.config.settings.secret``) these digests (memo keys, blob names) are
BLAKE3 in keyed mode, under a key derived from the secret, so they cannot even
be predicted without it; graph keys use ``content_digest(keyed=False)``.

===  ==========================================================================
tag  layout
===  ==========================================================================
N    None
?    bool: one byte 0/1
i    int fitting in int64: ``<q``
I    any other int: ``<Q`` byte count + signed little-endian two's complement
f    float: ``<d`` (bit pattern; -0.0 and NaN payloads are distinct)
c    complex: ``<dd``
s    str: ``<Q`` length + UTF-8 (surrogatepass)
y    bytes / Y bytearray: ``<Q`` length + data
(    tuple / [ list: ``<Q`` count + items
{    dict: ``<Q`` count + (key, value) pairs in the dict's order (insertion
     order is part of a dict's value: ``list(d.values())`` depends on it)
S    set / z frozenset: ``<Q`` count + element encodings sorted by the xxh3 hash
     of each encoding, ties broken by the encoding itself (a set has no order)
r    range: start, stop, step as int encodings
:    slice: start, stop, step as value encodings
.    Ellipsis
A    ndarray: ``<Q`` ndim, ``<Q`` * ndim shape, dtype, raw bytes in C order
     (structured dtypes: each field's elements in turn, skipping padding)
g    numpy scalar: dtype + raw bytes (structured: field by field)
t    numpy dtype object: dtype
n    namedtuple: type name + field names + items
E    enum member: type name + ``m`` + member name (or ``v`` + value)
R    numpy RandomState: its legacy state tuple / G Generator: its bit generator's state
H    ``obj.__fncache_hash__()``: type name + (s|y) + length + data
V    Theano shared variable: type name + Theano type attributes + value
P    pickle (protocol 4) of an otherwise unsupported object: type name +
     length + pickle; only with ``allow_pickle=True``
===  ==========================================================================

A dtype is ``D`` + length + ``dtype.str`` followed by ``.`` (plain), ``F``
(structured: field count, then name, offset, title, dtype per field) or ``U``
(sub-array: base dtype + shape).  Byte order is part of ``dtype.str``, so
``<f8`` and ``>f8`` arrays hash differently.

Array contents are hashed in logical C order, so strides never matter.
C-contiguous arrays are fed to the hasher straight from their buffer (zero
copy); any other layout is walked in C-ordered blocks, each copied into one
reused scratch buffer of at most ``CHUNK_BYTES`` (C-contiguous sub-blocks are
still fed without a copy; F-ordered blocks are copied in cache-sized tiles).
The digest does not depend on the number of threads (a BLAKE3 property).

Extension hook: a class may define ``__fncache_hash__(self) -> bytes | str``
returning a canonical encoding of everything that affects results; it is
hashed together with the class's module and qualified name.

Never hashed: ``id()``, ``repr()``, ``hash()`` (string hashing is randomized per
process) - so keys are stable across processes and machines of the same
endianness.
"""
from __future__ import annotations

import enum
import pickle
import struct

import numpy as np
import xxhash

from fncache import backends as _backends
from fncache.errors import FncacheTypeError as _TypeError
from fncache.keys.digest import _THREADS_BYTES, _new_hasher

__all__ = ["hash_values", "ValueHasher", "UnhashableValue", "CHUNK_BYTES"]

#: Largest scratch copy made while hashing a non-C-contiguous array.
CHUNK_BYTES = 1 << 20
#: Data at least this large is fed to the hasher directly rather than copied
#: into the small-value buffer.
_DIRECT_BYTES = 1 << 14

_FORMAT_PREFIX = b"fncache.values/2\x00"

_xxh3_64_intdigest = xxhash.xxh3_64_intdigest  # only orders set elements; never identifies
_pack_tag_q = struct.Struct("<cq").pack
_pack_tag_Q = struct.Struct("<cQ").pack
_pack_tag_d = struct.Struct("<cd").pack
_pack_tag_dd = struct.Struct("<cdd").pack
_pack_Q = struct.Struct("<Q").pack
_StructError = struct.error

_ndarray = np.ndarray
_generic = np.generic
_copyto = np.copyto
_uint8 = np.uint8
_bytearray_iadd = bytearray.__iadd__


class UnhashableValue(_TypeError):
    """A value (or something nested inside it) has no canonical encoding.

    ``str(exc)`` names where the value sits, e.g. ``"argument 2 -> dict key
    'w' -> list item 3: object of type Foo cannot be hashed; pass
    allow_pickle=True to hash it by its pickle"``.  Attributes: ``path``
    (list of location strings, outermost first), ``value_type`` (the type of
    the offending object) and ``reason``.
    """

    def __init__(self, value_type=None, reason=None, path=None):
        if reason is None:
            reason = f"object of type {_type_name(value_type)} cannot be hashed"
        super().__init__(value_type, reason)
        self.value_type = value_type
        self.reason = reason
        self.path = list(path) if path else []

    def _push(self, where):
        self.path.insert(0, where)

    def __str__(self):
        if self.path:
            return " -> ".join(self.path) + ": " + self.reason
        return self.reason

    def __reduce__(self):
        return (UnhashableValue, (self.value_type, self.reason, self.path))


def _type_name(tp):
    mod = getattr(tp, "__module__", None)
    qual = getattr(tp, "__qualname__", None) or getattr(tp, "__name__", "?")
    if mod in (None, "builtins"):
        return qual
    return f"{mod}.{qual}"


def _short(obj, limit=40):
    """Short description of a dict key for error messages only (never hashed)."""
    if isinstance(obj, (str, bytes, int, float, bool)) or obj is None:
        text = repr(obj)
        if len(text) > limit:
            text = text[: limit - 3] + "..."
        return text
    return f"<{_type_name(type(obj))}>"


def _enc_str_bytes(s):
    data = s.encode("utf-8", "surrogatepass")
    return _pack_tag_Q(b"s", len(data)) + data


# --------------------------------------------------------------------------
# dtype encoding
# --------------------------------------------------------------------------
_DTYPE_CACHE: dict = {}


def _dtype_bytes(dt):
    """Canonical, self-delimiting encoding of a numpy dtype."""
    plain = dt.fields is None and dt.subdtype is None
    if plain:
        cached = _DTYPE_CACHE.get(dt)
        if cached is not None:
            return cached
    s = dt.str.encode("ascii")
    out = bytearray(_pack_tag_Q(b"D", len(s)))
    out += s
    if dt.fields is not None:
        names = dt.names
        out += _pack_tag_Q(b"F", len(names))
        out += _pack_Q(dt.itemsize)
        for name in names:
            field = dt.fields[name]
            out += _enc_str_bytes(name)
            out += _pack_Q(field[1])
            if len(field) > 2 and field[2] is not None:
                title = field[2]
                if isinstance(title, str):
                    out += b"T" + _enc_str_bytes(title)
                elif isinstance(title, bytes):
                    out += b"B" + _pack_tag_Q(b"y", len(title)) + title
                else:
                    raise UnhashableValue(
                        np.dtype, f"structured dtype field {name!r} has a title of "
                        f"type {_type_name(type(title))}; only str/bytes titles "
                        "can be hashed")
            else:
                out += b"-"
            out += _dtype_bytes(field[0])
    elif dt.subdtype is not None:
        base, shape = dt.subdtype
        out += _pack_tag_Q(b"U", len(shape))
        for n in shape:
            out += _pack_Q(n)
        out += _dtype_bytes(base)
    else:
        out += b"."
    result = bytes(out)
    if plain:
        if len(_DTYPE_CACHE) > 4096:
            _DTYPE_CACHE.clear()
        _DTYPE_CACHE[dt] = result
    return result


_SHAPE_STRUCTS: dict = {}


def _shape_bytes(shape):
    n = len(shape)
    st = _SHAPE_STRUCTS.get(n)
    if st is None:
        st = _SHAPE_STRUCTS[n] = struct.Struct("<cQ" + "Q" * n).pack
    return st(b"A", n, *shape)


#: Tile size for transposing copies (F-ordered and similar layouts).
_TILE_BYTES = 1 << 16


def _copy_c_order(dst, src):
    """``dst[...] = src`` where dst is C-contiguous, cache-friendly for F layouts.

    When the last axis is not the one with the smallest stride (an F-ordered
    or transposed block), a plain copy gathers with a large stride and runs
    at ~1 GB/s; copying in tiles narrow along the last axis keeps both the
    source and the destination lines in cache (~4 GB/s).
    """
    if src.ndim >= 2:
        n_last = src.shape[-1]
        last = abs(src.strides[-1])
        if n_last > 1 and any(abs(st) < last for st, n in zip(src.strides, src.shape) if n > 1):
            inner = src.size // n_last
            width = max(1, _TILE_BYTES // (inner * src.itemsize))
            if width < n_last:
                for j in range(0, n_last, width):
                    _copyto(dst[..., j:j + width], src[..., j:j + width])
                return
    _copyto(dst, src)


# --------------------------------------------------------------------------
# the encoder
# --------------------------------------------------------------------------
class _Encoder:
    """Writes the canonical encoding of values into one buffer, hashed at the end.

    Large pieces (``_DIRECT_BYTES`` or more) are not copied in: their own BLAKE3 digest is
    (``direct``), so the buffer stays small and a big array is hashed once, in place, on
    several threads when it is very large.
    """

    __slots__ = ("buf", "allow_pickle", "work")

    def __init__(self, allow_pickle):
        self.buf = bytearray(_FORMAT_PREFIX)
        self.allow_pickle = allow_pickle
        self.work = None  # scratch buffer for non-contiguous arrays

    # -- plumbing --------------------------------------------------------
    def direct(self, data, nbytes=None):
        """Append the 32-byte digest of large ``data`` (bytes or a uint8 buffer)."""
        size = len(data) if nbytes is None else nbytes
        self.buf += _new_hasher(data, threads=size >= _THREADS_BYTES).digest()

    def digest(self):
        return _new_hasher(self.buf, threads=len(self.buf) >= _THREADS_BYTES).digest()

    def hexdigest(self):
        return _new_hasher(self.buf, threads=len(self.buf) >= _THREADS_BYTES).hexdigest()

    def encode_to_bytes(self, obj):
        """Encoding of ``obj`` as bytes (used for set elements)."""
        tp = type(obj)
        if tp is str:
            return _enc_str_bytes(obj)
        saved_buf = self.buf
        self.buf = bytearray()
        try:
            self.encode(obj)
            return bytes(self.buf)
        finally:
            self.buf = saved_buf

    # -- dispatch --------------------------------------------------------
    def encode(self, obj):
        fn = _DISPATCH.get(type(obj))
        if fn is None:
            fn = _resolve(obj)
        fn(self, obj)

    # -- scalars ---------------------------------------------------------
    def enc_none(self, obj):
        self.buf += b"N"

    def enc_bool(self, obj):
        self.buf += b"?\x01" if obj else b"?\x00"

    def enc_int(self, obj):
        try:
            self.buf += _pack_tag_q(b"i", obj)
        except _StructError:
            n = (obj.bit_length() + 8) // 8
            self.buf += _pack_tag_Q(b"I", n)
            self.buf += int(obj).to_bytes(n, "little", signed=True)

    def enc_float(self, obj):
        self.buf += _pack_tag_d(b"f", obj)

    def enc_complex(self, obj):
        self.buf += _pack_tag_dd(b"c", obj.real, obj.imag)

    def enc_str(self, obj):
        data = obj.encode("utf-8", "surrogatepass")
        self.buf += _pack_tag_Q(b"s", len(data))
        if len(data) >= _DIRECT_BYTES:
            self.direct(data)
        else:
            self.buf += data

    def enc_bytes(self, obj, tag=b"y"):
        self.buf += _pack_tag_Q(tag, len(obj))
        if len(obj) >= _DIRECT_BYTES:
            self.direct(obj)
        else:
            self.buf += obj

    def enc_bytearray(self, obj):
        self.enc_bytes(obj, b"Y")

    def enc_ellipsis(self, obj):
        self.buf += b"."

    def enc_range(self, obj):
        self.buf += b"r"
        self.enc_int(obj.start)
        self.enc_int(obj.stop)
        self.enc_int(obj.step)

    def enc_slice(self, obj):
        self.buf += b":"
        for where, part in (("slice start", obj.start), ("slice stop", obj.stop),
                            ("slice step", obj.step)):
            try:
                self.encode(part)
            except UnhashableValue as e:
                e._push(where)
                raise

    # -- containers ------------------------------------------------------
    def _enc_seq(self, obj, tag, what):
        self.buf += _pack_tag_Q(tag, len(obj))
        encode = self.encode
        i = 0
        try:
            for item in obj:
                encode(item)
                i += 1
        except UnhashableValue as e:
            e._push(f"{what} item {i}")
            raise

    def enc_tuple(self, obj):
        self._enc_seq(obj, b"(", "tuple")

    def enc_list(self, obj):
        self._enc_seq(obj, b"[", "list")

    def enc_dict(self, obj):
        self.buf += _pack_tag_Q(b"{", len(obj))
        encode = self.encode
        for k, v in obj.items():  # in order: the order is part of a dict's value
            try:
                encode(k)
            except UnhashableValue as e:
                e._push(f"dict key {_short(k)} (the key itself)")
                raise
            try:
                encode(v)
            except UnhashableValue as e:
                e._push(f"dict key {_short(k)}")
                raise

    def _enc_set(self, obj, tag, what):
        elems = []
        to_bytes = self.encode_to_bytes
        for x in obj:
            try:
                xb = to_bytes(x)
            except UnhashableValue as e:
                e._push(f"{what} element {_short(x)}")
                raise
            elems.append((_xxh3_64_intdigest(xb), xb))
        elems.sort()
        buf = self.buf
        buf += _pack_tag_Q(tag, len(elems))
        for _, xb in elems:
            buf += xb

    def enc_set(self, obj):
        self._enc_set(obj, b"S", "set")

    def enc_frozenset(self, obj):
        self._enc_set(obj, b"z", "frozenset")

    def enc_namedtuple(self, obj):
        tp = type(obj)
        self.buf += b"n"
        self.buf += _enc_str_bytes(_type_name(tp))
        self.buf += _pack_Q(len(tp._fields))
        for f in tp._fields:
            self.buf += _enc_str_bytes(f)
        self._enc_seq(obj, b"(", _type_name(tp))

    def enc_enum(self, obj):
        self.buf += b"E"
        self.buf += _enc_str_bytes(_type_name(type(obj)))
        name = obj.name
        if isinstance(name, str):
            self.buf += b"m" + _enc_str_bytes(name)
        else:  # e.g. a composite Flag value without a member name
            self.buf += b"v"
            try:
                self.encode(obj.value)
            except UnhashableValue as e:
                e._push(f"value of {_type_name(type(obj))} member")
                raise

    # -- numpy -----------------------------------------------------------
    def enc_dtype(self, obj):
        self.buf += b"t"
        self.buf += _dtype_bytes(obj)

    def enc_npscalar(self, obj):
        dt = obj.dtype
        if dt.hasobject:
            return self.enc_unknown(obj, "numpy scalar with object dtype")
        self.buf += b"g"
        self.buf += _dtype_bytes(dt)
        if dt.fields is None:
            self.buf += obj.tobytes()
        else:  # structured scalar: field by field, so padding is skipped
            self._feed_contents(np.array(obj, dtype=dt))

    def enc_ndarray(self, a):
        dt = a.dtype
        if dt.hasobject:
            return self.enc_unknown(a, f"numpy array with object dtype {dt}")
        self.buf += _shape_bytes(a.shape)
        self.buf += _dtype_bytes(dt)
        self._feed_contents(a)

    def _feed_contents(self, a):
        """Write the array's elements in C order (their count is implied)."""
        nbytes = a.nbytes
        if nbytes == 0:
            return
        dt = a.dtype
        if dt.fields is not None:
            # Structured: one field at a time (each a strided view), so the
            # padding bytes between fields, which numpy leaves uninitialised
            # and does not copy, never reach the hash.
            for name in dt.names:
                self._feed_contents(a[name])
            return
        if nbytes < _DIRECT_BYTES:  # small: the bytes themselves, whatever the layout
            if not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
            # (``buf += a`` would be numpy broadcasting, hence the slot call)
            _bytearray_iadd(self.buf, a.reshape(-1).view(_uint8))
        elif a.flags.c_contiguous:
            self.direct(a.reshape(-1).view(_uint8), nbytes)
        else:
            work = self.work
            need = max(CHUNK_BYTES, dt.itemsize)
            if work is None or work.nbytes < need:
                work = self.work = np.empty(need, dtype=_uint8)
            h = _new_hasher(threads=nbytes >= _THREADS_BYTES)
            self._feed_blocks(a, work, h.update)
            self.buf += h.digest()

    def _feed_blocks(self, a, work, update):
        """Feed ``a``'s bytes in C order, copying at most ``work.nbytes`` at once."""
        if a.flags.c_contiguous:
            update(a.reshape(-1).view(_uint8))
            return
        nbytes = a.nbytes
        if nbytes <= work.nbytes:
            chunk = work[:nbytes]
            _copy_c_order(chunk.view(a.dtype).reshape(a.shape), a)
            update(chunk)
            return
        n = a.shape[0]
        row = nbytes // n
        if row <= work.nbytes:
            step = work.nbytes // row
            for i in range(0, n, step):
                self._feed_blocks(a[i:i + step], work, update)
        else:
            for i in range(n):
                self._feed_blocks(a[i], work, update)

    def enc_random_state(self, obj):
        """A legacy RandomState by its full state (Theano's RandomStreams hold these)."""
        self.buf += b"R"
        self.encode(obj.get_state(legacy=True))

    def enc_generator(self, obj):
        self.buf += b"G"
        self.encode(obj.bit_generator.state)

    # -- hooks, Theano, fallbacks ----------------------------------------
    def enc_hook(self, obj):
        tp = type(obj)
        data = tp.__fncache_hash__(obj)
        if isinstance(data, str):
            marker, data = b"s", data.encode("utf-8", "surrogatepass")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            marker, data = b"y", bytes(data)
        else:
            raise UnhashableValue(
                tp, f"{_type_name(tp)}.__fncache_hash__() returned "
                f"{_type_name(type(data))}; it must return bytes or str")
        self.buf += b"H"
        self.buf += _enc_str_bytes(_type_name(tp))
        self.buf += _pack_tag_Q(marker, len(data))
        if len(data) >= _DIRECT_BYTES:
            self.direct(data)
        else:
            self.buf += data

    def enc_theano_shared(self, obj):
        ttype = obj.type
        self.buf += b"V"
        self.buf += _enc_str_bytes(_type_name(type(ttype)))
        # Attributes that define the Theano type (dtype, broadcastable, format,
        # ...); the type's ``name`` is only a label, ``_...`` are caches.
        attrs = {k: v for k, v in vars(ttype).items()
                 if k != "name" and not k.startswith("_")}
        try:
            self.enc_dict(attrs)
        except UnhashableValue as e:
            e._push("Theano shared variable type")
            raise
        try:
            self.encode(obj.get_value(borrow=True))
        except UnhashableValue as e:
            e._push("Theano shared variable value")
            raise

    def enc_unknown(self, obj, what=None):
        tp = type(obj)
        what = what or f"object of type {_type_name(tp)}"
        if not self.allow_pickle:
            raise UnhashableValue(
                tp, f"{what} cannot be hashed; pass allow_pickle=True to hash it "
                "by its pickle, or give its class a __fncache_hash__() method")
        try:
            data = pickle.dumps(obj, protocol=4)
        except Exception as exc:  # PicklingError, TypeError, AttributeError, ...
            raise UnhashableValue(
                tp, f"{what} cannot be hashed and could not be pickled: "
                f"{type(exc).__name__}: {exc}") from exc
        self.buf += b"P"
        self.buf += _enc_str_bytes(_type_name(tp))
        self.buf += _pack_tag_Q(b"y", len(data))
        if len(data) >= _DIRECT_BYTES:
            self.direct(data)
        else:
            self.buf += data


_DISPATCH = {
    type(None): _Encoder.enc_none,
    bool: _Encoder.enc_bool,
    int: _Encoder.enc_int,
    float: _Encoder.enc_float,
    complex: _Encoder.enc_complex,
    str: _Encoder.enc_str,
    bytes: _Encoder.enc_bytes,
    bytearray: _Encoder.enc_bytearray,
    tuple: _Encoder.enc_tuple,
    list: _Encoder.enc_list,
    dict: _Encoder.enc_dict,
    set: _Encoder.enc_set,
    frozenset: _Encoder.enc_frozenset,
    range: _Encoder.enc_range,
    slice: _Encoder.enc_slice,
    type(Ellipsis): _Encoder.enc_ellipsis,
    _ndarray: _Encoder.enc_ndarray,
    np.memmap: _Encoder.enc_ndarray,  # contents only; file name/offset don't matter
    np.random.RandomState: _Encoder.enc_random_state,
    np.random.Generator: _Encoder.enc_generator,
}
for _t in set(np.sctypeDict.values()):
    if issubclass(_t, _generic) and _t is not np.object_:
        _DISPATCH[_t] = _Encoder.enc_npscalar
for _t in set(type(np.dtype(c)) for c in np.typecodes["All"] + "V"):
    _DISPATCH[_t] = _Encoder.enc_dtype
_DISPATCH[np.dtype] = _Encoder.enc_dtype
del _t


def _is_shared_variable(obj):
    """True for a graph library's shared variable (its backend, imported only when one of the
    library's objects shows up, tells); hashed by type and value like any other value."""
    root = _backends.root_of(obj)
    return root is not None and _backends.get(root).is_shared_variable(obj)


def _resolve(obj):
    """Pick an encoder for a type that is not in the exact-type table."""
    tp = type(obj)
    if getattr(tp, "__fncache_hash__", None) is not None:
        return _Encoder.enc_hook
    if isinstance(obj, _generic):
        return _Encoder.enc_npscalar
    if isinstance(obj, np.memmap):
        return _Encoder.enc_ndarray
    if isinstance(obj, np.dtype):
        return _Encoder.enc_dtype
    if _is_shared_variable(obj):
        return _Encoder.enc_theano_shared
    if isinstance(obj, enum.Enum):
        return _Encoder.enc_enum
    if isinstance(obj, tuple) and isinstance(getattr(tp, "_fields", None), tuple):
        return _Encoder.enc_namedtuple
    # Everything else, including subclasses of builtins and ndarray (which may
    # carry extra state such as a mask or a unit), is unknown.
    return _Encoder.enc_unknown


def _encode_arg(enc, obj, index):
    try:
        enc.encode(obj)
    except UnhashableValue as e:
        e._push(f"argument {index}")
        raise
    except RecursionError:
        raise UnhashableValue(
            type(obj), "structure is nested too deeply or contains itself",
            [f"argument {index}"]) from None


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
def hash_values(*objs, allow_pickle=False):
    """Hex BLAKE3 digest (64 chars) of the canonical encoding of ``objs``.

    Equal to ``ValueHasher`` fed with ``objs`` one ``update`` at a time.
    Arguments are numbered from 0 in error messages.  Raises
    ``UnhashableValue`` for values without a canonical encoding (object
    arrays, unknown classes) unless ``allow_pickle`` is true, in which case
    those are hashed by their pickle (protocol 4).
    """
    enc = _Encoder(allow_pickle)
    i = 0
    for obj in objs:
        _encode_arg(enc, obj, i)
        i += 1
    return enc.hexdigest()


class ValueHasher:
    """Incremental form of :func:`hash_values`.

    ``h.update(a); h.update(b)`` gives the same digest as
    ``hash_values(a, b)``.  Each ``update`` call is one "argument" in error
    messages.  If ``update`` raises, the hasher is left unchanged.
    """

    __slots__ = ("_enc", "_count", "allow_pickle")

    def __init__(self, allow_pickle=False):
        self.allow_pickle = allow_pickle
        self._enc = _Encoder(allow_pickle)
        self._count = 0

    def update(self, obj):
        enc = self._enc
        mark = len(enc.buf)
        try:
            _encode_arg(enc, obj, self._count)
        except BaseException:
            del enc.buf[mark:]  # as if this update had not happened
            raise
        self._count += 1
        return self

    def digest(self):
        """32-byte digest of everything fed so far (the hasher stays usable)."""
        return self._enc.digest()

    def hexdigest(self):
        """64-char hex digest of everything fed so far."""
        return self._enc.hexdigest()

    def intdigest(self):
        return int.from_bytes(self.digest(), "big")

    def tell(self):
        """Where the next update's encoding starts (see ``part_digest``)."""
        return len(self._enc.buf)

    def part_digest(self, start, end):
        """Hex digest of the encoding between two ``tell()`` marks: one named part of a key.

        Large data sits in the encoding as its own digest, so this hashes a few bytes."""
        return _new_hasher(bytes(self._enc.buf[start:end])).hexdigest()

    def encoded(self, start, end):
        """The encoding between two ``tell()`` marks (``keys.describe`` reads it back)."""
        return bytes(self._enc.buf[start:end])

    def copy(self):
        other = ValueHasher.__new__(ValueHasher)
        other.allow_pickle = self.allow_pickle
        other._count = self._count
        enc = _Encoder(self.allow_pickle)
        enc.buf = bytearray(self._enc.buf)
        other._enc = enc
        return other

