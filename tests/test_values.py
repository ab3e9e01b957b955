"""Tests for fncache.keys.values: canonical hashing of argument values."""
import collections
import copy
import enum
import os
import pickle
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fncache  # noqa: F401  (its import hook makes theano importable)
from fncache.keys import digest as digest_mod
from fncache.keys import values as values_mod
from fncache.keys.values import UnhashableValue, ValueHasher, hash_values



# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def strided_copy(a):
    """An equal array living in a larger buffer: non-contiguous on every axis."""
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(tuple(2 * n + 1 for n in a.shape), dtype=a.dtype)
    view = big[tuple(slice(1, None, 2) for _ in a.shape)]
    view[...] = a
    assert a.ndim == 0 or a.size <= 1 or not view.flags.c_contiguous
    return view


def reversed_copy(a):
    """An equal array stored with negative strides."""
    if a.ndim == 0:
        return a.copy()
    big = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
    return big[tuple(slice(None, None, -1) for _ in a.shape)]


def layouts(a):
    yield "C", np.array(a, order="C")
    yield "F", np.array(a, order="F")   # (np.asfortranarray makes 0-d arrays 1-d)
    yield "strided", strided_copy(a)
    yield "reversed", reversed_copy(a)
    if a.ndim >= 2:
        yield "transposed", np.ascontiguousarray(a.T).T
    if a.ndim >= 3:
        perm = (1, 2, 0) + tuple(range(3, a.ndim))
        inv = np.argsort(perm)
        yield "permuted", np.ascontiguousarray(a.transpose(perm)).transpose(inv)


@pytest.fixture(params=[None, 64, 4096], ids=["chunk-default", "chunk-64B", "chunk-4KB"])
def chunk(request, monkeypatch):
    """Run with tiny scratch buffers too, to exercise the block walking code."""
    if request.param is not None:
        monkeypatch.setattr(values_mod, "CHUNK_BYTES", request.param)
        monkeypatch.setattr(values_mod, "_DIRECT_BYTES", 16)
        monkeypatch.setattr(values_mod, "_TILE_BYTES", 32)
    return request.param


# ---------------------------------------------------------------------------
# arrays: layout never matters, contents/dtype/shape always do
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (0,), (7,), (5, 6), (3, 0, 4), (4, 5, 6), (2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<i4", "u1", "?", "<c16", "<M8[s]", "<U3", "S2"])
def test_layout_does_not_matter(shape, dtype, chunk):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 200, size=shape)
    if dtype.startswith("<M8"):
        a = raw.astype("<i8").view(dtype)
    elif dtype == "<U3":
        a = np.char.add("x", raw.astype("U2")).astype(dtype)
    elif dtype == "S2":
        a = raw.astype("S2")
    else:
        a = raw.astype(dtype)
    expected = hash_values(np.array(a, order="C"))   # (ascontiguousarray makes 0-d 1-d)
    for name, b in layouts(a):
        assert np.array_equal(a, b)
        assert hash_values(b) == expected, name
        assert hash_values(b.copy()) == expected, name


def test_common_views_hash_equal_to_their_copies(chunk):
    a = np.arange(240, dtype=np.float64).reshape(12, 20)
    for view in (a[::2], a.T, a[:, 1:3], a[1:, ::3], a[::-1], a[:, ::-2], a.T[::3],
                 np.asfortranarray(a), np.asfortranarray(a)[:, 2:7]):
        assert hash_values(view) == hash_values(view.copy())
        assert hash_values(view) == hash_values(np.ascontiguousarray(view))
        assert hash_values(view) == hash_values(np.array(view, order="F"))


def test_medium_f_ordered_array_uses_tiles_and_matches():
    # a few MB: exercises chunking + tiled transposing copies at default sizes
    a = np.asfortranarray(np.random.default_rng(1).random((1500, 700)))
    assert not a.flags.c_contiguous
    assert hash_values(a) == hash_values(np.ascontiguousarray(a))
    tall = np.asfortranarray(np.random.default_rng(2).random((300_000, 3)))
    assert hash_values(tall) == hash_values(tall.copy(order="C"))
    wide = np.asfortranarray(np.random.default_rng(3).random((3, 300_000)))
    assert hash_values(wide) == hash_values(wide.copy(order="C"))
    cube = np.random.default_rng(4).random((60, 70, 80)).transpose(2, 0, 1)
    assert hash_values(cube) == hash_values(cube.copy())


