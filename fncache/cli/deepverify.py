"""``fncache verify --deep``: load every entry the way a hit would, in a child process.

Plain ``verify`` checks bytes and signatures and unpickles nothing, so an entry
whose pickle cannot be rebuilt here passes it. ``--deep`` rebuilds each entry:
a compiled function is loaded like a hit (its C modules installed, its graph
and thunks rebuilt), bound to stand-in shared variables of the types recorded
when it was stored; a memoized result is unpacked. This runs in child
processes, never in the caller's: loading runs the entry's code, and a broken
entry may crash its process. A child that dies is replaced, and the entry it
was loading is reported as having crashed it.
"""
import json
import os
import subprocess
import sys

_START = "START "
_DONE = "DONE "
_SKIPPED = "skipped"  # another fncache format's entry


def verify(cache, report, secret=None, fix=False):
    """Add to ``inventory.verify``'s ``report`` what loading each intact entry found.

    ``report["loaded"]`` counts the entries that load; ``report["cannot_load"]``
    lists ``{key, name, reason}`` of those that do not. With ``fix`` those are
    removed and their keys remembered as unloadable (fncache.compiled.unloadable), so
    programs compile them without storing them again.
    """
    from fncache.cli import inventory
    from fncache.compiled import unloadable
    damaged = {d["key"] for d in report["damaged"]}
    keys = [k for k in inventory.entry_keys(cache) if k not in damaged]
    outcome = check(cache, keys, secret)
    records = dict(cache.records())
    report["cannot_load"] = [{"key": k, "name": (records.get(k) or {}).get("name") or "",
                              "reason": why} for k, why in sorted(outcome.items()) if why]
    report["loaded"] = sum(1 for why in outcome.values() if why is None)
    if fix:
        for bad in report["cannot_load"]:
            unloadable.remember(cache, bad["key"], bad["reason"])
            inventory._remove(cache, bad["key"])  # as --fix removes damage
            report["removed"] += 1
    return report


def check(cache, keys, secret=None):
    """{key: None (loads) or why it cannot load}, each rebuilt in a child process.

    Entries of another fncache format are left out: that version may load them.
    """
    outcome = {}
    remaining = list(keys)
    while remaining:
        request = {"directory": cache.directory, "keys": remaining,
                   "secret": secret.decode("latin-1") if isinstance(secret, bytes) else secret}
        proc = subprocess.run([sys.executable, "-m", "fncache.cli.deepverify"], text=True,
                              input=json.dumps(request), capture_output=True,
                              env=dict(os.environ, FNCACHE_INSTALL="0"))
        started = None
        for line in proc.stdout.splitlines():
            if line.startswith(_START):
                started = line[len(_START):]
            elif line.startswith(_DONE):
                done = json.loads(line[len(_DONE):])
                outcome[done["key"]] = done["error"]
                started = None
        if started is not None:  # the child died while loading this entry
            outcome[started] = ("loading it ended the process (exit status %d): %s"
                                % (proc.returncode, proc.stderr.strip()[-300:] or "no message"))
        elif proc.returncode != 0 and not set(remaining) <= set(outcome):
            raise RuntimeError("the verify child failed (exit status %d): %s"
                               % (proc.returncode, proc.stderr.strip()[-500:]))
        remaining = [k for k in remaining if k not in outcome]
    return {k: why for k, why in outcome.items() if why != _SKIPPED}


def _load(cache, key, secret):
    """Rebuild one entry; raise if it cannot be."""
    from fncache import backends, compiled, memo
    from fncache.errors import EntryRejected
    from fncache.store import envelope
    data = cache.disk.get(key)
    if data is None:
        return None  # removed meanwhile: nothing left to load
    try:
        header, payload = envelope.open_envelope(key, data, secret)
    except EntryRejected as exc:
        if exc.reason == "version-mismatch":
            return _SKIPPED
        raise
    kind = header.get("kind")
    if kind == compiled.KIND:
        backend = backends.get(header.get("backend", "theano"))  # older entries: Theano's
        n_shared = (header.get("graph") or {}).get("shared", 0)
        types = header.get("shared_types")
        if types is None and n_shared:
            raise ValueError("its shared variables' types are not recorded (an entry written by "
                             "an earlier fncache): it can only be loaded by its own program")
        shared = backend.standins(types) if types else []
        inputs = header.get("input_types")
        if inputs is None and (header.get("graph") or {}).get("inputs", 0):
            raise ValueError("its inputs' types are not recorded (an entry written by an "
                             "earlier fncache): it can only be loaded by its own program")
        compiled.rebuild(backend, cache, header, payload, shared,
                         backend.standins(inputs, shared=False) if inputs else [])
    elif kind == memo.KIND:
        from fncache.store import arrays, blob_intact

        def read_blob(name, size):
            blob = cache.disk.get(memo.BLOB_PREFIX + name)
            if blob is None or len(blob) != size or not blob_intact(memo.BLOB_PREFIX + name, blob):
                raise ValueError("blob %s is missing or damaged" % name)
            return blob
        arrays.unpack(header["layout"], payload, read_blob)
    else:
        raise ValueError("an entry of kind %r, which this fncache does not know" % kind)
    return None


def _child():
    request = json.loads(sys.stdin.read())
    import fncache
    secret = request["secret"].encode("latin-1") if request["secret"] else None
    fncache.configure(directory=request["directory"], readonly=True,
                      **({"secret": secret} if secret else {}))
    from fncache.store import current
    cache = current()
    for key in request["keys"]:
        print(_START + key, flush=True)
        try:
            error = _load(cache, key, secret)
        except Exception as exc:
            error = "%s: %s" % (type(exc).__name__, str(exc)[:500])
        print(_DONE + json.dumps({"key": key, "error": error}), flush=True)


if __name__ == "__main__":
    _child()
