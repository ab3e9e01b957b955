"""Every op family Theano ships with C code or params: compiled in one process, loaded in another.

One small graph per family (its value, and its gradient where it has one), in
the table FAMILIES below. Three fresh processes run the whole table: plain
Theano (FNCACHE_DISABLE=1), fncache's first run (compiles and stores) and
fncache's second run, which must load every function from the disk tier with
no graph optimization and no gcc run, and compute exactly what plain Theano
computed, bit for bit. A new family joins by adding one line to FAMILIES.
"""
import collections
import hashlib
import json
import os
import subprocess
import sys
import warnings

import fncache  # noqa: F401  (first: makes Theano importable on this Python)
import numpy as np
import pytest
import theano
import theano.tensor as T
from theano import sparse
from theano.gof import Apply, CEnumType, EnumList, EnumType, Op, Params, ParamsType
from theano.ifelse import ifelse
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.tensor import extra_ops, nlinalg, slinalg
from theano.tensor.nnet import bn, neighbours, blocksparse
from theano.tensor.shared_randomstreams import RandomStreams
from theano.tensor.signal import pool

from helpers import PRELUDE, EPILOGUE

TESTS = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ values
def data(*shape, seed=0, dtype="float64", low=-1.0, high=1.0):
    """A seeded array: the same numbers in every process."""
    values = np.random.RandomState(seed).uniform(low, high, size=shape)
    return values.astype(dtype)


def ints(*shape, seed=0, high=4, dtype="int64"):
    return np.random.RandomState(seed).randint(0, high, size=shape).astype(dtype)


def shared(value, name=None, broadcastable=None):
    return theano.shared(value, name, broadcastable=broadcastable)


def csr(seed=0, shape=(4, 5)):
    import scipy.sparse
    dense = data(*shape, seed=seed)
    dense[np.abs(dense) < 0.5] = 0
    return scipy.sparse.csr_matrix(dense)


class Family(collections.namedtuple("Family", "build args grad")):
    """``build(*symbolic_inputs)`` -> outputs, or (outputs, updates); ``args``: the call's values."""


def family(build, *args, grad=True):
    return Family(build, args, grad)


# ------------------------------------------------ builders (longer graphs)
def _conv_options(x):
    w = shared(data(4, 1, 3, 3, seed=1))
    return [T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 2), num_groups=2),
            T.nnet.conv2d(x, w, border_mode=(1, 2), filter_dilation=(2, 2), num_groups=2)]


def _conv_unshared(x):
    # unshared filters: one (kernel) per output position
    return T.nnet.conv2d(x, shared(data(2, 4, 4, 1, 3, 3, seed=1)), unshared=True)


def _pool_modes(x):
    padded = [pool.pool_2d(x, (2, 2), ignore_border=True, stride=(1, 2), pad=(1, 1), mode=mode)
              for mode in ("max", "sum", "average_inc_pad")]
    return padded + [pool.pool_2d(x, (3, 2), ignore_border=False, mode="average_exc_pad")]


def _pool_gradgrad(x):
    y = pool.pool_2d(x, (2, 2), ignore_border=True)
    gx = T.grad(T.sum(y ** 2), x)  # MaxPoolGrad; its gradient is DownsampleFactorMaxGradGrad
    return T.grad(T.sum(gx ** 2), x)


def _batch_norm_train(x):
    gamma, beta = shared(data(1, 3, 1, 1, seed=1)), shared(data(1, 3, 1, 1, seed=2))
    pattern = (True, False, True, True)
    mean, var = shared(np.zeros((1, 3, 1, 1)), broadcastable=pattern), shared(np.ones((1, 3, 1, 1)), broadcastable=pattern)
    out, _, _, new_mean, new_var = bn.batch_normalization_train(
        x, gamma, beta, axes="spatial", running_mean=mean, running_var=var)
    return out, [(mean, new_mean), (var, new_var)]


def _batch_norm_test(x):
    gamma, beta = shared(data(3, seed=1)), shared(data(3, seed=2))
    mean, var = shared(data(3, seed=3)), shared(data(3, seed=4, low=0.5, high=2))
    return [bn.batch_normalization_test(x, gamma, beta, mean, var, axes="per-activation"),
            bn.batch_normalization(x, gamma, beta, mean, T.sqrt(var), mode="high_mem")]