def test_any_single_element_change_is_detected(chunk):
    a = np.random.default_rng(5).random((9, 11))
    h = hash_values(np.asfortranarray(a))
    seen = {h}
    for idx in [(0, 0), (8, 10), (4, 7), (0, 10), (8, 0)]:
        b = np.asfortranarray(a.copy())
        b[idx] = np.nextafter(b[idx], 2.0)
        hb = hash_values(b)
        assert hb not in seen
        seen.add(hb)
        assert hash_values(b[::1, ::1]) == hb


def test_dtype_shape_and_byte_order_matter():
    data = np.arange(6, dtype=np.float64)
    hashes = [
        hash_values(data.reshape(2, 3)),
        hash_values(data.reshape(3, 2)),          # same bytes, other shape
        hash_values(data.reshape(6)),
        hash_values(data.reshape(1, 6)),
        hash_values(data.reshape(6, 1)),
        hash_values(data.view(np.int64)),         # same bytes, other dtype
        hash_values(data.view(np.uint64)),
        hash_values(data.view(np.complex128)),    # (3,) complex: same bytes
        hash_values(data.astype(">f8")),          # same values, other byte order
        hash_values(data.astype(">f8").view("<f8")),  # same bytes as >f8, other dtype
        hash_values(data.astype(np.float32)),
        hash_values(data.view("M8[s]")),
        hash_values(data.view("M8[ms]")),
        hash_values(data.view("V8")),
        hash_values(data.view("S8")),
    ]
    assert len(set(hashes)) == len(hashes)
    assert hash_values(np.zeros((0, 3))) != hash_values(np.zeros((3, 0)))
    assert hash_values(np.zeros((0,), "f8")) != hash_values(np.zeros((0,), "f4"))


def test_structured_arrays_ignore_padding_and_layout(chunk):
    dt = np.dtype({"names": ["a", "b", "c"], "formats": ["u1", "<i4", ("<f8", (2,))],
                   "offsets": [0, 4, 16], "itemsize": 40})
    rng = np.random.default_rng(6)
    raw = rng.integers(0, 256, size=(5, 4, 40), dtype=np.uint8)   # garbage padding
    a = raw.view(dt)[..., 0]
    assert a.shape == (5, 4)
    clean = np.zeros(a.shape, dt)
    for name in dt.names:
        clean[name] = a[name]
    h = hash_values(a)
    assert hash_values(clean) == h          # padding bytes differ, fields equal
    assert hash_values(a.T.copy().T) == h
    assert hash_values(strided_copy(a)) == h
    assert hash_values(a[1]) == hash_values(clean[1])
    assert hash_values(a[1, 2]) == hash_values(clean[1, 2])   # np.void scalar
    for field, idx in (("a", (0, 0)), ("b", (3, 1)), ("c", (4, 3, 1))):
        changed = clean.copy()
        changed[field][idx] = 7 if changed[field][idx] != 7 else 8
        assert hash_values(changed) != h, field
        assert hash_values(strided_copy(changed)) == hash_values(changed)
    renamed = np.zeros(a.shape, np.dtype({"names": ["a", "b", "d"],
                                          "formats": ["u1", "<i4", ("<f8", (2,))],
                                          "offsets": [0, 4, 16], "itemsize": 40}))
    renamed["a"], renamed["b"], renamed["d"] = clean["a"], clean["b"], clean["c"]
    assert hash_values(renamed) != h
    packed = np.zeros(a.shape, [("a", "u1"), ("b", "<i4"), ("c", "<f8", (2,))])
    packed["a"], packed["b"], packed["c"] = clean["a"], clean["b"], clean["c"]
    assert hash_values(packed) != h          # other offsets/itemsize: other dtype


