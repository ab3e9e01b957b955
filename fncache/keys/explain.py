"""Why two graph keys differ, in words a user can act on.

``explain(a, b)`` compares two keys part by part (see fncache.keys.parts.PART_NAMES) and,
inside a differing part, finds the first difference: the setting, the input,
the shared variable, or the first graph node that differs. ``a`` and ``b``
may be GraphSignatures, keys this process computed (or registered), or
``(inputs, outputs)`` tuples (a dict of ``signature`` arguments also works),
or functions fncache compiled (``fncache.function``, a ``@cached_function`` that
has compiled one signature).

Memo keys (``memo:...``) are explained too: the function, its code (which function it
reaches changed), an argument by name, a global or closure variable, a shared variable's
value; ``explain(fn)`` takes a memoized function and explains its last miss. They have a
registry of their own, so many memo misses never push graph keys out.

The registry is a bounded in-process LRU: key -> (parts, details). Details
are JSON-serialisable, so the cache can persist them with an entry and
``register`` them again in another process.
"""
import collections
import re
import sys
import threading

from fncache import backends
from fncache.errors import FncacheTypeError, UnknownKeyError
from fncache.keys.parts import PART_NAMES

#: How many keys the in-process registry remembers...
MAX_ENTRIES = 128
#: ...and how many graph nodes their details may hold in all (memory bound).
MAX_NODES = 200000
#: At most this many lines per differing part.
MAX_LINES_PER_PART = 8

_SEE_GRAPH = " (see graph)"

_PART_ORDER = PART_NAMES

_registry = collections.OrderedDict()  # key -> (parts, details or builder, weight)
_memo_registry = collections.OrderedDict()  # memo key -> (parts, details or builder): apart,
# so that a program's many memo misses never push its graph keys out
_nodes = 0
_lock = threading.Lock()


class UnknownKey(UnknownKeyError):
    """A key this process has neither computed nor been given details for
    (a KeyError, and fncache's UnknownKeyError)."""


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------
def register(sig_or_key, parts=None, details=None):
    """Remember a signature (or key + parts + details) for explain()."""
    if hasattr(sig_or_key, "key") and hasattr(sig_or_key, "parts"):
        key = sig_or_key.key
        parts = dict(sig_or_key.parts)
        builder = getattr(sig_or_key, "_details_builder", None)
        if details is None:
            details = getattr(sig_or_key, "_details", None) or builder
    else:
        key = sig_or_key
        if not isinstance(key, str) or parts is None:
            raise FncacheTypeError("register(key, parts, details) needs a key string and its parts")
        parts = dict(parts)
    global _nodes
    weight = _weight(details)
    with _lock:
        old = _registry.pop(key, None)
        if old is not None:
            _nodes -= old[2]
        _registry[key] = (parts, details, weight)
        _nodes += weight
        while len(_registry) > MAX_ENTRIES or (_nodes > MAX_NODES and len(_registry) > 1):
            _, (_, _, dropped) = _registry.popitem(last=False)
            _nodes -= dropped


def register_memo(key, parts, details):
    """Remember a memo key's parts (``details`` may be a builder, called when asked)."""
    with _lock:
        _memo_registry.pop(key, None)
        _memo_registry[key] = (parts, details)
        while len(_memo_registry) > MAX_ENTRIES:
            _memo_registry.popitem(last=False)


def _weight(details):
    """Number of graph nodes held by an entry's details (or its builder)."""
    if details is None:
        return 1
    if isinstance(details, dict):
        return 1 + len(details.get("graph") or ())
    return 1 + len(getattr(details, "nodes", ()))


def lookup(key):
    """(parts, details) of a registered key; UnknownKey if not known."""
    with _lock:
        entry = _registry.get(key)
        memo = _memo_registry.get(key) if entry is None else None
    if memo is not None:
        parts, details = memo
        return parts, details() if callable(details) else details
    with _lock:
        entry = _registry.get(key)
        if entry is None:
            raise UnknownKey(
                "key %r is unknown to this process: explain() knows keys computed "
                "here (the last %d) or registered with fncache.keys.explain.register(); "
                "pass (inputs, outputs) to compute one" % (key, MAX_ENTRIES))
        _registry.move_to_end(key)
        parts, details, weight = entry
    if callable(details):
        details = details()
        with _lock:
            if key in _registry:
                _registry[key] = (parts, details, weight)
    return parts, details


