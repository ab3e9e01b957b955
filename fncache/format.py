"""The version of fncache's key and entry format (read by keys, the envelope and the memo)."""

#: Bump it when a change makes entries written by an older fncache unsafe to load.
FORMAT_VERSION = 2  # 2: BLAKE3 content digests, rewrites and c_code parts; entries carry their
#                    creation tracebacks apart (fncache.backends.theano.serialize)