def _gemm(x, y):
    z = shared(data(3, 4, seed=5))
    return 2.0 * T.dot(x, y) + 0.5 * z, [(z, z - 0.1 * T.dot(x, y))]  # Gemm, in place in the update


def _gemv_ger(m, u):
    v, a = shared(data(3, seed=5)), shared(data(3, 4, seed=6))
    return [v + 0.5 * T.dot(m, u), a + 0.3 * T.outer(v, u)]


def _elemwise(x, y):
    return [T.tanh(x) * T.exp(-x ** 2) + T.log1p(abs(y)) / (1 + T.sqr(x)),
            T.switch(x > y, T.sin(x), T.cos(y)) + T.clip(x, -0.3, 0.4) ** 3,
            T.maximum(x, y) - T.minimum(x, 2 * y) + T.erf(x) + T.sgn(y) * T.sqrt(abs(x)),
            T.nnet.sigmoid(x) + T.nnet.softplus(y) + T.nnet.relu(x, 0.1) + T.nnet.elu(y)
            + T.nnet.hard_sigmoid(y) + T.gamma(2 + x) + T.psi(2 + y)]


def _elemwise_no_grad(x):
    return [T.nnet.ultra_fast_sigmoid(x), T.floor(x * 3)]


def _elemwise_ints(i, j):
    return [i // (j + 1), i % (j + 1), i & j, i | j, i ^ j, ~i, T.cast(i, "float32") / 3,
            T.eq(i, j), T.neq(i, 2), T.and_(i > 1, j < 2), T.cast(i * 0.7, "int8")]


def _inplace_update(x):
    s = shared(data(3, seed=2))
    return s * x, [(s, T.tanh(s) * 0.5 + x)]  # updated in place


def _softmax_xent(x, y):
    b = shared(data(5, seed=3))
    p = T.nnet.softmax(x + b)
    return [T.mean(T.nnet.categorical_crossentropy(p, y)),
            T.nnet.logsoftmax(x), T.nnet.softmax_with_bias(x, b),
            T.mean(T.nnet.binary_crossentropy(T.nnet.sigmoid(x), 0.3))]


def _reductions(x):
    return [x.sum(), x.sum(axis=1), x.prod(axis=0), x.max(axis=1), x.min(), T.argmax(x, axis=0),
            T.argmin(x, axis=1), x.mean(axis=[0, 2]), x.var(axis=1), x.std(), T.all(x > -1),
            T.any(x > 0.9, axis=2), T.max_and_argmax(x, axis=2)[0], x.norm(2, axis=1)]


def _subtensor(x):
    a = x[1:3, ::2]
    return [a, x[-1], x[::-1, 1], T.inc_subtensor(x[1:, 2], 3.0), T.set_subtensor(x[0, ::2], -1.0),
            T.inc_subtensor(x[::2, 1:3], x[1:3, :2] * 2)]


def _advanced(x, idx):
    return [x[idx], x[idx, idx + 1], x[x > 0.2], x[idx, 1:3], T.inc_subtensor(x[idx], 1.0),
            T.set_subtensor(x[idx], 2.0), T.inc_subtensor(x[idx, idx], 5.0),
            T.inc_subtensor(x[[0, 2], [1, 3]], x[1, :2])]


def _scan_taps(seq, h0):
    w = shared(data(3, 3, seed=2))

    def step(s_m1, s_0, h_m2, h_m1):
        return T.tanh(T.dot(h_m1, w) + 0.5 * h_m2 + s_0 - s_m1)

    hs, _ = theano.scan(step, sequences=[dict(input=seq, taps=[-1, 0])],
                        outputs_info=[dict(initial=h0, taps=[-2, -1])])
    return hs


def _scan_shared_updates(seq):
    counter = shared(np.zeros(3))

    def step(s):
        return T.sum(s * counter), {counter: counter + s}

    out, updates = theano.scan(step, sequences=[seq])
    return out, updates


def _scan_random(seq):
    mrg, streams = MRG_RandomStreams(seed=11), RandomStreams(seed=12)

    def step(s):
        return s * mrg.uniform(s.shape) + streams.normal(s.shape)

    out, updates = theano.scan(step, sequences=[seq])
    return out, updates