def _last_miss(fn):
    """The two memo keys behind the last miss of a memoized function."""
    pair = fn.explain_last_miss() if hasattr(fn, "explain_last_miss") else None
    if pair is None:
        raise FncacheTypeError("explain(x) with one argument takes a memoized function that has "
                               "missed; give two keys or functions otherwise")
    if pair[0] is None:
        raise UnknownKey("the last miss of %s was its first call in this process: there is "
                         "no earlier key to compare it with" % getattr(fn, "name", fn))
    return pair


def _is_memo(details):
    return isinstance(details, dict) and isinstance(details.get("memo"), str)


def explain_memo(key_a, parts_a, details_a, key_b, parts_b, details_b):
    """Lines saying why two memo keys differ: the function, its code, an argument, a global."""
    func_a, func_b = details_a["memo"], details_b["memo"]
    if func_a != func_b:
        graph_a, graph_b = func_a[len("memo:"):], func_b[len("memo:"):]
        if not graph_a.startswith("py:") and not graph_b.startswith("py:"):
            try:  # Theano functions: their graphs differ
                buf = _Discard()
                return ["graph: " + line for line in explain(graph_a, graph_b, file=buf)]
            except UnknownKey:
                pass
        return ["function: %s vs %s" % (_function_label(func_a), _function_label(func_b))]
    lines = []
    values_a, values_b = details_a.get("values") or {}, details_b.get("values") or {}
    for name in list(parts_a) + [n for n in parts_b if n not in parts_a]:
        da, db = parts_a.get(name), parts_b.get(name)
        if da == db:
            continue
        if name == "code":
            lines.extend(_diff_code(details_a.get("code") or {}, details_b.get("code") or {}))
        elif da is None or db is None:
            lines.append("%s: only in the %s key (%s)" % (
                name, "second" if da is None else "first",
                (values_b if da is None else values_a).get(name, "?")))
        else:
            va, vb = values_a.get(name, "?"), values_b.get(name, "?")
            lines.append("%s: %s" % (name, "%s vs %s" % (va, vb) if va != vb
                                     else "value changed (%s)" % va))
    if not lines and key_a != key_b:
        lines.append("keys differ (%s vs %s) but all parts agree: different key formats?"
                     % (key_a[-16:], key_b[-16:]))
    return lines


def _function_label(prefix):
    rest = prefix[len("memo:"):]
    return rest[3:] if rest.startswith("py:") else "Theano function %s" % rest[:16]


def _diff_code(a, b):
    """Which pieces of the code fingerprint differ: a function's code, a library version."""
    lines = []
    for name in list(a) + [n for n in b if n not in a]:
        if name in a and name in b:
            if a[name] != b[name]:
                lines.append("code: %s changed" % name)
        elif name in a:
            lines.append("code: %s, only in the first key" % name)
        else:
            lines.append("code: %s, only in the second key" % name)
    return lines or ["code: the function's code changed"]


class _Discard:
    def write(self, text):
        pass


def _resolve(x):
    if hasattr(x, "key") and hasattr(x, "parts") and hasattr(x, "details"):
        return x.key, x.parts, x.details
    if isinstance(getattr(x, "specializations", None), dict):  # a @cached_function
        compiled = list(x.specializations.values())
        if len(compiled) != 1:
            raise FncacheTypeError("explain() needs one compiled function; %s has compiled %d "
                                   "signatures: pass one of its .specializations values"
                                   % (getattr(x, "__name__", "this cached_function"), len(compiled)))
        x = compiled[0]
    if isinstance(getattr(x, "fncache_key", None), str):  # a function from fncache.function
        x = x.fncache_key
    if isinstance(x, str):
        parts, details = lookup(x)
        return x, parts, details
    if isinstance(x, dict):
        call = dict(x)
        inputs, outputs = call.pop("inputs"), call.pop("outputs", None)
        backend = backends.for_objects(inputs, outputs, call.get("updates"), call.get("givens"))
        sig = backend.signature(inputs, outputs, call)
    elif isinstance(x, (tuple, list)) and len(x) == 2:
        sig = backends.for_objects(x[0], x[1]).signature(x[0], x[1], {})
    else:
        raise FncacheTypeError("explain() takes GraphSignatures, keys, (inputs, outputs) tuples "
                               "or functions fncache compiled, got %s" % type(x).__name__)
    return sig.key, sig.parts, sig.details


