"""Deterministic keys for Theano functions: graph structure, options, environment.

``fncache.keys.graph.signature`` computes keys, ``fncache.keys.env`` the
environment part, ``fncache.keys.explain.explain`` says why two keys differ
(not re-exported here: the function would shadow its module).
"""
from fncache.keys.graph import GraphSignature, UnkeyableGraph, signature  # noqa: F401
from fncache.keys.env import FORMAT_VERSION, environment_part  # noqa: F401
