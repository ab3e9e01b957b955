"""The ``c_code`` part of a graph key: the C source a node contributes that no version covers.

A compiled function's C thunks come from modules Theano builds from each node's C code and
finds again, in later processes, by the ops' and types' ``c_code_cache_version``. Theano's
own ops and types are covered by Theano's version (environment part). For a node whose op
or types come from elsewhere (the user's ops, a Theano ``Elemwise`` around the user's scalar
op), the key holds what its module is built from, as Theano itself decides:

- a ``COp``: a digest of the C source its files held when it was made (``func_codes``,
  what it compiles; a file edited later is read by the next op made from it);
- a node Theano's module cache treats as versioned (every version set, no empty
  ``__props__``): the version values (the ops' code is keyed by the graph part, but a
  version may read a module constant);
- a node it treats as unversioned, whose module stock Theano builds again in every process:
  the C source Theano's CLinker generates for it (with the same names every time), so that
  a ``c_code`` reading a module constant is keyed.

A node whose C source cannot be generated for another reason than "no C code" cannot be
keyed: ``CSourceUnfit`` (the graph is compiled without the cache).
"""
import hashlib

import theano
from theano.gof import Constant, utils
from theano.gof.cc import CLinker
from theano.gof.fg import FunctionGraph
from theano.gof.op import CLinkerOp, COp

_COP_DIGESTS = {}  # tuple(func_codes) -> digest (the strings are the op's own, so cheap)


class CSourceUnfit(Exception):
    """A node's C source cannot be produced to key it (reason in args[0])."""


def _sha(text):
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cop_digest(op):
    """Digest of the C files a COp loaded (cached per set of loaded strings)."""
    codes = tuple(getattr(op, "func_codes", ()))
    digest = _COP_DIGESTS.get(codes)
    if digest is None:
        if len(_COP_DIGESTS) > 4096:
            _COP_DIGESTS.clear()
        digest = _COP_DIGESTS[codes] = _sha("\0".join(codes))
    return digest


def _plain(value):
    """Version values as plain data (a version is made of ints, strings and tuples)."""
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    return ("opaque", type(value).__module__, type(value).__qualname__)


def stock_version(node):
    """The module version stock Theano gives this one node, or None when unversioned
    (Theano's ``CLinker.cmodule_key_`` rule: any empty version or empty ``__props__``)."""
    op = node.op
    version = []
    if hasattr(op, "c_code_cache_version_apply"):
        version.append(op.c_code_cache_version_apply(node))
    if hasattr(op, "__props__"):
        version.append(op.__props__)
    for var in node.inputs + node.outputs:
        version.append(var.type.c_code_cache_version())
    return tuple(version) if all(version) else None


def generated_source(node):
    """The C module source Theano generates for ``node`` alone, or None if it has no C code."""
    inputs = [i.clone() if isinstance(i, Constant) else i.type() for i in node.inputs]
    clone = node.clone_with_new_inputs(inputs, strict=False)
    graph = FunctionGraph([i for i in inputs if not isinstance(i, Constant)], clone.outputs,
                          clone=False)
    linker = CLinker().accept(graph)
    try:
        source = linker.get_src_code()
        flags = (linker.libraries(), linker.header_dirs(), linker.lib_dirs())
        compiler = linker.c_compiler()
        args = []
        for x in [v.type for v in linker.variables] + [n.op for n in linker.node_order]:
            for method in ("c_compile_args", "c_no_compile_args"):
                try:
                    try:
                        args.append((method, tuple(getattr(x, method)(compiler))))
                    except TypeError:
                        args.append((method, tuple(getattr(x, method)())))
                except utils.MethodNotDefined:
                    pass
    except (utils.MethodNotDefined, NotImplementedError):
        return None
    return source + "\0" + repr((flags, args))


def node_digest(node, label):
    """Digest of the C source of ``node`` that no version covers (see the module), or None."""
    op = node.op
    if not theano.config.cxx or type(op).c_code is CLinkerOp.c_code:
        return None  # no C compiler, or an op with Python code only
    try:
        parts = []
        if isinstance(op, COp):
            parts.append(("cop", cop_digest(op)))
        version = stock_version(node)
        if version is not None:
            parts.append(("version", _plain(version)))
        else:
            source = generated_source(node)
            if source is None:
                return None
            parts.append(("source", _sha(source)))
    except CSourceUnfit:
        raise
    except Exception as exc:
        raise CSourceUnfit("%s: cannot produce its C source to key it (%s: %s)"
                           % (label, type(exc).__name__, exc)) from None
    return _sha(repr(parts))
