"""Result memoization against real Theano functions, a real diskcache directory and real processes."""
import glob
import logging
import os
import sys
import time

import numpy as np
import pytest

import fncache
import theano
import theano.tensor as T
from fncache.observe import counters
from fncache.store import arrays, current, envelope

from helpers import run_python

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
CALLS = []  # rows each memoized Python function below computed (ignored by their keys)
SCALE = 2.0


def delta(before):
    now = counters.session()
    return {k: now.get(k, 0) - before.get(k, 0) for k in now if now.get(k, 0) != before.get(k, 0)}


def _helper(a):
    return np.sqrt(np.abs(a)) * SCALE


@fncache.memoize(min_seconds=0, ignore=("CALLS",))
def features(a, offset=0.0):
    CALLS.append(len(a))
    return _helper(a) + offset


@fncache.memoize(mode="rows", min_seconds=0, ignore=("CALLS",))
def row_features(a, w):
    CALLS.append(len(a))
    return np.tanh(a * w).sum(axis=1), a[:, :2] * 3


@pytest.fixture(scope="module")
def net():
    """One small graph for the Theano tests: compiled once per module, memoized per test."""
    x = T.dmatrix("x")
    W = theano.shared(np.linspace(-1, 1, 12).reshape(4, 3), "W")
    return x, W, T.tanh(T.dot(x, W)).sum(axis=1)


def memo_fn(net, **options):
    x, W, out = net
    return fncache.function([x], out, memoize=dict(min_seconds=0, **options))


def test_equal_inputs_in_different_layouts_hit(cache_dir, net):
    f = memo_fn(net)
    a = np.random.RandomState(0).randn(5, 4)
    before = counters.session()
    first = f(a)
    big = np.zeros((10, 8)); big[::2, ::2] = a
    for same in (np.asfortranarray(a), a.copy(), big[::2, ::2]):
        np.testing.assert_array_equal(f(same), first)
    assert delta(before)["memo.hits"] == 3 and delta(before)["memo.misses"] == 1


def test_any_change_of_element_dtype_shape_or_shared_value_misses(cache_dir, net):
    f = memo_fn(net)
    _, W, _ = net
    a = np.random.RandomState(1).randn(5, 4)
    f(a)
    changed = a.copy(); changed[3, 2] = np.nextafter(changed[3, 2], 1)
    before = counters.session()
    f(changed)
    f(np.vstack([a, a[:1]]))  # shape
    W.set_value(W.get_value() * 2)  # shared value
    try:
        f(a)
    finally:
        W.set_value(W.get_value() / 2)
    assert delta(before) .get("memo.hits", 0) == 0 and delta(before)["memo.misses"] == 3
    CALLS.clear()
    features(np.arange(4.0))
    features(np.arange(4.0, dtype=np.float32))  # dtype
    features(np.arange(4.0), offset=1.0)
    features(np.arange(4.0), 0.0)  # the same call as the first: a hit
    assert CALLS == [4, 4, 4]


def test_changed_global_or_called_code_misses(cache_dir):
    global SCALE, _helper
    CALLS.clear()
    a = np.arange(3.0)
    features(a)
    SCALE = 3.0  # a global value the called helper reads
    try:
        np.testing.assert_array_equal(features(a), np.sqrt(a) * 3.0)
    finally:
        SCALE = 2.0
    original = _helper
    _helper = lambda a: np.sqrt(np.abs(a)) * SCALE + 0  # noqa: E731  (same numbers, new code)
    try:
        features(a)
    finally:
        _helper = original
    features(a)
    assert CALLS == [3, 3, 3]


def test_mutating_a_returned_array_leaves_the_cache_intact(cache_dir, net):
    f = memo_fn(net)
    a = np.random.RandomState(2).randn(3, 4)
    expected = net_plain(net)(a)
    for result in (f(a), f(a), features(a), features(a)):  # miss and hit, Theano and Python
        with pytest.raises(ValueError, match="read-only"):
            result[0] = 99.0
        copy = np.array(result)
        copy[0] = 99.0
    np.testing.assert_array_equal(f(a), expected)