def _ifelse(x, c):
    w = shared(data(4, seed=3))
    return [ifelse(T.gt(c, 0), T.dot(x, w).sum(), T.sum(x ** 2)),
            ifelse(T.lt(c, 0), x[0] * 2, T.exp(x[1]))]


def _mrg(x):
    streams = MRG_RandomStreams(seed=234)
    return [x * streams.uniform(x.shape), x + streams.normal(x.shape, avg=1, std=2),
            x * streams.binomial(x.shape, p=0.3, dtype="float64"),
            streams.multinomial(pvals=T.nnet.softmax(x)), streams.uniform((7,), dtype="float32")]


def _random_streams(x):
    streams = RandomStreams(seed=345)
    return [x * streams.uniform(x.shape), x + streams.normal(x.shape),
            streams.binomial((4,), p=0.4), streams.random_integers((3,), 0, 9),
            streams.permutation(n=5), streams.choice(size=(3,), a=6)]


def _sparse_dot(s, x):
    w = shared(data(5, 3, seed=2))
    return [sparse.structured_dot(s, w), sparse.dot(s, x), T.tanh(sparse.dot(s, w)) * 2]


def _sparse_ops(s, d):
    t = sparse.transpose(s)
    return [sparse.dense_from_sparse(s + s), sparse.sp_sum(s, axis=0), sparse.sp_sum(t),
            sparse.dense_from_sparse(sparse.mul(s, d)), sparse.dense_from_sparse(sparse.csc_from_dense(d)),
            sparse.dense_from_sparse(sparse.structured_sigmoid(s)),
            sparse.dense_from_sparse(sparse.true_dot(s, t)),
            sparse.dense_from_sparse(sparse.row_scale(s, d[:, 0])),
            sparse.dense_from_sparse(sparse.col_scale(s, d[0])),
            sparse.dense_from_sparse(sparse.hstack([s, s])),
            sparse.dense_from_sparse(sparse.sp_ones_like(s))]


def _cumulative(x):
    return [extra_ops.cumsum(x.flatten()), extra_ops.cumsum(x, axis=1), extra_ops.cumprod(x, axis=0),
            extra_ops.diff(x[0], n=2)]


def _extra_ints(i, x):
    return [extra_ops.repeat(x, 2, axis=0), extra_ops.repeat(x[0, :4], i[:4] % 3),
            extra_ops.bincount(i), extra_ops.bincount(i, weights=x[0, :i.shape[0]], minlength=9),
            extra_ops.searchsorted(T.sort(x[0]), x[1]), extra_ops.searchsorted(T.sort(x[0]), x[1], side="right"),
            extra_ops.to_one_hot(i, 6), extra_ops.unravel_index(i, (2, 3)),
            extra_ops.ravel_multi_index([i % 2, i % 3], (2, 3)), extra_ops.Unique(True, True, True)(i),
            extra_ops.compress(i > 1, x[0, :i.shape[0]]), extra_ops.bartlett(i.shape[0]),
            extra_ops.squeeze(x[:1])]


def _fill_diagonal(x, v):
    return [extra_ops.fill_diagonal(x, v), extra_ops.fill_diagonal_offset(x, v, 1),
            extra_ops.fill_diagonal_offset(x, v, -1)]


def _nlinalg(a):
    m = a + 4 * T.eye(4)
    u, s, vt = nlinalg.svd(m)
    w, v = nlinalg.eigh(m + m.T)
    q, r = nlinalg.qr(m)
    return [nlinalg.matrix_inverse(m), nlinalg.det(m), nlinalg.pinv(a[:3]), nlinalg.trace(m),
            nlinalg.extract_diag(m), nlinalg.alloc_diag(a[0]), s, abs(u[:, 0] * vt[0]), w, abs(v[0]),
            abs(q[0]), abs(r[0]), nlinalg.matrix_power(m, 3), nlinalg.norm(m, "fro"),
            nlinalg.tensorinv(m.reshape((2, 2, 2, 2))), nlinalg.tensorsolve(m, a[0]), nlinalg.lstsq()(m, a[1], -1)[0],
            T.real(nlinalg.eig(m + m.T)[0])]


