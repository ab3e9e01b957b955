"""Compiled function <-> bytes, rebound to the caller's shared variables (Theano family).

Written once against a ``Library`` (fncache.backends.family): Theano and PyTensor pickle
the same FunctionMaker/FunctionGraph/Container design; a library adds its own reductions
(``lib.reductions``: exact class -> reducer(lib, obj)) and its tag class
(``lib.PackedTraceTag``, a ``PackedTraceMixin`` over its scratchpad).

What is stored is the optimized, linked ``FunctionMaker`` (graph, linker,
input and output specs), never the run-time state: thunks and storage are
rebuilt at load (fast, from the module records of ``fncache.backends.family.cthunks``),
profile objects start empty, process-local objects left in node tags
(``lib.unstored_tag_attrs``: Theano's SciPy BLAS handles) are dropped.

Shared variables are not stored by value. Each one, and its storage container,
is written as its position in the graph key's canonical order; the loader
hands back the caller's own objects at those positions, so updates act on the
caller's weights and random states, exactly as after a real compile. The
explicit input variables are written the same way, so the loaded function's
input specs hold the caller's variables (``f[x]``, ``f.maker.inputs``).

Creation tracebacks (``tag.trace``, read by error messages and
``check_stack_trace``) are kept apart from the graph, all of an entry's in one
pickled bytes object that is unpacked the first time a loaded tag's trace is
read (``_PackedTraceTag``).
fncache's own records in node tags (``fncache.backends.family.cthunks``) are written only by
this module: plain pickle and deepcopy see tags as Theano made them.
"""
import base64
import collections
import copy
import copyreg
import gc
import io
import pickle
import sys
import threading

import cloudpickle

from fncache.backends.family import cthunks as thunks
from fncache.errors import SerializationError


# Tags that cannot take the library's default pickling in fncache's own pickler (with the
# library's unstored tag attributes).
_SPECIAL_TAG_ATTRS = frozenset({"trace", thunks.TAG})
# FunctionGraph features that only graph rewriting uses: a compiled graph is
# never rewritten again, and their tables (shape graphs of every variable) are
# bigger than the graph itself.
_REWRITE_ONLY_FEATURES = {"ShapeFeature": ("shape_feature",), "MergeFeature": ("merge_feature",)}


def _stored_maker_state(maker):
    """The maker's state with input and output specs pointing into the optimized graph.

    ``In.update`` and ``Out.variable`` still hold the caller's unoptimized
    expressions (whole gradient graphs), which a compiled function never
    evaluates; Theano's own ``Function.copy`` makes the same substitution.
    """
    state = dict(maker.__dict__)
    graph_outputs = maker.fgraph.outputs
    n_outputs = len(maker.outputs)
    updated = [spec for spec in maker.inputs if spec.update is not None]
    if (maker.expanded_inputs is not maker.inputs
            or n_outputs + len(updated) != len(graph_outputs)):
        return state  # an unusual maker: store it as it is
    respecs = {}
    for k, spec in enumerate(updated):
        respecs[id(spec)] = copy.copy(spec)
        respecs[id(spec)].update = graph_outputs[n_outputs + k]
    inputs = [respecs.get(id(spec), spec) for spec in maker.inputs]
    state["inputs"] = state["expanded_inputs"] = inputs
    if "indices" in state:  # Theano's (PyTensor's maker has none)
        state["indices"] = [_respec_index(entry, respecs) for entry in maker.indices]
    outputs = []
    for spec, variable in zip(maker.outputs, graph_outputs):
        spec = copy.copy(spec)
        spec.variable = variable
        outputs.append(spec)
    state["outputs"] = outputs
    return state


def _respec_index(entry, respecs):
    """A ``maker.indices`` entry, [spec, indices, [specs...]], with the specs replaced."""
    spec, indices, specs = entry
    if isinstance(specs, list):
        specs = [respecs.get(id(s), s) for s in specs]
    return [respecs.get(id(spec), spec), indices, specs]