def test_memory_use_is_bounded():
    """C-contiguous arrays are hashed in place; other layouts copy at most a chunk."""
    import tracemalloc

    a = np.random.default_rng(7).random((2000, 1000))      # 16 MB
    f = np.asfortranarray(a)
    hash_values(a[:3].T)                                     # warm up caches
    tracemalloc.start()
    try:
        for arr in (a, a[10:1500]):                          # both C-contiguous
            tracemalloc.reset_peak()
            hash_values(arr)
            assert tracemalloc.get_traced_memory()[1] < 64 * 1024
        for arr in (f, a[:, ::2], a[::-1], f[:, 5:900]):     # not C-contiguous
            tracemalloc.reset_peak()
            hash_values(arr)
            assert tracemalloc.get_traced_memory()[1] < values_mod.CHUNK_BYTES + 256 * 1024
    finally:
        tracemalloc.stop()


def test_object_arrays_raise_unless_pickled():
    a = np.array([1, "x", None], dtype=object)
    with pytest.raises(UnhashableValue) as info:
        hash_values(a)
    assert "object dtype" in str(info.value)
    assert "allow_pickle=True" in str(info.value)
    assert isinstance(info.value, TypeError)
    h = hash_values(a, allow_pickle=True)
    assert h == hash_values(a.copy(), allow_pickle=True)
    assert h != hash_values(np.array([1, "y", None], dtype=object), allow_pickle=True)
    with pytest.raises(UnhashableValue):
        hash_values(np.zeros(3, dtype=[("a", "f8"), ("o", "O")]))


def test_large_f_ordered_array_equals_c_copy():
    a = np.asfortranarray(np.random.default_rng(8).random((2500, 2500)))   # 50 MB
    assert a.nbytes == 50_000_000 and not a.flags.c_contiguous
    c = np.ascontiguousarray(a)
    h = hash_values(a)
    assert h == hash_values(c)
    assert hash_values(a[:, ::2]) == hash_values(np.ascontiguousarray(a[:, ::2]))
    a[2499, 2499] += 1.0
    assert hash_values(a) != h


# ---------------------------------------------------------------------------
# scalars and containers
# ---------------------------------------------------------------------------
def test_scalar_types_are_distinct():
    vals = [1, 1.0, True, "1", b"1", bytearray(b"1"), 1 + 0j,
            np.int64(1), np.int32(1), np.float64(1), np.float32(1), np.bool_(True),
            np.complex128(1), np.str_("1"), np.bytes_(b"1"),
            np.array(1), np.array(1.0), np.array([1]), np.array(True),
            [1], (1,), {1}, frozenset({1}), {1: None}, None, 0, False, "", b"",
            np.dtype("i8"), range(1), slice(1), ...]
    hashes = [hash_values(v) for v in vals]
    assert len(set(hashes)) == len(vals)
    for v, h in zip(vals, hashes):
        assert hash_values(copy.deepcopy(v)) == h
        assert len(h) == 64 and int(h, 16) >= 0


def test_ints_floats_and_strings_edge_cases():
    ints = [0, -1, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 2**200, -2**200, 255, 256]
    assert len({hash_values(i) for i in ints}) == len(ints)
    assert hash_values(2**200) == hash_values(2**199 * 2)
    floats = [0.0, -0.0, float("inf"), float("-inf"), 5e-324]
    assert len({hash_values(f) for f in floats}) == len(floats)
    nan = float("nan")
    assert hash_values(nan) == hash_values(float("nan"))
    strs = ["", "a", "ab", "\u00e9", "e\u0301", "\ud800", "a\x00", "\x00a"]
    assert len({hash_values(s) for s in strs}) == len(strs)
    assert hash_values("ab", "c") != hash_values("a", "bc")
    assert hash_values(b"ab", b"c") != hash_values(b"a", b"bc")
    assert hash_values("x" * 100_000) != hash_values("x" * 100_001)


