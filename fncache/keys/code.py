"""What a plain Python function computes with: its code, the user code it calls, the values it reads.

``fingerprint(func)`` walks the function once and splits what it finds in two:

- a *static* digest (sha256) of everything fixed by the source: bytecode and constants
  (nested code objects recursively), names, the bytecode of every function or class it
  reaches that lives in the user's own modules, and, for library functions and modules
  (stdlib, site-packages, fncache, Theano), their name and package version;
- *dynamic* reads, hashed by value on every call: globals and closure cells that hold plain
  values (numbers, strings, arrays, containers...), defaults of called functions, and the
  state behind a callable: the object a bound method (``model.predict``) or a builtin
  (``items.append``, ``d.get``) is bound to, a ``functools.partial``'s arguments, an instance
  of the user's class (whose class code is static). A global array the function reads is part
  of the key, so changing it misses; a state that cannot be hashed raises ``UnhashableValue``
  naming it, never a guess. So does a random generator the function draws from (a global
  RandomState, ``np.random.rand`` on numpy's): a hit would not move its state as a call does.

The walk is cached per function. Each reached global function, class or module is also
remembered by identity: if a name is rebound later (a module reloaded, a helper patched),
the next call notices and walks again. Line numbers are not part of the key: moving code
does not invalidate results, changing it does.
"""
import builtins
import dis
import functools
import hashlib
import os
import random
import sys
import sysconfig
import types
import weakref

import numpy as np

from fncache.keys.values import UnhashableValue, ValueHasher

__all__ = ["fingerprint", "Fingerprint", "is_user_module"]

_LIBRARY_ROOTS = ("fncache", "theano", "numpy", "scipy")
_LIBRARY_DIRS = tuple(sorted({os.path.realpath(p) for p in (
    sysconfig.get_paths().get(name) for name in ("stdlib", "platstdlib", "purelib", "platlib"))
    if p} | {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}))


def is_user_module(module_name):
    """True for the user's own modules: ``__main__``, files outside the stdlib and site-packages."""
    if module_name == "__main__":
        return True
    if not module_name or module_name.split(".", 1)[0] in _LIBRARY_ROOTS:
        return False
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return False  # built in, or a namespace package: library code
    path = os.path.realpath(path)
    return not any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def _library_tag(obj):
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "?")
    root = sys.modules.get(str(module).split(".", 1)[0])
    return ("lib", str(module), getattr(obj, "__qualname__", getattr(obj, "__name__", "?")),
            str(getattr(root, "__version__", "")))


class Fingerprint:
    """A walked function: ``static`` digest, ``reads`` (label, getter), ``bindings`` (getter, obj).

    ``static_parts`` names each piece of the static digest ("code of global '_helper' of f":
    digest), so explain can say which function's code changed; ``roots[i]`` is the global or
    closure name read ``i`` comes from (what ``memoize(ignore=...)`` would take), or None.
    """

    def __init__(self, static, reads, bindings, static_parts=None, roots=None):
        self.static = static
        self.reads = reads
        self.bindings = bindings
        self.static_parts = static_parts or {}
        self.roots = roots or [None] * len(reads)

    def current(self):
        """False if a name the walk resolved now points elsewhere (walk again)."""
        for getter, expected in self.bindings:
            try:
                if getter() is not expected:
                    return False
            except (KeyError, ValueError, AttributeError):
                return False
        return True

    def hash_reads(self, hasher, spans=None):
        """Feed the current values of the dynamic reads to a ValueHasher; ``spans`` (a list)
        gets (label, start, end, root) per read."""
        for i, (label, getter) in enumerate(self.reads):
            try:
                start = hasher.tell()
                hasher.update(getter())
                if spans is not None:
                    spans.append((label, start, hasher.tell(), self.roots[i]))
            except UnhashableValue as exc:
                exc.path[:1] = [label]  # instead of "argument N"
                exc.reason += " (or name it in memoize(ignore=...) if it cannot change the result)"
                raise


