"""Read-through, write-to-all over the tiers, fastest first.

A tier that fails (disk full, directory gone read-only, Redis down) is
skipped for a while with one warning per outage; the run goes on with the
tiers that work, and the tier is used again once a call to it succeeds. An
entry that fails validation is a miss: it is counted, removed from the tier
that served it, and the next tier is asked. An entry of another fncache
format version is a miss too, but stays (that version may still use it) and
is warned about once per process.
"""
import logging
import time
import warnings

from fncache.observe import counters
from fncache.errors import EntryRejected, FncacheWarning

_log = logging.getLogger("fncache.store")
RETRY_AFTER = 5.0  # seconds a failed tier is skipped before it is tried again




class TieredStore:
    def __init__(self, tiers):
        self.tiers = list(tiers)
        self._skip_until = {}
        self._failing = set()  # tiers warned about and not yet working again
        self._other_version = set()  # (tier, key) of another format's entries, warned once

    def _call(self, tier, method, *args):
        if time.monotonic() < self._skip_until.get(tier.name, 0.0):
            return None
        try:
            result = getattr(tier, method)(*args)
        except Exception as exc:  # a broken tier must never break the caller's run
            self._skip_until[tier.name] = time.monotonic() + RETRY_AFTER
            counters.count(tier.name + ".errors")
            if tier.name not in self._failing:
                self._failing.add(tier.name)
                warnings.warn("fncache: the %s tier failed on %s (%s: %s); carrying on without it"
                              % (tier.name, method, type(exc).__name__, exc), FncacheWarning,
                              stacklevel=4)
            return None
        if tier.name in self._failing:
            self._failing.discard(tier.name)
            _log.info("fncache: the %s tier works again", tier.name)
        return result

    def get(self, key, validate):
        """``(validate(data), tier name)`` from the fastest tier holding a valid entry."""
        for depth, tier in enumerate(self.tiers):
            data = self._call(tier, "get", key)
            if data is None:
                counters.count(tier.name + ".misses")
                continue
            try:
                value = validate(data)
            except EntryRejected as exc:
                counters.count(tier.name + ".misses")
                if exc.reason != "version-mismatch":
                    self._call(tier, "delete", key)
                elif (tier.name, key) in self._other_version:
                    continue  # counted and warned already; another fncache's entry stays
                else:
                    self._other_version.add((tier.name, key))
                counters.count("rejected." + exc.reason)
                warnings.warn("fncache: ignoring a bad entry in the %s tier (%s); it will be "
                              "rebuilt" % (tier.name, exc), FncacheWarning, stacklevel=3)
                continue
            counters.count(tier.name + ".hits")
            for faster in self.tiers[:depth]:
                if faster.writable:
                    self._call(faster, "put", key, data)
            return value, tier.name
        return None, None

    def put(self, key, data):
        for tier in self.tiers:
            if tier.writable:
                self._call(tier, "put", key, data)

    def delete(self, key):
        for tier in self.tiers:
            if tier.writable:
                self._call(tier, "delete", key)

    def tier(self, name):
        for tier in self.tiers:
            if tier.name == name:
                return tier
        return None
