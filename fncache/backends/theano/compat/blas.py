"""BatchedDot runs its Python code when no BLAS library is linked (``blas.ldflags`` empty).

With an empty ``blas.ldflags`` (NumPy's C-API BLAS, fncache's default on this
Python) Theano links no BLAS library. Its other BLAS ops cope: Dot22 runs
Python code, Gemm, Gemv and Ger call NumPy-backed replacements. BatchedDot
does not: it hands a pointer to the Fortran ``dgemm_`` it declares, which
nothing defines, so its module fails to load ("undefined symbol: dgemm_") and
no function with ``T.batched_dot`` compiles. We make it fall back to its
Python implementation, as Dot22 does; with a BLAS library it is untouched.
"""

_applied = False


def apply():
    global _applied
    if _applied:
        return
    _applied = True
    from theano import config  # not at import: this module may be imported before Theano
    from theano.gof.utils import MethodNotDefined
    from theano.tensor import blas
    theano_c_code = blas.BatchedDot.c_code

    def c_code(self, node, name, inputs, outputs, sub):
        if not config.blas.ldflags:
            raise MethodNotDefined("c_code", type(self), "BatchedDot needs a BLAS library")
        return theano_c_code(self, node, name, inputs, outputs, sub)

    blas.BatchedDot.c_code = c_code
