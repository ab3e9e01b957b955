"""Theano's own pickling pieces: fused Composites stored packed, and the Theano tag class.

The pickler itself is the family's (fncache.backends.family.pickler); the Theano backend
calls it with ``library.LIBRARY``, whose reductions send Composites here.
"""
import pickle

from theano.gof import utils
from theano.scalar import basic as scalar_basic

from fncache.backends.family import pickler


class PackedTraceTag(pickler.PackedTraceMixin, utils.scratchpad):
    """A loaded variable's tag whose creation trace is unpacked on first read."""

    _plain_tag_class = utils.scratchpad


_PACKED_GRAPH = "_fncache_packed_graph"


def stored_composite(lib, composite):
    """A Composite with its scalar graph packed into one bytes object.

    Hash, equality and C code use only the stored ``_c_code``; the scalar graph
    (most of the objects in a fused function) is unpacked when something asks.
    """
    state = composite.__getstate__()
    state[_PACKED_GRAPH] = pickler.pack(lib, (state.pop("inputs"), state.pop("outputs")))
    return _restore_composite, (state,)


def _restore_composite(state):
    composite = scalar_basic.Composite.__new__(scalar_basic.Composite)
    composite.__setstate__(state)
    return composite


def lazy_composite_graphs():
    """Let Composite rebuild its inner FunctionGraph only when something needs it.

    Unpickling a Composite (every fused elementwise node) rebuilt and merged its
    inner graph at once; a C thunk never needs it, and Theano's own key files
    hold thousands of Composites.
    """
    cls = scalar_basic.Composite
    if getattr(cls, "_fncache_lazy", False):
        return

    def __getstate__(self):
        self.inputs  # noqa: B018  (unpacks a graph stored by _stored_composite)
        state = dict(self.__dict__)
        for rebuilt_on_demand in ("fgraph", "_impls", "prepare_node_called"):
            state.pop(rebuilt_on_demand, None)
        return state

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.prepare_node_called = set()

    def __getattr__(self, name):
        d = self.__dict__
        if name in ("inputs", "outputs") and _PACKED_GRAPH in d:
            d["inputs"], d["outputs"] = pickle.loads(d.pop(_PACKED_GRAPH))
            return d[name]
        if "inputs" in d or _PACKED_GRAPH in d:
            if name == "fgraph":
                self.init_fgraph()
                return d["fgraph"]
            if name == "_impls":
                self.init_py_impls()
                return d["_impls"]
        raise AttributeError(name)

    cls.__getstate__ = __getstate__
    cls.__setstate__ = __setstate__
    cls.__getattr__ = __getattr__
    cls._fncache_lazy = True
