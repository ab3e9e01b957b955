"""Record each node's C module at compile time; rebuild its thunk from that record at load.

Shared by the Theano family (the same CLinker design in Theano and PyTensor's C backend):
``apply(lib)`` installs the hooks on the library's classes (``lib.CThunkOp``,
``lib.CLinker``). Theano makes a node's C thunk by building a one-node FunctionGraph and a
CLinker, computing the module key, scanning the compiledir (ModuleCache) and
importing the module. A loaded function already knows the answer: while
fncache compiles, we note in ``node.tag`` which module file served the node
and how its ``instantiate`` arguments map to the node's storage. When fncache
loads that node again, it opens the module by path and instantiates it
directly. Nodes that ran Python code are marked so the load skips the C
attempt. Anything unexpected falls back to Theano's own path, which still
works (it may compile).
"""
import importlib.machinery
import importlib.util
import logging
import os
import threading

_log = logging.getLogger("fncache.thunks")

TAG = "fncache_thunk"  # attribute of node.tag holding a ThunkRecipe or PYTHON_THUNK
PYTHON_THUNK = "py"

_state = threading.local()
_modules = {}  # path -> loaded module; a module is loaded once per process


class ThunkRecipe:
    """Which module file serves a node, and what ``instantiate`` takes."""

    __slots__ = ("module_path", "args", "init_tasks", "tasks")

    def __init__(self, module_path, args, init_tasks, tasks):
        self.module_path = module_path  # relative to the compiledir when inside it
        self.args = args  # ("i", k) | ("o", k) | ("c", data), one per argument
        self.init_tasks = init_tasks  # Theano's error-report tables, on the original node
        self.tasks = tasks

    def __getstate__(self):
        return (self.module_path, self.args, self.init_tasks, self.tasks)

    def __setstate__(self, state):
        self.module_path, self.args, self.init_tasks, self.tasks = state


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


def _relative_to_compiledir(lib, path):
    root = os.path.realpath(lib.compiledir())
    real = os.path.realpath(path)
    if real.startswith(root + os.sep):
        return os.path.relpath(real, root)
    return real


def module_file(lib, recipe):
    if os.path.isabs(recipe.module_path):
        return recipe.module_path
    return os.path.join(lib.compiledir(), recipe.module_path)


def _recipe_from_linker(lib, node, linker, module, thunk):
    """Map the linker's per-node clone back onto ``node``'s own storage."""
    fgraph = linker.fgraph
    position = {}
    for k, var in enumerate(fgraph.inputs):
        position.setdefault(var, ("i", k))
    for k, var in enumerate(fgraph.outputs):
        position.setdefault(var, ("o", k))
    variables = linker.inputs + linker.outputs + linker.orphans
    args = []
    for i, var in enumerate(variables):
        if variables.index(var) != i:
            continue  # Theano passes a repeated variable once
        if var in position:
            args.append(position[var])
        else:
            args.append(("c", var.data))  # an orphan constant

    originals = {clone: node for clone in linker.node_order}  # one node per linker
    for k, var in enumerate(fgraph.inputs):
        originals.setdefault(var, node.inputs[k])
    for k, var in enumerate(fgraph.outputs):
        originals.setdefault(var, node.outputs[k])

    def remap(tasks):
        return [(originals.get(t[0], t[0]),) + tuple(t[1:]) for t in tasks]

    return ThunkRecipe(_relative_to_compiledir(lib, module.__file__), args,
                       remap(thunk.init_tasks), remap(thunk.tasks))


def _load_module(path):
    module = _modules.get(path)
    if module is None:
        name = os.path.basename(path).split(".", 1)[0]
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        _modules[path] = module
    return module


def _thunk_from_recipe(lib, node, storage_map, compute_map, recipe):
    module = _load_module(module_file(lib, recipe))
    cells = []
    for kind, value in recipe.args:
        if kind == "i":
            cells.append(storage_map[node.inputs[value]])
        elif kind == "o":
            cells.append(storage_map[node.outputs[value]])
        else:
            cells.append([value])
    error_storage = [None, None, None]
    cthunk = module.instantiate(error_storage, *cells)
    thunk = lib.CThunk(cthunk, recipe.init_tasks, recipe.tasks, error_storage, module)
    thunk.nodes = [node]
    outputs = node.outputs

    def rval():
        thunk()
        for o in outputs:
            compute_map[o][0] = True

    rval.thunk = thunk
    rval.cthunk = cthunk
    rval.inputs = [storage_map[v] for v in node.inputs]
    rval.outputs = [storage_map[v] for v in outputs]
    rval.lazy = False
    return rval


def _recorded_thunk(lib, node, storage_map, compute_map, recipe):
    """The thunk built from the node's module record, or None when the library must rebuild it."""
    try:
        return _thunk_from_recipe(lib, node, storage_map, compute_map, recipe)
    except Exception as exc:  # missing or stale module
        _log.info("fncache: rebuilding the C thunk of %s (%s)", node.op, exc)
        return None


_applied = set()  # names of the libraries hooked


def apply(lib):
    """Install the recording and loading hooks into the library's classes (once)."""
    if lib.name in _applied:
        return
    _applied.add(lib.name)
    op_class, linker_class = lib.CThunkOp, lib.CLinker
    theano_make_c_thunk = op_class.make_c_thunk
    theano_cthunk_factory = linker_class.cthunk_factory

    def cthunk_factory(self, *args, **kwargs):
        ret, module = theano_cthunk_factory(self, *args, **kwargs)
        if _flag("recording"):
            _state.last_linker = (self, module)
        return ret, module

    def make_c_thunk(self, node, storage_map, compute_map, no_recycling):
        recipe = getattr(node.tag, TAG, None)
        if recipe is not None and _flag("loading"):
            if recipe == PYTHON_THUNK:
                raise NotImplementedError("fncache: this node ran Python code when compiled")
            rval = _recorded_thunk(lib, node, storage_map, compute_map, recipe)
            if rval is not None:
                return rval
        if not _flag("recording"):
            return theano_make_c_thunk(self, node, storage_map, compute_map, no_recycling)
        _state.last_linker = None
        try:
            rval = theano_make_c_thunk(self, node, storage_map, compute_map, no_recycling)
        except BaseException:
            setattr(node.tag, TAG, PYTHON_THUNK)
            raise
        captured, _state.last_linker = _state.last_linker, None
        if captured is not None:
            linker, module = captured
            try:
                recipe = _recipe_from_linker(lib, node, linker, module, rval.thunk)
            except Exception as exc:  # no record: a load makes this thunk Theano's way
                _log.info("fncache: no module record for %s (%s: %s)",
                          node.op, type(exc).__name__, exc)
            else:
                setattr(node.tag, TAG, recipe)
        return rval

    theano_make_thunk = op_class.make_thunk

    def make_thunk(self, node, storage_map, compute_map, no_recycling, impl=None):
        # A node with a module record skips prepare_node: it readies the Python
        # implementation (ufuncs, scalar graphs), which a C thunk never uses.
        recipe = getattr(node.tag, TAG, None)
        if isinstance(recipe, ThunkRecipe) and impl != "py" and _flag("loading"):
            rval = _recorded_thunk(lib, node, storage_map, compute_map, recipe)
            if rval is not None:
                return rval
            setattr(node.tag, TAG, None)  # Theano's path below must not try the record again
        return theano_make_thunk(self, node, storage_map, compute_map, no_recycling, impl)

    op_class.make_thunk = make_thunk
    op_class.make_c_thunk = make_c_thunk
    linker_class.cthunk_factory = cthunk_factory
