"""Named parts folded into one key (JAX ``cache_key`` style), and the signature they make.

A backend computes each part's payload with a small named function (a list of
``(name, part function)``); ``fold`` hashes each payload (sha256 of its canonical repr),
logs each part's digest at DEBUG so two logs explain a miss, and folds the digests, in
``PART_NAMES`` order, into the key.
"""
import hashlib
import logging

from fncache.keys.digest import sha256_hex

log = logging.getLogger(__name__)

#: Fixed order of the named parts. Causes before effects, so explain() lists
#: e.g. a changed input dtype before the graph nodes whose types it changed.
PART_NAMES = ("environment", "mode", "rewrites", "options", "inputs", "shared",
              "outputs", "constants", "graph", "c_code")

_KEY_PREFIX = b"fncache-graph-key\0"
_EMPTY_PARTS = {}  # part name -> digest of an empty payload


def fold(payloads, digests=None):
    """(key, {part name: digest}) of ``payloads`` ({name: plain-data payload}); parts given
    in ``digests`` are digests already (the environment part, cached by its backend)."""
    parts = {}
    for name in PART_NAMES:
        if digests and name in digests:
            parts[name] = digests[name]
            continue
        payload = payloads.get(name)
        if payload == ():  # most graphs: no rewrites or C source of the user's
            parts[name] = _EMPTY_PARTS.get(name) or _EMPTY_PARTS.setdefault(
                name, sha256_hex((name, ())))
        else:
            parts[name] = sha256_hex((name, payload))
    h = hashlib.sha256(_KEY_PREFIX)
    for name in PART_NAMES:
        h.update(("%s=%s\n" % (name, parts[name])).encode("ascii"))
    key = h.hexdigest()
    if log.isEnabledFor(logging.DEBUG):
        for name in PART_NAMES:
            log.debug("graph key %s part %s = %s", key[:16], name, parts[name])
    return key, parts


class GraphSignature(object):
    """Result of a backend's signature(): the key, its named parts and the ordered
    graph objects (shared variables, explicit inputs) the cache needs to rebind a
    compiled function."""

    __slots__ = ("key", "parts", "shared", "inputs", "_details", "_details_builder")

    def __init__(self, key, parts, shared, inputs, details_builder):
        self.key = key
        self.parts = parts
        self.shared = shared
        self.inputs = inputs
        self._details = None
        self._details_builder = details_builder

    @property
    def details(self):
        if self._details is None:
            self._details = self._details_builder()
        return self._details

    def __repr__(self):
        return "<GraphSignature %s: %d inputs, %d shared>" % (
            self.key[:16], len(self.inputs), len(self.shared))

    def __eq__(self, other):
        return isinstance(other, GraphSignature) and other.key == self.key

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.key)