def test_disk_hit_is_memory_mapped_read_only(cache_dir):
    @fncache.memoize(min_seconds=0)
    def ones(n):
        return np.ones(n)
    ones(300_000)  # 2.4 MB: stored as a blob beside the entry
    current().memory.clear()
    before = counters.session()
    result = ones(300_000)
    assert delta(before)["memo.mapped"] == 1 and delta(before)["disk.hits"] >= 1
    base = result
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap) and not result.flags.writeable
    assert result.sum() == 300_000


def test_replay_reproduces_shared_state_bit_for_bit_across_processes(cache_dir):
    code = '''
import sys
sys.path.insert(0, %r)
import numpy as np
import workloads
w = workloads.mlp()
steps = int(sys.argv[1])
if sys.argv[2] == "theano":
    f = theano.function(w.inputs, w.outputs, **w.kwargs)
else:
    f = fncache.function(w.inputs, w.outputs, memoize={"mode": "replay", "min_seconds": 0},
                         **w.kwargs)
result["costs"] = [float(f(*w.data)).hex() for _ in range(steps)]
result["shared"] = [np.asarray(s.get_value()).tobytes().hex() for s in w.shared]
result["memo"] = fncache.stats(session_only=True)["memo"]
''' % EXAMPLES
    env = {"FNCACHE_DIR": str(cache_dir)}
    first, _, _ = run_python(code, env, args=("3", "fncache"))  # computes and stores 3 steps
    resumed, _, _ = run_python(code, env, args=("5", "fncache"))  # replays 3, computes 2
    plain, _, _ = run_python(code, env, args=("5", "theano"))
    assert first["memo"]["misses"] == 3
    assert resumed["memo"]["hits"] == 3 and resumed["memo"]["misses"] == 2
    assert resumed["costs"] == plain["costs"] and first["costs"] == plain["costs"][:3]
    assert resumed["shared"] == plain["shared"]


def test_rows_mode_computes_only_new_rows_and_equals_an_unmemoized_call(cache_dir, net):
    rng = np.random.RandomState(3)
    data, w = rng.randn(15, 4), rng.randn(4)
    want = row_features.func(data[5:], w)  # the undecorated function
    CALLS.clear()
    row_features(data[:10], w)
    got = row_features(data[5:], w)  # rows 5..9 stored, 10..14 new: one call of 5 rows
    assert CALLS == [10, 5]
    assert isinstance(got, tuple) and len(got) == 2
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)
        assert g.dtype == e.dtype and not g.flags.writeable
    row_features(data[5:], w * 2)  # a fixed argument is part of every row's key
    assert CALLS == [10, 5, 10]

    f = memo_fn(net, mode="rows")
    before = counters.session()
    np.testing.assert_array_equal(f(data[:10]), net_plain(net)(data[:10]))
    np.testing.assert_array_equal(f(data), net_plain(net)(data))
    assert delta(before)["memo.hits"] == 10 and delta(before)["memo.misses"] == 15


def net_plain(net):
    x, _, out = net
    return theano.function([x], out)


def test_rows_mode_rejects_outputs_without_the_batch_axis(cache_dir):
    @fncache.memoize(mode="rows", min_seconds=0)
    def total(a):
        return a.sum()
    with pytest.raises(fncache.MemoizeError, match="batch axis"):
        total(np.ones((3, 2)))
    with pytest.raises(ValueError, match="axis 0 of one length"):
        fncache.memoize(mode="rows", batched=(0, 1))(lambda a, b: a)(np.ones(3), np.ones(4))


def test_unsupported_types_give_a_clear_error(cache_dir):
    with pytest.raises(fncache.UnhashableValue, match="argument 0.*object"):
        features(np.array([object()], dtype=object))
    with pytest.raises(TypeError, match="cannot be hashed"):
        features(object())
    logger = logging.getLogger("t")

    def logged(a):
        logger.info("computing")
        return a + 1
    with pytest.raises(fncache.UnhashableValue, match="closure variable 'logger'.*ignore"):
        fncache.memoize(logged, min_seconds=0)(1)
    assert fncache.memoize(logged, min_seconds=0, ignore=("logger",))(1) == 2
    with pytest.raises(fncache.MemoizeError, match="mode"):
        fncache.memoize(mode="fast")
    with pytest.raises(fncache.MemoizeError, match="min_seconds"):
        fncache.memoize(min_seconds=-1)
    with pytest.raises(fncache.MemoizeError, match="replay"):
        fncache.memoize(lambda a: a, mode="replay")