# ---------------------------------------------------------------------------
# explain
# ---------------------------------------------------------------------------
def explain(a, b=None, file=None):
    """List (and print) the differences between two graph keys, or two memo keys.

    ``explain(fn)`` with one memoized function: why its last call missed (its key against
    the key of the call before)."""
    if b is None:
        a, b = _last_miss(a)
    key_a, parts_a, details_a = _resolve(a)
    key_b, parts_b, details_b = _resolve(b)
    lines = []
    if _is_memo(details_a) and _is_memo(details_b):
        lines = explain_memo(key_a, parts_a, details_a, key_b, parts_b, details_b)
    elif key_a != key_b:
        names = list(_PART_ORDER) + sorted((set(parts_a) | set(parts_b)) - set(_PART_ORDER))
        for name in names:
            da, db = parts_a.get(name), parts_b.get(name)
            if da == db:
                continue
            found = []
            if details_a is not None and details_b is not None and \
                    name in details_a and name in details_b:
                differ = _PART_DIFFERS.get(name, _diff_generic)
                found = differ(details_a[name], details_b[name],
                               details_a, details_b)[:MAX_LINES_PER_PART]
            if not found:
                found = ["digest %s vs %s" % (str(da)[:16], str(db)[:16])]
            lines.extend("%s: %s" % (name, line) for line in found)
        if any(line.startswith("graph:") for line in lines):
            # the graph lines say which op differs; the pointers are redundant
            lines = [line for line in lines if not line.endswith(_SEE_GRAPH)]
        if not lines:
            lines.append("keys differ (%s vs %s) but all parts agree: different key "
                         "formats?" % (key_a[:16], key_b[:16]))
    out = sys.stdout if file is None else file
    if lines:
        for line in lines:
            print(line, file=out)
    else:
        print("identical keys (%s)" % key_a[:16], file=out)
    return lines


def _fmt(value):
    if isinstance(value, str):
        return value
    return repr(value)


_TOKEN = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?|\w+|\s+|[^\w\s]")


def _diff_text(a, b, context=6):
    """'a vs b', or for long texts '...common context [a part] vs [b part]...'
    around the first differing tokens."""
    if not isinstance(a, str) or not isinstance(b, str):
        return "%s vs %s" % (_fmt(a), _fmt(b))
    if len(a) <= 100 and len(b) <= 100:
        return "%s vs %s" % (a, b)
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    p = 0
    while p < len(ta) and p < len(tb) and ta[p] == tb[p]:
        p += 1
    q = 0
    while q < len(ta) - p and q < len(tb) - p and ta[-1 - q] == tb[-1 - q]:
        q += 1
    head = "".join(ta[max(0, p - context):p])
    prefix = ("..." if p > context else "") + head
    mid_a = "".join(ta[p:len(ta) - q])
    mid_b = "".join(tb[p:len(tb) - q])
    tail = "".join(ta[len(ta) - q:][:context]) if q else ""
    suffix = tail + ("..." if q > context else "")
    return "%s[%s] vs [%s]%s" % (prefix, _clip(mid_a, 60), _clip(mid_b, 60), suffix)


def _clip(text, n):
    return text if len(text) <= n else text[:n] + "..."


def _diff_dicts(da, db, label=""):
    lines = []
    for k in sorted(set(da) | set(db), key=str):
        if da.get(k, "<absent>") != db.get(k, "<absent>"):
            name = k[7:] if isinstance(k, str) and k.startswith("config.") else k
            diff = _diff_text(da.get(k, "<absent>"), db.get(k, "<absent>"))
            lines.append("%s%s %s" % (label, name, diff))
    return lines


def _diff_environment(a, b, *_):
    return _diff_dicts(a, b)


def _diff_mode(a, b, *_):
    return _diff_dicts(a, b)


def _diff_options(a, b, *_):
    lines = [line for line in _diff_dicts(a, b) if not line.startswith("givens_op_keys ")]
    if a.get("givens") == b.get("givens") and a.get("givens_op_keys") != b.get("givens_op_keys"):
        lines.append("givens: a replacement is computed by an op with different "
                     "parameters" + _SEE_GRAPH)
    return lines