class _Walker:
    def __init__(self, ignore):
        self.ignore = frozenset(ignore)
        self.parts = []
        self.reads = []
        self.roots = []  # per read: the global or closure name it comes from
        self.root = None
        self.bindings = []
        self.seen = set()

    def _read_append(self, entry):
        self.reads.append(entry)
        self.roots.append(self.root)

    # -- code ------------------------------------------------------------
    def code(self, code, owner):
        consts = []
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                consts.append(self.code(c, owner))
            else:
                consts.append(repr(c) if isinstance(c, (str, bytes, int, float, complex, bool,
                                                        type(None), tuple, frozenset))
                              else type(c).__qualname__)
        return ("code", code.co_code, tuple(consts), code.co_names, code.co_varnames,
                code.co_freevars, code.co_cellvars, code.co_argcount, code.co_posonlyargcount,
                code.co_kwonlyargcount, code.co_flags,
                getattr(code, "co_exceptiontable", b""))

    def names(self, code):
        names = set(code.co_names)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                names |= self.names(c)
        return names

    # -- functions, classes, modules -------------------------------------
    def function(self, func, label):
        if func in self.seen:
            self.parts.append(("again", label))
            return
        self.seen.add(func)
        outer_root = self.root
        code = func.__code__
        self.parts.append(("fn", label, self.code(code, func)))
        names = self.names(code)
        chains = _global_chains(code)
        glb = func.__globals__
        for name in sorted(names):
            if name in glb:
                self.root = name
                self.global_(glb, name, names, "global %r of %s" % (name, func.__qualname__),
                             chains)
            else:
                if hasattr(builtins, name):
                    self.parts.append(("builtin", name))
                # a name defined later (a helper below the decorated function): walk again then
                self.bindings.append((lambda name=name: glb.get(name, _ABSENT), _ABSENT))
        for i, (name, cell) in enumerate(zip(code.co_freevars, func.__closure__ or ())):
            where = "closure variable %r of %s" % (name, func.__qualname__)
            if name in self.ignore:
                self.parts.append(("ignored", name))
                continue
            try:
                value = cell.cell_contents
            except ValueError:  # not yet assigned
                self.parts.append(("empty-cell", name))
                continue
            self.root = name
            self.reach(value, where, lambda cell=cell: cell.cell_contents)
        self.root = None
        if func.__defaults__ or func.__kwdefaults__:
            self._read_append(("defaults of %s" % func.__qualname__,
                               lambda f=func: (f.__defaults__, f.__kwdefaults__)))
        self.root = outer_root

    def global_(self, glb, name, names, label, chains=frozenset()):
        if name in self.ignore:
            self.parts.append(("ignored", name))
            return
        value = glb[name]
        if isinstance(value, types.ModuleType):
            self.bindings.append((lambda: glb[name], value))
            if is_user_module(value.__name__):
                self.parts.append(("module", name, value.__name__))
                # module.attr: the attribute names are among the code's names
                for attr in sorted(names):
                    if attr in vars(value):
                        self.root = attr
                        self.global_(vars(value), attr, names,
                                     "%s.%s" % (value.__name__, attr))
            else:
                self.parts.append((name,) + _library_tag(value))
                for chain in sorted(c for c in chains if c[0] == name and len(c) > 2):
                    self.library_state(value, chain, name)
        else:
            self.reach(value, label, lambda: glb[name])

    def reach(self, value, label, getter):
        """Add what ``value`` (found at ``label``; ``getter`` reads it again) brings to the key:
        its code statically, and any state its result depends on as a read hashed each call."""
        if self.callable_(value, label, getter):
            self.bindings.append((getter, value))
        else:
            self.read(label, getter, value)

    def read(self, label, getter, value):
        """A value hashed on every call; a random generator the code draws from is refused."""
        if isinstance(value, _GENERATORS):
            self._read_append((label, functools.partial(_draws, label, type(value))))
        else:
            self._read_append((label, getter))

    def state(self, obj, label, getter):
        """An object a callable is bound to: read by value on every call (never static)."""
        if isinstance(obj, (type, types.ModuleType)):
            self.callable_(obj, label, getter)
            return
        if is_user_module(type(obj).__module__):
            self.callable_(type(obj), label, getter)  # the code of its methods, statically
        self.read(label, getter, obj)

    def library_state(self, module, chain, label):
        """``np.random.rand`` and kin: an attribute the code reads off a library module (through
        its submodules) that is a builtin bound to an object (numpy's global RandomState)
        carries state the module's version tag cannot see: read it on every call."""
        root = module.__name__.split(".", 1)[0]
        for i, attr in enumerate(chain[1:], 1):
            member = vars(module).get(attr)
            if isinstance(member, types.ModuleType) and member.__name__.split(".", 1)[0] == root:
                module = member
                continue
            if isinstance(member, _BOUND_BUILTINS) and _holds_state(member):
                self.read("%s (bound to a %s)" % (".".join(chain[:i + 1]),
                                                   type(member.__self__).__qualname__),
                          lambda m=module, a=attr: vars(m)[a].__self__, member.__self__)
            return

    def callable_(self, value, label, getter):
        """Fingerprint a function or class statically (and what it is bound to, as reads);
        False for plain values."""
        if isinstance(value, types.MethodType):
            self.callable_(value.__func__, label, lambda: getter().__func__)
            self.state(value.__self__, "%s (the object it is bound to)" % label,
                       lambda: getter().__self__)
            return True
        if isinstance(value, functools.partial):
            self.reach(value.func, "%s (its function)" % label, lambda: getter().func)
            self._read_append(("%s (its arguments)" % label,
                               lambda: (getter().args, getter().keywords)))
            return True
        if isinstance(value, functools._lru_cache_wrapper):
            return self.callable_(value.__wrapped__, label, lambda: getter().__wrapped__)
        if isinstance(value, types.FunctionType):
            if is_user_module(value.__module__) or "<locals>" in value.__qualname__:
                self.function(value, label)
            else:
                self.parts.append(_library_tag(value))
            return True
        if isinstance(value, type):
            if is_user_module(value.__module__) and value not in self.seen:
                self.seen.add(value)
                self.parts.append(("class", label, value.__qualname__))
                for klass in value.__mro__:
                    if not is_user_module(klass.__module__):
                        self.parts.append(_library_tag(klass))
                        continue
                    for attr, member in sorted(vars(klass).items()):
                        if isinstance(member, (staticmethod, classmethod)):
                            member = member.__func__
                        if isinstance(member, property):
                            member = member.fget
                        if isinstance(member, types.FunctionType):
                            self.function(member, "%s.%s" % (klass.__qualname__, attr))
                        elif not attr.startswith("__"):
                            self._read_append(("class attribute %s.%s" % (klass.__qualname__, attr),
                                               lambda k=klass, a=attr: vars(k).get(a)))
            elif not is_user_module(value.__module__):
                self.parts.append(_library_tag(value))
            return True
        if isinstance(value, _BOUND_BUILTINS):
            self.parts.append(_library_tag(value))
            if _holds_state(value):  # list.append, RandomState.rand: bound to an object
                self.state(value.__self__, "%s (the object it is bound to)" % label,
                           lambda: getter().__self__)
            return True
        if isinstance(value, (np.ufunc, types.ModuleType)):
            self.parts.append(_library_tag(value))
            return True
        if is_user_module(type(value).__module__):
            # an instance of the user's class (a callable object, a model): its class's code
            # statically, the instance itself by value on every call
            self.state(value, label, getter)
            return True
        return False


