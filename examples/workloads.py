"""Realistic Theano training functions, used by the demo, the tests and the benchmarks.

Each builder makes fresh shared variables and returns a Workload: what
`theano.function` (or `fncache.function`) is called with, plus a batch of data.
Seeds are fixed, so two processes build the same weights and data.
"""
import collections

import numpy as np

import fncache  # noqa: F401  (makes Theano work on this Python)
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.tensor.shared_randomstreams import RandomStreams

Workload = collections.namedtuple("Workload", "name inputs outputs kwargs shared data")


def mlp(hidden=(256, 128), n_in=64, n_out=10, batch=32, seed=0):
    """A multi-layer network: tanh layers, softmax output, SGD updates."""
    rng = np.random.RandomState(seed)
    x, y = T.dmatrix("x"), T.ivector("y")
    sizes = (n_in,) + tuple(hidden) + (n_out,)
    params, h = [], x
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = theano.shared(rng.randn(a, b) * np.sqrt(1.0 / a), "W%d" % i)
        bias = theano.shared(np.zeros(b), "b%d" % i)
        params += [W, bias]
        h = T.dot(h, W) + bias
        h = T.nnet.softmax(h) if i == len(sizes) - 2 else T.tanh(h)
    cost = -T.mean(T.log(h)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    updates = [(p, p - 0.05 * g) for p, g in zip(params, grads)]
    data = (rng.randn(batch, n_in), rng.randint(0, n_out, batch).astype("int32"))
    return Workload("mlp", [x, y], cost, {"updates": updates, "name": "mlp_train"}, params, data)


def rnn(n_in=16, n_hidden=32, n_out=4, steps=12, batch=8, seed=0):
    """A scan RNN trained with clipped gradients and momentum."""
    rng = np.random.RandomState(seed)
    x, y = T.dtensor3("x"), T.dmatrix("y")
    Wx = theano.shared(rng.randn(n_in, n_hidden) * 0.1, "Wx")
    Wh = theano.shared(rng.randn(n_hidden, n_hidden) * 0.1, "Wh")
    bh = theano.shared(np.zeros(n_hidden), "bh")
    Wo = theano.shared(rng.randn(n_hidden, n_out) * 0.1, "Wo")
    params = [Wx, Wh, bh, Wo]
    velocities = [theano.shared(np.zeros_like(p.get_value()), "v_" + p.name) for p in params]

    def step(x_t, h_prev):
        return T.tanh(T.dot(x_t, Wx) + T.dot(h_prev, Wh) + bh)

    h, _ = theano.scan(step, sequences=x, outputs_info=T.zeros((x.shape[1], n_hidden)))
    cost = T.mean((T.dot(h[-1], Wo) - y) ** 2)
    grads = [T.clip(g, -1.0, 1.0) for g in T.grad(cost, params)]
    updates = []
    for p, v, g in zip(params, velocities, grads):
        new_v = 0.9 * v - 0.05 * g
        updates += [(v, new_v), (p, p + new_v)]
    data = (rng.randn(steps, batch, n_in), rng.randn(batch, n_out))
    return Workload("rnn", [x, y], cost, {"updates": updates, "name": "rnn_train"},
                    params + velocities, data)


def logreg_givens(n_in=50, n_rows=200, batch=20, seed=0):
    """Logistic regression on a shared dataset, minibatch chosen by an index through givens."""
    rng = np.random.RandomState(seed)
    data_x = theano.shared(rng.randn(n_rows, n_in), "data_x")
    data_y = theano.shared(rng.randint(0, 2, n_rows).astype("int32"), "data_y")
    W = theano.shared(np.zeros(n_in), "W")
    b = theano.shared(0.0, "b")
    index = T.lscalar("index")
    x, y = T.dmatrix("x"), T.ivector("y")
    p = T.nnet.sigmoid(T.dot(x, W) + b)
    cost = T.nnet.binary_crossentropy(p, y).mean() + 0.01 * (W ** 2).sum()
    gW, gb = T.grad(cost, [W, b])
    givens = {x: data_x[index * batch:(index + 1) * batch],
              y: data_y[index * batch:(index + 1) * batch]}
    return Workload("logreg", [index], [cost, T.mean(T.neq(p > 0.5, y))],
                    {"updates": [(W, W - 0.1 * gW), (b, b - 0.1 * gb)], "givens": givens,
                     "name": "logreg_train"},
                    [data_x, data_y, W, b], (3,))


def dropout(n_in=32, n_out=16, seed=0):
    """Dropout with MRG streams plus noise from shared RandomStreams."""
    rng = np.random.RandomState(seed)
    x = T.dmatrix("x")
    W = theano.shared(rng.randn(n_in, n_out) * 0.1, "W")
    mrg = MRG_RandomStreams(seed=1234)
    srng = RandomStreams(seed=99)
    mask = mrg.binomial(size=x.shape, p=0.8, dtype="float64")
    noise = srng.normal(size=(n_out,), std=0.01)
    out = T.tanh(T.dot(x * mask, W)) + noise
    return Workload("dropout", [x], out, {"name": "dropout"}, [W], (rng.randn(4, n_in),))


def multi_output(seed=0):
    """Several outputs with In/Out settings and a keyword input."""
    rng = np.random.RandomState(seed)
    a, b = T.dvector("a"), T.dscalar("b")
    acc = theano.shared(np.zeros(3), "acc")
    outs = [theano.Out(a * b, borrow=True), (a ** 2).sum(), theano.Out(acc + a, borrow=False)]
    inputs = [theano.In(a, borrow=False), theano.In(b, value=2.0)]
    return Workload("multi_output", inputs, outs, {"updates": [(acc, acc + a)], "name": "multi"},
                    [acc], (rng.randn(3),))


def bayes(n_groups=8, n_features=5, n_rows=400, seed=0):
    """A hierarchical logistic regression's log-probability and its gradient (what a sampler calls).

    Group coefficients beta[g] ~ Normal(mu, exp(log_tau)), mu ~ Normal(0, 5), log_tau ~ Normal(0, 1),
    y ~ Bernoulli(sigmoid(x . beta[group])). Parameters are inputs; the data are shared variables.
    """
    rng = np.random.RandomState(seed)
    data_x = theano.shared(rng.randn(n_rows, n_features), "data_x")
    data_y = theano.shared(rng.randint(0, 2, n_rows).astype("float64"), "data_y")
    group = theano.shared(rng.randint(0, n_groups, n_rows).astype("int64"), "group")
    mu, log_tau, beta = T.dvector("mu"), T.dscalar("log_tau"), T.dmatrix("beta")

    def normal_logp(v, mean, sd):
        return T.sum(-0.5 * ((v - mean) / sd) ** 2 - T.log(sd) - 0.5 * np.log(2 * np.pi))

    tau = T.exp(log_tau)
    logit = T.sum(data_x * beta[group], axis=1)
    loglik = T.sum(data_y * logit - T.nnet.softplus(logit))
    logp = (normal_logp(mu, 0.0, 5.0) + normal_logp(log_tau, 0.0, 1.0)
            + normal_logp(beta, mu.dimshuffle("x", 0), tau) + loglik)
    grads = T.grad(logp, [mu, log_tau, beta])
    data = (rng.randn(n_features) * 0.1, 0.0, rng.randn(n_groups, n_features) * 0.1)
    return Workload("bayes", [mu, log_tau, beta], [logp] + grads, {"name": "bayes_logp_grad"},
                    [data_x, data_y, group], data)


def big_graph(n_nodes=10000, block=20, seed=0):
    """A long chain of elementwise ops, about n_nodes apply nodes before optimization.

    Each step is five apply nodes (two constants broadcast, mul, add, tanh). Every `block`
    steps a sort breaks the chain: Theano's elementwise fusion is quadratic in the length of
    a fusable chain (a 3,000-node unbroken chain took 307 s to compile here), so unbroken
    chains measure that one optimizer, not graph size. block=0 gives the unbroken chain.
    """
    rng = np.random.RandomState(seed)
    x = T.dvector("x")
    consts = rng.rand(8)
    h = x
    for i in range(max(1, n_nodes // 5)):
        h = T.tanh(h * consts[i % 8] + (i % 5) * 0.01)
        if block and (i + 1) % block == 0:
            h = T.sort(h)
    return Workload("big_graph", [x], h.sum(), {"name": "big_graph"}, [], (rng.randn(16),))


ALL = {"mlp": mlp, "rnn": rnn, "logreg": logreg_givens, "dropout": dropout,
       "multi_output": multi_output, "bayes": bayes, "big_graph": big_graph}
