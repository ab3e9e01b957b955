"""A graph's key (Theano family): the call checked, walked, fingerprinted and folded into parts.

``signature(lib, inputs, outputs, updates=..., givens=..., mode=..., **kwargs)`` takes
exactly what the library's ``function`` takes and reduces it to a key that is the same in
every process that builds the same graph, and different whenever the compiled function
could behave differently. A false hit (two different functions under one key) is the worst
bug this code can have, so anything it cannot describe exactly raises ``UnkeyableGraph``
instead of guessing.

The key is an ordered list of named parts (``PARTS``; fncache.keys.parts folds them):

  environment  versions, platform, compiler and library flags (the backend's env module)
  mode         linker and optimizer query
  rewrites     registrations in the library's rewrite databases that are not its own,
               and its own that are gone
  options      givens, on_unused_input, no_default_updates, ... profile on/off
  inputs       explicit inputs: type, name, In() settings
  shared       shared variables by class, type and role, never by value
  outputs      order, container shape (single/list/dict keys), Out(borrow)
  constants    every outer-graph constant by value (dtype, shape, bytes)
  graph        apply nodes in a deterministic topological order
  c_code       the C source of nodes with code from outside the library that no
               version covers

Ops and types of classes from outside the library are keyed by their ``__props__``
and by every other instance attribute too (their code may read one, and an
entry would carry the first process's values to the next).

Nothing here uses ``id()``, ``hash()`` or variable names (except the names of
explicit inputs, which are keyword arguments). Dicts are keyed in their order
(a dict's order reaches code that iterates it), sets sorted.

Walk order, and so ``sig.shared``, mirrors Theano's
``theano.compile.pfunc.rebuild_collect_shared``: replacement graphs of
``givens`` (in pair order), then outputs depth-first (plus ``In(update=)``
expressions), then update expressions in the library's order (explicit updates,
with default updates appended as they are discovered, to a fixpoint). Hence
``sig.shared`` equals, in order, the implicit inputs of the compiled function
(``fn.maker.inputs[len(sig.inputs):]``), and equal keys put structurally
corresponding shared variables at equal positions.
"""
import gc

from fncache.backends.family.calls import Call
from fncache.backends.family.fingerprints import _safe_str
from fncache.backends.family.keyer import Keyer
from fncache.backends.family.walk import Walk
from fncache.errors import BadCall, FncacheTypeError, UnkeyableGraph
from fncache.keys import explain
from fncache.keys.digest import sha256_hex
from fncache.keys.parts import PART_NAMES, GraphSignature, fold
from fncache.keys.render import DetailsBuilder

__all__ = ["signature", "Signer", "PARTS"]


class Signer(Call):
    """One signature() computation: the checked call, walked and keyed."""

    def __init__(self, lib, inputs, outputs, updates, givens, mode, kwargs):
        self.keyer = Keyer(lib)
        self.shared_vars = []
        self.shared_pos = {}
        self.shared_read = []
        self.update_d = {}
        self.update_kind = {}
        self.update_expr = []
        super().__init__(lib, inputs, outputs, updates, givens, mode, kwargs)

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
        walk = Walk(keyer, subst=subst, owner=self)
        for k, var in enumerate(self.input_vars):
            walk.refs[var] = ("i", k)
        self.walk = walk

        # 1. givens replacements, in pair order (rebuild_collect_shared order)
        self.given_refs = [self._root(walk.walk(repl)) for _, repl in self.givens]
        # 2. explicit updates are registered before the outputs are walked
        for target, expr in self.updates:
            if not isinstance(target, self.lib.SharedVariable):
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
            return ref + (op, sha256_hex(self.keyer.op_table[op])[:16])
        return ref

    def _check_givens_independent(self, subst):
        """The library substitutes earlier pairs inside later replacements and
        rejects the reverse; we key neither subtlety: refuse both."""
        for orig, repl in self.givens:
            for anc in self.lib.ancestors([repl]):
                if anc in subst:
                    raise UnkeyableGraph(
                        "the givens replacement for %s depends on %s, which givens also "
                        "replaces; the library's result then depends on the order of the pairs"
                        % (orig, anc))

    # -- parts ---------------------------------------------------------------
    def _finish(self):
        env_digest, self.env_details = self.lib.environment_part()
        payloads = {name: part(self) for name, part in PARTS}
        key, parts = fold(payloads, {"environment": env_digest})
        keyer = self.keyer
        builder = DetailsBuilder(
            env_details=self.env_details, mode_fp=payloads["mode"],
            rewrites_details=self.rewrites_details,
            c_code=list(zip(keyer.c_labels, keyer.c_digests)), options=payloads["options"],
            givens_text=[_safe_str(o) for o, _ in self.givens],
            inputs_fp=payloads["inputs"],
            input_type_names=[_safe_str(s.variable.type) for s in self.in_specs],
            shared_fp=payloads["shared"],
            shared_type_names=[_safe_str(v.type) for v in self.shared_vars],
            outputs_fp=payloads["outputs"], const_table=keyer.const_table,
            const_texts=keyer.const_texts, nodes=self.walk.nodes,
            op_table=keyer.op_table, op_names=keyer.op_names, type_names=keyer.type_names)
        sig = GraphSignature(key, parts, list(self.shared_vars), list(self.input_vars), builder)
        explain.register(sig)
        return sig


