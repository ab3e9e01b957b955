"""The Theano classes and tables the shared family code needs (``family.Library``)."""
import theano
from theano.compile import function_module, mode, profiling
from theano.compile.io import In, SymbolicInput, SymbolicOutput
from theano.compile.sharedvalue import SharedVariable
from theano.gof import cc, fg, graph, link, op, opt, optdb, params_type, utils
from theano.gof import type as gof_type
from theano.misc.frozendict import frozendict
from theano.misc.ordered_set import OrderedSet
from theano.scalar import basic as scalar_basic
from theano.tensor.type import TensorType

from fncache.backends.family import Library, fingerprints
from fncache.backends.theano import csource, env, exclusions, rewrites, serialize

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
    COp=op.COp,
    CThunkOp=op.Op,
    CThunk=cc._CThunk,
    compiledir=lambda: theano.config.compiledir,
    PackedTraceTag=serialize.PackedTraceTag,
    frozendict=frozendict,
    OrderedSet=OrderedSet,
    ancestors=graph.ancestors,
    tensor_type_attrs=exclusions.TENSOR_TYPE_ATTRS,
    excluded_by_class=exclusions.EXCLUDED_BY_CLASS,
    inner_graph_attrs=exclusions.INNER_GRAPH_ATTRS,
    function_kwargs=frozenset(["no_default_updates", "accept_inplace", "name", "rebuild_strict",
                               "allow_input_downcast", "profile", "on_unused_input"]),
    environment_part=env.environment_part,
    rewrites_part=rewrites.part,
    rewrites_error=rewrites.RewriteUnfit,
    c_source_digest=csource.node_digest,
    c_source_error=csource.CSourceUnfit,
    profile_default=lambda: bool(theano.config.profile or theano.config.print_global_stats),
    reductions={scalar_basic.Composite: serialize.stored_composite},
    # process-local objects: SciPy BLAS routines ScipyGer leaves in node.tag once run
    unstored_tag_attrs=frozenset(["local_ger"]),
)
fingerprints.register_library(LIBRARY)
