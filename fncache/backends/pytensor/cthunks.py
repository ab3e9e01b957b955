"""C/CVM: record each C thunk's module at compile time, dlopen it by path at load.

PyTensor 3.3.7 keeps Theano's design: ``COp.make_thunk`` -> ``COp.make_c_thunk``
builds a one-node FunctionGraph (a clone) and a ``CLinker``; ``CLinker.make_thunk``
-> ``__compile__`` -> ``cthunk_factory`` computes ``cmodule_key()`` (which runs
``compile_args()``: gcc probes ``try_march_flag`` and ``gcc -E -v`` as
subprocesses, once per process), asks ``ModuleCache.module_from_key`` (refresh
reads every key.pkl), and calls ``module.instantiate(error_storage, *args)``.

Recording (``with recording():``) notes in ``node.tag.fncache_thunk`` the module
file, how instantiate's arguments map onto the node's storage, and the error
tables (remapped from the clone onto the node). Mode "C" (one CLinker over the
whole graph, ``maker.linker`` is the CLinker) records on the linker instead.
Loading (``with loading():``) dlopens by path and instantiates directly; a
missing or stale module falls back to PyTensor's own path.
"""
import importlib.machinery
import importlib.util
import logging
import os
import threading

from pytensor.configdefaults import config
from pytensor.graph.basic import Constant
from pytensor.link.c import basic as cbasic
from pytensor.link.c import op as cop

_log = logging.getLogger("fncache.pytensor.cthunks")
TAG = "fncache_thunk"
PYTHON_THUNK = "py"
LINKER_ATTR = "_fncache_module"  # whole-graph CLinker (mode C): its module file
# PyTensor builds these helpers at the first C thunk or VM of a process; their
# __init__.py holds the version (lazylinker_ext: "_version = 0.32") without which
# PyTensor builds them again.
HELPER_FILES = ("cutils_ext/cutils_ext.so", "cutils_ext/__init__.py",
                "lazylinker_ext/lazylinker_ext.so", "lazylinker_ext/__init__.py", "__init__.py")
_state = threading.local()
_modules = {}


class Recipe:
    __slots__ = ("module_path", "args", "init_tasks", "tasks")

    def __init__(self, module_path, args, init_tasks, tasks):
        self.module_path, self.args, self.init_tasks, self.tasks = (
            module_path, args, init_tasks, tasks)

    def __getstate__(self):
        return (self.module_path, self.args, self.init_tasks, self.tasks)

    def __setstate__(self, s):
        self.module_path, self.args, self.init_tasks, self.tasks = s


def _flag(name):
    return getattr(_state, name, 0) > 0


class _Switch:
    """Re-entrant per-thread switch: ``with recording():`` / ``with loading():``."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        setattr(_state, self.name, getattr(_state, self.name, 0) + 1)

    def __exit__(self, *exc):
        setattr(_state, self.name, getattr(_state, self.name) - 1)


def recording():
    return _Switch("recording")


def loading():
    return _Switch("loading")


def _relative(path):
    root = os.path.realpath(str(config.compiledir))
    real = os.path.realpath(path)
    return os.path.relpath(real, root) if real.startswith(root + os.sep) else real


def _absolute(path):
    return path if os.path.isabs(path) else os.path.join(str(config.compiledir), path)


def _arg_spec(linker, storage_positions):
    """instantiate's arguments, as cthunk_factory passes them (repeats dropped, orphans kept)."""
    variables = linker.inputs + linker.outputs + linker.orphans
    n_io = len(linker.inputs) + len(linker.outputs)
    spec = []
    for i, var in enumerate(variables):
        if i < n_io and variables.index(var) != i:
            continue
        if i < n_io:
            spec.append(storage_positions[var])
        elif isinstance(var, Constant):
            spec.append(("c", var.data))
        else:
            spec.append(("e", None))
    return spec


def _recipe_for_node(node, linker, module, thunk):
    fg = linker.fgraph
    positions = {}
    for k, v in enumerate(fg.inputs):
        positions.setdefault(v, ("i", k))
    for k, v in enumerate(fg.outputs):
        positions.setdefault(v, ("o", k))
    originals = {clone: node for clone in linker.node_order}
    for k, v in enumerate(fg.inputs):
        originals.setdefault(v, node.inputs[k])
    for k, v in enumerate(fg.outputs):
        originals.setdefault(v, node.outputs[k])

    def remap(tasks):
        return [(originals.get(t[0], t[0]),) + tuple(t[1:]) for t in tasks]

    return Recipe(_relative(module.__file__), _arg_spec(linker, positions),
                  remap(thunk.init_tasks), remap(thunk.tasks))


def load_module(path):
    module = _modules.get(path)
    if module is None:
        name = os.path.basename(path).split(".", 1)[0]
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        _modules[path] = module
    return module


def _cells(recipe, in_cells, out_cells):
    cells = []
    for kind, value in recipe.args:
        if kind == "i":
            cells.append(in_cells[value])
        elif kind == "o":
            cells.append(out_cells[value])
        elif kind == "c":
            cells.append([value])
        else:
            cells.append([])
    return cells


