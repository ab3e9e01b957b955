"""Fingerprints of classes, functions and plain values, shared by the Theano-family backends.

A fingerprint is a type-tagged tuple of plain Python values, the same in every process:
classes and functions by module + qualname (plus a digest of their code when no version
covers it: the user's own ops), arrays by dtype, shape and BLAKE3 of their bytes, containers
by their items. Nothing here uses ``id()``, ``hash()`` or names that differ per process, and
nothing here imports a graph library (a library adds its mapping/set classes with
``register_library``; its exclusion tables come in its ``Library``).
"""
import collections
import enum
import functools
import hashlib
import sys
import threading
import types
import weakref

import numpy as np

from fncache.backends import LIBRARY_ROOTS
from fncache.errors import UnkeyableGraph
from fncache.keys.digest import content_digest
from fncache.keys.render import render


class Unfit(Exception):
    """A value cannot be fingerprinted (reason in args[0]); the keyer makes it UnkeyableGraph."""

# Modules whose code is versioned by the environment part (library versions,
# Python version, FORMAT_VERSION). Classes and functions from anywhere else
# (the user's own ops) also get a digest of their code.
_VERSIONED_ROOTS = frozenset(("numpy", "scipy", "fncache", "builtins") + LIBRARY_ROOTS) | frozenset(
    getattr(sys, "stdlib_module_names", ()))

_PRIMITIVES = (type(None), bool, int, float, str, bytes)
_PRIMITIVE_SET = frozenset(_PRIMITIVES)

# Mappings fingerprinted by their items, in order, and sets by their sorted items; a
# library adds its own (frozendict, OrderedSet) with register_library().
_PLAIN_MAPPINGS = {dict, collections.OrderedDict, collections.defaultdict, types.MappingProxyType}
_SET_TYPES = (set, frozenset)


def register_library(lib):
    """Add a library's plain mapping and set classes to the value fingerprints (once)."""
    global _SET_TYPES
    if lib.frozendict is not None:
        _PLAIN_MAPPINGS.add(lib.frozendict)
    if lib.OrderedSet is not None and lib.OrderedSet not in _SET_TYPES:
        _SET_TYPES = _SET_TYPES + (lib.OrderedSet,)


def plain_mappings():
    return _PLAIN_MAPPINGS


def set_types():
    return _SET_TYPES

def _class_path(cls):
    return "%s.%s" % (cls.__module__, cls.__qualname__)


# Attributes no fingerprint includes (set by doc decorators); a library's exclusion
# table (class path, attributes, why) adds the rest.
_EXCLUDED_EVERYWHERE = frozenset([
    "__doc__", "__module__", "__epydoc_asRoutine",
])


@functools.lru_cache(maxsize=None)
def excluded_attrs(lib, cls):
    """Attributes of ``cls`` left out of fallback fingerprints (lib.excluded_by_class)."""
    names = set(_EXCLUDED_EVERYWHERE)
    paths = {_class_path(k) for k in cls.__mro__ if hasattr(k, "__qualname__")}
    for path, attrs, _why in lib.excluded_by_class:
        if path in paths:
            names.update(attrs)
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def inner_graph_attrs(lib, cls):
    """(inputs attribute, outputs attribute) of an op class holding an inner graph, or None."""
    paths = [_class_path(k) for k in cls.__mro__ if hasattr(k, "__qualname__")]
    for path in paths:
        if path in lib.inner_graph_attrs:
            return lib.inner_graph_attrs[path]
    return None

def _is_versioned(module):
    return (module or "").split(".", 1)[0] in _VERSIONED_ROOTS


def _resolve(module, qualname):
    """The object at module.qualname, or Unfit. Only looks at modules that
    are already imported: a live object's module always is, and importing
    here could run arbitrary code."""
    obj = sys.modules.get(module)
    if obj is None:
        return Unfit
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    except Exception:
        return Unfit

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
    except (Unfit, UnkeyableGraph, RecursionError):
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
            raise Unfit(cached)
        return cached
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<locals>" in qualname:
        err = Unfit("class %s.%s is defined inside a function; it cannot be "
                     "found by name in another process" % (module, qualname))
    elif _resolve(module, qualname) is not cls:
        err = Unfit("class %s.%s is not importable under that name" % (module, qualname))
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
            raise Unfit(cached)
        return cached
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    what = "%s.%s" % (module, qualname)
    if not isinstance(module, str) or not isinstance(qualname, str):
        err = Unfit("function %r has no module-level name" % (qualname,))
    elif "<lambda>" in qualname:
        err = Unfit("lambda %s cannot be found by name in another process" % what)
    elif "<locals>" in qualname:
        err = Unfit("function %s is a closure / nested function; its behaviour "
                     "depends on state a key cannot see" % what)
    else:
        target = _resolve(module, qualname)
        # theano.compile.ops.as_op replaces the module attribute by the op
        # wrapping the function (and pickles the op by that name).
        if target is func or getattr(target, "__wrapped__", None) is func or \
                getattr(target, "_FromFunctionOp__fn", None) is func:
            err = None
        else:
            err = Unfit("function %s is not importable under that name" % what)
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
    raise Unfit("numpy ufunc %r is neither numpy.%s nor scipy.special.%s" % (name, name, name))


# ---------------------------------------------------------------------------
# Plain values (no graph context): arrays, scalars, containers, classes.
# ---------------------------------------------------------------------------
def _array_fp(arr):
    if type(arr) is not np.ndarray:
        if isinstance(arr, np.ma.MaskedArray):
            raise Unfit("masked arrays are not supported")
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
        raise Unfit("scipy sparse format %r is not supported" % fmt)
    return ("sparse", fmt, mat.shape, tuple(_array_fp(a) for a in arrays))


def _value_fp_plain(obj):
    """Fingerprint values that need no graph context (raises Unfit)."""
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
    if isinstance(obj, _SET_TYPES):
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
            raise Unfit("method %s of %s is not reachable by name" % (obj.__name__, owner))
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
    raise Unfit("cannot fingerprint a %s.%s" % (t.__module__, t.__qualname__))


_VALUE_FP = _value_fp_plain


def _dict_fp(d, fp):
    """In the dict's order: code that iterates a dict (an op's attribute) sees its order."""
    return ("{",) + tuple((fp(k), fp(v)) for k, v in d.items())


def _set_fp(s, fp):
    items = [fp(v) for v in s]
    items.sort(key=repr)
    return ("set",) + tuple(items)

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
