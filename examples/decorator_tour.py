"""A tour of @fncache.cached_function: types, signatures, memoization, and why a miss happened.

Shows, in order:
  1. inferred types: the builder gets symbolic inputs typed from the first call's
     arguments, and a call with other dtypes compiles a second signature;
  2. explicit types: inputs=[...] fixes them (one function, arguments converted);
  3. a builder that returns (outputs, updates): a training step;
  4. memoize=True: the same inputs again are a memo hit, not a computation;
  5. memoize="rows": only the rows not seen before are computed;
  6. fncache.explain: a changed constant made a new key; explain says which part.

Run:  python examples/decorator_tour.py     (twice: the second run compiles nothing)
`--quick` or FNCACHE_EXAMPLE_QUICK=1 is accepted; the tour is small either way.
"""
import numpy as np

import fncache  # first: makes Theano work on this Python
import theano
import theano.tensor as T
from fncache.observe import counters

rng = np.random.RandomState(0)
W = theano.shared(rng.randn(5, 3), "W")


def section(title):
    print("\n== " + title)


def counts():
    s = counters.session()
    return "compiled %d functions, %d loaded from cache; memo hits %d, misses %d" % (
        s.get("compile.count", 0), s.get("compiled.hits", 0),
        s.get("memo.hits", 0), s.get("memo.misses", 0))


# 1. Inferred types: like a JIT, one compiled function per argument signature.
@fncache.cached_function
def affine(x, b):
    return T.dot(x, W.astype(x.dtype)) + b


section("1. inferred types")
x64 = rng.randn(4, 5)
print("float64 call ->", affine(x64, 1.0).dtype)
print("float32 call ->", affine(x64.astype("float32"), np.float32(1.0)).dtype)
print("same float64 signature again ->", affine(2 * x64, 0.5).shape)
print("signatures compiled:", len(affine.specializations))


# 2. Explicit types: declared once; arguments are converted as theano.function does.
@fncache.cached_function(inputs=[T.dmatrix, T.dvector], allow_input_downcast=True)
def scores(x, bias):
    return T.nnet.softmax(T.dot(x, W) + bias)


section("2. explicit types")
print("row sums:", np.round(scores(x64, np.zeros(3)).sum(axis=1), 6))


# 3. A builder may return (outputs, updates): here, one SGD step on W.
@fncache.cached_function
def sgd_step(x, target):
    loss = T.mean((T.dot(x, W) - target) ** 2)
    return loss, [(W, W - 0.1 * T.grad(loss, W))]


section("3. updates")
target = rng.randn(4, 3)
losses = [float(sgd_step(x64, target)) for _ in range(3)]
print("losses fall:", " > ".join("%.4f" % v for v in losses))


# 4. memoize=True: results are kept by the values of the inputs and of W.
@fncache.cached_function(memoize={"mode": "pure", "min_seconds": 0})
def distances(a, b):
    return T.sqrt(((a.dimshuffle(0, "x", 1) - b.dimshuffle("x", 0, 1)) ** 2).sum(axis=2))


section("4. memoize=True")
a, b = rng.randn(200, 5), rng.randn(300, 5)
before = counters.session().get("memo.hits", 0)
first = distances(a, b)
again = distances(a, b)  # same values: served from the memo
print("memo hits over the two calls: %d (2 once an earlier run stored it); equal: %s; "
      "read-only: %s"
      % (counters.session().get("memo.hits", 0) - before, np.array_equal(first, again),
         not again.flags.writeable))


# 5. memoize="rows": each row of the batch is keyed on its own.
@fncache.cached_function(memoize={"mode": "rows", "min_seconds": 0})
def embed(x):
    return T.tanh(T.dot(x, W))


section('5. memoize="rows"')
batch = rng.randn(100, 5)
embed(batch[:60])
s0 = counters.session()
out = embed(batch)  # 60 rows seen before, 40 new: one call computes the 40
s1 = counters.session()
print("rows from the memo: %d, rows computed: %d (100 and 0 on a second run), shape %s"
      % (s1.get("memo.hits", 0) - s0.get("memo.hits", 0),
         s1.get("memo.misses", 0) - s0.get("memo.misses", 0), out.shape))


# 6. explain: someone changed a constant; the new key is a compile miss. Why?
def make_loss(margin):
    @fncache.cached_function
    def hinge(x, y):
        return T.maximum(0, margin - y * T.dot(x, W)[:, 0]).mean()
    return hinge


section("6. explain a miss")
y = np.sign(rng.randn(4))
old, new = make_loss(1.0), make_loss(0.5)
print("old loss %.4f, new loss %.4f" % (old(x64, y), new(x64, y)))
print("why the new version was compiled again:")
fncache.explain(old, new)

section("totals for this run")
print(counts())