def _diff_records(a, b, what, fields, describe, op_keys=None):
    """Field-by-field differences of two lists of records.

    op_keys maps a '*_op_key' field (digest of the op producing a ref) to the
    ref field it belongs to; it is reported only when the ref text itself
    looks the same (same node, same op name, different op parameters)."""
    op_keys = op_keys or {}
    if len(a) != len(b):
        lines = ["%d vs %d %s" % (len(a), len(b), what)]
        for k in range(min(len(a), len(b))):
            sub = _diff_records([a[k]], [b[k]], what, fields, describe, op_keys)
            if sub:
                lines.append("first difference: " + sub[0])
                break
        return lines
    lines = []
    for ra, rb in zip(a, b):
        reported = set()
        for field in fields:
            if ra.get(field) == rb.get(field):
                continue
            if field in op_keys:
                ref_field = op_keys[field]
                if ref_field in reported or ("update" in reported and ref_field == "update_from"):
                    continue
                lines.append("%s %s %s: its op has different parameters%s"
                             % (describe(ra), ref_field, ra.get(ref_field), _SEE_GRAPH))
            elif field == "update_from" and "update" in reported:
                continue
            else:
                lines.append("%s %s %s" % (describe(ra), field,
                                           _diff_text(ra.get(field), rb.get(field))))
            reported.add(field)
    return lines


def _diff_inputs(a, b, *_):
    def describe(r):
        return "input %d %r" % (r["position"], r.get("name"))
    lines = _diff_records(a, b, "inputs", ["name", "type", "type_key", "borrow", "mutable",
                                           "strict", "allow_downcast", "implicit", "shared",
                                           "update", "update_op_key", "value"], describe,
                          {"update_op_key": "update"})
    return _drop_redundant_type_key(lines)


def _diff_shared(a, b, *_):
    def describe(r):
        return "shared variable %d" % r["position"]
    lines = _diff_records(a, b, "shared variables", ["class", "type", "type_key", "read",
                                                     "update", "update_from", "update_op_key"],
                          describe, {"update_op_key": "update_from"})
    return _drop_redundant_type_key(lines)


def _drop_redundant_type_key(lines):
    """type_key only matters when the printed types look the same."""
    out = []
    for line in lines:
        if " type_key " in line and any(line.split(" type_key ")[0] + " type " in x
                                        for x in lines):
            continue
        out.append(line)
    return out


def _diff_outputs(a, b, *_):
    lines = []
    if a.get("container") != b.get("container"):
        lines.append("returned as %s vs %s" % (a.get("container"), b.get("container")))
    if a.get("keys") != b.get("keys"):
        lines.append("dict keys %s vs %s" % (a.get("keys"), b.get("keys")))
    lines.extend(_diff_records(a.get("items", []), b.get("items", []), "outputs",
                               ["from", "from_op_key", "borrow"],
                               lambda r: "output %d" % r["position"], {"from_op_key": "from"}))
    return lines


def _node_label(details, node_index):
    try:
        return "node %d (%s)" % (node_index, details["graph"][node_index]["op"])
    except (KeyError, IndexError, TypeError):
        return "node %d" % node_index


def _diff_constants(a, b, details_a, details_b):
    if len(a) != len(b):
        return ["%d vs %d distinct constants" % (len(a), len(b))]
    lines = []
    for ca, cb in zip(a, b):
        if ca == cb:
            continue
        where = "constant %d" % ca["i"]
        use = ca.get("first_use")
        if use and use.startswith("node "):
            node, _, pos = use[5:].partition(" input ")
            where = "%s input %s" % (_node_label(details_a, int(node)), pos)
        if ca.get("type") != cb.get("type"):
            lines.append("%s: constant type %s vs %s (values %s vs %s)" % (
                where, ca.get("type"), cb.get("type"), ca.get("value"), cb.get("value")))
        elif ca.get("value") != cb.get("value"):
            lines.append("%s: constant %s vs %s" % (where, ca.get("value"), cb.get("value")))
        else:
            lines.append("%s: constant %s vs %s"
                         % (where, ca.get("value_key"), cb.get("value_key")))
    return lines


def _db_name(path):
    return path[len("optdb/"):] if path.startswith("optdb/") else path