def test_sequences_and_mappings():
    assert hash_values([1, 2]) != hash_values((1, 2))
    assert hash_values([1, 2]) != hash_values([2, 1])
    assert hash_values([[1], 2]) != hash_values([1, [2]])
    assert hash_values((1, 2)) != hash_values(1, 2)
    assert hash_values([]) != hash_values(()) != hash_values({})
    # a dict's order is part of its value (list(d.values()) depends on it); a set's is not
    assert hash_values({"a": 1, "b": [2.0, 3]}) != hash_values({"b": [2.0, 3], "a": 1})
    assert hash_values({"a": 1, "b": [2.0, 3]}) == hash_values(dict([("a", 1), ("b", [2.0, 3])]))
    assert hash_values({"a": 1, "b": 2}) != hash_values({"a": 2, "b": 1})
    assert hash_values({"a": 1}) != hash_values({"a": 1.0})
    assert hash_values({1: "x"}) != hash_values({"1": "x"})
    assert hash_values({(1, "a"): np.arange(3), 2.5: None}) != \
        hash_values({2.5: None, (1, "a"): np.arange(3)})
    assert hash_values({1, 2, 3}) == hash_values({3, 2, 1})
    assert hash_values({1, 2, 3}) != hash_values(frozenset({1, 2, 3}))
    assert hash_values(set("abcdefgh")) == hash_values(set("hgfedcba"))
    assert hash_values(range(10)) != hash_values(range(0, 10, 2)) != hash_values(list(range(10)))
    assert hash_values(slice(1, None)) != hash_values(slice(None, 1))
    nested = {"w": [np.ones((2, 3)), {"b": (1, "x", None)}], "n": 3}
    same = {"w": [np.asfortranarray(np.ones((2, 3))), {"b": (1, "x", None)}], "n": 3}
    assert hash_values(nested) == hash_values(same)
    same["w"][1]["b"] = (1, "x", 0)
    assert hash_values(nested) != hash_values(same)


def test_namedtuple_enum_and_hook():
    Point = collections.namedtuple("Point", "x y")
    Other = collections.namedtuple("Other", "x y")

    class Color(enum.Enum):
        RED = 1
        GREEN = 2

    hs = [hash_values(Point(1, 2)), hash_values(Other(1, 2)), hash_values((1, 2)),
          hash_values(Point(2, 1)), hash_values(Color.RED), hash_values(Color.GREEN), hash_values(1)]
    assert len(set(hs)) == len(hs)
    assert hash_values(Point(1, 2)) == hash_values(Point(1, 2))

    class Hooked:
        def __init__(self, v):
            self.v = v

        def __fncache_hash__(self):
            return f"v={self.v}"

    class HookedBytes(Hooked):
        def __fncache_hash__(self):
            return f"v={self.v}".encode()

    assert hash_values(Hooked(1)) == hash_values(Hooked(1))
    assert hash_values(Hooked(1)) != hash_values(Hooked(2))
    assert hash_values(Hooked(1)) != hash_values(HookedBytes(1)) != hash_values("v=1")
    assert hash_values([Hooked(1)]) != hash_values([Hooked(2)])

    class BadHook:
        def __fncache_hash__(self):
            return 42

    with pytest.raises(UnhashableValue, match="must return bytes or str"):
        hash_values(BadHook())


def test_value_hasher_matches_hash_values_and_rolls_back():
    a = np.random.default_rng(9).random((300, 200))   # > direct threshold
    h = ValueHasher()
    h.update(1).update(a)
    assert h.hexdigest() == hash_values(1, a)
    with pytest.raises(UnhashableValue, match="argument 2 -> list item 1"):
        h.update([1, object(), a])
    h.update("z")
    assert h.hexdigest() == hash_values(1, a, "z")
    assert h.digest().hex() == h.hexdigest()
    assert h.intdigest() == int(h.hexdigest(), 16)
    h2 = h.copy()
    h2.update(2)
    assert h.hexdigest() == hash_values(1, a, "z")
    assert h2.hexdigest() == hash_values(1, a, "z", 2)
    assert ValueHasher().hexdigest() == hash_values()


