"""The Theano 1.0.5 backend: compat (Python 3.11 fixes), keys, compile, serialize, install hooks.

This package's ``__init__`` imports nothing (``compat`` must be importable before Theano is);
the backend class is ``fncache.backends.theano.backend.TheanoBackend``.
"""
