"""The structural key of a ``theano.function`` call: the family signer with Theano's library.

``signature(inputs, outputs, updates=..., givens=..., mode=..., **kwargs)`` takes exactly
what ``theano.function`` takes (fncache.backends.family.signer says how it is keyed).
"""
from fncache.backends.family import signer
from fncache.backends.theano import rewrites
from fncache.backends.theano.library import LIBRARY

rewrites.install()  # from now on, count changes to Theano's rewrite databases


def signature(inputs, outputs=None, updates=None, givens=None, mode=None, **kwargs):
    """Structural key of ``theano.function(inputs, outputs, ...)`` (a GraphSignature).

    Accepts exactly the arguments of ``theano.function``; ``name`` is ignored (it does
    not change behaviour). Raises FncacheTypeError for unknown keyword arguments and
    UnkeyableGraph when the call cannot be keyed safely (BadCall when Theano itself
    would reject it).
    """
    return signer.signature(LIBRARY, inputs, outputs, updates, givens, mode, **kwargs)
