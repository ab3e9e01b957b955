"""The bytes layer on its own, fast: tier skip-and-retry, memory eviction, Redis chunking.

Real parts only: a real DiskStore directory, a real redis-server (the ``redis_server``
fixture); a tier that fails is a real RedisStore whose server is killed.
"""
import os
import warnings

import pytest

from fncache.errors import EntryRejected, FncacheWarning
from fncache.store import tiered
from fncache.store.memory import MemoryStore
from fncache.store.redis import RedisStore
from fncache.store.tiered import TieredStore


def _accept(data):
    return data


# ---------------------------------------------------------------- memory tier
def test_memory_tier_evicts_least_recently_used_by_bytes():
    store = MemoryStore(max_bytes=30, max_entries=100)
    for name in "abc":
        store.put(name, name.encode() * 10)  # 10 bytes each: full
    assert store.get("a") == b"a" * 10  # a is now the most recently used
    store.put("d", b"d" * 10)
    assert store.get("b") is None  # the least recently used went
    assert sorted(store.keys()) == ["a", "c", "d"] and store.total_bytes == 30


def test_memory_tier_evicts_by_entry_count_and_skips_values_that_cannot_fit():
    store = MemoryStore(max_bytes=1000, max_entries=2)
    for name in "xyz":
        store.put(name, b"1")
    assert sorted(store.keys()) == ["y", "z"]
    store.put("huge", b"0" * 1001)  # bigger than the tier: kept out, nothing evicted for it
    assert store.get("huge") is None and sorted(store.keys()) == ["y", "z"]
    store.put("y", b"22")  # replacing a value counts its new size only
    assert store.total_bytes == 3 and len(store) == 2


# ---------------------------------------------------------------- tiered store
def test_a_failing_tier_is_skipped_then_retried_after_the_pause(redis_server, monkeypatch):
    """Redis dies: one warning, the memory tier serves and takes writes; within RETRY_AFTER the
    dead tier is not even called; once the pause is over and Redis is back, it is used again."""
    memory = MemoryStore()
    team = RedisStore(redis_server.url, prefix="test:", timeout=0.2)
    store = TieredStore([memory, team])
    store.put("k1", b"v1")
    assert team.get("k1") == b"v1"
    redis_server.kill()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store.put("k2", b"v2")  # redis fails: warned once, memory still written
        store.put("k3", b"v3")  # skipped: no second warning
    told = [str(w.message) for w in caught if issubclass(w.category, FncacheWarning)]
    assert len(told) == 1 and "redis tier failed" in told[0]
    assert memory.get("k2") == b"v2" and memory.get("k3") == b"v3"
    redis_server.start()  # back (empty), but still inside the pause: not asked yet
    team.put("k9", b"v9")
    assert store.get("k9", _accept) == (None, None)  # skipped, although it would answer now
    monkeypatch.setattr(tiered.time, "monotonic", lambda: float("inf"))  # the pause is over
    store.put("k4", b"v4")
    assert team.get("k4") == b"v4"  # used again


def test_a_hit_in_a_slower_tier_is_copied_to_the_faster_ones(tmp_path):
    from fncache.store.disk import DiskStore
    memory, disk = MemoryStore(), DiskStore(str(tmp_path / "disk"))
    store = TieredStore([memory, disk])
    disk.put("k", b"value")
    assert store.get("k", _accept) == (b"value", "disk")
    assert memory.get("k") == b"value"
    assert store.get("k", _accept) == (b"value", "memory")


def test_a_rejected_entry_is_removed_from_its_tier_and_the_next_tier_asked(tmp_path):
    from fncache.store.disk import DiskStore
    memory, disk = MemoryStore(), DiskStore(str(tmp_path / "disk"))
    store = TieredStore([memory, disk])
    memory.put("k", b"damaged")
    disk.put("k", b"whole")
    calls = []

    def validate(data):
        calls.append(data)
        if data == b"damaged":
            raise EntryRejected("corrupt", "test: damaged")
        return data
    with pytest.warns(FncacheWarning, match="ignoring a bad entry in the memory tier"):
        assert store.get("k", validate) == (b"whole", "disk")
    assert calls == [b"damaged", b"whole"]
    assert memory.get("k") == b"whole"  # the damaged copy was removed, the good one copied up


def test_an_entry_of_another_format_stays_and_is_warned_about_once(tmp_path):
    from fncache.store.disk import DiskStore
    disk = DiskStore(str(tmp_path / "disk"))
    store = TieredStore([disk])
    disk.put("k", b"newer")

    def validate(data):
        raise EntryRejected("version-mismatch", "test: format 99")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.get("k", validate) == (None, None)
        assert store.get("k", validate) == (None, None)
    assert len([w for w in caught if issubclass(w.category, FncacheWarning)]) == 1
    assert disk.get("k") == b"newer"


# ---------------------------------------------------------------- redis chunking
@pytest.mark.parametrize("compress", [False, True])
def test_redis_splits_a_large_value_into_chunks_and_joins_them(redis_server, compress):
    team = RedisStore(redis_server.url, prefix="test:", chunk_bytes=1000, compress=compress,
                      secret=b"team secret")
    value = os.urandom(4500)  # random: compression cannot make it fit one chunk
    team.put("big", value)
    client = redis_server.client()
    chunks = sorted(k for k in client.keys("test:c:big:*"))
    assert len(chunks) >= 5
    assert team.get("big") == value


def test_redis_a_missing_chunk_is_a_miss_and_a_rewrite_replaces_all_chunks(redis_server):
    team = RedisStore(redis_server.url, prefix="test:", chunk_bytes=1000, compress=False,
                      secret=b"team secret")
    client = redis_server.client()
    team.put("big", b"a" * 3500)
    first = set(client.keys("test:c:big:*"))
    team.put("big", b"b" * 3500)  # a fresh token: the old chunks are not the new value's
    assert team.get("big") == b"b" * 3500
    second = set(client.keys("test:c:big:*")) - first
    assert second
    client.delete(sorted(second)[0])
    assert team.get("big") is None


def test_redis_a_manifest_not_made_with_the_secret_is_never_read(redis_server):
    writer = RedisStore(redis_server.url, prefix="test:", chunk_bytes=1000, compress=False,
                        secret=b"their secret")
    reader = RedisStore(redis_server.url, prefix="test:", chunk_bytes=1000, compress=False,
                        secret=b"our secret")
    writer.put("big", b"x" * 3000)
    assert reader.get("big") == b""  # damaged/unauthenticated: the caller's miss
