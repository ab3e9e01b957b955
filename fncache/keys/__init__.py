"""Key machinery that knows no graph library: digests, value hashing, code fingerprints, explain.

A backend computes a graph's parts (``fncache.backends.<library>``); ``fncache.keys.explain``
says why two keys differ.
"""
