"""The Theano classes and tables the shared family code needs (``family.Library``)."""
import theano
from theano.compile import function_module, mode, profiling
from theano.compile.io import In, SymbolicInput, SymbolicOutput
from theano.compile.sharedvalue import SharedVariable
from theano.gof import cc, fg, graph, link, op, opt, optdb, params_type, type as gof_type, utils
from theano.misc.frozendict import frozendict
from theano.misc.ordered_set import OrderedSet
from theano.scalar import basic as scalar_basic
from theano.tensor.type import TensorType

from fncache.backends.family import Library

LIBRARY = Library(
    name="theano",
    roots=("theano",),
    Variable=graph.Variable,
    Constant=graph.Constant,
    Apply=graph.Apply,
    Op=op.PureOp,
    Type=gof_type.PureType,
    TensorType=TensorType,
    FunctionGraph=fg.FunctionGraph,
    SharedVariable=SharedVariable,
    In=In,
    SymbolicInput=SymbolicInput,
    SymbolicOutput=SymbolicOutput,
    Mode=mode.Mode,
    get_mode=mode.get_mode,
    RewriteQuery=optdb.Query,
    GraphRewriter=opt.Optimizer,
    NodeRewriter=opt.LocalOptimizer,
    FunctionMaker=function_module.FunctionMaker,
    Function=function_module.Function,
    Linker=link.Linker,
    Container=link.Container,
    CLinker=cc.CLinker,
    ProfileStats=profiling.ProfileStats,
    Params=params_type.Params,
    Scratchpad=utils.scratchpad,
    Composite=scalar_basic.Composite,
    frozendict=frozendict,
    OrderedSet=OrderedSet,
    tensor_type_attrs=frozenset(["dtype", "broadcastable", "name", "numpy_dtype", "sparse_grad",
                                 "filter_checks_isfinite"]),
    function_kwargs=frozenset(["no_default_updates", "accept_inplace", "name", "rebuild_strict",
                               "allow_input_downcast", "profile", "on_unused_input"]),
    extra={"version": theano.__version__},
)