def without_history(lib, feature):
    """A History feature (ReplaceValidate...) without its record of past rewrites.

    The changes since the last checkpoint and the nodes rewriting removed (kept
    so that no rewrite puts one back) serve only further rewriting; they hold
    every node the optimizer ever replaced, often more than the graph itself.
    """
    reduced = feature.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    if len(reduced) < 3 or not isinstance(reduced[2], dict):
        return NotImplemented
    state = dict(reduced[2])
    if isinstance(state.get("history"), dict):
        state["history"] = {fgraph: ([] if changes is not None else None)
                            for fgraph, changes in state["history"].items()}
    if isinstance(state.get("_nodes_removed"), set):
        state["_nodes_removed"] = set()
    return (reduced[0], reduced[1], state) + tuple(reduced[3:])


def without_stale_clients(lib, handler):
    """A DestroyHandler without the empty client tables of variables no longer in its graph.

    Theano leaves them when rewriting prunes a node ("they aren't doing any
    harm"); each keeps a removed subgraph alive.
    """
    reduced = handler.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    variables = getattr(handler.fgraph, "variables", None)
    if (len(reduced) < 3 or not isinstance(reduced[2], dict) or variables is None
            or type(reduced[2].get("clients")) is not collections.OrderedDict):
        return NotImplemented
    state = dict(reduced[2])
    state["clients"] = collections.OrderedDict(
        (variable, apps) for variable, apps in state["clients"].items()
        if apps or variable in variables)
    return (reduced[0], reduced[1], state) + tuple(reduced[3:])


def _stored_graph_state(fgraph):
    state = fgraph.__getstate__()
    dropped = [f for f in fgraph._features if type(f).__name__ in _REWRITE_ONLY_FEATURES]
    if dropped:
        state["_features"] = [f for f in fgraph._features if f not in dropped]
        for feature in dropped:
            for attr in _REWRITE_ONLY_FEATURES[type(feature).__name__]:
                state.pop(attr, None)
    return state


def _restore_graph(cls, state):
    fgraph = cls.__new__(cls)
    setstate = getattr(cls, "__setstate__", None)
    if setstate is not None:
        setstate(fgraph, state)
    else:  # PyTensor's FunctionGraph: default pickling (its __getattr__ hides the absence)
        fgraph.__dict__.update(state)
    return fgraph


def _restore_maker(cls, state):
    maker = cls.__new__(cls)
    maker.__dict__.update(state)
    return maker


def _restore_function(maker, trust_input, name):
    defaults = [getattr(spec, "value", None) for spec in maker.inputs]
    fn = maker.create(defaults)
    fn.trust_input = trust_input
    fn.name = name
    return fn


_C_SOURCE_ATTRS = ("func_codes", "code_sections")


def _without_c_sources(cop):
    """A COp's reduction without its C source text, which it re-reads from its files on demand."""
    reduced = cop.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    if len(reduced) < 3 or not isinstance(reduced[2], dict):
        return NotImplemented
    state = {k: v for k, v in reduced[2].items() if k not in _C_SOURCE_ATTRS}
    return (reduced[0], reduced[1], state) + tuple(reduced[3:])


def _restore_params(cls, type_, values):
    return cls(type_, **values)


def _is_guarded_dict(obj):
    """A dict subclass with its own ``__setitem__`` and default pickling (EnumType, EnumList...).

    Default pickling rebuilds a dict by assigning its items one by one, which
    such a class may refuse (Theano's enum types raise "constant values are
    immutable"): dumping works, loading fails.
    """
    cls = type(obj)
    return (isinstance(obj, dict) and cls.__setitem__ is not dict.__setitem__
            and cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__
            and cls not in copyreg.dispatch_table)


def _reduce_guarded_dict(obj):
    """Rebuild it as default pickling would, but fill it without calling its mutators."""
    reduced = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    if len(reduced) < 5 or reduced[3] is not None:
        return NotImplemented
    func, args, state = reduced[0], reduced[1], reduced[2]
    items = dict(reduced[4]) if reduced[4] is not None else {}
    # The state setter runs after the object is memoized: cycles through it still load.
    return func, args, (items, state), None, None, _set_guarded_dict_state


def _set_guarded_dict_state(obj, state):
    items, attributes = state
    dict.update(obj, items)
    if attributes is None:
        return
    if isinstance(attributes, tuple):  # (__dict__, __slots__ values)
        attributes, slots = attributes
        for name, value in (slots or {}).items():
            object.__setattr__(obj, name, value)
    if attributes:
        setstate = getattr(type(obj), "__setstate__", None)
        if setstate is not None:
            setstate(obj, attributes)
        else:
            obj.__dict__.update(attributes)  # as pickle does: no __setattr__


