"""Every key prefix in the cache's tiers and index, in one place.

Entries (compiled functions) are stored under their graph key itself; everything else a
cache holds is named by one of these prefixes.
"""
#: Index: the record of an entry (name, where, sizes, parts) under ``entry:<key>``.
RECORD = "entry:"
#: Index: statistics counters, ``stat:<name>``.
STAT = "stat:"
#: Index: the last compile misses (key parts), ``miss:<time>:<key>`` (FNCACHE_MISS_LOG).
MISS = "miss:"
#: Index: cache metadata such as ``meta:stats_since``.
META = "meta:"
#: Index: keys whose entries cannot be rebuilt by this fncache and library, ``unloadable:<key>``.
UNLOADABLE = "unloadable:"
#: Tiers: memoized results, ``memo:<graph key>:<digest>`` and ``memo:py:<name>:<digest>``.
MEMO = "memo:"
#: Tiers (blobs, named by the digest of their bytes): compiled artifacts (sha256).
MODULE_PREFIX = "cmodule:"
#: Tiers (blobs): large memo arrays (BLAKE3 content digest).
MEMO_BLOB_PREFIX = "memo-blob:"
