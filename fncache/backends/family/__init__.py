"""Code Theano and PyTensor share: the same graph shapes, parametrized by a ``Library``.

Theano 1.0.5 and PyTensor 3.x keep Theano's design (Variable/Apply/Op/Type graphs,
FunctionMaker, Linker/Container, the CLinker and its ModuleCache), under other module
names and with a few differences (static shapes in TensorType, frozen inner graphs,
``_config_var_dict``). The walk and keyer, the fingerprints of classes/functions/values,
the ``function()`` argument checks used for keying, the persistent-id pickler and the C
thunk records are written once here against a ``Library``: the class references and
tables one library supplies (``fncache/backends/<library>/library.py``).

Nothing in this package imports a graph library; the ``Library`` a backend builds does.
"""
import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Library:
    """The classes, functions and tables of one graph library that the shared code needs.

    Fields a library lacks stay None (the code that needs them says so). New fields get a
    default, so a backend written against an older Library keeps working.
    """

    name: str                       # "theano" | "pytensor"
    roots: tuple                    # module roots whose code the library's version covers
    # graph
    Variable: Any = None            # gof.graph.Variable / graph.basic.Variable
    Constant: Any = None
    Apply: Any = None
    Op: Any = None                  # theano PureOp / pytensor Op
    Type: Any = None                # theano PureType / pytensor Type
    TensorType: Any = None
    FunctionGraph: Any = None
    SharedVariable: Any = None
    # function() arguments
    In: Any = None                  # In
    SymbolicInput: Any = None
    SymbolicOutput: Any = None      # Out
    Mode: Any = None
    get_mode: Any = None            # mode name or instance -> Mode
    RewriteQuery: Any = None        # theano optdb.Query / pytensor RewriteDatabaseQuery
    GraphRewriter: Any = None       # theano Optimizer / pytensor GraphRewriter
    NodeRewriter: Any = None        # theano LocalOptimizer / pytensor NodeRewriter
    # compiled functions
    FunctionMaker: Any = None
    Function: Any = None
    Linker: Any = None
    Container: Any = None
    CLinker: Any = None
    ProfileStats: Any = None
    Params: Any = None              # params_type.Params (immutable dict needing a reduction)
    Scratchpad: Any = None          # node.tag class (utils.scratchpad)
    Composite: Any = None           # scalar Composite (inner graph rebuilt in __setstate__)
    COp: Any = None                 # ops whose C source is read from files (kept out of pickles)
    CThunkOp: Any = None            # the class whose make_thunk/make_c_thunk cthunks hooks
    CThunk: Any = None              # the C thunk wrapper class (theano.gof.cc._CThunk)
    compiledir: Any = None          # () -> the compiledir C module paths are relative to
    PackedTraceTag: Any = None      # pickler.PackedTraceMixin over the library's tag class
    frozendict: Any = None
    OrderedSet: Any = None
    ancestors: Any = None           # graph.ancestors(variables) -> iterable of variables
    # tables (plain data)
    tensor_type_attrs: frozenset = frozenset()   # TensorType attributes of the keyer's fast
    #   path, keyed as (dtype, broadcastable): a library whose TensorType has static shapes
    #   must leave "shape" out (its types then go by __props__, which hold the shape)
    excluded_by_class: tuple = ()   # (class path, attributes, why): left out of fingerprints
    inner_graph_attrs: Any = dataclasses.field(default_factory=dict)  # {class path: (ins, outs)}
    function_kwargs: frozenset = frozenset()     # function() keywords besides inputs, outputs,
    #   updates, givens, mode
    # parts the library computes itself
    environment_part: Any = None    # () -> (digest hex, {name: plain value})
    rewrites_part: Any = None       # (fp, class_fp) -> (payload, details); raises rewrites_error
    rewrites_error: Any = Exception
    c_source_digest: Any = None     # (node, label) -> digest or None; raises c_source_error
    c_source_error: Any = Exception
    profile_default: Any = None     # () -> bool: profiling on when function(profile=None)
    # pickling
    reductions: Any = dataclasses.field(default_factory=dict)  # exact class -> reducer(lib, obj)
    unstored_tag_attrs: frozenset = frozenset()  # node.tag attributes never stored
    extra: Any = None               # anything else one library's own code needs (a dict)
