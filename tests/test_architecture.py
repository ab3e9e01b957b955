"""The package's shape: no import cycle, the core imports no graph library, no module over 800 lines.

Static (ast over every module, imports inside functions included), plus one fresh
interpreter for what ``import fncache`` and ``import fncache.cli`` really load.
"""
import ast
import importlib.util
import os
import subprocess
import sys

import pytest

import fncache

PACKAGE = os.path.dirname(os.path.abspath(fncache.__file__))
GRAPH_LIBRARIES = ("theano", "pytensor")
MAX_LINES = 800
# Packages of the core that know no graph library and no backend.
CORE = ("fncache.keys", "fncache.store", "fncache.observe", "fncache.compiled", "fncache.cli")
# Modules that start a backend on purpose, inside a function (run, warm, verify --deep children).
STARTS_A_BACKEND = {"fncache.cli.deepverify"}


def _modules():
    found = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module, path):
    """(name imported, at module level?) for every import statement, relative ones resolved."""
    tree = ast.parse(open(path).read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    top_level = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                full = "%s.%s" % (base, alias.name)
                out.append((full if full in MODULES else base, id(node) in top_level))
    return out


def _graph():
    edges = {}
    for module, path in MODULES.items():
        targets = set()
        for name, _ in _imports(module, path):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            # a module's own package (and its parents) is imported before it anyway
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
        edges[module] = targets
    return edges


def _cycle(edges):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None
    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    assert _cycle(_graph()) is None


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(CORE) or m in (
    "fncache", "fncache.api", "fncache.memo", "fncache.config", "fncache.errors",
    "fncache.backends", "fncache.backends.base", "fncache.backends.importhook",
    "fncache.backends.family", "fncache.backends.family.fingerprints",
    "fncache.backends.family.keyer", "fncache.backends.family.walk",
    "fncache.backends.family.calls", "fncache.backends.family.signer")))
def test_core_imports_no_graph_library_and_no_backend(module):
    for name, at_top in _imports(module, MODULES[module]):
        if module in STARTS_A_BACKEND and not at_top:
            continue
        assert name.partition(".")[0] not in GRAPH_LIBRARIES, (module, name)
        if module.startswith(CORE):
            for root in GRAPH_LIBRARIES:
                assert not name.startswith("fncache.backends.%s" % root), (module, name)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_800_lines(module):
    with open(MODULES[module]) as f:
        assert sum(1 for _ in f) <= MAX_LINES, module


def test_import_fncache_and_its_cli_loads_no_graph_library_and_no_numpy():
    code = ("import sys, fncache, fncache.cli\n"
            "print(sorted(m for m in ('theano', 'pytensor', 'numpy', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")[0]
    assert out == "[]"


_PATCHED = ("getattr(cc.CLinker.cmodule_key_, '__module__', '').startswith('fncache'), "
            "getattr(rewrites.DB.register, '__wrapped__', None) is not None")


_NEEDS_THEANO = pytest.mark.skipif(importlib.util.find_spec("theano") is None,
                                   reason="Theano is installed in .venv only")


@_NEEDS_THEANO
def test_theano_imported_after_fncache_gets_the_fixes():
    """The import hook sets the BLAS flag before Theano's module body runs (without it,
    ``import theano`` fails on this numpy), puts THEANO_FLAGS back, and applies compat's
    fixes after (stable C-module keys; Theano's own rewrites recorded)."""
    code = ("import os\n"
            "before = os.environ.get('THEANO_FLAGS')\n"
            "import fncache, theano\n"
            "from theano.gof import cc\n"
            "from fncache.backends.theano import rewrites\n"
            "print(theano.config.blas.ldflags == '', os.environ.get('THEANO_FLAGS') == before, "
            + _PATCHED + ")")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "True", "True"]


@_NEEDS_THEANO
def test_theano_imported_before_fncache_gets_what_can_still_be_applied():
    code = ("import os\n"
            "os.environ['THEANO_FLAGS'] = ','.join(filter(None, [os.environ.get('THEANO_FLAGS'), "
            "'blas.ldflags=']))\n"
            "import theano, fncache\n"
            "from theano.gof import cc\n"
            "from fncache.backends.theano import rewrites\n"
            "print(" + _PATCHED + ")")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True"]