def test_threads_do_not_change_digests(monkeypatch):
    """Large data is hashed on several threads; the digest is the same as on one."""
    big = np.random.default_rng(3).random((700, 900))
    objs = (1, "a" * 20_000, [2.5, None], {"k": b"v" * 30_000}, big, np.asfortranarray(big))
    expected = hash_values(*objs)
    monkeypatch.setattr(values_mod, "_THREADS_BYTES", 1)
    assert hash_values(*objs) == expected
    monkeypatch.setattr(values_mod, "_THREADS_BYTES", 1 << 60)
    assert hash_values(*objs) == expected


def test_golden_values_are_stable():
    """Catch accidental changes to the encoding (which would orphan caches)."""
    assert hash_values() == hash_values()
    got = hash_values(1, "a", [1.5, None], {"k": (True, b"x")}, np.arange(3, dtype="<i8"))
    assert got == GOLDEN


GOLDEN = "983321a85077419e959a735e139ba8daa70c681dd9449c6a92cb1a57d7b88e72"


def test_stable_across_processes_and_no_theano_import():
    """Different PYTHONHASHSEEDs, no Theano import, same hashes."""
    script = textwrap.dedent(f"""
        import sys
        import fncache.keys.values as mod
        import numpy as np
        print(mod.hash_values(set("abcdefghij"), frozenset(["x", "yy", "zzz"]),
                              {{"b": 1, "a": {{"q", "r"}}}}, np.arange(4.0)))
        print("theano" in sys.modules)
    """)
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        res = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             capture_output=True, text=True)
        outs.append(res.stdout.split())
    assert outs[0] == outs[1]
    assert outs[0][1] == "False"
    assert outs[0][0] == hash_values(set("abcdefghij"), frozenset(["x", "yy", "zzz"]),
                                     {"b": 1, "a": {"q", "r"}}, np.arange(4.0))


# ---------------------------------------------------------------------------
# unhashable values and allow_pickle
# ---------------------------------------------------------------------------
class Foo:
    pass


class Picklable:
    def __init__(self, x):
        self.x = x


def test_unknown_objects_raise_with_location():
    with pytest.raises(UnhashableValue) as info:
        hash_values(1, 2, {"w": [0, 1, 2, Foo()]})
    msg = str(info.value)
    assert msg.startswith("argument 2 -> dict key 'w' -> list item 3: ")
    assert "Foo" in msg and "allow_pickle=True" in msg
    assert info.value.value_type is Foo
    assert info.value.path == ["argument 2", "dict key 'w'", "list item 3"]
    with pytest.raises(UnhashableValue, match=r"argument 0 -> tuple item 1 -> set element"):
        hash_values((1, {Foo()}))
    with pytest.raises(UnhashableValue, match="argument 0 -> dict key <test_values.Foo>"):
        hash_values({Foo(): 1})
    with pytest.raises(UnhashableValue, match="cannot be hashed"):
        hash_values(lambda: 1)
    with pytest.raises(UnhashableValue):
        hash_values(np.ma.masked_array([1, 2], mask=[0, 1]))   # ndarray subclass with extra state
    with pytest.raises(TypeError):
        hash_values(object())


def test_allow_pickle_for_custom_objects():
    h1 = hash_values(Picklable(3), allow_pickle=True)
    assert h1 == hash_values(Picklable(3), allow_pickle=True)
    assert h1 != hash_values(Picklable(4), allow_pickle=True)
    assert h1 != hash_values(pickle.dumps(Picklable(3), protocol=4))   # distinct tag
    assert hash_values([1, Picklable(3)], allow_pickle=True) == \
        hash_values([1, Picklable(3)], allow_pickle=True)
    # built-in values hash the same whether or not pickling is allowed
    assert hash_values([1, "a"], allow_pickle=True) == hash_values([1, "a"])
    with pytest.raises(UnhashableValue, match="could not be pickled"):
        hash_values(lambda: 1, allow_pickle=True)
    m = np.ma.masked_array([1, 2], mask=[0, 1])
    assert hash_values(m, allow_pickle=True) != \
        hash_values(np.ma.masked_array([1, 2], mask=[1, 0]), allow_pickle=True)


