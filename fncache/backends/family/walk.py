"""The graph walk: an iterative depth-first, post-order walk assigning structural refs."""
from fncache.backends.family.fingerprints import _safe_str


class Walk(object):
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
        self.owner = owner  # the Signer for outer walks (shared variables)
        self.lib = keyer.lib

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
        if isinstance(var, self.lib.Constant):
            if self.inner:
                return self.keyer.inline_const_fp(var)
            return self.keyer.const_ref(var)
        if not self.inner and isinstance(var, self.lib.SharedVariable):
            return self.owner.shared_ref(var)
        if self.inner:
            raise self.keyer.unkeyable(
                "the inner graph uses %s (%s), which is neither one of its inputs nor a "
                "constant" % (_safe_str(var), type(var).__name__))
        raise self.keyer.unkeyable(
            "variable %s of type %s is needed by the graph but is not an input, a "
            "shared variable or a constant (%s.function would raise "
            "MissingInputError)" % (_safe_str(var), _safe_str(var.type), self.lib.name))