def _fresh_profile(cls, message):
    return cls(message=message) if message is not None else cls()


def _reduce(lib, obj):
    """Reductions for the library's objects whose default pickling is wrong or slow."""
    if isinstance(obj, lib.Function):
        return _restore_function, (obj.maker, obj.trust_input, obj.name)
    if isinstance(obj, lib.FunctionMaker):
        return _restore_maker, (lib.FunctionMaker, _stored_maker_state(obj))
    if type(obj) is lib.FunctionGraph:
        return _restore_graph, (lib.FunctionGraph, _stored_graph_state(obj))
    reducer = lib.reductions.get(type(obj))
    if reducer is not None:
        return reducer(lib, obj)
    if lib.COp is not None and isinstance(obj, lib.COp):
        return _without_c_sources(obj)
    if lib.Params is not None and isinstance(obj, lib.Params):  # immutable dict
        return _restore_params, (lib.Params, obj.__params_type__, dict(obj))
    if _is_guarded_dict(obj):
        return _reduce_guarded_dict(obj)
    if lib.frozendict is not None and isinstance(obj, lib.frozendict):  # hash salted per process
        return type(obj), (obj._dict,)
    if isinstance(obj, lib.ProfileStats):
        return _fresh_profile, (type(obj), getattr(obj, "message", None))
    return NotImplemented


def _persistent_ids(shared, inputs):
    ids = {}
    for position, variable in enumerate(shared):
        ids[id(variable)] = ("v", position)
        ids[id(variable.container)] = ("c", position)
    for position, variable in enumerate(inputs):
        ids.setdefault(id(variable), ("i", position))
    return ids


class _TraceBook:
    """The creation tracebacks of one entry, in one bytes object until the first is read.

    Pickled once per entry (tags refer to it). Its segment, written as the
    persistent id of _TRACES, is a list the loader fills with the entry's trace
    bytes (which follow the function's pickle) once the function is loaded.
    """

    __slots__ = ("_segment", "_traces")

    def __init__(self, segment):
        self._segment = segment
        self._traces = None

    def trace(self, index):
        if self._traces is None:
            self._traces = pickle.loads(self._segment[0])
            self._segment = None
        return self._traces[index]


_TRACES = object()  # stands for the trace segment inside the pickled _TraceBook


class PackedTraceMixin:
    """A loaded variable's tag: ``trace`` holds (the entry's _TraceBook, index) until read.

    A library's ``PackedTraceTag`` is this mixin over its tag class (``_plain_tag_class``).
    Only loaded tags are of this class: a property on every tag would slow down
    building graphs. Plain pickle and deepcopy write a plain tag with its trace.
    """

    @property
    def trace(self):
        d = self.__dict__
        try:
            trace = d["trace"]
        except KeyError:
            raise AttributeError("trace") from None
        if type(trace) is tuple and len(trace) == 2 and type(trace[0]) is _TraceBook:
            trace = d["trace"] = trace[0].trace(trace[1])
        return trace

    @trace.setter
    def trace(self, trace):
        self.__dict__["trace"] = trace

    @trace.deleter
    def trace(self):
        try:
            del self.__dict__["trace"]
        except KeyError:
            raise AttributeError("trace") from None

    def __reduce_ex__(self, protocol):
        getattr(self, "trace", None)  # unpacks it
        return object.__new__, (self._plain_tag_class,), _plain_tag_state(self)


def _plain_tag_state(tag):
    d = tag.__dict__
    return {k: v for k, v in d.items() if k != thunks.TAG} if thunks.TAG in d else d


