"""The PyTensor classes and tables the shared family code needs (``family.Library``)."""
import pytensor
from pytensor.compile import executor, io, maker, mode, sharedvalue
from pytensor.compile.debug import profiling
from pytensor.graph import basic, fg, op, type as graph_type, utils
from pytensor.graph.rewriting import basic as rewriting, db
from pytensor.link import basic as link
from pytensor.configdefaults import config
from pytensor.link.c import basic as cbasic, op as cop, params_type
from pytensor.misc.frozendict import frozendict
from pytensor.misc.ordered_set import OrderedSet
from pytensor.scalar import basic as scalar_basic
from pytensor.tensor.type import TensorType

from fncache.backends.family import Library
from fncache.backends.pytensor.serialize import PackedTraceTag

LIBRARY = Library(
    name="pytensor",
    roots=("pytensor",),
    Variable=basic.Variable,
    Constant=basic.Constant,
    Apply=basic.Apply,
    Op=op.Op,
    Type=graph_type.Type,
    TensorType=TensorType,
    FunctionGraph=fg.FunctionGraph,
    SharedVariable=sharedvalue.SharedVariable,
    In=io.In,
    SymbolicInput=io.SymbolicInput,
    SymbolicOutput=io.SymbolicOutput,
    Mode=mode.Mode,
    get_mode=mode.get_mode,
    RewriteQuery=db.RewriteDatabaseQuery,
    GraphRewriter=rewriting.GraphRewriter,
    NodeRewriter=rewriting.NodeRewriter,
    FunctionMaker=maker.FunctionMaker,
    Function=executor.Function,
    Linker=link.Linker,
    Container=link.Container,
    CLinker=cbasic.CLinker,
    ProfileStats=profiling.ProfileStats,
    Params=params_type.Params,
    Scratchpad=utils.Scratchpad,
    Composite=scalar_basic.Composite,
    COp=cop.ExternalCOp,           # its C source is read from files
    CThunk=cbasic._CThunk,
    compiledir=lambda: str(config.compiledir),
    PackedTraceTag=PackedTraceTag,
    frozendict=frozendict,
    OrderedSet=OrderedSet,
    # static shapes: TensorType's __props__ are (dtype, shape); broadcastable and ndim derive
    tensor_type_attrs=frozenset(["dtype", "shape", "broadcastable", "ndim", "name",
                                 "numpy_dtype"]),
    function_kwargs=frozenset(["no_default_updates", "accept_inplace", "name", "rebuild_strict",
                               "allow_input_downcast", "profile", "on_unused_input",
                               "trust_input"]),
    extra={"version": pytensor.__version__},
)