def test_self_referential_structure_raises():
    lst = [1]
    lst.append(lst)
    with pytest.raises(UnhashableValue, match="contains itself"):
        hash_values(lst)


def test_memmap_hashes_by_content(tmp_path):
    a = np.random.default_rng(10).random((50, 40))
    mm = np.memmap(tmp_path / "a.dat", dtype=a.dtype, mode="w+", shape=a.shape)
    mm[:] = a
    assert hash_values(mm) == hash_values(a)
    assert hash_values(mm.T) == hash_values(a.T)


# ---------------------------------------------------------------------------
# Theano shared variables
# ---------------------------------------------------------------------------
def test_theano_shared_variables():
    import theano

    v = np.random.default_rng(11).random((4, 5))
    s1 = theano.shared(v.copy(), name="a")
    s2 = theano.shared(np.asfortranarray(v), name="b")
    assert hash_values(s1) == hash_values(s2)
    h = hash_values(s1)
    assert h != hash_values(v)                      # a shared variable is not its value
    s1.set_value(v + 1)
    assert hash_values(s1) != h
    s1.set_value(v.copy())
    assert hash_values(s1) == h
    s32 = theano.shared(v.astype("float32"))
    assert hash_values(s32) != h
    row = theano.shared(v[:1].copy(), broadcastable=(True, False))
    assert hash_values(row) != hash_values(theano.shared(v[:1].copy()))
    assert hash_values([s1, 3]) == hash_values([s2, 3])
    # RandomStreams' states hash by their full state (the memo keys random functions on them)
    assert hash_values(theano.shared(np.random.RandomState(0))) == \
        hash_values(theano.shared(np.random.RandomState(0)))
    assert hash_values(theano.shared(np.random.RandomState(0))) != \
        hash_values(theano.shared(np.random.RandomState(1)))
    assert hash_values(theano.shared(np.random.RandomState(0)), allow_pickle=True) == \
        hash_values(theano.shared(np.random.RandomState(0)), allow_pickle=True)


# ---------------------------------------------------------------------------
# property test: equal structures hash equal, any single mutation changes it
# ---------------------------------------------------------------------------
_DTYPES = [np.dtype(d) for d in ("<f8", ">f4", "<i4", "u1", "?", "<c8", "<U2", "<M8[D]")]

leaves = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True), st.complex_numbers(),
    st.text(max_size=5), st.binary(max_size=5),
    st.integers(-2**63, 2**63 - 1).map(np.int64),
    st.floats(width=32).map(np.float32),
    st.booleans().map(np.bool_),
    hnp.arrays(st.sampled_from(_DTYPES), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
)
hashable_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                            st.text(max_size=4), st.binary(max_size=4))


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
        st.frozensets(hashable_leaves, max_size=4),
    )


structures = st.recursive(leaves, _containers, max_leaves=12)


def relayout(obj):
    """An equal structure built from fresh objects: other array layouts and set
    construction orders (a dict's order is part of its value, so it is kept)."""
    if isinstance(obj, np.ndarray):
        return strided_copy(obj) if obj.ndim % 2 else np.array(obj, order="F")
    if isinstance(obj, list):
        return [relayout(x) for x in obj]
    if isinstance(obj, tuple):
        return tuple(relayout(x) for x in obj)
    if isinstance(obj, dict):
        return {k: relayout(obj[k]) for k in list(obj)}
    if isinstance(obj, frozenset):
        return frozenset(reversed(list(obj)))
    return copy.deepcopy(obj)


def _flip_bit(value_bytes, index):
    b = bytearray(value_bytes)
    b[index % len(b)] ^= 1
    return bytes(b)