def _slinalg(a, b):
    m = a.dot(a.T) + 4 * T.eye(4)
    lower = slinalg.cholesky(m)
    return [lower, slinalg.solve(m, b), slinalg.solve_lower_triangular(lower, b),
            slinalg.solve_upper_triangular(lower.T, b), slinalg.eigvalsh(m, m + T.eye(4)),
            slinalg.expm(a * 0.3), slinalg.kron(a[:2, :2], a[2:, 2:])]


def _shapes(x, k):
    return [x.reshape((4, 6)), x.flatten(), T.concatenate([x, x * 2], axis=1), T.stack([x, x]),
            T.split(x, [1, 2], 2, axis=1)[1], T.alloc(x[0, 0, 0], 2, 3), T.zeros_like(x) + k, T.arange(k * 2),
            T.eye(3, 4, 1), T.tile(x[0], (2, 1)), T.roll(x, 1, axis=2), x.dimshuffle(2, "x", 0, 1),
            x.T, T.stack([k, k + 1]), x.shape[1] * 1.0, T.sort(x, axis=1), T.argsort(x[0, 0]),
            T.tril(x[0]), T.triu(x[1], 1),
            T.patternbroadcast(x[:, :1], (False, True, False)), T.horizontal_stack(x[0], x[1]),
            T.inverse_permutation(T.argsort(x[0, :, 0]))]


def _neighbours(x):
    return [neighbours.images2neibs(x, (2, 2)),
            neighbours.neibs2images(neighbours.images2neibs(x, (2, 2)), (2, 2), x.shape)]


def _neighbours_modes(x):
    return [neighbours.images2neibs(x, (3, 2), (2, 2), mode="ignore_borders"),
            neighbours.images2neibs(x, (3, 3), mode="wrap_centered"),
            neighbours.images2neibs(x, (3, 3), (1, 1), mode="half"),
            neighbours.neibs2images(neighbours.images2neibs(x, (2, 2)), (2, 2), x.shape)]


def _sparse_block(h, idx_in, idx_out):
    w, b = shared(data(3, 4, 2, 5, seed=3)), shared(data(4, 5, seed=4))
    return blocksparse.sparse_block_dot(w, h, idx_in, b, idx_out)


def _typed_list(x):
    from theano import typed_list
    fn_in = typed_list.make_list([x, x * 2, x + 1])
    appended = typed_list.append(fn_in, x ** 2)
    return [typed_list.getitem(appended, 3), typed_list.length(appended) * 1.0,
            typed_list.getitem(typed_list.reverse(appended), 0), typed_list.count(appended, x) * 1.0]


def _conv_legacy(x):
    from theano.tensor.nnet import conv
    from theano.tensor.signal import conv as signal_conv
    w = shared(data(2, 1, 3, 3, seed=1))
    return [conv.conv2d(x, w, border_mode="full"), signal_conv.conv2d(x[0, 0], w[0, 0])]


def _casts(x, i):
    return [T.cast(x, "float32") * 3, T.cast(x * 100, "int16"), T.cast(i, "uint8"),
            T.complex(x, 2 * x).real + abs(T.complex(x, x)), T.iround(x * 5), T.floor(x) + T.ceil(x),
            T.round(x * 10, "half_away_from_zero") + T.round(x * 10, "half_to_even"),
            T.isnan(x / (x - x[0, 0])), T.isinf(x / 0.0), T.xlogx.xlogx(abs(x)), T.true_div(i, 3)]


def _assert_and_opt(x):
    from theano.tensor.opt import Assert
    checked = Assert("x must be finite")(x, T.all(T.eq(x, x)), T.all(T.lt(abs(x), np.inf)))
    return [checked * 2, theano.gradient.grad_clip(x, -0.1, 0.1) * x, theano.gradient.zero_grad(x) * x,
            theano.gradient.disconnected_grad(x) + x]


def _op_from_graph(x, y):
    a, b = T.dmatrices("a", "b")
    inner = theano.OpFromGraph([a, b], [T.tanh(a) * b + T.dot(a, b.T).sum()])
    return inner(x, y) + inner(y, x)


