"""fncache: a compiled-function and result cache that makes Theano programs start fast."""
__version__ = "0.1.0"

from fncache import compat  # noqa: F401  (makes Theano work on this Python first)
