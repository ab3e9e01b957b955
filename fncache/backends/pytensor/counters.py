"""Count what a cache hit must not run, by wrapping PyTensor's and Numba's entry points.

- ``gcc``: ``GCC_compiler.compile_str`` (every C module build, helpers included);
- ``rewrite``: ``FunctionMaker.prepare_fgraph`` with a rewriter that is not empty (inner
  functions of Scan and OpFromGraph are linked through an empty one: not counted);
- ``numba``: ``numba.core.compiler.compile_extra`` (typing, lowering and LLVM of one
  function); ``numba_objmode``: ``compile_ir``, the ``with numba.objmode`` blocks Numba
  never caches (BLAS/LAPACK pointer getters), counted apart because no cache can skip them.

Installed once, at the first ``counting()``; counts are per block.
"""
import contextlib
import threading

_lock = threading.Lock()
_totals = {"gcc": 0, "rewrite": 0, "numba": 0, "numba_objmode": 0}
_installed = False


def _bump(name):
    with _lock:
        _totals[name] += 1


def _counting(function, name, when=None):
    def counting(*args, **kwargs):
        if when is None or when(*args, **kwargs):
            _bump(name)
        return function(*args, **kwargs)

    counting.__wrapped__ = function
    return counting


def _wrap_static(cls, attribute, name, when=None):
    function = cls.__dict__[attribute].__func__
    setattr(cls, attribute, staticmethod(_counting(function, name, when)))


def _rewrites(inputs, outputs, additional_outputs, fgraph, mode, profile):
    from pytensor.graph.rewriting.basic import SequentialGraphRewriter
    rewriter = getattr(mode, "_optimizer", None)
    return not (isinstance(rewriter, SequentialGraphRewriter) and not list(rewriter.data))


def install():
    """Wrap the entry points (once per process; Numba's only if Numba imports)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from pytensor.compile import maker
    from pytensor.link.c import cmodule
    _wrap_static(cmodule.GCC_compiler, "compile_str", "gcc")
    _wrap_static(maker.FunctionMaker, "prepare_fgraph", "rewrite", when=_rewrites)
    try:
        from numba.core import compiler
    except ImportError:
        return
    for attribute, name in (("compile_extra", "numba"), ("compile_ir", "numba_objmode")):
        # callers look them up on the module at call time (numba.core.dispatcher does)
        setattr(compiler, attribute, _counting(getattr(compiler, attribute), name))


def totals():
    with _lock:
        return dict(_totals)


@contextlib.contextmanager
def counting():
    """Yield a dict filled, when the block ends, with what ran inside it."""
    install()
    before = totals()
    counts = {}
    try:
        yield counts
    finally:
        after = totals()
        counts.update({name: after[name] - before[name] for name in after})