def _thunk_from_recipe(node, storage_map, compute_map, recipe):
    module = load_module(_absolute(recipe.module_path))
    ins = [storage_map[v] for v in node.inputs]
    outs = [storage_map[v] for v in node.outputs]
    error_storage = [None, None, None]
    cthunk = module.instantiate(error_storage, *_cells(recipe, ins, outs))
    thunk = cbasic._CThunk(cthunk, recipe.init_tasks, recipe.tasks, error_storage, module)
    thunk.nodes = [node]
    cm = [compute_map[o] for o in node.outputs] if compute_map is not None else []

    def rval(thunk=thunk, cm=cm):
        thunk()
        for entry in cm:
            entry[0] = True

    rval.thunk, rval.cthunk, rval.inputs, rval.outputs, rval.lazy = thunk, cthunk, ins, outs, False
    return rval


def module_paths(fn, seen=None):
    """Module files (relative to the compiledir) that ``fn``'s recorded thunks load,
    inner functions (Scan, OpFromGraph) included."""
    seen = set() if seen is None else seen
    maker = getattr(fn, "maker", None)
    if maker is None or id(maker) in seen:
        return set()
    seen.add(id(maker))
    paths = set()
    linker_module = maker.linker.__dict__.get(LINKER_ATTR)
    if linker_module is not None:
        paths.add(linker_module)
    for node in maker.fgraph.apply_nodes:
        recipe = getattr(node.tag, TAG, None)
        if isinstance(recipe, Recipe):
            paths.add(recipe.module_path)
        for attribute in ("fn", "_fn"):
            inner = node.op.__dict__.get(attribute)
            if inner is not None and hasattr(inner, "maker"):
                paths |= module_paths(inner, seen)
    return {p for p in paths if not os.path.isabs(p)}


_applied = False


def apply():
    """Install the recording and loading hooks into PyTensor (once per process)."""
    global _applied
    if _applied:
        return
    _applied = True
    orig_factory = cbasic.CLinker.cthunk_factory
    orig_make_c_thunk = cop.COp.make_c_thunk
    orig_make_thunk = cop.COp.make_thunk

    def cthunk_factory(self, error_storage, in_storage, out_storage, storage_map=None,
                       cache=None):
        recorded = self.__dict__.get(LINKER_ATTR)
        if recorded is not None and _flag("loading"):
            try:
                module = load_module(_absolute(recorded))
            except Exception as exc:
                _log.info("rebuilding whole-graph C module (%s)", exc)
            else:
                positions = {}
                for k, v in enumerate(self.inputs):
                    positions.setdefault(v, ("i", k))
                for k, v in enumerate(self.outputs):
                    positions.setdefault(v, ("o", k))
                recipe = Recipe(recorded, _arg_spec(self, positions), None, None)
                cells = _cells(recipe, list(in_storage), list(out_storage))
                if storage_map is not None:  # orphans come from the storage map
                    n = len(cells) - len(self.orphans)
                    cells[n:] = [storage_map[o] for o in self.orphans]
                return module.instantiate(error_storage, *cells), module
        ret, module = orig_factory(self, error_storage, in_storage, out_storage,
                                   storage_map, cache)
        if _flag("recording"):
            _state.last = (self, module)
            self.__dict__[LINKER_ATTR] = _relative(module.__file__)
        return ret, module

    def make_c_thunk(self, node, storage_map, compute_map, no_recycling):
        recipe = getattr(node.tag, TAG, None)
        if _flag("loading") and recipe is not None:
            if recipe == PYTHON_THUNK:
                raise NotImplementedError("this node ran Python code when compiled")
            try:
                return _thunk_from_recipe(node, storage_map, compute_map, recipe)
            except Exception as exc:
                _log.info("rebuilding C thunk of %s (%s)", node.op, exc)
        if not _flag("recording"):
            return orig_make_c_thunk(self, node, storage_map, compute_map, no_recycling)
        _state.last = None
        try:
            rval = orig_make_c_thunk(self, node, storage_map, compute_map, no_recycling)
        except BaseException:
            setattr(node.tag, TAG, PYTHON_THUNK)
            raise
        captured, _state.last = _state.last, None
        if captured is not None:
            linker, module = captured
            linker.__dict__.pop(LINKER_ATTR, None)
            setattr(node.tag, TAG, _recipe_for_node(node, linker, module, rval.thunk))
        return rval

    def make_thunk(self, node, storage_map, compute_map, no_recycling, impl=None):
        # A recorded node skips prepare_node (it readies the Python/C code generation).
        recipe = getattr(node.tag, TAG, None)
        if _flag("loading") and isinstance(recipe, Recipe) and impl != "py":
            try:
                return _thunk_from_recipe(node, storage_map, compute_map, recipe)
            except Exception as exc:
                _log.info("rebuilding C thunk of %s (%s)", node.op, exc)
                setattr(node.tag, TAG, None)
        if _flag("loading") and recipe == PYTHON_THUNK and impl is None:
            impl = "py"  # as at compile time: its C code failed (e.g. no BLAS)
        return orig_make_thunk(self, node, storage_map, compute_map, no_recycling, impl)

    cbasic.CLinker.cthunk_factory = cthunk_factory
    cop.COp.make_c_thunk = make_c_thunk
    cop.COp.make_thunk = make_thunk
