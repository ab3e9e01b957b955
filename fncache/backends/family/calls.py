"""The arguments of a ``function(inputs, outputs, ...)`` call, checked as the library would.

A call the library itself rejects raises BadCall (a TypeError) saying what is wrong; one
the cache cannot key safely raises UnkeyableGraph. Theano's and PyTensor's function()
take the same inputs/outputs/updates/givens shapes.
"""
from fncache.errors import BadCall, UnkeyableGraph


def _pairs(lib, value, what):
    """Pairs from a dict / OrderedDict / list of pairs, as the library does."""
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
        if isinstance(item, lib.Variable):
            raise BadCall("%s must be an OrderedDict/dict or a list of (variable, "
                          "expression) pairs, got a flat list" % what)
        try:
            a, b = item
        except (TypeError, ValueError):
            raise BadCall("%s must hold (variable, expression) pairs, got %r"
                          % (what, type(item).__name__)) from None
        pairs.append((a, b))
    return pairs


class Call(object):
    """A checked call: input specs, output items, update and givens pairs, resolved mode."""

    def __init__(self, lib, inputs, outputs, updates, givens, mode, kwargs):
        self.lib = lib
        self.kw = kw = kwargs
        In, SymbolicInput, SymbolicOutput = lib.In, lib.SymbolicInput, lib.SymbolicOutput
        Variable, Constant, SharedVariable = lib.Variable, lib.Constant, lib.SharedVariable
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

        self.updates = _pairs(lib, updates, "updates")
        self.givens = _pairs(lib, givens, "givens")
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
            self.mode = lib.get_mode(mode)
        except Exception as exc:  # e.g. an unknown mode name: let Theano say it
            raise BadCall("mode %r cannot be resolved: %s" % (mode, exc)) from None