def test_functions_with_updates_are_not_memoized_and_say_why(cache_dir):
    x = T.dvector("x")
    counter = theano.shared(0.0, "counter")
    with pytest.warns(fncache.FncacheWarning, match="updates shared variables \\(counter\\).*replay"):
        f = fncache.function([x], x.sum() + counter, updates=[(counter, counter + 1)],
                             memoize=True)
    assert not isinstance(f, fncache.memo._Memoized)
    f(np.ones(2)); f(np.ones(2))
    assert counter.get_value() == 2.0


def test_min_seconds_max_bytes_expire_and_clear(cache_dir):
    CALLS.clear()

    @fncache.memoize(ignore=("CALLS",))  # default min_seconds: 1 ms
    def quick(a):
        CALLS.append(1)
        return a + 1

    @fncache.memoize(min_seconds=0, max_bytes=1000, ignore=("CALLS",))
    def capped(n):
        CALLS.append(2)
        return np.zeros(n)

    @fncache.memoize(min_seconds=0, expire=0.05, ignore=("CALLS",))
    def fleeting(a):
        CALLS.append(3)
        return a

    quick(1); quick(1)
    capped(10); capped(10); capped(1000); capped(1000)
    fleeting(1); fleeting(1); time.sleep(0.1); fleeting(1)
    # too fast: never stored; over the cap: computed each time; expired: computed again
    assert CALLS == [1, 1, 2, 2, 2, 3, 3]
    features(np.arange(2.0)); features(np.arange(3.0))
    assert fncache.clear(features) == 2
    CALLS.clear()
    features(np.arange(2.0))
    assert CALLS == [2]


def test_cached_function_memoize_and_clear(cache_dir):
    @fncache.cached_function(memoize={"min_seconds": 0})
    def scaled(x):
        return T.exp(x) * 2

    a = np.linspace(0, 1, 7)
    before = counters.session()
    np.testing.assert_allclose(scaled(a), np.exp(a) * 2)
    scaled(a)
    assert delta(before)["memo.hits"] == 1
    assert fncache.clear(scaled) == 1


def test_a_damaged_entry_or_blob_is_a_miss_with_a_warning(cache_dir):
    CALLS.clear()

    @fncache.memoize(min_seconds=0, ignore=("CALLS",))
    def grid(n):
        CALLS.append(n)
        return np.arange(n, dtype=np.float64)

    grid(5); grid(300_000)
    cache = current()
    key = next(k for k in cache.disk.keys() if k.startswith("memo:py:") and
               not arrays.blob_names(envelope.read_header(cache.disk.get(k))["layout"]))
    data = bytearray(cache.disk.get(key)); data[-3] ^= 0xFF
    cache.disk.put(key, bytes(data))
    blob = glob.glob(os.path.join(str(cache_dir), "entries", "*", "*", "*.val"))
    assert len(blob) == 1  # the 2.4 MB array is the only value big enough for its own file
    with open(blob[0], "r+b") as fh:
        fh.seek(1000); fh.write(b"\x01")
    cache.memory.clear()
    with pytest.warns(fncache.FncacheWarning, match="bad"):
        np.testing.assert_array_equal(grid(5), np.arange(5.0))
    with pytest.warns(fncache.FncacheWarning, match="bad memo entry.*digest"):
        assert grid(300_000)[-1] == 299_999
    assert CALLS == [5, 300_000, 5, 300_000]
    cache.memory.clear()
    grid(5); grid(300_000)  # rebuilt entries hit
    assert CALLS == [5, 300_000, 5, 300_000]


def test_disabled_runs_the_function(cache_dir, monkeypatch):
    from fncache.config import settings
    monkeypatch.setattr(settings, "disabled", True)
    CALLS.clear()
    features(np.arange(2.0)); features(np.arange(2.0))
    assert CALLS == [2, 2]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
