"""Stress: 8 processes hammer one cache directory and one Redis through TieredStore.

Each value is a sealed entry whose payload names its key and carries a digest
of itself, so a reader can tell a correct value from a torn, mixed or foreign
one. Every read must be a miss or a verified, correct value; no tier may fail.
FNCACHE_SOAK=1 runs ten times longer.
"""
import json
import os
import subprocess
import sys

PROCESSES = 8
OPS = 2000 * (10 if os.environ.get("FNCACHE_SOAK") else 1)

WORKER = r'''
import hashlib, json, os, random, sys, warnings
from fncache.observe import counters
from fncache.store import envelope
from fncache.store.disk import DiskStore
from fncache.store.redis import RedisStore
from fncache.errors import FncacheWarning
from fncache.store.tiered import TieredStore

directory, url, ops, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
secret = b"stress"
rng = random.Random(seed)
warnings.simplefilter("error", FncacheWarning)  # any tier failure or bad entry fails the worker
redis = RedisStore(url, prefix="stress:", chunk_bytes=4096, timeout=5.0, secret=secret)
store = TieredStore([DiskStore(os.path.join(directory, "entries")), redis])
remote = TieredStore([redis])  # reads that go to Redis even when the disk has the key
keys = ["%02d" % i for i in range(40)]

def make(key):
    size = rng.choice([rng.randint(1, 2000), rng.randint(5000, 30000)])  # small, or 2-8 chunks
    body = rng.randbytes(size)
    payload = json.dumps({"key": key, "sha": hashlib.sha256(body).hexdigest()}).encode() + b"\n" + body
    return envelope.seal(key, {"writer": seed}, payload, secret)

def check(key):
    def validate(data):
        header, payload = envelope.open_envelope(key, data, secret)
        meta, body = payload.split(b"\n", 1)
        meta = json.loads(meta)
        assert meta["key"] == key and meta["sha"] == hashlib.sha256(body).hexdigest(), meta
        return len(body)
    return validate

done = {"get": 0, "hit": 0, "put": 0, "delete": 0, "redis_hit": 0}
for _ in range(ops):
    key, roll = rng.choice(keys), rng.random()
    if roll < 0.45:
        value, tier = (store if roll < 0.3 else remote).get(key, check(key))
        done["get"] += 1
        done["hit"] += value is not None
        done["redis_hit"] += tier == "redis"
    elif roll < 0.85:
        store.put(key, make(key))
        done["put"] += 1
    else:
        store.delete(key)
        done["delete"] += 1
session = counters.session()
done["errors"] = {k: v for k, v in session.items() if k.endswith(".errors") or k.startswith("rejected.")}
print("DONE " + json.dumps(done))
'''


def test_eight_processes_mixed_operations_on_one_directory_and_one_redis(redis_server, tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), redis_server.url,
                               str(OPS), str(seed)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in range(PROCESSES)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads([l for l in out.splitlines() if l.startswith("DONE ")][0][5:]))
    for done in results:
        assert done["errors"] == {}
        assert done["get"] + done["put"] + done["delete"] == OPS
    assert sum(done["hit"] for done in results) > 0
    assert sum(done["redis_hit"] for done in results) > 0