SCALE = EnumType(ONE=1, TWO=2, HALF=0.5)
SHIFT = EnumList(("SHIFT_NONE", "none"), ("SHIFT_ONE", "one"))
WHENCE = CEnumType(("SEEK_SET", "set"), ("SEEK_END", "end"), ctype="int")  # C constants of <stdio.h>


class EnumParamsOp(Op):
    """A C op whose params mix ParamsType, EnumType, EnumList and CEnumType fields."""

    __props__ = ("scale", "shift", "whence")
    params_type = ParamsType(scale=SCALE, shift=SHIFT, whence=WHENCE)

    def __init__(self, scale="TWO", shift="one", whence="end"):
        self.scale, self.shift, self.whence = scale, shift, whence

    def get_params(self, node):
        return Params(self.params_type, scale=SCALE.fromalias(self.scale),
                      shift=SHIFT.fromalias(self.shift), whence=WHENCE.fromalias(self.whence))

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def c_headers(self):
        return ["<stdio.h>"]

    def c_code_cache_version(self):
        return (1,)

    def c_code(self, node, name, inputs, outputs, sub):
        x, = inputs
        z, = outputs
        params = sub["params"]
        return """
        Py_XDECREF(%(z)s);
        %(z)s = (PyArrayObject*)PyArray_NewCopy(%(x)s, NPY_CORDER);
        if (!%(z)s) { %(fail)s }
        {
            double* out = (double*)PyArray_DATA(%(z)s);
            for (npy_intp k = 0; k < PyArray_SIZE(%(z)s); ++k)
                out[k] = out[k] * %(params)s->scale + (%(params)s->shift == SHIFT_ONE)
                         + (%(params)s->whence == SEEK_END ? 10 : 0);
        }
        """ % dict(x=x, z=z, params=params, fail=sub["fail"])

    def perform(self, node, inputs, outputs):  # never used: the C code runs
        raise NotImplementedError


