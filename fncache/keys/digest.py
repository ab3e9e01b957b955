"""Digests in one place: sha256 of a canonical repr (graph keys) and BLAKE3 content digests.

Content digests (memo keys, graph constants, blobs) are BLAKE3, keyed by a key derived
from the team secret when one is set, so a tier shared with others cannot be fed entries
under names computed without the secret.
"""
import hashlib

import blake3

from fncache.config import settings as _settings

#: Inputs this large are hashed on several threads (BLAKE3 splits them in a tree).
_THREADS_BYTES = 1 << 22

_blake3 = blake3.blake3
_AUTO = blake3.blake3.AUTO
_KEY_CONTEXT = "fncache 2026 content digests: memo keys, constants and blobs"
_derived = [None, None]  # [secret, the BLAKE3 key derived from it]


def _digest_key():
    """The BLAKE3 key derived from the team secret, or None (plain BLAKE3) without one."""
    secret = _settings.secret if _settings is not None else None
    if not secret:
        return None
    if _derived[0] != secret:
        raw = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
        _derived[:] = [secret, _blake3(raw, derive_key_context=_KEY_CONTEXT).digest()]
    return _derived[1]


def _new_hasher(data=b"", threads=False, keyed=True):
    """A BLAKE3 hasher, keyed when a team secret is set; ``threads`` for large inputs."""
    key = _digest_key() if keyed else None
    if threads:
        if key is None:
            return _blake3(data, max_threads=_AUTO)
        return _blake3(data, key=key, max_threads=_AUTO)
    return _blake3(data) if key is None else _blake3(data, key=key)


def content_digest(data, keyed=True):
    """64 hex chars naming ``data`` (bytes or a buffer) by its contents, as memo keys do.

    ``keyed=False``: plain BLAKE3 whatever the secret, for names every process must agree
    on (a graph key is the same in every process that builds the graph)."""
    view = memoryview(data)
    if view.format != "B" or not view.c_contiguous:
        view = view.cast("B") if view.c_contiguous else memoryview(bytes(view))
    threads = view.nbytes >= _THREADS_BYTES
    return _new_hasher(threads=threads, keyed=keyed).update(view).hexdigest()


def sha256_hex(payload):
    """Hex sha256 of a canonical, type-tagged tuple of plain values (its repr)."""
    return hashlib.sha256(repr(payload).encode("utf-8", "surrogatepass")).hexdigest()