class _Rules:
    """How fncache writes a compiled function (mixed into both picklers).

    Shared variables, their containers and the explicit inputs go by position;
    tags keep their thunk records; with ``keep_traces``, tags' traces go into
    ``self.traces`` (stored apart) and the tag holds its index.
    """

    def _setup(self, lib, shared, inputs, keep_traces):
        self._lib = lib
        self._tag_types = (lib.Scratchpad, lib.PackedTraceTag)
        # Tags are made with object.__new__ (copyreg.__newobj__ insists on the tag's own class).
        self._plain_tag_args, self._packed_tag_args = (lib.Scratchpad,), (lib.PackedTraceTag,)
        self._special_tag_attrs = _SPECIAL_TAG_ATTRS | lib.unstored_tag_attrs
        self._ids = _persistent_ids(shared, inputs)
        self.module_paths = set()  # the C modules the stored thunks load
        self.traces = [] if keep_traces else None
        self._book = _TraceBook(_TRACES)
        self._ids[id(_TRACES)] = ("t", 0)

    def persistent_id(self, obj):
        token = self._ids.get(id(obj))
        if token is None and isinstance(obj, self._lib.Container):
            raise SerializationError(
                "the function holds storage that belongs to no shared variable of its graph")
        return token

    def reducer_override(self, obj):
        if type(obj) in self._tag_types and not self._special_tag_attrs.isdisjoint(obj.__dict__):
            return self._reduce_tag(obj)
        if type(obj) is thunks.ThunkRecipe:
            self.module_paths.add(obj.module_path)
        return _reduce(self._lib, obj)

    def _reduce_tag(self, tag):
        unstored = self._lib.unstored_tag_attrs
        state = {k: v for k, v in tag.__dict__.items() if k not in unstored and k != "trace"}
        if self.traces is None or "trace" not in tag.__dict__:
            return object.__new__, self._plain_tag_args, state
        state["trace"] = (self._book, len(self.traces))
        self.traces.append(tag.trace)
        return object.__new__, self._packed_tag_args, state


class _Pickler(_Rules, pickle.Pickler):
    def __init__(self, file, lib, shared, inputs=(), keep_traces=False):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._setup(lib, shared, inputs, keep_traces)


class _CloudPickler(_Rules, cloudpickle.CloudPickler):
    """Same rules as _Pickler, for graphs that hold lambdas or local classes."""

    def __init__(self, file, lib, shared, inputs=(), keep_traces=False):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._setup(lib, shared, inputs, keep_traces)

    def reducer_override(self, obj):
        reduced = _Rules.reducer_override(self, obj)
        if reduced is NotImplemented:
            return cloudpickle.CloudPickler.reducer_override(self, obj)
        return reduced


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, shared, inputs=()):
        super().__init__(file)
        self._shared = shared
        self._inputs = inputs
        self.trace_segment = []  # the _TraceBook's; the loader puts the trace bytes in

    def persistent_load(self, token):
        kind, position = token
        if kind == "i":
            return self._inputs[position]
        if kind == "t":
            return self.trace_segment
        variable = self._shared[position]
        return variable if kind == "v" else variable.container


# Pickle walks a graph depth-first, one level of recursion per variable and
# node: deep graphs need far more than Python's default limit and C stack.
_DEEP_STACK_BYTES = 512 << 20  # reserved address space; pages are touched only as used
_DEEP_RECURSION_LIMIT = 1_000_000


def _in_deep_stack(func, *args):
    """Run ``func(*args)`` in a thread with a stack deep enough for big graphs."""
    outcome = {}

    def target():
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    previous_limit = sys.getrecursionlimit()
    previous_size = threading.stack_size(_DEEP_STACK_BYTES)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # (un)pickling makes many objects at once; collections during it only cost time
    try:
        sys.setrecursionlimit(max(previous_limit, _DEEP_RECURSION_LIMIT))
        worker = threading.Thread(target=target, name="fncache-pickle")
        worker.start()
    finally:
        threading.stack_size(previous_size)
    worker.join()
    sys.setrecursionlimit(previous_limit)
    if gc_was_enabled:
        gc.enable()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def dumps(lib, fn, shared, inputs=()):
    """(bytes, module paths) of compiled function ``fn``.

    ``shared`` in canonical key order and ``inputs`` (the explicit input
    variables, in order) are written as positions. The module paths (relative
    to the compiledir) are the C modules the stored thunks load; see
    fncache.compiled.artifacts.
    """
    return _in_deep_stack(_dumps, lib, fn, shared, inputs)


def pack(lib, value):
    """``value`` pickled by these rules, with no shared variables (a reduction's inner part)."""
    buffer = io.BytesIO()
    _Pickler(buffer, lib, ()).dump(value)
    return buffer.getvalue()


