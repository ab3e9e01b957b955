"""Make Theano 1.0.5 usable on Python 3.11 and numpy 1.23, once per process.

Importing this package imports Theano with:
  * a working BLAS setting (``blas.ldflags`` empty unless the user chose one),
  * a C scan that builds on this Python (or, failing that, a quiet fallback to
    Theano's Python scan loop),
  * stable C-module versions, so a warm compiledir stays warm across processes,
  * BatchedDot that runs without a BLAS library (its Python code),
  * no stream of deprecation warnings from Theano itself.
Every fix is applied at most once; nothing here overrides a flag the user set.
"""
from fncache.compat import flags as _flags

_flags.import_theano_quietly()

from fncache.compat import blas as _blas  # noqa: E402
from fncache.compat import cversion as _cversion  # noqa: E402
from fncache.compat import probes as _probes  # noqa: E402
from fncache.compat import scan as _scan  # noqa: E402

_blas.apply()
_cversion.apply()
_scan.apply()
_probes.apply()

import theano  # noqa: E402,F401  (re-exported for callers that want the patched module)