def mutate(obj, data):
    """Return a copy of ``obj`` that differs in exactly one place."""
    if isinstance(obj, (list, tuple)):
        choices = ["append", "retype"] + (["child", "drop"] if obj else [])
        how = data.draw(st.sampled_from(choices))
        items = list(obj)
        if how == "child":
            i = data.draw(st.integers(0, len(items) - 1))
            items[i] = mutate(items[i], data)
        elif how == "drop":
            del items[data.draw(st.integers(0, len(items) - 1))]
        elif how == "append":
            items.append(data.draw(leaves))
        else:
            return tuple(items) if isinstance(obj, list) else items
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, dict):
        how = data.draw(st.sampled_from(["add"] + (["child", "drop"] if obj else [])
                                        + (["reorder"] if len(obj) > 1 else [])))
        new = dict(obj)
        if how == "reorder":  # the same items in another order
            items = list(new.items())
            return dict(items[1:] + items[:1])
        if how == "add":
            key = "new"
            while key in new:
                key += "!"
            new[key] = data.draw(leaves)
        else:
            key = data.draw(st.sampled_from(sorted(new)))
            if how == "drop":
                del new[key]
            else:
                new[key] = mutate(new[key], data)
        return new
    if isinstance(obj, frozenset):
        if obj and data.draw(st.booleans()):
            return obj - {data.draw(st.sampled_from(sorted(obj, key=hash_values)))}
        extra = data.draw(hashable_leaves.filter(lambda x: x not in obj))
        return obj | {extra}
    if isinstance(obj, np.ndarray):
        if obj.size == 0 or obj.dtype.itemsize == 0:
            return np.zeros(obj.shape + (1,), obj.dtype)
        flat = np.ascontiguousarray(obj).reshape(-1).view(np.uint8).copy()
        flat[data.draw(st.integers(0, flat.size - 1))] ^= 1
        return flat.view(obj.dtype).reshape(obj.shape)
    if isinstance(obj, np.generic):
        raw = _flip_bit(obj.tobytes(), data.draw(st.integers(0, 63)))
        return np.frombuffer(raw, dtype=obj.dtype)[0]
    if obj is None:
        return 0
    if isinstance(obj, bool):
        return not obj
    if isinstance(obj, int):
        return obj + 1
    if isinstance(obj, float):
        bits = struct.unpack("<Q", struct.pack("<d", obj))[0]
        return struct.unpack("<d", struct.pack("<Q", bits ^ 1))[0]
    if isinstance(obj, complex):
        return complex(mutate(obj.real, data), obj.imag)
    if isinstance(obj, str):
        return obj + "x"
    if isinstance(obj, bytes):
        return obj + b"x"
    raise AssertionError(type(obj))


_settings = settings(max_examples=300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_settings
@given(structures)
def test_property_equal_structures_hash_equal(obj):
    h = hash_values(obj)
    assert hash_values(relayout(obj)) == h
    assert hash_values(copy.deepcopy(obj)) == h
    assert hash_values(obj, allow_pickle=True) == h


@_settings
@given(structures, st.data())
def test_property_single_mutation_changes_hash(obj, data):
    mutated = mutate(obj, data)
    assert hash_values(mutated) != hash_values(obj)
    assert hash_values(relayout(mutated)) == hash_values(mutated)


def test_keyed_by_a_key_derived_from_the_team_secret():
    """With a secret, digests are BLAKE3 in keyed mode: the same per secret, different across
    secrets and from plain BLAKE3, so nobody without the secret can predict a key."""
    from fncache.config import settings
    import blake3
    big = np.arange(100_000.0)  # streamed, not one-shot
    saved, settings.secret = settings.secret, None
    plain = [hash_values(1, "a"), hash_values(big), digest_mod.content_digest(b"blob")]
    assert plain[2] == blake3.blake3(b"blob").hexdigest()
    keyed = {}
    try:
        for secret in (b"one secret", b"another secret", b"one secret"):
            settings.secret = secret
            keyed.setdefault(secret, []).append(
                [hash_values(1, "a"), hash_values(big), digest_mod.content_digest(b"blob")])
    finally:
        settings.secret = saved
    one, another = keyed[b"one secret"], keyed[b"another secret"][0]
    assert one[0] == one[1]
    for a, b, c in zip(one[0], another, plain):
        assert len({a, b, c}) == 3
    settings.secret, saved = None, settings.secret
    try:
        assert [hash_values(1, "a"), hash_values(big)] == plain[:2]
    finally:
        settings.secret = saved