def loads(data, shared, inputs=()):
    """The function stored by ``dumps``, bound to ``shared`` and ``inputs`` (same order).

    Unlike pickling, unpickling keeps its own stack and needs no deep thread
    (starting one costs milliseconds a hit should not pay).
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()  # many objects at once; collections during the load only cost time
    try:
        return _loads(data, shared, inputs)
    finally:
        _age_young_objects()
        if gc_was_enabled:
            gc.enable()


def _age_young_objects():
    """Move the young generations into the oldest one, unexamined.

    A loaded function is tens of thousands of objects that live as long as the
    program uses it; left young, the collector would walk them all twice (the
    youngest generation, then the middle one) before they reach the oldest, at
    the next allocations of the caller's. Freezing and unfreezing at once moves
    every tracked object to the oldest generation in constant time; full
    collections still examine them. Skipped when the program keeps frozen
    objects of its own (unfreezing would release them).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def dumps_types(lib, variables):
    """The types of ``variables`` as text for an entry header (None if they do not pickle).

    ``fncache verify --deep`` rebuilds an entry away from the program that made
    it: it binds the function to stand-ins of these types (see ``standins``).
    """
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, lib, ()).dump([variable.type for variable in variables])
    except (pickle.PicklingError, TypeError, AttributeError, SerializationError):
        return None
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def types(text):
    """The types ``dumps_types`` wrote."""
    return _Unpickler(io.BytesIO(base64.b64decode(text)), (), ()).load()


def standins(lib, text):
    """Shared variables of the types ``dumps_types`` wrote, with empty storage."""
    return [lib.SharedVariable("standin_%d" % k, type_, value=None, strict=None,
                               container=lib.Container(type_, storage=[None]))
            for k, type_ in enumerate(types(text))]


def input_standins(text):
    """Input variables of the types ``dumps_types`` wrote."""
    return [type_("standin_input_%d" % k) for k, type_ in enumerate(types(text))]


def _dumps(lib, fn, shared, inputs):
    """A payload: the function's pickle, then the pickled list of its traces."""
    for pickler_class in (_Pickler, _CloudPickler):
        buffer = io.BytesIO()
        try:
            pickler = pickler_class(buffer, lib, shared, inputs, keep_traces=True)
            pickler.dump(fn)
            buffer.write(pickle.dumps(pickler.traces, protocol=pickle.HIGHEST_PROTOCOL))
        except SerializationError:
            raise
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            error = exc
            continue
        return buffer.getvalue(), pickler.module_paths
    raise SerializationError("cannot pickle the compiled function: %s" % error)


def _loads(data, shared, inputs):
    stream = io.BytesIO(data)  # shares data's buffer: no copy
    unpickler = _Unpickler(stream, shared, inputs)
    with thunks.loading():
        fn = unpickler.load()
    unpickler.trace_segment.append(data[stream.tell():])
    return fn


def lazy_c_sources(lib):
    """Let a COp read its C source files when it needs them (see _without_c_sources)."""
    cop = lib.COp
    if cop is None or getattr(cop, "_fncache_lazy", False):
        return

    def __getattr__(self, name):
        if name in _C_SOURCE_ATTRS and "func_files" in self.__dict__:
            self.load_c_code(self.func_files)
            return self.__dict__[name]
        raise AttributeError(name)

    cop.__getattr__ = __getattr__
    cop._fncache_lazy = True


def plain_tags(lib):
    """Tags that plain pickle and deepcopy write as the library made them.

    fncache's thunk record is left out, so what they write loads without fncache
    and holds no process-local record; a shallow copy (``Apply.clone``) copies
    the tag as it is, record included.
    """
    cls = lib.Scratchpad
    if getattr(cls, "_fncache_plain", False):
        return

    def __copy__(self):
        new = cls.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    cls.__getstate__ = _plain_tag_state
    cls.__copy__ = __copy__
    cls._fncache_plain = True


def apply(lib):
    """Install the library patches the pickler relies on (idempotent): lazy C sources,
    plain tags for plain pickle, and the C thunk records."""
    lazy_c_sources(lib)
    plain_tags(lib)
    thunks.apply(lib)
