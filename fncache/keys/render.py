"""Fingerprints rendered as text, and the details of a key (for explain/details only; never keys).

A backend's keyer produces fingerprints (type-tagged tuples of plain values) and the
tables of a walk; ``DetailsBuilder`` turns them into the JSON-serialisable details
``fncache explain`` and ``sig.details`` show. Nothing here knows a graph library.
"""
import numpy as np

__all__ = ["render", "ref_text", "DetailsBuilder", "fp_pairs_text"]


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
            out.append("(%s)" % ", ".join(ref_text(r) for r in ins))
        out.append("; outputs=%s)" % ", ".join(ref_text(r) for r in fp[3]))
    elif tag in ("i", "n", "cv", "s", "c"):
        out.append(ref_text(fp))
    elif tag == "backref":
        out.append("<self>")
    else:
        out.append(tag)
        _render_seq(fp[1:], out, "(", ")")


def _broadcast_text(bcast):
    names = {(): "scalar", (False,): "vector", (False, False): "matrix",
             (True, False): "row", (False, True): "col"}
    return names.get(bcast, str(bcast))


def ref_text(ref, const_texts=None, input_names=None, op_names=None):
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


class DetailsBuilder(object):
    """Builds JSON-serialisable details lazily from plain data (holds no
    Theano objects, so registries can keep it cheaply)."""

    def __init__(self, **state):
        self.__dict__.update(state)

    def __call__(self):
        input_names = [entry[1] for entry in self.inputs_fp]
        const_texts = self.const_texts
        op_names = self.op_names

        def ref(r):
            return None if r is None else ref_text(r, const_texts, input_names, op_names)

        def op_key(r):
            """Digest of the op producing a root ref: explains a difference
            that the ref's text (same node, same op name) does not show."""
            return r[4] if r is not None and r[0] == "n" and len(r) > 4 else None

        details = {"environment": dict(self.env_details)}
        details["mode"] = fp_pairs_text(self.mode_fp)
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


def fp_pairs_text(fp):
    """{'class': ..., attr: text} for an ('obj', cls, pairs) fingerprint."""
    if isinstance(fp, tuple) and len(fp) == 3 and fp[0] in ("obj", "op", "op*", "type", "type*"):
        out = {"class": render(fp[1])}
        for name, value in fp[2]:
            key = name.lstrip("_") or name
            out[key] = render(value)
        return out
    return {"value": render(fp)}
