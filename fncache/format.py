"""The version of fncache's key and entry format (read by keys, the envelope and the memo).

Readers look it up here at each use (``entry_format.FORMAT_VERSION``), so there is one
value to change (tests set it to act as another fncache would).
"""

#: Bump it when a change makes entries written by an older fncache unsafe to load.
FORMAT_VERSION = 3  # 2: BLAKE3 content digests, rewrites and c_code parts; entries carry their
#                    creation tracebacks apart; 3: entries pickle the classes of fncache.backends
#                    (version 2's fncache.serialize and fncache.thunks are gone)
