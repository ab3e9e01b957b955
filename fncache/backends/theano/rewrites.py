"""The ``rewrites`` part of a graph key: what the optimizer query runs on.

``theano.function`` optimizes a graph with the rewrites its mode's query selects from
``theano.compile.optdb``, a tree of databases (SequenceDB, EquilibriumDB, LocalGroupDB,
ProxyDB, TopoDB) that any code can register into. The ``mode`` part keys the query; this
part keys every registration that is not Theano's own (database, name, tags, position,
final/cleanup flags, and the optimizer: its class, its attributes and, through
``fncache.keys.code``, the user code it reaches with the values that code reads, hashed on
every key), and every one of Theano's own registrations that was removed or changed.

Theano's own: what the databases held when Theano was imported (fncache's import hook),
minus registrations of code from outside Theano; and what a Theano module's top-level code
registers later (a lazily imported Theano subpackage). Anything else is the user's, even a
Theano rewrite registered again under another name.

Cheap on the hit path: ``DB.register``, ``add_tags`` and ``remove_tags`` bump a counter and
a size signature of every database catches names added or removed by hand; only then is the
tree walked again (about a millisecond).
"""
import hashlib
import sys
import threading
import types

from theano.compile import optdb as _optdb
from theano.gof import optdb as _optdb_module
from theano.gof.opt import LocalOptimizer, Optimizer
from theano.gof.optdb import DB, ProxyDB, TopoDB

from fncache.keys import code as _code

_generation = [0]
_lock = threading.RLock()
_baseline = {}      # (path, name) -> record, Theano's own when fncache was imported
_baseline_orders = {}  # (path, tag) -> names of those, in the tag's order
_later = set()      # (id(db), name, id(obj)) registered by a Theano module's top-level code
_cache = {"state": None, "tables": [], "static": (), "fingerprints": [], "reads": [],
          "spans": [], "error": None}


class RewriteUnfit(Exception):
    """A registration that cannot be fingerprinted (reason in args[0])."""


def _is_theano(module):
    return (module or "").split(".", 1)[0] == "theano"