_BOUND_BUILTINS = (types.BuiltinFunctionType, types.MethodWrapperType)
_GENERATORS = (np.random.RandomState, np.random.Generator, random.Random)


def _draws(label, kind):
    """The read of a random generator a function draws from: refused, naming it."""
    raise UnhashableValue(kind, "draws from a %s.%s: every call moves its state and a memo "
                          "hit would not, so the next call would repeat numbers; memoize a "
                          "function that takes a seed or a Generator argument instead"
                          % (kind.__module__, kind.__qualname__))
_ATTRIBUTE_OPS = frozenset(["LOAD_ATTR", "LOAD_METHOD"])


def _global_chains(code):
    """The attribute chains the code reads off its globals, nested code included:
    ``np.random.rand(n)`` gives ('np', 'random', 'rand')."""
    chains = set()
    chain = None
    for ins in dis.get_instructions(code):
        if ins.opname == "LOAD_GLOBAL":
            chain = (ins.argval,)
        elif chain is not None and ins.opname in _ATTRIBUTE_OPS:
            chain += (ins.argval,)
            chains.add(chain)
        else:
            chain = None
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            chains |= _global_chains(const)
    return chains


def _holds_state(builtin):
    """A builtin bound to an object (not to a module or a class, whose code is versioned)."""
    owner = getattr(builtin, "__self__", None)
    return owner is not None and not isinstance(owner, (types.ModuleType, type))


_CACHE = weakref.WeakKeyDictionary()
_ABSENT = object()


def fingerprint(func, ignore=()):
    """The Fingerprint of a Python function (cached while the names it resolved stay bound)."""
    cached = _CACHE.get(func)
    if cached is not None and cached[0] == frozenset(ignore) and cached[1].current():
        return cached[1]
    walker = _Walker(ignore)
    walker.function(func, func.__qualname__)
    static = hashlib.sha256(repr(walker.parts).encode("utf-8", "surrogatepass")).hexdigest()
    result = Fingerprint(static, walker.reads, walker.bindings, _static_parts(walker.parts),
                         walker.roots)
    _CACHE[func] = (frozenset(ignore), result)
    return result


def _static_parts(parts):
    """{readable name: digest} of the walk's pieces, in walk order (for explain)."""
    named = {}
    for part in parts:
        if part[0] == "fn":
            name = "code of %s" % part[1]
        elif part[0] == "class":
            name = "class %s (%s)" % (part[2], part[1])
        elif part[0] == "lib" or (len(part) > 1 and part[1] == "lib"):
            lib = part if part[0] == "lib" else part[1:]
            name = "library %s.%s%s" % (lib[1], lib[2], " %s" % lib[3] if lib[3] else "")
            if lib[1] == lib[2]:
                name = "library %s%s" % (lib[1], " %s" % lib[3] if lib[3] else "")
        elif part[0] == "builtin":
            name = "builtin %s" % part[1]
        elif part[0] == "module":
            name = "module %s as %r" % (part[2], part[1])
        elif part[0] == "ignored":
            name = "ignored %r" % part[1]
        elif part[0] == "empty-cell":
            name = "unassigned closure variable %r" % part[1]
        else:
            name = "%s %s" % (part[0], part[1:])
        while name in named:
            name += "'"
        named[name] = hashlib.sha256(repr(part).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return named


def hash_call(fp, arguments, allow_pickle=False):
    """BLAKE3 hex digest of a call: the function's reads, then its bound arguments."""
    hasher = ValueHasher(allow_pickle=allow_pickle)
    hasher.update(fp.static)
    fp.hash_reads(hasher)
    hasher.update(arguments)
    return hasher.hexdigest()
