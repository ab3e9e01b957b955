"""What an entry record says about its compiled graph, for ``fncache show``.

Counted on the optimized graph at compile time, when it is at hand, so that
listing a cache never has to unpickle an entry.
"""
import collections


def _op_name(op):
    name = type(op).__name__
    scalar = getattr(op, "scalar_op", None)
    return "%s{%s}" % (name, type(scalar).__name__) if scalar is not None else name


def summary(fn, sig):
    """Op counts and input/output/shared/update numbers of a compiled function."""
    maker = fn.maker
    nodes = maker.fgraph.toposort()
    ops = collections.Counter(_op_name(node.op) for node in nodes)
    return {"nodes": len(nodes),
            "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
            "inputs": len(sig.inputs), "outputs": len(maker.outputs),
            "shared": len(sig.shared), "updates": len(maker.fgraph.outputs) - len(maker.outputs)}