# ---------------------------------------------------------------------------
# The parts: one small function each, in PART_NAMES order (fncache.keys.parts folds them).
# ---------------------------------------------------------------------------
def _environment_part(s):
    """Versions, platform, compiler, library settings: the backend's own (digested apart)."""
    return None


def _mode_part(s):
    """Linker and optimizer query of the resolved mode."""
    s.keyer.where.append("mode")
    try:
        return s.keyer.fp(s.mode)
    finally:
        s.keyer.where.pop()


def _rewrites_part(s):
    """Registrations in the library's rewrite databases that are not the library's own."""
    try:
        payload, s.rewrites_details = s.lib.rewrites_part(s.keyer.fp, s.keyer._class)
    except s.lib.rewrites_error as exc:
        raise UnkeyableGraph(exc.args[0]) from None
    return payload


def _options_part(s):
    """givens, on_unused_input, no_default_updates, ... profile on/off."""
    keyer, kw = s.keyer, s.kw
    ndu = s.no_default_updates
    if isinstance(ndu, list):
        listed = sorted(s.shared_pos[v] for v in ndu if v in s.shared_pos)
        ndu_fp = ("list", tuple(listed))
    else:
        ndu_fp = ndu
    profile = kw.get("profile")
    profile_on = s.lib.profile_default() if profile is None else profile is not False
    givens_fp = []
    for (orig, _), ref in zip(s.givens, s.given_refs):
        givens_fp.append((_orig_kind(s.lib, orig), keyer.type_fp(orig.type), ref))
    keyer.where.append("options")
    try:
        on_unused = keyer.fp(kw.get("on_unused_input"))
        allow_downcast = keyer.fp(kw.get("allow_input_downcast"))
    finally:
        keyer.where.pop()
    return (
        ("givens", tuple(givens_fp)),
        ("on_unused_input", on_unused),
        ("no_default_updates", ndu_fp),
        ("allow_input_downcast", allow_downcast),
        ("accept_inplace", bool(kw.get("accept_inplace", False))),
        ("rebuild_strict", bool(kw.get("rebuild_strict", True))),
        ("profile", profile_on),
    )


def _inputs_part(s):
    """Explicit inputs: type, name, In() settings, update, default value."""
    keyer, fp = s.keyer, s.keyer.fp
    inputs_fp = []
    for spec, upd_ref in zip(s.in_specs, s.in_update_refs):
        value = spec.value
        if isinstance(value, (s.lib.Container, s.lib.Variable)):
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
    return tuple(inputs_fp)


def _shared_part(s):
    """Shared variables by class, type and role (read, updated how, from what), never by value."""
    keyer = s.keyer
    return tuple((keyer._class(type(var)), keyer.type_fp(var.type), s.shared_read[pos],
                  s.update_kind.get(var), s.update_refs.get(var))
                 for pos, var in enumerate(s.shared_vars))


def _outputs_part(s):
    """Order, container shape (single/list/dict keys), Out(borrow)."""
    return (s.out_container, s.out_keys,
            tuple((ref, borrow) for ref, (_, borrow) in zip(s.out_refs, s.out_items)))


def _constants_part(s):
    """Every outer-graph constant by value (dtype, shape, bytes), in first-use order."""
    return tuple(s.keyer.const_table)


def _graph_part(s):
    """Apply nodes in a deterministic topological order, over the type and op tables."""
    keyer = s.keyer
    return (tuple(keyer.type_table), tuple(keyer.op_table), tuple(s.walk.nodes))


def _c_code_part(s):
    """The C source of nodes with code from outside the library that no version covers."""
    return tuple(s.keyer.c_digests)


PARTS = (("environment", _environment_part), ("mode", _mode_part),
         ("rewrites", _rewrites_part), ("options", _options_part),
         ("inputs", _inputs_part), ("shared", _shared_part), ("outputs", _outputs_part),
         ("constants", _constants_part), ("graph", _graph_part), ("c_code", _c_code_part))
assert tuple(name for name, _ in PARTS) == PART_NAMES


def _orig_kind(lib, var):
    if isinstance(var, lib.SharedVariable):
        return "shared"
    if isinstance(var, lib.Constant):
        return "constant"
    if var.owner is not None:
        return "intermediate"
    return "variable"


def signature(lib, inputs, outputs=None, updates=None, givens=None, mode=None, **kwargs):
    """Structural key of ``theano.function(inputs, outputs, ...)``.

    Accepts exactly the arguments of ``theano.function``; ``name`` is
    ignored (it does not change behaviour). Raises TypeError for unknown
    keyword arguments and UnkeyableGraph when the call cannot be keyed
    safely (or when Theano itself would reject it).
    """
    unknown = sorted(set(kwargs) - lib.function_kwargs)
    if unknown:
        raise FncacheTypeError("unexpected keyword argument(s): %s"
                               % ", ".join(unknown))
    # Keying allocates many small objects and frees them at once: a collection
    # during it would walk the whole heap (the caller's graph included) for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return Signer(lib, inputs, outputs, updates, givens, mode, kwargs).run()
    finally:
        if gc_was_enabled:
            gc.enable()