# -------------------------------------------------------------- the table
# name: family(build, call arguments..., grad=whether to add the gradient).
FAMILIES = {
    "conv2d": family(lambda x: T.nnet.conv2d(x, shared(data(2, 1, 3, 3, seed=1))), data(2, 1, 6, 6)),
    "conv2d_float32": family(lambda x: T.nnet.conv2d(x, shared(data(3, 2, 3, 3, seed=1, dtype="float32")), border_mode="half"), data(2, 2, 5, 5, dtype="float32")),
    "conv2d_options": family(_conv_options, data(2, 2, 7, 7)),
    "conv2d_unshared": family(_conv_unshared, data(2, 1, 6, 6)),
    "conv3d": family(lambda x: T.nnet.conv3d(x, shared(data(2, 1, 2, 2, 2, seed=1))), data(1, 1, 4, 4, 4)),
    "conv2d_transpose": family(lambda x: T.nnet.conv2d_transpose(x, shared(data(2, 1, 3, 3, seed=1)), (2, 1, 8, 8)), data(2, 2, 6, 6)),
    "bilinear_upsampling": family(lambda x: T.nnet.abstract_conv.bilinear_upsampling(x, 2), data(1, 2, 3, 3)),
    "conv_legacy": family(_conv_legacy, data(2, 1, 5, 5)),
    "pool_2d": family(lambda x: pool.pool_2d(x, (2, 2), ignore_border=True), data(2, 1, 4, 4)),
    "pool_modes": family(_pool_modes, data(2, 2, 5, 5)),
    "pool_3d": family(lambda x: pool.pool_3d(x, (2, 2, 2), ignore_border=True, mode="average_exc_pad"), data(1, 1, 4, 4, 4)),
    "pool_gradgrad": family(_pool_gradgrad, data(1, 1, 4, 4), grad=False),
    "max_pool_same_size": family(lambda x: pool.max_pool_2d_same_size(x, (2, 2)), data(1, 1, 4, 4)),
    "batch_norm_train": family(_batch_norm_train, data(4, 3, 2, 2)),
    "batch_norm_test": family(_batch_norm_test, data(4, 3)),
    "gemm": family(_gemm, data(3, 5), data(5, 4, seed=1)),
    "gemv_ger": family(_gemv_ger, data(3, 4), data(4, seed=1)),
    "dot22": family(lambda x, y: [T.dot(x, y), 3.0 * T.dot(x, y)], data(3, 5), data(5, 4, seed=1)),
    "dot_vector": family(lambda u, v: [T.dot(u, v), T.tensordot(u, v, 0)], data(5), data(5, seed=1)),
    "batched_dot": family(lambda a, b: T.batched_dot(a, b), data(3, 2, 4), data(3, 4, 5, seed=1)),
    "elemwise": family(_elemwise, data(3, 4), data(3, 4, seed=1)),
    "elemwise_float32": family(_elemwise, data(3, 4, dtype="float32"), data(3, 4, seed=1, dtype="float32")),
    "elemwise_no_grad": family(_elemwise_no_grad, data(3, 4), grad=False),
    "elemwise_ints": family(_elemwise_ints, ints(5), ints(5, seed=1), grad=False),
    "elemwise_inplace": family(_inplace_update, data(3)),
    "softmax_xent": family(_softmax_xent, data(4, 5), ints(4, high=5)),
    "reductions": family(_reductions, data(3, 4, 5)),
    "subtensor": family(_subtensor, data(4, 5)),
    "advanced_indexing": family(_advanced, data(4, 5), np.array([2, 0, 2], dtype="int64")),
    "boolean_mask": family(lambda x: [x[x > 0.2], T.set_subtensor(x[x < 0], 0.0), T.inc_subtensor(x[x > 0], 1.5)], data(4, 5), grad=False),
    "scan_taps": family(_scan_taps, data(6, 3), data(2, 3, seed=1)),
    "scan_shared_updates": family(_scan_shared_updates, data(4, 3)),
    "scan_random": family(_scan_random, data(4, 3), grad=False),
    "ifelse": family(_ifelse, data(3, 4), np.float64(1.0)),
    "mrg_random": family(_mrg, data(3, 4), grad=False),
    "random_streams": family(_random_streams, data(3, 4), grad=False),
    "sparse_dot": family(_sparse_dot, csr(), data(5, 2, seed=1)),
    "sparse_ops": family(_sparse_ops, csr(), data(4, 5, seed=1), grad=False),
    "cumulative": family(_cumulative, data(3, 5)),
    "extra_ops_ints": family(_extra_ints, ints(6, high=6), data(3, 6), grad=False),
    "fill_diagonal": family(_fill_diagonal, data(4, 4), np.float64(0.5)),
    "nlinalg": family(_nlinalg, data(4, 4), grad=False),
    "nlinalg_grad": family(lambda a: [nlinalg.matrix_inverse(a + 4 * T.eye(4)), nlinalg.det(a + 4 * T.eye(4)), nlinalg.trace(a)], data(4, 4)),
    "slinalg": family(_slinalg, data(4, 4), data(4, 2, seed=1)),
    "shapes": family(_shapes, data(2, 3, 4), np.int64(3), grad=False),
    "neighbours": family(_neighbours, data(1, 2, 6, 6)),
    "neighbours_modes": family(_neighbours_modes, data(1, 2, 6, 6), grad=False),
    "sparse_block_dot": family(_sparse_block, data(2, 3, 2), np.array([[0, 2, 1], [1, 0, 2]], dtype="int64"), np.array([[3, 1], [0, 2]], dtype="int64")),
    "typed_list": family(_typed_list, data(2, 3), grad=False),
    "casts": family(_casts, data(3, 4), ints(3, 4), grad=False),
    "assert_and_gradient_ops": family(_assert_and_opt, data(3, 4)),
    "op_from_graph": family(_op_from_graph, data(3, 4), data(3, 4, seed=1)),
    "enum_params_op": family(lambda x: EnumParamsOp()(x), data(2, 3), grad=False),
}


# ------------------------------------------------------------- the runner
def _symbolic(value, position):
    """The input variable a call argument asks for."""
    import scipy.sparse
    name = "in%d" % position
    if scipy.sparse.issparse(value):
        return sparse.SparseType(value.format, value.dtype.name)(name)
    value = np.asarray(value)
    return T.TensorType(value.dtype.name, (False,) * value.ndim)(name)