def _diff_rewrites(a, b, *_):
    """Registrations by (database, name): present in one key only, or keyed differently;
    then, if nothing else differs, the order a tag runs its rewrites in."""
    def index(entries, order):
        return {(e["db"], e["name"]): e for e in entries if (e["status"] == "order") == order}
    lines = []
    ea, eb = index(a, False), index(b, False)
    for where in sorted(set(ea) | set(eb)):
        x, y = ea.get(where), eb.get(where)
        name, db = where[1], _db_name(where[0])
        if x is not None and y is not None:
            if x["key"] != y["key"]:
                lines.append("rewrite %s in %s changed (its settings, its code or the values "
                             "its code reads)" % (name, db))
            continue
        entry, side = (y, "second") if x is None else (x, "first")
        if entry["status"] == "removed":
            lines.append("Theano's rewrite %s removed from %s (%s key only)" % (name, db, side))
        elif entry["status"] == "changed":
            lines.append("Theano's rewrite %s changed in %s (%s key only)" % (name, db, side))
        else:
            lines.append("rewrite %s registered in %s (%s key only)" % (name, db, side))
    if not lines:
        oa, ob = index(a, True), index(b, True)
        for where in sorted(set(oa) | set(ob)):
            if (oa.get(where) or {}).get("key") != (ob.get(where) or {}).get("key"):
                lines.append("the rewrites tagged %s in %s run in another order"
                             % (where[1], _db_name(where[0])))
    return lines


def _diff_c_code(a, b, *_):
    """Nodes whose C source no version covers, in walk order."""
    lines = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        where = "" if len(a) == 1 else " (node %d of the %d with C source of their own)" % (
            i + 1, len(a))
        if x["op"] == y["op"]:
            lines.append("C source of %s changed%s" % (x["op"], where))
        else:
            lines.append("C source of %s vs %s%s" % (x["op"], y["op"], where))
    if len(a) != len(b):
        longer, side = (a, "first") if len(a) > len(b) else (b, "second")
        extra = ", ".join(sorted({e["op"] for e in longer[min(len(a), len(b)):]}))
        lines.append("%d vs %d nodes with C source of their own (%s in the %s key)"
                     % (len(a), len(b), extra, side))
    return lines


def _diff_graph(a, b, *_):
    lines = []
    for i, (na, nb) in enumerate(zip(a, b)):
        if na == nb:
            continue
        label = "node %d (%s)" % (i, na.get("op"))
        if na.get("op_key") != nb.get("op_key"):
            if na.get("op") != nb.get("op"):
                lines.append("node %d: op %s vs %s" % (i, na.get("op"), nb.get("op")))
            else:
                lines.append("%s: op parameters %s" % (
                    label, _diff_text(na.get("op_key"), nb.get("op_key"))))
        ins_a, ins_b = na.get("inputs", []), nb.get("inputs", [])
        if ins_a != ins_b:
            if len(ins_a) != len(ins_b):
                lines.append("%s: %d vs %d inputs" % (label, len(ins_a), len(ins_b)))
            for pos, (x, y) in enumerate(zip(ins_a, ins_b)):
                if x != y:
                    lines.append("%s: input %d %s vs %s" % (label, pos, x, y))
                    break
        if na.get("outputs") != nb.get("outputs"):
            lines.append("%s: output types %s vs %s"
                         % (label, na.get("outputs"), nb.get("outputs")))
        break
    if len(a) != len(b):
        note = "" if lines else " (the common ones are identical)"
        lines.append("%d vs %d nodes%s" % (len(a), len(b), note))
    return lines


def _diff_generic(a, b, *_):
    path = _first_json_difference(a, b, "")
    return [path] if path else []


def _first_json_difference(a, b, path):
    if type(a) is not type(b):
        return "%s %s vs %s" % (path or "value", _fmt(a), _fmt(b))
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_json_difference(a.get(k), b.get(k), "%s.%s" % (path, k))
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_json_difference(x, y, "%s[%d]" % (path, i))
        if len(a) != len(b):
            return "%s length %d vs %d" % (path or "value", len(a), len(b))
        return None
    if a != b:
        return "%s %s" % (path or "value", _diff_text(a, b))
    return None


_PART_DIFFERS = {
    "environment": _diff_environment,
    "mode": _diff_mode,
    "rewrites": _diff_rewrites,
    "options": _diff_options,
    "inputs": _diff_inputs,
    "shared": _diff_shared,
    "outputs": _diff_outputs,
    "constants": _diff_constants,
    "graph": _diff_graph,
    "c_code": _diff_c_code,
}
