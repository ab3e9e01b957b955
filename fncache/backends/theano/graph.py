"""The structural key of a ``theano.function`` call.

``signature(inputs, outputs, updates=..., givens=..., mode=..., **kwargs)``
takes exactly what ``theano.function`` takes and reduces it to a key that is
the same in every process that builds the same graph, and different whenever
the compiled function could behave differently. A false hit (two different
functions under one key) is the worst bug this module can have, so anything
it cannot describe exactly raises ``UnkeyableGraph`` instead of guessing.

The key is an ordered list of named parts (JAX ``cache_key`` style), each a
sha256 of a canonical, type-tagged tuple of plain Python values; at DEBUG
level each part's digest is logged so two logs explain a miss:

  environment  versions, platform, compiler and Theano flags (``env.py``)
  mode         linker and optimizer query
  rewrites     registrations in Theano's rewrite databases that are not Theano's
               own, and Theano's own that are gone (``rewrites.py``)
  options      givens, on_unused_input, no_default_updates, ... profile on/off
  inputs       explicit inputs: type, name, In() settings
  shared       shared variables by class, type and role, never by value
  outputs      order, container shape (single/list/dict keys), Out(borrow)
  constants    every outer-graph constant by value (dtype, shape, bytes)
  graph        apply nodes in a deterministic topological order
  c_code       the C source of nodes with code from outside Theano that no
               version covers (``csource.py``)

Ops and types of classes from outside Theano are keyed by their ``__props__``
and by every other instance attribute too (their code may read one, and an
entry would carry the first process's values to the next).

Nothing here uses ``id()``, ``hash()`` or variable names (except the names of
explicit inputs, which are keyword arguments). Dicts are keyed in their order
(a dict's order reaches code that iterates it), sets sorted.

Walk order, and so ``sig.shared``, mirrors
``theano.compile.pfunc.rebuild_collect_shared``: replacement graphs of
``givens`` (in pair order), then outputs depth-first (plus ``In(update=)``
expressions), then update expressions in Theano's order (explicit updates,
with default updates appended as they are discovered, to a fixpoint). Hence
``sig.shared`` equals, in order, the implicit inputs of the compiled function
(``fn.maker.inputs[len(sig.inputs):]``), and equal keys put structurally
corresponding shared variables at equal positions.
"""
import collections
import enum
import functools
import gc
import hashlib
import logging
import sys
import threading
import types
import weakref

import numpy as np

import theano
from fncache.errors import BadCall, FncacheTypeError, UnkeyableGraph
from theano.compile import mode as _theano_mode
from theano.compile.io import In, SymbolicInput, SymbolicOutput
from theano.compile.sharedvalue import SharedVariable
from theano.gof import Constant, Variable
from theano.gof.link import Container, Linker
from theano.gof.op import PureOp
from theano.gof.opt import LocalOptimizer, Optimizer
from theano.gof.optdb import Query
from theano.gof.type import PureType
from theano.misc.frozendict import frozendict
from theano.misc.ordered_set import OrderedSet
from theano.tensor.type import TensorType

from fncache.backends.theano import csource as _csource
from fncache.backends.theano import env as _env
from fncache.keys import explain as _explain
from fncache.backends.theano import rewrites as _rewrites
from fncache.keys.digest import content_digest

__all__ = ["signature", "GraphSignature", "UnkeyableGraph", "PART_NAMES"]

log = logging.getLogger(__name__)

_rewrites.install()  # from now on, count changes to Theano's rewrite databases

#: Fixed order of the named parts. Causes before effects, so explain() lists
#: e.g. a changed input dtype before the graph nodes whose types it changed.
PART_NAMES = ("environment", "mode", "rewrites", "options", "inputs", "shared",
              "outputs", "constants", "graph", "c_code")

_KEY_PREFIX = b"fncache-graph-key\0"

_FUNCTION_KWARGS = frozenset([
    "no_default_updates", "accept_inplace", "name", "rebuild_strict",
    "allow_input_downcast", "profile", "on_unused_input"])


class _Unfit(Exception):
    """Internal: a value cannot be fingerprinted (reason in args[0])."""


# ---------------------------------------------------------------------------
# Attributes left out of fallback fingerprints (ops and types without
# ``__props__``, linkers, modes). Each is derived from other attributes,
# attached by Theano at or after compilation, or only affects printing or
# gradient construction (which happens before ``theano.function``).
# ---------------------------------------------------------------------------
_EXCLUDED_EVERYWHERE = frozenset([
    "__doc__", "__module__", "__epydoc_asRoutine",  # set by doc decorators
])

_EXCLUDED_BY_CLASS = [
    # (class path, attributes, why)
    ("theano.scan_module.scan_op.Scan", (
        "fn",                 # compiled inner function (make_thunk)
        "_hash_inner_graph",  # Python hash(): differs per process
        "_cmodule_key",       # C module key of the inner graph (derived)
        "mode_instance",      # built from info['mode'] + config, both keyed
        "var_mappings",       # derived index maps
        "vector_seqs", "vector_outs", "mitmots_preallocated",
        "inps_is_tensor", "outs_is_tensor",  # set by make_thunk
        "t_call", "t_fn",     # run-time timings
    ), "run-time state of Scan"),
    ("theano.scalar.basic.Composite", (
        "name",               # lazily derived from the inner graph by str()
        "fgraph",             # FunctionGraph built from inputs/outputs
        "prepare_node_called",  # which implementations were prepared
        "_impls",             # Python closures built for perform
        "_c_code", "nodenames",  # generated C code and its names
    ), "derived and run-time state of Composite"),
    ("theano.tensor.elemwise.Elemwise", (
        "ufunc", "nfunc",     # numpy ufunc caches built at run time
    ), "run-time caches of Elemwise (used only by subclasses without __props__)"),
    ("theano.compile.builders.OpFromGraph", (
        "fn",                 # compiled inner function (prepare_node)
        "inputs", "outputs", "shared_inputs",  # the user's graph; the
        # local_inputs/local_outputs copy (shared variables replaced by
        # inputs) is what runs, and the shared variables are node inputs
        "_lop_op", "_rop_op", "_lop_op_is_cached", "_rop_op_is_cached",
        "_lop_op_stypes_l", "_rop_op_stypes_l", "_lop_is_default",
        "_rop_is_default", "_lop_type",  # gradient overrides and their lazy
        # caches: used by T.grad before compilation, never by the function
    ), "gradient-only and run-time state of OpFromGraph"),
    ("theano.tensor.nnet.conv.ConvOp", (
        "_ConvOp__hashval",   # Python hash() of its attributes: differs per process
    ), "run-time cache of the legacy ConvOp"),
    ("theano.gof.type.PureType", (
        "name",               # display name only
    ), "display name"),
    ("theano.tensor.type.TensorType", (
        "sparse_grad",        # only changes how T.grad builds gradients
        "numpy_dtype",        # derived from dtype
    ), "derived / gradient-only"),
    ("theano.gof.link.Linker", (
        "fgraph", "no_recycling", "profile", "updated_vars",  # set by accept()
    ), "state of a linker that has accepted a graph"),
    ("theano.compile.mode.Mode", (
        "call_time", "fn_time",                  # run-time counters
        "provided_linker", "provided_optimizer",  # the unresolved arguments;
        # the resolved linker and _optimizer are keyed
    ), "run-time counters / unresolved arguments"),
    ("theano.gof.optdb.Query", (
        "name",               # label of predefined queries
    ), "label"),
    ("theano.gof.op.COp", (
        "func_codes", "code_sections",  # the C source read from func_files: keyed
        # as a digest in the c_code part (csource.cop_digest)
    ), "C source, keyed in the c_code part"),
]

# Inner graphs: (inputs attribute, outputs attribute) per class. Any other op
# without __props__ whose __dict__ holds lists of Variables named "inputs"
# and "outputs" is treated the same way.
_INNER_GRAPH_ATTRS = {
    "theano.scan_module.scan_op.Scan": ("inputs", "outputs"),
    "theano.scalar.basic.Composite": ("inputs", "outputs"),
    "theano.compile.builders.OpFromGraph": ("local_inputs", "local_outputs"),
}