def _fingerprint(value):
    """dtype, shape and sha256 of a value's bytes: equal fingerprints, equal bits."""
    import scipy.sparse
    if isinstance(value, (list, tuple)):
        return [_fingerprint(v) for v in value]
    if isinstance(value, np.random.RandomState):
        return _fingerprint(list(value.get_state()[1:]) + [value.get_state()[0]])
    if scipy.sparse.issparse(value):
        value = value.toarray()
    if isinstance(value, str):
        return value
    array = np.ascontiguousarray(value)
    return [array.dtype.str, list(array.shape), hashlib.sha256(array.tobytes()).hexdigest()]


def _is_float(variable):
    return getattr(variable.type, "dtype", "").startswith("float")


def _flat(outputs):
    if isinstance(outputs, (list, tuple)):
        for output in outputs:
            yield from _flat(output)
    else:
        yield outputs


def build_graph(name):
    """(inputs, outputs, updates, call arguments, shared variables) of one family."""
    spec = FAMILIES[name]
    inputs = [_symbolic(value, k) for k, value in enumerate(spec.args)]
    built = spec.build(*inputs)
    updates = None
    if isinstance(built, tuple) and len(built) == 2 and isinstance(built[1], (list, dict)):
        built, updates = built
    outputs = list(_flat(built))
    if spec.grad:
        cost = sum(T.sum(T.sqr(o)) for o in outputs if isinstance(o.type, T.TensorType) and _is_float(o))
        wrt = [v for v in theano.gof.graph.inputs([cost]) if _is_float(v)
               and (v in inputs or isinstance(v, theano.compile.SharedVariable))]
        outputs += T.grad(cost, wrt, disconnected_inputs="ignore")
    update_values = list(dict(updates).values()) if updates else []
    shared = [v for v in theano.gof.graph.inputs(outputs + update_values)
              if isinstance(v, theano.compile.SharedVariable)]
    return inputs, outputs, updates, spec.args, shared


def run_families(names):
    """Build, compile and call each family in this process: what it computed and what it cost.

    Runs under the counting prelude of tests/helpers.py (``counts`` in __main__);
    ``optimize`` and ``gcc`` count the ``theano.function`` call only (building
    some graphs, scan's and MRG's, compiles small helper functions).
    """
    import __main__
    from fncache.observe import counters
    fncache.install()
    report = {}
    for name in names:
        record = {"error": None, "outputs": None, "warnings": [], "optimize": 0, "gcc": 0}
        before = counters.session()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", fncache.FncacheWarning)
            try:
                inputs, outputs, updates, args, shared_vars = build_graph(name)
                counts_before = dict(__main__.counts)
                fn = theano.function(inputs, outputs, updates=updates, name="family_" + name)
                record["optimize"] = __main__.counts["optimize"] - counts_before["optimize"]
                record["gcc"] = __main__.counts["gcc"] - counts_before["gcc"]
                values = [_fingerprint(fn(*args)), _fingerprint(fn(*args))]  # twice: updates and streams move on
                values.append([_fingerprint(v.get_value(borrow=True)) for v in shared_vars])
                record["outputs"] = values
            except Exception as exc:
                record["error"] = "%s: %s" % (type(exc).__name__, str(exc)[:2000])
        record["warnings"] = [str(w.message) for w in caught if issubclass(w.category, fncache.FncacheWarning)]
        after = counters.session()
        record["counters"] = {k: after.get(k, 0) - before.get(k, 0) for k in after
                              if after.get(k, 0) != before.get(k, 0) and not k.endswith("_ms")}
        report[name] = record
    return report


def run_sweep_process(names, env, timeout=1800):
    """run_families(names) in a fresh interpreter with ``env``; its report."""
    code = PRELUDE + (
        "sys.path.insert(0, %r)\n"
        "import test_op_families\n"
        "result.update(test_op_families.run_families(%r))\n" % (TESTS, list(names))) + EPILOGUE
    child_env = dict(os.environ, **env)
    # Two sweep processes share the compiledir: poll its lock every second, not every 5-10
    # (compile.wait is not part of any key).
    child_env["THEANO_FLAGS"] = ",".join(filter(None, [child_env.get("THEANO_FLAGS"), "compile.wait=1"]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])["result"]
    raise AssertionError("sweep child failed (%d):\n%s\n%s"
                         % (proc.returncode, proc.stdout[-3000:], proc.stderr[-5000:]))


