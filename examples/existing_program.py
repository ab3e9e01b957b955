"""An existing Theano program, unchanged: it does not import fncache at all.

Shows: `fncache run` caches every theano.function of a script you do not edit.
Run it twice; the second run compiles nothing:

    fncache run --summary examples/existing_program.py
    fncache run --summary examples/existing_program.py
    # -> fncache: compiled 0 functions, 4 loaded from cache, ... saved

(Plain `python examples/existing_program.py` needs `import fncache` first on
Python 3.11, which is what `fncache run` does for it.) `--quick` or
FNCACHE_EXAMPLE_QUICK=1 trains for fewer steps.
"""
import os
import sys

import numpy as np
import theano
import theano.tensor as T

QUICK = "--quick" in sys.argv or os.environ.get("FNCACHE_EXAMPLE_QUICK") == "1"
rng = np.random.RandomState(1234)

# A toy task: label a sequence 1 when its running sum ends above zero.
n_in, n_hidden, steps, n_seq = 3, 16, 10, 200
data_x = rng.randn(steps, n_seq, n_in)
data_y = (data_x.sum(axis=(0, 2)) > 0).astype("int32")

Wx = theano.shared(rng.randn(n_in, n_hidden) * 0.3, "Wx")
Wh = theano.shared(rng.randn(n_hidden, n_hidden) * 0.3, "Wh")
w_out = theano.shared(np.zeros(n_hidden), "w_out")
params = [Wx, Wh, w_out]

x, y, lr = T.dtensor3("x"), T.ivector("y"), T.dscalar("lr")


def step(x_t, h_prev):
    return T.tanh(T.dot(x_t, Wx) + T.dot(h_prev, Wh))


h, _ = theano.scan(step, sequences=x, outputs_info=T.zeros((x.shape[1], n_hidden)))
p = T.nnet.sigmoid(T.dot(h[-1], w_out))
loss = T.nnet.binary_crossentropy(p, y).mean()
grads = T.grad(loss, params)

# Several functions, as a real script has: a training step with updates,
# an evaluation, a prediction, and a small utility.
train = theano.function([x, y, lr], loss, name="train",
                        updates=[(q, q - lr * g) for q, g in zip(params, grads)])
evaluate = theano.function([x, y], [loss, T.mean(T.eq(p > 0.5, y))], name="evaluate")
predict = theano.function([x], p > 0.5, name="predict")
norms = theano.function([], [T.sqrt((q ** 2).sum()) for q in params], name="param_norms")

for epoch in range(3 if QUICK else 20):
    for start in range(0, n_seq, 50):
        train(data_x[:, start:start + 50], data_y[start:start + 50], 0.5)
    cost, accuracy = evaluate(data_x, data_y)
    print("epoch %2d  loss %.4f  accuracy %.2f" % (epoch + 1, cost, accuracy))
print("predicted positives: %d of %d" % (predict(data_x).sum(), n_seq))
print("parameter norms: " + ", ".join("%.3f" % n for n in norms()))
