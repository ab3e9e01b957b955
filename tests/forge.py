"""Colliding inputs for XXH3-128, fncache's first content hash (issue 15, family 8).

XXH3 is fast, not collision resistant: anyone who knows where bytes sit in the hashed
stream can make two different inputs with one digest. The tests use these twins to show
that keys and blob names are no longer forgeable.
"""
import numpy as np

# XXH3's default secret (kSecret in xxhash.h): the attack needs nothing else.
_K_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e")
_M32, _M64 = (1 << 32) - 1, (1 << 64) - 1


def _mul_fold(v):
    return ((v & _M32) * (v >> 32)) & _M64


def xxh3_twins(base, stream_offset, stream_pos, seed=0):
    """Two float64 arrays, equal but for the 16 bytes at ``stream_pos`` of the hashed stream,
    that leave XXH3-128's accumulator unchanged when their bytes start at ``stream_offset``.

    In a stripe, lane i adds its data to lane i^1 and (lo32 * hi32) of (data ^ secret) to
    itself; choosing new data whose key has zero low bits (product 0) and compensating in the
    neighbour lane solves for an exact collision (the second lane's high bits are free).
    """
    assert stream_pos % 16 == 0 and stream_pos >= stream_offset
    rng = np.random.default_rng(seed)
    at = stream_pos % 64 + (stream_pos // 64) % 16 * 8
    s0 = int.from_bytes(_K_SECRET[at:at + 8], "little")
    s1 = int.from_bytes(_K_SECRET[at + 8:at + 16], "little")
    while True:
        b = int(rng.integers(0, 1 << 62)) * 4 + int(rng.integers(0, 4))
        low_a = ((s0 & _M32) - _mul_fold(b ^ s1)) & _M32
        lo_key = low_a ^ (s0 & _M32)
        if lo_key % 2:
            break
    target = ((s1 & _M32) - (b & _M32)) & _M32
    a = ((((target * pow(lo_key, -1, 1 << 32)) & _M32) ^ (s0 >> 32)) << 32) | low_a
    a2, b2 = (a + _mul_fold(b ^ s1)) & _M64, (b + _mul_fold(a ^ s0)) & _M64
    one, two = bytearray(base.tobytes()), bytearray(base.tobytes())
    i = stream_pos - stream_offset
    one[i:i + 16] = a.to_bytes(8, "little") + b.to_bytes(8, "little")
    two[i:i + 16] = a2.to_bytes(8, "little") + b2.to_bytes(8, "little")
    return np.frombuffer(bytes(one)), np.frombuffer(bytes(two))
