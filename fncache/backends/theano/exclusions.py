"""Theano's fingerprint exclusion tables: what a key leaves out of its classes, and why.

Attributes left out of fallback fingerprints (ops and types without ``__props__``,
linkers, modes). Each is derived from other attributes, attached by Theano at or after
compilation, or only affects printing or gradient construction (which happens before
``theano.function``). Read by fncache.backends.family through ``library.LIBRARY``.
"""

EXCLUDED_BY_CLASS = (
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
)

# Inner graphs: (inputs attribute, outputs attribute) per class. Any other op
# without __props__ whose __dict__ holds lists of Variables named "inputs"
# and "outputs" is treated the same way.
INNER_GRAPH_ATTRS = {
    "theano.scan_module.scan_op.Scan": ("inputs", "outputs"),
    "theano.scalar.basic.Composite": ("inputs", "outputs"),
    "theano.compile.builders.OpFromGraph": ("local_inputs", "local_outputs"),
}

# TensorType instances with only these attributes take the keyer's fast path: dtype
# and broadcastable (+ filter_checks_isfinite when set); name, sparse_grad and
# numpy_dtype are left out as documented in EXCLUDED_BY_CLASS.
TENSOR_TYPE_ATTRS = frozenset(["dtype", "broadcastable", "name", "numpy_dtype", "sparse_grad",
                               "filter_checks_isfinite"])