def _registrar():
    """The module whose top-level code is running the registration (None: a function call)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            return frame.f_globals.get("__name__")
        frame = frame.f_back
    return None


def _counting(method):
    def wrapper(self, name, *args, **kwargs):
        result = method(self, name, *args, **kwargs)
        with _lock:
            _generation[0] += 1
            if method.__name__ == "register" and _is_theano(_registrar()):
                for obj in self.__db__.get(name, ()):
                    _later.add((id(self), name, id(obj)))
        return result
    wrapper.__wrapped__ = method
    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


# ---------------------------------------------------------------------------
# The tree of databases
# ---------------------------------------------------------------------------
def _walk():
    """[(path, db)], {(path, name): record} and {(path, tag): names in the tag's order}
    for every database under optdb (a query runs a tag's rewrites in that order)."""
    dbs, records, orders, seen = [], {}, {}, set()
    stack = [("optdb", _optdb)]
    while stack:
        path, db = stack.pop()
        while isinstance(db, (ProxyDB, TopoDB)):
            db = db.db
        if id(db) in seen or not isinstance(db, DB):
            continue
        seen.add(id(db))
        dbs.append((path, db))
        names = {}
        for name in db._names:
            for obj in db.__db__.get(name, ()):
                names[id(obj)] = str(name)
        tags = {}
        for tag, objs in db.__db__.items():
            if tag not in db._names:
                orders[(path, str(tag))] = tuple(names.get(id(o), "?") for o in objs)
            for obj in objs:
                tags.setdefault(id(obj), []).append(str(tag))
        position = getattr(db, "__position__", {})
        final, cleanup = getattr(db, "__final__", {}), getattr(db, "__cleanup__", {})
        children = []
        for name in sorted(db._names, key=str):
            objs = tuple(db.__db__.get(name, ()))
            obj_tags = tuple(sorted({t for o in objs for t in tags.get(id(o), ())} - {str(name)}))
            records[(path, str(name))] = (db, obj_tags, position.get(name),
                                          final.get(name, False), cleanup.get(name, False), objs)
            for obj in objs:
                if isinstance(obj, DB):
                    children.append(("%s/%s" % (path, name), obj))
        stack.extend(reversed(children))
    return dbs, records, orders


def _tables(dbs):
    """The tables of every database whose sizes say whether a name was added or removed."""
    return [table for _, db in dbs for table in (
        db.__db__, db._names, getattr(db, "__position__", ()), getattr(db, "__final__", ()))]


def _sizes(tables):
    return tuple(map(len, tables))


def _same(a, b):
    """Two records of one name: same tags, position, flags and the very same objects."""
    return a[1:5] == b[1:5] and len(a[5]) == len(b[5]) and all(x is y for x, y in zip(a[5], b[5]))


def _looks_theanos(obj):
    """Cheap check of a registration found at import: no class or function from elsewhere."""
    if not _is_theano(type(obj).__module__):
        return False
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if isinstance(value, (types.FunctionType, types.MethodType, type)) and \
                not _is_theano(getattr(value, "__module__", None)):
            return False
    return True


def install():
    """Count changes to the databases and remember Theano's own registrations (once)."""
    with _lock:
        if getattr(DB.register, "__wrapped__", None) is not None:
            return
        for cls in (DB, _optdb_module.EquilibriumDB, _optdb_module.SequenceDB,
                    _optdb_module.LocalGroupDB):
            for name in ("register", "add_tags", "remove_tags"):
                if name in vars(cls):
                    setattr(cls, name, _counting(vars(cls)[name]))
        _, records, orders = _walk()
        for where, record in records.items():
            if all(_looks_theanos(obj) for obj in record[5]):
                _baseline[where] = record
        for (path, tag), names in orders.items():
            _baseline_orders[(path, tag)] = tuple(n for n in names if (path, n) in _baseline)


# ---------------------------------------------------------------------------
# Fingerprints of what is not Theano's own
# ---------------------------------------------------------------------------
class _Fingerprinter(object):
    """Optimizer objects by class and attributes; their functions by code (keys.code)."""

    def __init__(self, value_fp, class_fp):
        self.value_fp = value_fp      # the graph keyer's fp (ops, types, values)
        self.class_fp = class_fp      # the graph keyer's class fingerprint
        self.fingerprints = []        # code.Fingerprint of each user function reached
        self.reads = []               # (label, getter) of the values that code reads
        self.active = []

    def code(self, func, label):
        if _is_theano(getattr(func, "__module__", None)):
            return ("fn", func.__module__, func.__qualname__,
                    _code.fingerprint(func).static if "<locals>" in func.__qualname__ else None)
        fp = _code.fingerprint(func)
        self.fingerprints.append(fp)
        self.reads.extend(("%s: %s" % (label, where), getter) for where, getter in fp.reads)
        return ("code", fp.static)

    def klass(self, cls, label):
        try:
            fp = self.class_fp(cls)
        except Exception:  # a class made in a function: nothing needs to import it by name
            fp = ("cls", cls.__module__, cls.__qualname__)
        if _is_theano(cls.__module__):
            return fp
        methods = []
        for klass in cls.__mro__:
            if _is_theano(klass.__module__) or klass.__module__ == "builtins":
                continue
            for name, member in sorted(vars(klass).items()):
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, types.FunctionType):
                    methods.append((name, self.code(member, "%s.%s" % (label, name))))
        return (fp, tuple(methods))

    def fp(self, value, label):
        if any(value is active for active in self.active):
            return ("backref",)
        if isinstance(value, types.MethodType):
            return ("method", self.fp(value.__self__, label), value.__func__.__name__)
        if isinstance(value, types.FunctionType):
            return self.code(value, label)
        if isinstance(value, type):
            return self.klass(value, label)
        if isinstance(value, (Optimizer, LocalOptimizer, DB)):
            self.active.append(value)
            try:
                pairs = []
                if isinstance(value, DB):  # its registrations are walked as a subtree
                    skip = ("__db__", "_names", "__position__", "__final__", "__cleanup__",
                            "name", "_optimizer_idx")
                else:
                    skip = ("name", "_optimizer_idx")
                for name in sorted(vars(value)):
                    if name not in skip:
                        pairs.append((name, self.fp(vars(value)[name], "%s.%s" % (label, name))))
                items = ()
                if isinstance(value, (list, tuple)):  # SeqOptimizer is a list of optimizers
                    items = tuple(self.fp(v, "%s[%d]" % (label, i)) for i, v in enumerate(value))
                return ("opt", self.klass(type(value), label), tuple(pairs), items)
            finally:
                self.active.pop()
        if type(value) in (list, tuple):
            return (type(value).__name__,) + tuple(self.fp(v, label) for v in value)
        if type(value) is dict:
            return ("{",) + tuple((self.fp(k, label), self.fp(v, label)) for k, v in value.items())
        try:
            return self.value_fp(value)
        except Exception as exc:  # UnkeyableGraph with the keyer's reason
            raise RewriteUnfit("%s: %s" % (label, exc)) from None


def _recompute(value_fp, class_fp):
    dbs, records, orders = _walk()
    fper = _Fingerprinter(value_fp, class_fp)
    static, spans = [], []
    own, later = set(), set()  # (path, name): Theano's own, unchanged / registered later
    for where, record in sorted(records.items()):
        path, name = where
        db, tags, position, final, cleanup, objs = record
        base = _baseline.get(where)
        if base is not None and _same(base, record):
            own.add(where)
            continue
        if base is None and objs and all((id(db), name, id(o)) in _later for o in objs) \
                and all(_looks_theanos(o) for o in objs):
            later.add(where)
            continue
        status = "changed" if base is not None else "registered"
        label = "rewrite %s in %s" % (name, path)
        start = len(fper.reads)
        objs_fp = tuple(fper.fp(obj, label) for obj in objs)
        static.append((status, path, name, tags, position, final, cleanup, objs_fp))
        spans.append((start, len(fper.reads)))
    for where in sorted(set(_baseline) - set(records)):
        static.append(("removed", where[0], where[1]))
        spans.append((len(fper.reads), len(fper.reads)))
    # The order a tag runs its rewrites in: Theano's own as at import, then everyone else's
    for (path, tag), names in sorted(orders.items()):
        theirs = tuple(n for n in names if (path, n) in own)
        expected = tuple(n for n in _baseline_orders.get((path, tag), ()) if (path, n) in own)
        others = tuple(n for n in names if (path, n) not in own and (path, n) not in later)
        if theirs != expected or others:
            static.append(("order", path, tag, theirs if theirs != expected else None, others))
            spans.append((len(fper.reads), len(fper.reads)))
    return dbs, tuple(static), fper.fingerprints, fper.reads, spans


def part(value_fp, class_fp):
    """(payload, details) of the rewrites part.

    ``details`` lists, for each registration that is not Theano's own (and each of Theano's
    that is gone or changed), its status ("registered", "changed", "removed"), database,
    name and a digest of everything keyed about it. Raises RewriteUnfit when one cannot be
    fingerprinted (a graph compiled while it is registered is not cached).
    """
    with _lock:
        cache = _cache
        state = (_generation[0], _sizes(cache["tables"]))
        if state != cache["state"] or not all(fp.current() for fp in cache["fingerprints"]):
            try:
                dbs, static, fps, reads, spans = _recompute(value_fp, class_fp)
                error = None
            except RewriteUnfit as exc:
                dbs, static, fps, reads, spans = _walk()[0], (), [], [], []  # noqa: F841
                error = exc.args[0]
            tables = _tables(dbs)
            cache.update(state=(_generation[0], _sizes(tables)), tables=tables, static=static,
                         fingerprints=fps, reads=reads, spans=spans, error=error)
        if cache["error"] is not None:
            raise RewriteUnfit(cache["error"])
        static, reads, spans = cache["static"], cache["reads"], cache["spans"]
    if not static:
        return (), []
    values = []
    for label, getter in reads:
        try:
            values.append(value_fp(getter()))
        except Exception as exc:
            raise RewriteUnfit("%s: %s" % (label, exc)) from None
    entries, details = [], []
    for entry, (start, end) in zip(static, spans):
        entries.append((entry, tuple(values[start:end])))
        details.append({"status": entry[0], "db": entry[1], "name": entry[2],
                        "key": hashlib.sha256(repr(entries[-1]).encode(
                            "utf-8", "surrogatepass")).hexdigest()[:16]})
    return tuple(entries), details
