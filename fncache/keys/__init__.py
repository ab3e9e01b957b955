"""Deterministic keys for Theano functions: graph structure, options, environment."""
from fncache.keys.graph import GraphSignature, UnkeyableGraph, signature  # noqa: F401
from fncache.keys.env import FORMAT_VERSION, environment_part  # noqa: F401
from fncache.keys.explain import explain, lookup, register  # noqa: F401
