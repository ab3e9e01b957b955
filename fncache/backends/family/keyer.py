"""The keyer: fingerprints of ops, types and values with graph context (Theano family).

One ``Keyer`` per signature() call holds its memo tables and the outer graph's op, type
and constant tables in order of first appearance. Ops and types with ``__props__`` are
keyed by them (and, for classes from outside the library, by every other instance
attribute too); others by their instance ``__dict__`` minus the library's documented
exclusions, inner graphs walked recursively. The library's classes come from ``lib``.
"""
import types

from fncache.backends.family.fingerprints import (_PRIMITIVE_SET, Unfit, _class_fp, _const_text,
                                                  _dict_fp, _has_user_code, _intern, _safe_str,
                                                  _set_fp, _value_fp_plain, excluded_attrs,
                                                  inner_graph_attrs, plain_mappings, set_types)
from fncache.backends.family.walk import Walk
from fncache.errors import UnkeyableGraph


class Keyer(object):
    """Per-call memo tables; holds graph objects only during one signature()."""

    def __init__(self, lib):
        self.lib = lib
        self._set_types = set_types()
        self._mapping_types = plain_mappings()
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
        # C source of nodes with code from outside the library (lib.c_source_digest), in walk order
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
        lib = self.lib
        if isinstance(obj, lib.Op):
            return self.op_fp(obj)
        if isinstance(obj, lib.Type):
            return self.type_fp(obj)
        if isinstance(obj, lib.Variable):
            if isinstance(obj, lib.Constant):
                return self.inline_const_fp(obj)
            raise self.unkeyable("holds a symbolic variable (%s) outside a known inner "
                                 "graph" % (obj,))
        if t in self._mapping_types:
            return _dict_fp(obj, self.fp)
        if isinstance(obj, self._set_types):
            return _set_fp(obj, self.fp)
        if isinstance(obj, lib.Mode):
            return self.object_fp(obj)
        if isinstance(obj, lib.RewriteQuery):
            return self.query_fp(obj)
        if isinstance(obj, (lib.Linker, lib.GraphRewriter, lib.NodeRewriter)):
            return self.object_fp(obj)
        if isinstance(obj, lib.Container):
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
        except Unfit as exc:
            if self._is_library_object(obj):
                return self.object_fp(obj)
            raise self.unkeyable(str(exc.args[0])) from None

    def _is_library_object(self, obj):
        module = type(obj).__module__ or ""
        return module.partition(".")[0] in self.lib.roots and hasattr(obj, "__dict__")

    def inline_const_fp(self, const):
        return ("cv", self.type_fp(const.type), self.const_value_fp(const))

    def const_value_fp(self, const):
        try:
            return _value_fp_plain(const.data)
        except Unfit as exc:
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
            except Unfit as exc:
                raise self.unkeyable(str(exc.args[0])) from None
            self.cls_memo[cls] = result
        return result

    def _attrs_fp(self, obj, label):
        """Sorted (name, fp) pairs of obj.__dict__ minus the excluded names."""
        excluded = excluded_attrs(self.lib, type(obj))
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
        """The library's helper objects, modes, linkers: class + attributes."""
        for depth, active in enumerate(reversed(self.active)):
            if active is obj:
                return ("backref", depth)
        cls = type(obj)
        label = cls.__qualname__
        if isinstance(obj, self.lib.Mode):
            return self.mode_fp(obj)
        self.active.append(obj)
        try:
            return ("obj", self._class(cls), self._attrs_fp(obj, label))
        finally:
            self.active.pop()

    def query_fp(self, query):
        pairs = []
        for name in sorted(vars(query)):
            if name in excluded_attrs(self.lib, self.lib.RewriteQuery):
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
                if len(cls_fp) == 4:  # a class from outside the library: all it holds
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
        left out only where the library's exclusion table documents them."""
        try:
            state = vars(obj)
        except TypeError:
            return ()
        excluded = excluded_attrs(self.lib, type(obj))
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
        attrs = inner_graph_attrs(self.lib, type(op))
        if attrs is not None:
            # Read through the op, not its __dict__: a loaded Composite keeps its
            # scalar graph packed until asked for it (fncache.backends.theano.serialize).
            getattr(op, attrs[0])
        state = vars(op)
        if attrs is None and isinstance(state.get("inputs"), (list, tuple)) \
                and isinstance(state.get("outputs"), (list, tuple)) \
                and all(isinstance(v, self.lib.Variable) for v in state["inputs"]) \
                and all(isinstance(v, self.lib.Variable) for v in state["outputs"]):
            attrs = ("inputs", "outputs")
        inner = None
        if attrs is not None:
            self.where.append("%s inner graph" % label)
            try:
                inner = self.inner_graph_fp(state[attrs[0]], state[attrs[1]])
            finally:
                self.where.pop()
        pairs = []
        excluded = excluded_attrs(self.lib, type(op))
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
        walker = Walk(self, inner=True)
        for k, var in enumerate(inputs):
            walker.refs.setdefault(var, ("i", k))
        out_refs = tuple(walker.walk(v) for v in outputs)
        return ("graph", tuple(self.type_fp(v.type) for v in inputs),
                tuple(walker.nodes), out_refs)

    # -- types ---------------------------------------------------------------
    def type_fp(self, typ):
        if type(typ) is self.lib.TensorType and typ.__dict__.keys() <= self.lib.tensor_type_attrs:
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
                if len(cls_fp) == 4:  # a class from outside the library: all it holds
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
        the library reaches it and no version covers it (lib.c_source_digest)."""
        if not user_op and not any(_has_user_code(self.type_fp(v.type))
                                   for v in node.inputs + node.outputs):
            return
        op_ref, in_refs, out_types = record
        memo_key = (op_ref if type(op_ref) is int else id(node.op),
                    tuple(self.type_fp(v.type) for v in node.inputs), out_types,
                    tuple(r for r in in_refs if r[0] in ("c", "cv")))
        digest = self.c_memo.get(memo_key, Unfit)
        if digest is Unfit:
            label = "op %s" % _safe_str(node.op)
            try:
                digest = self.lib.c_source_digest(node, label)
            except self.lib.c_source_error as exc:
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
        if type(typ) is self.lib.TensorType and typ.__dict__.keys() <= self.lib.tensor_type_attrs:
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