# ------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Each phase's report: plain Theano, fncache's first run, fncache's second run.

    Plain Theano and fncache's first run go side by side (two processes);
    the second run then loads what the first stored.
    """
    import concurrent.futures
    root = tmp_path_factory.mktemp("families")
    directory = str(root / "fncache")
    names = sorted(FAMILIES)
    plain_env = {"FNCACHE_DISABLE": "1", "FNCACHE_DIR": str(root / "unused")}
    cached_env = {"FNCACHE_DISABLE": "0", "FNCACHE_DIR": directory}
    with concurrent.futures.ThreadPoolExecutor(2) as workers:
        plain = workers.submit(run_sweep_process, names, plain_env)
        first = workers.submit(run_sweep_process, names, cached_env)
        plain, first = plain.result(), first.result()
    second = run_sweep_process(names, cached_env)
    return {"plain": plain, "first": first, "second": second}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_loads_in_a_fresh_process_bit_for_bit(sweep, name):
    plain, first, second = sweep["plain"][name], sweep["first"][name], sweep["second"][name]
    assert plain["error"] is None, "plain Theano fails on this family: " + plain["error"]
    assert first["error"] is None and first["warnings"] == [], first
    assert first["counters"].get("compile.count") == 1, first["counters"]
    assert not any(k.startswith(("uncacheable", "rejected")) for k in first["counters"]), first["counters"]
    assert first["outputs"] == plain["outputs"]
    assert second["error"] is None and second["warnings"] == [], second
    hit = second["counters"]
    assert hit.get("compiled.hits") == 1 and hit.get("disk.hits") == 1, hit
    assert "compile.count" not in hit, hit
    assert (second["optimize"], second["gcc"]) == (0, 0)
    assert second["outputs"] == plain["outputs"]


def _round_trip(obj):
    from fncache.backends.family import pickler
    from fncache.backends.theano.library import LIBRARY
    import io
    buffer = io.BytesIO()
    pickler._Pickler(buffer, LIBRARY, ()).dump(obj)
    return pickler._Unpickler(io.BytesIO(buffer.getvalue()), ()).load()


@pytest.mark.parametrize("make", [
    lambda: SHIFT, lambda: SCALE, lambda: WHENCE, lambda: EnumParamsOp.params_type,
    lambda: EnumParamsOp().get_params(None),
    lambda: theano.tensor.nnet.corr.CorrMM().params_type,
    lambda: extra_ops.CumOp(axis=1, mode="mul").get_params(None),
], ids=["EnumList", "EnumType", "CEnumType", "ParamsType", "Params", "CorrMM.params_type", "CumOp.params"])
def test_theano_immutable_containers_round_trip(make):
    """fncache's serializer rebuilds Theano's immutable params containers equal, and still immutable."""
    original = make()
    copy = _round_trip([original, original])
    assert copy[0] is copy[1]  # one object, as pickled
    restored = copy[0]
    assert type(restored) is type(original) and restored == original and hash(restored) == hash(original)
    assert restored.__dict__ == original.__dict__
    if isinstance(original, dict):
        assert dict(restored) == dict(original)
        with pytest.raises(NotImplementedError):
            restored["NEW"] = 1


def test_frozendict_forgets_its_cached_hash():
    """A frozendict's cached hash is salted per process: the copy computes its own."""
    from theano.misc.frozendict import frozendict
    original = frozendict({"border": "valid", 3: (1, 2)})
    hash(original)
    original._hash = 12345  # what another process's salt would have left
    restored = _round_trip(original)
    assert restored == original and restored._hash is None
    assert hash(restored) == hash(frozendict({"border": "valid", 3: (1, 2)}))


if __name__ == "__main__":
    # python tests/test_op_families.py plain|first|second DIR [names]: one sweep process, as JSON
    phase, directory, names = sys.argv[1], sys.argv[2], sys.argv[3:] or sorted(FAMILIES)
    env = {"FNCACHE_DIR": directory, "FNCACHE_DISABLE": "1" if phase == "plain" else "0"}
    print(json.dumps(run_sweep_process(names, env), indent=1, sort_keys=True))
