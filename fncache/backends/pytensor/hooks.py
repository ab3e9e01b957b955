"""install(): route every binding of ``pytensor.function`` through fncache.

The function is defined in ``pytensor.compile.maker`` and re-exported as
``pytensor.function`` and ``pytensor.compile.function``; PyMC calls it through
``pytensor.function`` (attribute lookup at call time), and a few modules bind it by
name at their import (``from pytensor import function``: pymc.model_graph,
pytensor.link.jax.ops). ``hook`` replaces all three and every module global that holds
the original; modules imported later read the replacement. Inner functions of Scan and
OpFromGraph are built by ``FunctionMaker`` directly, never through ``function``.
"""
import sys

from pytensor.compile import maker

#: PyTensor's own function, whatever a hook later puts in its place.
ORIGINAL = maker.function
_rebound = []  # (module, attribute) that hook() set


def _bindings():
    """(module, attribute) pairs that hold the original function."""
    for name, module in list(sys.modules.items()):
        if module is None or name == "fncache" or name.startswith("fncache."):
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        for attribute, value in list(namespace.items()):
            if value is ORIGINAL:
                yield module, attribute


def hook(replacement):
    """Put ``replacement`` everywhere the original is bound (idempotent)."""
    import pytensor  # noqa: F401  (pytensor.function and pytensor.compile.function exist)
    for module, attribute in list(_bindings()):
        setattr(module, attribute, replacement)
        _rebound.append((module, attribute))


def unhook():
    """Restore the original wherever ``hook`` replaced it (idempotent)."""
    while _rebound:
        module, attribute = _rebound.pop()
        setattr(module, attribute, ORIGINAL)