# Modules whose code is versioned by the environment part (library versions,
# Python version, FORMAT_VERSION). Classes and functions from anywhere else
# (the user's own ops) also get a digest of their code.
_VERSIONED_ROOTS = frozenset(["theano", "numpy", "scipy", "fncache", "builtins"]) | frozenset(
    getattr(sys, "stdlib_module_names", ()))

_PRIMITIVES = (type(None), bool, int, float, str, bytes)
_PRIMITIVE_SET = frozenset(_PRIMITIVES)
# TensorType instances with only these attributes take the fast path: dtype
# and broadcastable (+ filter_checks_isfinite when set); name, sparse_grad and
# numpy_dtype are left out as documented in _EXCLUDED_BY_CLASS.
_TT_ATTRS = frozenset(["dtype", "broadcastable", "name", "numpy_dtype", "sparse_grad",
                       "filter_checks_isfinite"])
# Mappings fingerprinted by their items, in order.
_PLAIN_MAPPINGS = frozenset([dict, collections.OrderedDict, collections.defaultdict,
                             types.MappingProxyType, frozendict])


def _class_path(cls):
    return "%s.%s" % (cls.__module__, cls.__qualname__)


@functools.lru_cache(maxsize=None)
def _excluded_attrs(cls):
    names = set(_EXCLUDED_EVERYWHERE)
    paths = {_class_path(k) for k in cls.__mro__ if hasattr(k, "__qualname__")}
    for path, attrs, _why in _EXCLUDED_BY_CLASS:
        if path in paths:
            names.update(attrs)
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def _inner_graph_attrs(cls):
    paths = [_class_path(k) for k in cls.__mro__ if hasattr(k, "__qualname__")]
    for path in paths:
        if path in _INNER_GRAPH_ATTRS:
            return _INNER_GRAPH_ATTRS[path]
    return None


def _is_versioned(module):
    return (module or "").split(".", 1)[0] in _VERSIONED_ROOTS


def _resolve(module, qualname):
    """The object at module.qualname, or _Unfit. Only looks at modules that
    are already imported: a live object's module always is, and importing
    here could run arbitrary code."""
    obj = sys.modules.get(module)
    if obj is None:
        return _Unfit
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    except Exception:
        return _Unfit


# ---------------------------------------------------------------------------
# Classes and functions: by module + qualname, plus a code digest for code
# that no version number covers.
# ---------------------------------------------------------------------------
# Weak: classes and functions made at run time must not be kept alive here.
_CLASS_FP = weakref.WeakKeyDictionary()
_FUNC_FP = weakref.WeakKeyDictionary()
_BUILTIN_FP = {}  # builtins cannot be weakly referenced; they live forever anyway
_CODE_LOCK = threading.RLock()
_code_state = threading.local()


def _code_fp(code):
    consts = []
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            consts.append(_code_fp(c))
        else:
            consts.append(_plain_fp(c))
    return ("code", code.co_code, tuple(consts), code.co_names, code.co_varnames,
            code.co_freevars, code.co_argcount, code.co_kwonlyargcount, code.co_flags)


def _plain_fp(value):
    """Fingerprint of a code constant or class attribute; never raises."""
    if type(value) in _PRIMITIVE_SET:
        return value
    if isinstance(value, (tuple, frozenset)):
        items = [_plain_fp(v) for v in value]
        if isinstance(value, frozenset):
            items.sort(key=repr)
        return ("(" if isinstance(value, tuple) else "set",) + tuple(items)
    try:
        return _VALUE_FP(value)
    except (_Unfit, UnkeyableGraph, RecursionError):
        # Only used inside code digests, which are an extra safety layer on
        # top of module + qualname: record the type of what we cannot see.
        return ("opaque", type(value).__module__, type(value).__qualname__)


