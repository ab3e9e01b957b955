"""Make Theano 1.0.5 usable on Python 3.11 and numpy 1.23, once per process.

``fncache.backends.importhook`` runs these around the program's own ``import theano``
(fncache never imports Theano itself):
  * before: a working BLAS setting (``blas.ldflags`` empty unless the user chose one) and
    no stream of deprecation warnings from Theano itself (``flags``);
  * after: a C scan that builds on this Python (or, failing that, a quiet fallback to
    Theano's Python scan loop), stable C-module versions, so a warm compiledir stays warm
    across processes, BatchedDot that runs without a BLAS library (its Python code), and
    compiler probes kept per machine.
Every fix is applied at most once; nothing here overrides a flag the user set. This module
imports no Theano; the fix modules do, and are imported only in ``after_import``.
"""
from fncache.backends.theano.compat.flags import before_import, end_import  # noqa: F401

_applied = False


def after_import():
    """Apply the fixes that need Theano imported (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    from fncache.backends.theano import rewrites
    from fncache.backends.theano.compat import blas, cversion, probes, scan
    blas.apply()
    cversion.apply()
    scan.apply()
    probes.apply()
    # Theano's own rewrites are what its databases hold now, before the program adds any.
    rewrites.install()
