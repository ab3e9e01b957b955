"""PyTensor's part of pickling a compiled function (the family pickler does the rest).

``fncache.backends.family.pickler`` writes the FunctionMaker (rewritten graph, accepted
linker, In/Out specs) with shared variables, their containers and the explicit inputs as
positions, creation traces apart, and rebuilds the Function at load. PyTensor adds:

- its tag class for loaded tags (``PackedTraceTag``);
- the outer function stored with the call's own ``trust_input`` and name (its maker's):
  a NUMBA entry is stored at the function's first call, and the program may have set
  ``f.trust_input`` by then;
- loading with its own records: C thunks (``cthunks``) and Numba's stand-in wrapper
  (``numbafiles``).
"""
from pytensor.graph.utils import Scratchpad

from fncache.backends.family import pickler
from fncache.backends.pytensor import cthunks, numbafiles


class PackedTraceTag(pickler.PackedTraceMixin, Scratchpad):
    """A loaded variable's tag whose creation trace is unpacked on first read."""

    _plain_tag_class = Scratchpad


def dumps(lib, fn, shared, inputs):
    """Bytes of ``fn`` (the family pickler's) as the call made it."""
    n = len(inputs)
    if [s.variable for s in fn.maker.inputs[:n]] != list(inputs) or \
            [s.variable for s in fn.maker.inputs[n:]] != list(shared):
        raise pickler.SerializationError("the compiled function's inputs are not the key's")
    settings = fn.trust_input, fn.name
    fn.trust_input, fn.name = fn.maker.trust_input, fn.maker.name
    try:
        payload, _ = pickler.dumps(lib, fn, shared, inputs)
    finally:
        fn.trust_input, fn.name = settings
    return payload


def loads(data, shared, inputs):
    """The function ``dumps`` stored, bound to ``shared`` and ``inputs``, linked from records."""
    with cthunks.loading(), numbafiles.loading():
        return pickler.loads(data, shared, inputs)