def _function_code_digest(func):
    parts = [_code_fp(func.__code__), _plain_fp(func.__defaults__ or ()),
             _plain_fp(tuple(sorted((func.__kwdefaults__ or {}).items())))]
    for cell in func.__closure__ or ():
        try:
            parts.append(_plain_fp(cell.cell_contents))
        except ValueError:  # empty cell
            parts.append(("empty-cell",))
    return hashlib.sha256(repr(tuple(parts)).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _class_code_digest(cls):
    parts = []
    for klass in cls.__mro__:
        if _is_versioned(getattr(klass, "__module__", None)):
            continue
        for name in sorted(vars(klass)):
            if name in ("__dict__", "__weakref__", "__module__", "__doc__", "__qualname__"):
                continue
            value = vars(klass)[name]
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                value = tuple(_function_code_digest(f) for f in (value.fget, value.fset)
                              if isinstance(f, types.FunctionType))
            elif isinstance(value, types.FunctionType):
                value = _function_code_digest(value)
            elif isinstance(value, type) and value is cls:
                value = ("self-class",)
            else:
                value = _plain_fp(value)
            parts.append((klass.__qualname__, name, value))
    return hashlib.sha256(repr(tuple(parts)).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _class_fp(cls):
    cached = _CLASS_FP.get(cls)
    if cached is not None:
        if isinstance(cached, str):  # the reason it cannot be keyed
            raise _Unfit(cached)
        return cached
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<locals>" in qualname:
        err = _Unfit("class %s.%s is defined inside a function; it cannot be "
                     "found by name in another process" % (module, qualname))
    elif _resolve(module, qualname) is not cls:
        err = _Unfit("class %s.%s is not importable under that name" % (module, qualname))
    else:
        err = None
    if err is not None:
        _CLASS_FP[cls] = err.args[0]
        raise err
    if _is_versioned(module):
        result = ("cls", module, qualname)
    else:
        active = _code_state.__dict__.setdefault("active", set())
        if cls in active:  # the class refers to itself while being digested
            return ("cls", module, qualname, "recursive")
        with _CODE_LOCK:
            cached = _CLASS_FP.get(cls)
            if cached is not None:
                return cached
            active.add(cls)
            try:
                result = ("cls", module, qualname, _class_code_digest(cls))
            finally:
                active.discard(cls)
    _CLASS_FP[cls] = result
    return result


def _function_fp(func):
    memo = _FUNC_FP if isinstance(func, types.FunctionType) else _BUILTIN_FP
    cached = memo.get(func)
    if cached is not None:
        if isinstance(cached, str):  # the reason it cannot be keyed
            raise _Unfit(cached)
        return cached
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    what = "%s.%s" % (module, qualname)
    if not isinstance(module, str) or not isinstance(qualname, str):
        err = _Unfit("function %r has no module-level name" % (qualname,))
    elif "<lambda>" in qualname:
        err = _Unfit("lambda %s cannot be found by name in another process" % what)
    elif "<locals>" in qualname:
        err = _Unfit("function %s is a closure / nested function; its behaviour "
                     "depends on state a key cannot see" % what)
    else:
        target = _resolve(module, qualname)
        # theano.compile.ops.as_op replaces the module attribute by the op
        # wrapping the function (and pickles the op by that name).
        if target is func or getattr(target, "__wrapped__", None) is func or \
                getattr(target, "_FromFunctionOp__fn", None) is func:
            err = None
        else:
            err = _Unfit("function %s is not importable under that name" % what)
    if err is not None:
        memo[func] = err.args[0]
        raise err
    if isinstance(func, types.FunctionType) and not _is_versioned(module):
        result = ("fn", module, qualname, _function_code_digest(func))
    else:
        result = ("fn", module, qualname)
    memo[func] = result
    return result


def _ufunc_fp(ufunc):
    name = ufunc.__name__
    if getattr(np, name, None) is ufunc:
        return ("ufunc", "numpy", name)
    special = sys.modules.get("scipy.special")
    if special is not None and getattr(special, name, None) is ufunc:
        return ("ufunc", "scipy.special", name)
    raise _Unfit("numpy ufunc %r is neither numpy.%s nor scipy.special.%s" % (name, name, name))


# ---------------------------------------------------------------------------
# Plain values (no graph context): arrays, scalars, containers, classes.
# ---------------------------------------------------------------------------
def _array_fp(arr):
    if type(arr) is not np.ndarray:
        if isinstance(arr, np.ma.MaskedArray):
            raise _Unfit("masked arrays are not supported")
        if type(arr) is not np.memmap:
            return ("ndsub", _class_fp(type(arr)), _array_fp(np.asarray(arr)))
    dtype = arr.dtype
    if dtype.hasobject:
        return ("ndobj", arr.shape, tuple(_VALUE_FP(x) for x in arr.ravel().tolist()))
    shape = arr.shape  # before any copy: ascontiguousarray turns 0-d into 1-d
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    try:  # plain BLAKE3: a graph's key does not depend on who holds which secret
        digest = content_digest(arr.reshape(-1).view(np.uint8), keyed=False)
    except (TypeError, ValueError, BufferError):  # dtypes without buffer support
        digest = content_digest(arr.tobytes(), keyed=False)
    if arr.size <= 8 and dtype.kind in "biufc":
        # derived from the bytes (so key-neutral); lets explain() show values
        return ("nd", _dtype_fp(dtype), shape, digest, tuple(arr.ravel().tolist()))
    return ("nd", _dtype_fp(dtype), shape, digest)


def _dtype_fp(dtype):
    if dtype.fields is not None or dtype.subdtype is not None:
        return ("dtype", dtype.str, repr(dtype.descr))
    return dtype.str


def _sparse_fp(mat):
    fmt = mat.format
    if fmt in ("csr", "csc", "bsr"):
        arrays = (mat.data, mat.indices, mat.indptr)
    elif fmt == "coo":
        arrays = (mat.data, mat.row, mat.col)
    else:
        raise _Unfit("scipy sparse format %r is not supported" % fmt)
    return ("sparse", fmt, mat.shape, tuple(_array_fp(a) for a in arrays))


def _value_fp_plain(obj):
    """Fingerprint values that need no graph context (raises _Unfit)."""
    t = type(obj)
    if t in _PRIMITIVE_SET:
        return obj
    if t is tuple:
        return ("(",) + tuple(_value_fp_plain(x) for x in obj)
    if t is list:
        return ("[",) + tuple(_value_fp_plain(x) for x in obj)
    if isinstance(obj, np.ndarray):
        return _array_fp(obj)
    if isinstance(obj, np.generic):
        if obj.dtype.fields is not None:
            return ("npv", _dtype_fp(obj.dtype), obj.tobytes().hex())
        return ("np", obj.dtype.str, obj.tobytes().hex())
    if isinstance(obj, np.dtype):
        return ("dtype", _dtype_fp(obj))
    if t in _PLAIN_MAPPINGS:
        return _dict_fp(obj, _value_fp_plain)
    if isinstance(obj, (set, frozenset, OrderedSet)):
        return _set_fp(obj, _value_fp_plain)
    if t is slice:
        return ("slice", _value_fp_plain(obj.start), _value_fp_plain(obj.stop),
                _value_fp_plain(obj.step))
    if t is complex:
        return ("complex", obj.real, obj.imag)
    if obj is Ellipsis:
        return ("...",)
    if isinstance(obj, enum.Enum):
        return ("enum", _class_fp(t), obj.name)
    if isinstance(obj, type):
        return _class_fp(obj)
    if isinstance(obj, np.ufunc):
        return _ufunc_fp(obj)
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return _function_fp(obj)
    if isinstance(obj, (types.MethodDescriptorType, types.WrapperDescriptorType,
                        types.ClassMethodDescriptorType)):
        owner = obj.__objclass__
        if getattr(owner, obj.__name__, None) is not obj:
            raise _Unfit("method %s of %s is not reachable by name" % (obj.__name__, owner))
        return ("desc", _class_fp(owner), obj.__name__)
    if isinstance(obj, functools.partial):
        return ("partial", _value_fp_plain(obj.func), _value_fp_plain(obj.args),
                _value_fp_plain(obj.keywords))
    if t is tuple or isinstance(obj, tuple):  # namedtuples and tuple subclasses
        return ("tuple-sub", _class_fp(t)) + tuple(_value_fp_plain(x) for x in obj)
    if isinstance(obj, list):
        return ("list-sub", _class_fp(t)) + tuple(_value_fp_plain(x) for x in obj)
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(obj):
        return _sparse_fp(obj)
    raise _Unfit("cannot fingerprint a %s.%s" % (t.__module__, t.__qualname__))


_VALUE_FP = _value_fp_plain


def _dict_fp(d, fp):
    """In the dict's order: code that iterates a dict (an op's attribute) sees its order."""
    return ("{",) + tuple((fp(k), fp(v)) for k, v in d.items())


def _set_fp(s, fp):
    items = [fp(v) for v in s]
    items.sort(key=repr)
    return ("set",) + tuple(items)


def _digest(payload):
    return hashlib.sha256(repr(payload).encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------------------
# Human-readable rendering of fingerprints (for details / explain only).
# ---------------------------------------------------------------------------
def render(fp, limit=None):
    """Readable text of a fingerprint tuple (never used for keys)."""
    out = []
    _render_into(fp, out)
    text = "".join(out)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text


def _short_cls(fp):
    return fp[2] if isinstance(fp, tuple) and len(fp) >= 3 else repr(fp)


def _render_seq(items, out, open_, close):
    out.append(open_)
    for i, item in enumerate(items):
        if i:
            out.append(", ")
        _render_into(item, out)
    out.append(close)


def _render_into(fp, out):
    if not isinstance(fp, tuple) or not fp:
        out.append(repr(fp))
        return
    tag = fp[0]
    if tag == "(":
        _render_seq(fp[1:], out, "(", ",)" if len(fp) == 2 else ")")
    elif tag == "[":
        _render_seq(fp[1:], out, "[", "]")
    elif tag == "set":
        _render_seq(fp[1:], out, "{", "}")
    elif tag == "{":
        out.append("{")
        for i, (k, v) in enumerate(fp[1:]):
            if i:
                out.append(", ")
            _render_into(k, out)
            out.append(": ")
            _render_into(v, out)
        out.append("}")
    elif tag in ("cls", "fn"):
        out.append("%s.%s" % (fp[1], fp[2]))
        if len(fp) > 3:
            out.append("<code %s>" % str(fp[3])[:12])
    elif tag == "ufunc":
        out.append("%s.%s" % (fp[1], fp[2]))
    elif tag == "np":
        try:
            value = np.frombuffer(bytes.fromhex(fp[2]), dtype=np.dtype(fp[1]))[0]
            out.append("%s(%r)" % (value.dtype.name, value.item()))
        except Exception:
            out.append("np(%s, %s)" % (fp[1], fp[2]))
    elif tag == "nd":
        if len(fp) > 4:
            try:
                name = np.dtype(fp[1]).name
            except Exception:
                name = str(fp[1])
            values = fp[4][0] if fp[2] == () and len(fp[4]) == 1 else list(fp[4])
            out.append("%s%s %r" % (name, list(fp[2]) if fp[2] else "", values))
        else:
            out.append("ndarray(%s, shape=%s, blake3=%s)" % (fp[1], fp[2], fp[3][:12]))
    elif tag in ("op", "op*", "type", "type*", "obj"):
        out.append(_short_cls(fp[1]))
        out.append("(" if tag in ("op", "type") else "{")
        for i, (name, value) in enumerate(fp[2]):
            if i:
                out.append(", ")
            out.append("%s=" % name)
            _render_into(value, out)
        out.append(")" if tag in ("op", "type") else "}")
    elif tag == "TT":
        out.append("TensorType(%s, %s)" % (fp[1], _broadcast_text(fp[2])))
    elif tag == "graph":
        # ("graph", input types, nodes, outputs)
        out.append("graph(inputs=")
        _render_seq(fp[1], out, "[", "]")
        for i, (op, ins, outs) in enumerate(fp[2]):
            out.append("; n%d=" % i)
            _render_into(op, out)
            out.append("(%s)" % ", ".join(_ref_text(r) for r in ins))
        out.append("; outputs=%s)" % ", ".join(_ref_text(r) for r in fp[3]))
    elif tag in ("i", "n", "cv", "s", "c"):
        out.append(_ref_text(fp))
    elif tag == "backref":
        out.append("<self>")
    else:
        out.append(tag)
        _render_seq(fp[1:], out, "(", ")")


def _broadcast_text(bcast):
    names = {(): "scalar", (False,): "vector", (False, False): "matrix",
             (True, False): "row", (False, True): "col"}
    return names.get(bcast, str(bcast))


def _ref_text(ref, const_texts=None, input_names=None, op_names=None):
    kind = ref[0]
    if kind == "i":
        name = input_names[ref[1]] if input_names else None
        return "in%d" % ref[1] + (" %r" % name if name else "")
    if kind == "s":
        return "shared%d" % ref[1]
    if kind == "n":
        if len(ref) > 3 and op_names is not None:
            return "n%d.%d = %s" % (ref[1], ref[2], op_names[ref[3]])
        return "n%d.%d" % (ref[1], ref[2])
    if kind == "c":
        if const_texts is not None:
            return "const " + const_texts[ref[1]]
        return "const#%d" % ref[1]
    if kind == "cv":
        return "const " + render(ref[2], limit=80)
    return repr(ref)


_DTYPE_NAMES = {}


def _dtype_name(dtype):
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = dtype.name  # slow in numpy: cache it
    return name


def _const_text(data):
    """Short text of a constant's value, e.g. 'float64 0.5'."""
    try:
        if isinstance(data, np.ndarray):
            name = _dtype_name(data.dtype)
            if data.size <= 8 and not data.dtype.hasobject:
                value = data.tolist()
                if data.ndim:
                    return "%s%s %r" % (name, list(data.shape), value)
                return "%s %r" % (name, value)
            return "%s%s blake3=%s" % (name, list(data.shape), _array_fp(data)[3][:12])
        if isinstance(data, np.generic):
            return "%s %r" % (_dtype_name(data.dtype), data.item())
        return render(_value_fp_plain(data), limit=80)
    except Exception:
        return type(data).__name__


# ---------------------------------------------------------------------------
# The keyer: fingerprints of ops, types and values with graph context.
# ---------------------------------------------------------------------------
class _Keyer(object):
    """Per-call memo tables; holds Theano objects only during one signature()."""

    def __init__(self):
        self.where = []            # context for error messages
        self.active = []           # objects being fingerprinted (cycles)
        self.cls_memo = {}         # class -> class fingerprint
        self.op_fp_memo = {}       # id(op) -> (op, fp)
        self.type_fp_memo = {}     # id(type) -> (type, fp)
        self.tt_fast = {}          # (dtype, broadcastable) -> fp for TensorType
        # outer-graph tables, in order of first appearance
        self.op_idx = {}           # id(op) -> (op, idx)
        self.op_table = []
        self.op_table_index = {}   # fp -> idx
        self.op_names = []         # str(op) for details
        self.type_idx_memo = {}    # id(type) or fast key -> idx
        self.type_table = []
        self.type_table_index = {}
        self.type_names = []
        self.const_memo = {}       # id(constant) -> (constant, ref)
        self.const_table = []
        self.const_table_index = {}
        self.const_texts = []
        # C source of nodes with code from outside Theano (csource.py), in walk order
        self.op_user = []          # per op_table index: its fingerprint holds user code
        self.inner_op_user = {}    # id(op) -> (op, bool), ops of inner graphs
        self.user_types = False    # some type seen so far holds user code
        self.c_memo = {}           # (op, input types, output types, constants) -> digest
        self.c_digests = []        # per node with such C source: its digest
        self.c_labels = []         # ... and the op's text, for explain

    # -- errors --------------------------------------------------------------
    def unkeyable(self, reason):
        """UnkeyableGraph naming where (op, attribute, ...) the problem is.
        `where` holds strings or (format, args...) tuples formatted only here."""
        if self.where:
            path = [w if isinstance(w, str) else w[0] % w[1:] for w in self.where]
            reason = "%s: %s" % (" > ".join(path), reason)
        return UnkeyableGraph(reason)

    # -- values --------------------------------------------------------------
    def fp(self, obj):
        t = type(obj)
        if t in _PRIMITIVE_SET:
            return obj
        if t is tuple:
            return ("(",) + tuple(self.fp(x) for x in obj)
        if t is list:
            return ("[",) + tuple(self.fp(x) for x in obj)
        if isinstance(obj, PureOp):
            return self.op_fp(obj)
        if isinstance(obj, PureType):
            return self.type_fp(obj)
        if isinstance(obj, Variable):
            if isinstance(obj, Constant):
                return self.inline_const_fp(obj)
            raise self.unkeyable("holds a symbolic variable (%s) outside a known inner "
                                 "graph" % (obj,))
        if t in _PLAIN_MAPPINGS:
            return _dict_fp(obj, self.fp)
        if isinstance(obj, (set, frozenset, OrderedSet)):
            return _set_fp(obj, self.fp)
        if isinstance(obj, _theano_mode.Mode):
            return self.object_fp(obj)
        if isinstance(obj, Query):
            return self.query_fp(obj)
        if isinstance(obj, (Linker, Optimizer, LocalOptimizer)):
            return self.object_fp(obj)
        if isinstance(obj, Container):
            raise self.unkeyable("holds a value container (run-time storage)")
        if isinstance(obj, types.MethodType):
            owner = obj.__self__
            for depth, active in enumerate(reversed(self.active)):
                if active is owner:
                    return ("method", ("backref", depth), obj.__func__.__name__)
            return ("method", self.fp(owner), obj.__func__.__name__)
        if t is slice:
            return ("slice", self.fp(obj.start), self.fp(obj.stop), self.fp(obj.step))
        try:
            return _value_fp_plain(obj)
        except _Unfit as exc:
            if _is_theano_object(obj):
                return self.object_fp(obj)
            raise self.unkeyable(str(exc.args[0])) from None

    def inline_const_fp(self, const):
        return ("cv", self.type_fp(const.type), self.const_value_fp(const))

    def const_value_fp(self, const):
        try:
            return _value_fp_plain(const.data)
        except _Unfit as exc:
            raise self.unkeyable("constant %s: %s" % (const, exc.args[0])) from None

    def _prop(self, obj, name):
        try:
            return getattr(obj, name)
        except AttributeError:
            raise self.unkeyable("__props__ names %r but the object has no such attribute"
                                 % name) from None

    def _class(self, cls):
        result = self.cls_memo.get(cls)
        if result is None:
            try:
                result = _class_fp(cls)
            except _Unfit as exc:
                raise self.unkeyable(str(exc.args[0])) from None
            self.cls_memo[cls] = result
        return result

    def _attrs_fp(self, obj, label):
        """Sorted (name, fp) pairs of obj.__dict__ minus the excluded names."""
        excluded = _excluded_attrs(type(obj))
        try:
            state = vars(obj)
        except TypeError:
            raise self.unkeyable("%s has no __dict__ to fingerprint" % label) from None
        pairs = []
        for name in sorted(state):
            if name in excluded:
                continue
            self.where.append("%s attribute %r" % (label, name))
            try:
                pairs.append((name, self.fp(state[name])))
            finally:
                self.where.pop()
        if isinstance(obj, dict):
            self.where.append("%s items" % label)
            try:
                pairs.append(("<items>", _dict_fp(obj, self.fp)))
            finally:
                self.where.pop()
        return tuple(pairs)

    def object_fp(self, obj):
        """Theano helper objects, modes, linkers: class + attributes."""
        for depth, active in enumerate(reversed(self.active)):
            if active is obj:
                return ("backref", depth)
        cls = type(obj)
        label = cls.__qualname__
        if isinstance(obj, _theano_mode.Mode):
            return self.mode_fp(obj)
        self.active.append(obj)
        try:
            return ("obj", self._class(cls), self._attrs_fp(obj, label))
        finally:
            self.active.pop()

    def query_fp(self, query):
        pairs = []
        for name in sorted(vars(query)):
            if name in _excluded_attrs(Query):
                continue
            value = vars(query)[name]
            if name in ("include", "require", "exclude"):
                value = frozenset(value)  # tag sets: order is irrelevant
            self.where.append("optimizer query attribute %r" % name)
            try:
                pairs.append((name, self.fp(value)))
            finally:
                self.where.pop()
        return ("obj", self._class(type(query)), tuple(pairs))

    def mode_fp(self, mode):
        self.active.append(mode)
        try:
            return ("obj", self._class(type(mode)), self._attrs_fp(mode, "mode"))
        finally:
            self.active.pop()

    # -- ops -----------------------------------------------------------------
    def op_fp(self, op):
        memo = self.op_fp_memo.get(id(op))
        if memo is not None:
            return memo[1]
        for depth, active in enumerate(reversed(self.active)):
            if active is op:
                return ("backref", depth)
        cls = type(op)
        self.active.append(op)
        try:
            cls_fp = self._class(cls)
            props = getattr(cls, "__props__", None)
            if isinstance(props, tuple):
                pairs = []
                where = self.where
                fp = self.fp
                for name in props:
                    where.append(("op %s property %r", cls.__qualname__, name))
                    value = self._prop(op, name)
                    pairs.append((name, value if type(value) in _PRIMITIVE_SET else fp(value)))
                    where.pop()
                if len(cls_fp) == 4:  # a class from outside Theano: all it holds
                    pairs.extend(self._user_attrs(op, props, "op %s" % cls.__qualname__))
                result = ("op", cls_fp, tuple(pairs))
            else:
                result = ("op*", cls_fp,
                          self._fallback_op_attrs(op, "op %s" % cls.__qualname__))
        finally:
            self.active.pop()
        self.op_fp_memo[id(op)] = (op, result)
        return result

    def _user_attrs(self, obj, props, label):
        """('@name', fp) for the instance attributes beside ``__props__`` of an op or type
        of the user's: equal props do not make two such objects interchangeable in a cache
        (an entry made with one would serve the other's callers). Derived attributes are
        left out only where _EXCLUDED_BY_CLASS documents them."""
        try:
            state = vars(obj)
        except TypeError:
            return ()
        excluded = _excluded_attrs(type(obj))
        pairs = []
        for name in sorted(state):
            if name in excluded or name in props:
                continue
            self.where.append("%s attribute %r (not in __props__)" % (label, name))
            try:
                pairs.append(("@" + name, self.fp(state[name])))
            finally:
                self.where.pop()
        return pairs

    def _fallback_op_attrs(self, op, label):
        """Documented fallback for ops without __props__: the instance
        __dict__ (sorted, minus run-time caches), inner graphs recursively."""
        attrs = _inner_graph_attrs(type(op))
        if attrs is not None:
            # Read through the op, not its __dict__: a loaded Composite keeps its
            # scalar graph packed until asked for it (fncache.backends.theano.serialize).
            getattr(op, attrs[0])
        state = vars(op)
        if attrs is None and isinstance(state.get("inputs"), (list, tuple)) \
                and isinstance(state.get("outputs"), (list, tuple)) \
                and all(isinstance(v, Variable) for v in state["inputs"]) \
                and all(isinstance(v, Variable) for v in state["outputs"]):
            attrs = ("inputs", "outputs")
        inner = None
        if attrs is not None:
            self.where.append("%s inner graph" % label)
            try:
                inner = self.inner_graph_fp(state[attrs[0]], state[attrs[1]])
            finally:
                self.where.pop()
        pairs = []
        excluded = _excluded_attrs(type(op))
        for name in sorted(state):
            if name in excluded or (attrs is not None and name in attrs):
                continue
            self.where.append("%s attribute %r" % (label, name))
            try:
                pairs.append((name, self.fp(state[name])))
            finally:
                self.where.pop()
        if inner is not None:
            pairs.append(("<inner graph>", inner))
        return tuple(pairs)

    def inner_graph_fp(self, inputs, outputs):
        walker = _Walk(self, inner=True)
        for k, var in enumerate(inputs):
            walker.refs.setdefault(var, ("i", k))
        out_refs = tuple(walker.walk(v) for v in outputs)
        return ("graph", tuple(self.type_fp(v.type) for v in inputs),
                tuple(walker.nodes), out_refs)

    # -- types ---------------------------------------------------------------
    def type_fp(self, typ):
        if type(typ) is TensorType and typ.__dict__.keys() <= _TT_ATTRS:
            fast = (typ.dtype, typ.broadcastable, typ.__dict__.get("filter_checks_isfinite"))
            result = self.tt_fast.get(fast)
            if result is None:
                result = ("TT", typ.dtype, typ.broadcastable)
                if fast[2] is not None:
                    result += (("filter_checks_isfinite", fast[2]),)
                self.tt_fast[fast] = result
            return result
        memo = self.type_fp_memo.get(id(typ))
        if memo is not None:
            return memo[1]
        cls = type(typ)
        label = "type %s" % cls.__qualname__
        self.active.append(typ)
        try:
            cls_fp = self._class(cls)
            props = getattr(cls, "__props__", None)
            if isinstance(props, tuple):
                pairs = []
                for name in props:
                    self.where.append(("%s property %r", label, name))
                    pairs.append((name, self.fp(self._prop(typ, name))))
                    self.where.pop()
                if len(cls_fp) == 4:  # a class from outside Theano: all it holds
                    pairs.extend(self._user_attrs(typ, props, label))
                result = ("type", cls_fp, tuple(pairs))
            else:
                result = ("type*", cls_fp, self._attrs_fp(typ, label))
        finally:
            self.active.pop()
        self.type_fp_memo[id(typ)] = (typ, result)
        if not self.user_types and _has_user_code(result):
            self.user_types = True
        return result

    # -- outer-graph tables --------------------------------------------------
    def op_index(self, op):
        memo = self.op_idx.get(id(op))
        if memo is not None:
            return memo[1]
        self.where.append(("node op %s", type(op).__qualname__))
        fp = self.op_fp(op)
        self.where.pop()
        user = _has_user_code(fp)
        idx = _intern(self.op_table, self.op_table_index, self.op_names, fp, lambda: _safe_str(op),
                      exact=user)
        if idx == len(self.op_user):
            self.op_user.append(user)
        self.op_idx[id(op)] = (op, idx)
        return idx

    # -- C source ------------------------------------------------------------
    def c_source(self, node, record, user_op):
        """Note the C source of ``node`` (walk record ``record``) if code from outside
        Theano reaches it and no version covers it (csource.node_digest)."""
        if not user_op and not any(_has_user_code(self.type_fp(v.type))
                                   for v in node.inputs + node.outputs):
            return
        op_ref, in_refs, out_types = record
        memo_key = (op_ref if type(op_ref) is int else id(node.op),
                    tuple(self.type_fp(v.type) for v in node.inputs), out_types,
                    tuple(r for r in in_refs if r[0] in ("c", "cv")))
        digest = self.c_memo.get(memo_key, _Unfit)
        if digest is _Unfit:
            label = "op %s" % _safe_str(node.op)
            try:
                digest = _csource.node_digest(node, label)
            except _csource.CSourceUnfit as exc:
                raise self.unkeyable(exc.args[0]) from None
            self.c_memo[memo_key] = digest
        if digest is not None:
            self.c_digests.append(digest)
            self.c_labels.append(_safe_str(node.op))

    def inner_op_has_user_code(self, op, fp):
        memo = self.inner_op_user.get(id(op))
        if memo is None:
            memo = self.inner_op_user[id(op)] = (op, _has_user_code(fp))
        return memo[1]

    def type_index(self, typ):
        if type(typ) is TensorType and typ.__dict__.keys() <= _TT_ATTRS:
            key = (typ.dtype, typ.broadcastable, typ.__dict__.get("filter_checks_isfinite"))
            idx = self.type_idx_memo.get(key)
            if idx is not None:
                return idx
        else:
            memo = self.type_idx_memo.get(id(typ))
            if memo is not None:
                return memo[1]
            key = None
        fp = self.type_fp(typ)
        idx = _intern(self.type_table, self.type_table_index, self.type_names, fp,
                      lambda: _safe_str(typ), exact=key is None and _has_user_code(fp))
        if key is not None:
            self.type_idx_memo[key] = idx
        else:
            self.type_idx_memo[id(typ)] = (typ, idx)
        return idx

    def const_ref(self, const):
        memo = self.const_memo.get(id(const))
        if memo is not None:
            return memo[1]
        fp = (self.type_fp(const.type), self.const_value_fp(const))
        idx = _intern(self.const_table, self.const_table_index, self.const_texts, fp,
                      lambda: _const_text(const.data), exact=_has_user_code(fp[0]))
        ref = ("c", idx)
        self.const_memo[id(const)] = (const, ref)
        return ref


_EMPTY_PARTS = {}  # part name -> digest of an empty payload
_USER_CODE = {}  # fingerprint -> _has_user_code(fingerprint), for ops and types


def _has_user_code(fp):
    """Whether a fingerprint holds a class or function from outside the versioned
    libraries (their fingerprints carry a code digest: 4 items)."""
    known = _USER_CODE.get(fp)
    if known is None:
        if len(_USER_CODE) > 65536:
            _USER_CODE.clear()
        known = _USER_CODE[fp] = _find_user_code(fp)
    return known


def _find_user_code(fp):
    stack = [fp]
    pop, extend = stack.pop, stack.extend
    while stack:
        x = pop()
        if type(x) is tuple and x:
            if len(x) == 4 and (x[0] == "cls" or x[0] == "fn"):
                return True
            extend(x)
    return False


def _is_theano_object(obj):
    module = type(obj).__module__ or ""
    return (module == "theano" or module.startswith("theano.")) and hasattr(obj, "__dict__")


def _intern(table, table_index, texts, fp, text_of, exact=False):
    """Position of fingerprint ``fp`` in ``table``, appending it (and its text) when new.

    Fingerprints are compared with ``==``, for which 1 == 1.0 == True and 0.0 == -0.0, as
    Theano compares its ops' props; ``exact`` (an op, type or constant of the user's) compares
    their text instead, so two such objects that differ only there get two positions."""
    key = ("exact", repr(fp)) if exact else fp
    idx = table_index.get(key)
    if idx is None:
        idx = len(table)
        table_index[key] = idx
        table.append(fp)
        texts.append(text_of())
    return idx


def _safe_str(obj):
    try:
        return str(obj)
    except Exception:
        return type(obj).__qualname__


# ---------------------------------------------------------------------------
# The graph walk.
# ---------------------------------------------------------------------------
class _Walk(object):
    """Iterative depth-first, post-order walk assigning structural refs.

    refs: ('i', k) explicit/inner input k; ('s', k) shared variable at
    canonical position k; ('c', k) outer constant k; ('cv', type, value)
    inner-graph constant inline; ('n', node, output) an earlier node output.
    """

    def __init__(self, keyer, inner=False, subst=None, owner=None):
        self.keyer = keyer
        self.inner = inner
        self.refs = {}
        self.nodes = []
        self.subst = subst or {}
        self.owner = owner  # the _Signer for outer walks (shared variables)

    def walk(self, root):
        refs = self.refs
        ref = refs.get(root)
        if ref is not None:
            return ref
        subst = self.subst
        stack = [root]
        push = stack.append
        pop = stack.pop
        while stack:
            var = stack[-1]
            if var in refs:
                pop()
                continue
            if subst and var in subst:
                repl = subst[var]
                ref = refs.get(repl)
                if ref is None:
                    push(repl)
                    continue
                refs[var] = ref
                pop()
                continue
            node = var.owner
            if node is None:
                refs[var] = self.leaf(var)
                pop()
                continue
            pending = False
            for inp in reversed(node.inputs):
                if inp not in refs:
                    push(inp)
                    pending = True
            if pending:
                continue
            self.add_node(node)
            pop()
        return refs[root]

    def add_node(self, node):
        keyer = self.keyer
        refs = self.refs
        in_refs = tuple([refs[i] for i in node.inputs])
        outputs = node.outputs
        idx = len(self.nodes)
        if self.inner:
            record = (keyer.op_fp(node.op), in_refs,
                      tuple([keyer.type_fp(o.type) for o in outputs]))
            user_op = keyer.inner_op_has_user_code(node.op, record[0])
        else:
            record = (keyer.op_index(node.op), in_refs,
                      tuple([keyer.type_index(o.type) for o in outputs]))
            user_op = keyer.op_user[record[0]]
        if user_op or keyer.user_types:
            keyer.c_source(node, record, user_op)
        self.nodes.append(record)
        subst = self.subst
        for j, out in enumerate(outputs):
            if out not in refs and not (subst and out in subst):
                refs[out] = ("n", idx, j)

    def leaf(self, var):
        if isinstance(var, Constant):
            if self.inner:
                return self.keyer.inline_const_fp(var)
            return self.keyer.const_ref(var)
        if not self.inner and isinstance(var, SharedVariable):
            return self.owner.shared_ref(var)
        if self.inner:
            raise self.keyer.unkeyable(
                "the inner graph uses %s (%s), which is neither one of its inputs nor a "
                "constant" % (_safe_str(var), type(var).__name__))
        raise self.keyer.unkeyable(
            "variable %s of type %s is needed by the graph but is not an input, a "
            "shared variable or a constant (theano.function would raise "
            "MissingInputError)" % (_safe_str(var), _safe_str(var.type)))


# ---------------------------------------------------------------------------
# signature()
# ---------------------------------------------------------------------------
class GraphSignature(object):
    """Result of signature(): the key, its named parts and the ordered
    Theano objects the cache needs to rebind a compiled function."""

    __slots__ = ("key", "parts", "shared", "inputs", "_details", "_details_builder")

    def __init__(self, key, parts, shared, inputs, details_builder):
        self.key = key
        self.parts = parts
        self.shared = shared
        self.inputs = inputs
        self._details = None
        self._details_builder = details_builder

    @property
    def details(self):
        if self._details is None:
            self._details = self._details_builder()
        return self._details

    def __repr__(self):
        return "<GraphSignature %s: %d inputs, %d shared>" % (
            self.key[:16], len(self.inputs), len(self.shared))

    def __eq__(self, other):
        return isinstance(other, GraphSignature) and other.key == self.key

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.key)


def _pairs(value, what):
    """Pairs from a dict / OrderedDict / list of pairs, as theano does."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    try:
        items = list(value)
    except TypeError:
        raise BadCall("%s must be a dict or a list of pairs, got %s"
                      % (what, type(value).__name__)) from None
    pairs = []
    for item in items:
        if isinstance(item, Variable):
            raise BadCall("%s must be an OrderedDict/dict or a list of (variable, "
                          "expression) pairs, got a flat list" % what)
        try:
            a, b = item
        except (TypeError, ValueError):
            raise BadCall("%s must hold (variable, expression) pairs, got %r"
                          % (what, type(item).__name__)) from None
        pairs.append((a, b))
    return pairs


class _Signer(object):
    """One signature() computation."""

    def __init__(self, inputs, outputs, updates, givens, mode, kwargs):
        self.keyer = _Keyer()
        self.kw = kwargs
        self.shared_vars = []
        self.shared_pos = {}
        self.shared_read = []
        self.update_d = {}
        self.update_kind = {}
        self.update_expr = []
        self._parse(inputs, outputs, updates, givens, mode)

    # -- argument parsing ----------------------------------------------------
    def _parse(self, inputs, outputs, updates, givens, mode):
        kw = self.kw
        if not isinstance(inputs, (list, tuple)):
            raise BadCall("inputs of a Theano function must be a list, even for a "
                          "single input (got %s)" % type(inputs).__name__)
        ndu = kw.get("no_default_updates", False)
        if not isinstance(ndu, (bool, list)):
            raise BadCall("no_default_updates must be a bool or a list")
        self.no_default_updates = ndu
        allow_downcast = kw.get("allow_input_downcast")
        self.in_specs = []
        for k, param in enumerate(inputs):
            if isinstance(param, (list, tuple)):
                raise BadCall("input %d is a list/tuple: Theano's old-style tuple "
                              "inputs are not supported by the cache" % k)
            if isinstance(param, In):
                spec = param
            elif isinstance(param, SymbolicInput):
                raise UnkeyableGraph("input %d is a SymbolicInput; use theano.In" % k)
            elif isinstance(param, Variable):
                spec = In(param, strict=False, allow_downcast=allow_downcast)
            else:
                raise BadCall("input %d is a %s, not a Variable or theano.In"
                              % (k, type(param).__name__))
            var = spec.variable
            if isinstance(var, Constant):
                raise BadCall("input %d is a Constant; constants are not allowed "
                              "in the inputs list" % k)
            if isinstance(var, SharedVariable):
                raise BadCall("input %d is a shared variable; Theano does not allow "
                              "shared variables as explicit inputs (use givens)" % k)
            self.in_specs.append(spec)
        self.input_vars = [s.variable for s in self.in_specs]
        seen = {}
        for k, var in enumerate(self.input_vars):
            if var in seen:
                raise BadCall("variable %s is used twice in inputs (indices %d and %d)"
                              % (var, seen[var], k))
            seen[var] = k

        # outputs
        if outputs is None:
            self.out_container, self.out_keys, items = "none", None, []
        elif isinstance(outputs, dict):
            if not all(isinstance(k, str) for k in outputs):
                raise BadCall("output dict keys must be strings")
            ordered = sorted(outputs.items(), key=lambda kv: kv[0])  # as theano does
            self.out_container = "dict"
            self.out_keys = tuple(k for k, _ in ordered)
            items = [v for _, v in ordered]
        elif isinstance(outputs, (list, tuple)):
            self.out_container, self.out_keys, items = "list", None, list(outputs)
        else:
            self.out_container, self.out_keys, items = "single", None, [outputs]
        self.out_items = []
        for k, item in enumerate(items):
            if isinstance(item, SymbolicOutput):
                self.out_items.append((item.variable, bool(item.borrow)))
            elif isinstance(item, Variable):
                self.out_items.append((item, False))
            else:
                raise BadCall("output %d must be a theano Variable or Out instance, "
                              "got %s" % (k, type(item).__name__))

        self.updates = _pairs(updates, "updates")
        self.givens = _pairs(givens, "givens")
        input_set = set(self.input_vars)
        origs = set()
        for orig, repl in self.givens:
            if orig in origs:
                raise BadCall("givens replaces %s twice" % (orig,))
            origs.add(orig)
            if not isinstance(orig, Variable):
                raise BadCall("givens keys must be Variables, got %s"
                              % type(orig).__name__)
            if not isinstance(repl, Variable):
                raise UnkeyableGraph(
                    "givens replacement for %s is a %s, not a Variable; Theano would wrap "
                    "it in a new shared variable, which the cache cannot rebind"
                    % (orig, type(repl).__name__))
            if orig in input_set:
                raise BadCall("givens replaces %s, which is an input of the function "
                              "(Theano forbids this)" % orig)
        try:
            self.mode = _theano_mode.get_mode(mode)
        except Exception as exc:  # e.g. an unknown mode name: let Theano say it
            raise BadCall("mode %r cannot be resolved: %s" % (mode, exc)) from None

    # -- shared variables ----------------------------------------------------
    def _register_shared(self, var):
        pos = self.shared_pos.get(var)
        if pos is None:
            pos = len(self.shared_vars)
            self.shared_pos[var] = pos
            self.shared_vars.append(var)
            self.shared_read.append(False)
        return pos

    def shared_ref(self, var):
        """First visit of a shared variable by the walk (as a read)."""
        pos = self._register_shared(var)
        self.shared_read[pos] = True
        if hasattr(var, "default_update"):
            ndu = self.no_default_updates
            allowed = ndu is False or (isinstance(ndu, list) and
                                       not any(var is v for v in ndu))
            if allowed and var not in self.update_d:
                try:
                    upd = var.type.filter_variable(var.default_update, allow_convert=False)
                except Exception as exc:
                    raise UnkeyableGraph("default_update of shared variable %s is unusable: "
                                         "%s" % (var, exc))
                if upd.type != var.type:
                    raise UnkeyableGraph("default_update of %s has type %s, not %s"
                                         % (var, upd.type, var.type))
                self.update_d[var] = upd
                self.update_kind[var] = "default"
                self.update_expr.append((var, upd))
        return ("s", pos)

    # -- the walk ------------------------------------------------------------
    def run(self):
        keyer = self.keyer
        subst = {}
        for orig, repl in self.givens:
            subst[orig] = repl
        if subst:
            self._check_givens_independent(subst)
        walk = _Walk(keyer, subst=subst, owner=self)
        for k, var in enumerate(self.input_vars):
            walk.refs[var] = ("i", k)
        self.walk = walk

        # 1. givens replacements, in pair order (rebuild_collect_shared order)
        self.given_refs = [self._root(walk.walk(repl)) for _, repl in self.givens]
        # 2. explicit updates are registered before the outputs are walked
        for target, expr in self.updates:
            if not isinstance(target, SharedVariable):
                raise BadCall("update target must be a SharedVariable, got %s" % target)
            if target in self.update_d:
                raise BadCall("shared variable %s already has an update expression"
                              % target)
            try:
                expr = target.type.filter_variable(expr, allow_convert=False)
            except TypeError as exc:
                raise BadCall("an update must have the same type as the shared "
                              "variable %s: %s" % (target, exc)) from None
            self.update_d[target] = expr
            self.update_kind[target] = "explicit"
            self.update_expr.append((target, expr))
        # 3. outputs, then In(update=...) expressions
        self.out_refs = [self._root(walk.walk(var)) for var, _ in self.out_items]
        self.in_update_refs = [self._root(walk.walk(s.update)) if s.update is not None else None
                               for s in self.in_specs]
        # 4. update expressions; default updates found on the way are appended
        self.update_refs = {}
        i = 0
        while i < len(self.update_expr):
            target, expr = self.update_expr[i]
            self.update_refs[target] = self._root(walk.walk(expr))
            self._register_shared(target)
            i += 1
        return self._finish()

    def _root(self, ref):
        """A ref used by a part other than graph, with its producer's op.

        The op index is derived data (so it cannot cause a false hit), but it
        makes e.g. swapped outputs or a changed update expression show up in
        the outputs / shared part, where explain() can say so in words."""
        if ref[0] == "n":
            op = self.walk.nodes[ref[1]][0]
            return ref + (op, _digest(self.keyer.op_table[op])[:16])
        return ref

    def _check_givens_independent(self, subst):
        """Theano substitutes earlier pairs inside later replacements and
        rejects the reverse; we key neither subtlety: refuse both."""
        from theano.gof.graph import ancestors
        for orig, repl in self.givens:
            for anc in ancestors([repl]):
                if anc in subst:
                    raise UnkeyableGraph(
                        "the givens replacement for %s depends on %s, which givens also "
                        "replaces; Theano's result then depends on the order of the pairs"
                        % (orig, anc))

    # -- parts ---------------------------------------------------------------
    def _finish(self):
        keyer = self.keyer
        fp = keyer.fp
        parts_payload = {}
        kw = self.kw

        # environment
        env_digest, env_details = _env.environment_part()

        # mode
        keyer.where.append("mode")
        try:
            mode_fp = fp(self.mode)
        finally:
            keyer.where.pop()

        # rewrites
        try:
            rewrites_fp, rewrites_details = _rewrites.part(fp, keyer._class)
        except _rewrites.RewriteUnfit as exc:
            raise UnkeyableGraph(exc.args[0]) from None

        # options
        ndu = self.no_default_updates
        if isinstance(ndu, list):
            listed = sorted(self.shared_pos[v] for v in ndu if v in self.shared_pos)
            ndu_fp = ("list", tuple(listed))
        else:
            ndu_fp = ndu
        profile = kw.get("profile")
        if profile is None:
            profile_on = bool(theano.config.profile or theano.config.print_global_stats)
        else:
            profile_on = profile is not False
        givens_fp = []
        for (orig, _), ref in zip(self.givens, self.given_refs):
            givens_fp.append((_orig_kind(orig), keyer.type_fp(orig.type), ref))
        keyer.where.append("options")
        try:
            on_unused = fp(kw.get("on_unused_input"))
            allow_downcast = fp(kw.get("allow_input_downcast"))
        finally:
            keyer.where.pop()
        options = (
            ("givens", tuple(givens_fp)),
            ("on_unused_input", on_unused),
            ("no_default_updates", ndu_fp),
            ("allow_input_downcast", allow_downcast),
            ("accept_inplace", bool(kw.get("accept_inplace", False))),
            ("rebuild_strict", bool(kw.get("rebuild_strict", True))),
            ("profile", profile_on),
        )

        # inputs
        inputs_fp = []
        for spec, upd_ref in zip(self.in_specs, self.in_update_refs):
            value = spec.value
            if isinstance(value, (Container, Variable)):
                raise UnkeyableGraph("In(%s, value=%s): a container or variable as default "
                                     "value is not supported"
                                     % (spec.variable, type(value).__name__))
            keyer.where.append("input %r" % (spec.name,))
            try:
                settings = tuple(fp(v) for v in (
                    spec.name, spec.borrow, spec.mutable, spec.strict, spec.allow_downcast,
                    spec.implicit, getattr(spec, "shared", False)))
                value_fp = fp(value)
            finally:
                keyer.where.pop()
            inputs_fp.append((keyer.type_fp(spec.variable.type),) + settings
                             + (upd_ref, value_fp))

        # shared
        shared_fp = []
        for pos, var in enumerate(self.shared_vars):
            shared_fp.append((keyer._class(type(var)), keyer.type_fp(var.type),
                              self.shared_read[pos], self.update_kind.get(var),
                              self.update_refs.get(var)))

        outputs_fp = (self.out_container, self.out_keys,
                      tuple((ref, borrow)
                            for ref, (_, borrow) in zip(self.out_refs, self.out_items)))
        constants_fp = tuple(keyer.const_table)
        graph_fp = (tuple(keyer.type_table), tuple(keyer.op_table), tuple(self.walk.nodes))

        parts_payload = {
            "mode": mode_fp, "rewrites": rewrites_fp, "options": options,
            "inputs": tuple(inputs_fp), "shared": tuple(shared_fp), "outputs": outputs_fp,
            "constants": constants_fp, "graph": graph_fp, "c_code": tuple(keyer.c_digests),
        }
        parts = {}
        for name in PART_NAMES:
            payload = parts_payload.get(name)
            if name == "environment":
                parts[name] = env_digest
            elif payload == ():  # most graphs: no rewrites or C source of the user's
                parts[name] = _EMPTY_PARTS.get(name) or _EMPTY_PARTS.setdefault(
                    name, _digest((name, ())))
            else:
                parts[name] = _digest((name, payload))
        h = hashlib.sha256(_KEY_PREFIX)
        for name in PART_NAMES:
            h.update(("%s=%s\n" % (name, parts[name])).encode("ascii"))
        key = h.hexdigest()
        if log.isEnabledFor(logging.DEBUG):
            for name in PART_NAMES:
                log.debug("graph key %s part %s = %s", key[:16], name, parts[name])

        builder = _DetailsBuilder(
            env_details=env_details, mode_fp=mode_fp, rewrites_details=rewrites_details,
            c_code=list(zip(keyer.c_labels, keyer.c_digests)), options=options, givens_text=[_safe_str(o) for o, _ in self.givens],
            inputs_fp=inputs_fp,
            input_type_names=[_safe_str(s.variable.type) for s in self.in_specs],
            shared_fp=shared_fp, shared_type_names=[_safe_str(v.type) for v in self.shared_vars],
            outputs_fp=outputs_fp, const_table=keyer.const_table, const_texts=keyer.const_texts,
            nodes=self.walk.nodes,
            op_table=keyer.op_table, op_names=keyer.op_names, type_names=keyer.type_names)
        sig = GraphSignature(key, parts, list(self.shared_vars), list(self.input_vars), builder)
        _explain.register(sig)
        return sig


def _orig_kind(var):
    if isinstance(var, SharedVariable):
        return "shared"
    if isinstance(var, Constant):
        return "constant"
    if var.owner is not None:
        return "intermediate"
    return "variable"


class _DetailsBuilder(object):
    """Builds JSON-serialisable details lazily from plain data (holds no
    Theano objects, so registries can keep it cheaply)."""

    def __init__(self, **state):
        self.__dict__.update(state)

    def __call__(self):
        input_names = [entry[1] for entry in self.inputs_fp]
        const_texts = self.const_texts
        op_names = self.op_names

        def ref(r):
            return None if r is None else _ref_text(r, const_texts, input_names, op_names)

        def op_key(r):
            """Digest of the op producing a root ref: explains a difference
            that the ref's text (same node, same op name) does not show."""
            return r[4] if r is not None and r[0] == "n" and len(r) > 4 else None

        details = {"environment": dict(self.env_details)}
        details["mode"] = _fp_pairs_text(self.mode_fp)
        details["rewrites"] = [dict(entry) for entry in self.rewrites_details]
        details["c_code"] = [{"op": label, "key": digest[:16]} for label, digest in self.c_code]
        options = {}
        for name, value in self.options:
            if name == "givens":
                options[name] = ["%s (%s %s) -> %s" % (txt, kind, render(tfp), ref(r))
                                 for txt, (kind, tfp, r) in zip(self.givens_text, value)]
                options["givens_op_keys"] = [op_key(r) for _, _, r in value]
            elif name == "no_default_updates" and isinstance(value, tuple):
                options[name] = ["shared%d" % i for i in value[1]]
            else:
                options[name] = value
        details["options"] = options
        details["inputs"] = [
            {"position": k, "name": e[1], "type": self.input_type_names[k],
             "type_key": render(e[0]), "borrow": e[2], "mutable": e[3], "strict": e[4],
             "allow_downcast": e[5], "implicit": e[6], "shared": e[7], "update": ref(e[8]),
             "update_op_key": op_key(e[8]), "value": render(e[9], limit=200)}
            for k, e in enumerate(self.inputs_fp)]
        details["shared"] = [
            {"position": k, "class": render(e[0]), "type": self.shared_type_names[k],
             "type_key": render(e[1]), "read": e[2], "update": e[3], "update_from": ref(e[4]),
             "update_op_key": op_key(e[4])}
            for k, e in enumerate(self.shared_fp)]
        container, keys, items = self.outputs_fp
        details["outputs"] = {
            "container": container, "keys": list(keys) if keys else None,
            "items": [{"position": k, "from": ref(r), "from_op_key": op_key(r), "borrow": b}
                      for k, (r, b) in enumerate(items)]}
        details["constants"] = [
            {"i": k, "type": render(fp[0]), "value": const_texts[k],
             "value_key": render(fp[1], limit=200), "first_use": use}
            for k, (fp, use) in enumerate(zip(self.const_table, self._constant_uses()))]
        op_keys = [render(fp) for fp in self.op_table]
        details["graph"] = [
            {"i": i, "op": op_names[op], "op_key": op_keys[op],
             "inputs": [ref(r) for r in ins], "outputs": [self.type_names[t] for t in outs]}
            for i, (op, ins, outs) in enumerate(self.nodes)]
        return details

    def _constant_uses(self):
        """'node N input K' where each constant is first used; a constant
        that is only broadcast (DimShuffle) is reported at the broadcast's
        consumer, which is the node a user wrote (e.g. the mul in x * 0.5)."""
        first = [None] * len(self.const_table)
        for i, (_, ins, _) in enumerate(self.nodes):
            for pos, r in enumerate(ins):
                if r[0] == "c" and first[r[1]] is None:
                    first[r[1]] = (i, pos)
        wanted = {}
        for k, use in enumerate(first):
            if use is not None and "DimShuffle" in self.op_names[self.nodes[use[0]][0]]:
                wanted.setdefault(use[0], []).append(k)
        if wanted:
            for i, (_, ins, _) in enumerate(self.nodes):
                for pos, r in enumerate(ins):
                    if r[0] == "n" and r[1] in wanted and r[2] == 0:
                        for k in wanted.pop(r[1]):
                            first[k] = (i, pos)
                if not wanted:
                    break
        return [None if use is None else "node %d input %d" % use for use in first]


def _fp_pairs_text(fp):
    """{'class': ..., attr: text} for an ('obj', cls, pairs) fingerprint."""
    if isinstance(fp, tuple) and len(fp) == 3 and fp[0] in ("obj", "op", "op*", "type", "type*"):
        out = {"class": render(fp[1])}
        for name, value in fp[2]:
            key = name.lstrip("_") or name
            out[key] = render(value)
        return out
    return {"value": render(fp)}


def signature(inputs, outputs=None, updates=None, givens=None, mode=None, **kwargs):
    """Structural key of ``theano.function(inputs, outputs, ...)``.

    Accepts exactly the arguments of ``theano.function``; ``name`` is
    ignored (it does not change behaviour). Raises TypeError for unknown
    keyword arguments and UnkeyableGraph when the call cannot be keyed
    safely (or when Theano itself would reject it).
    """
    unknown = sorted(set(kwargs) - _FUNCTION_KWARGS)
    if unknown:
        raise FncacheTypeError("unexpected keyword argument(s): %s"
                               % ", ".join(unknown))
    # Keying allocates many small objects and frees them at once: a collection
    # during it would walk the whole heap (the caller's graph included) for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Signer(inputs, outputs, updates, givens, mode, kwargs).run()
    finally:
        if gc_was_enabled:
            gc.enable()
