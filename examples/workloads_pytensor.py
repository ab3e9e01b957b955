"""PyTensor training and inference functions, used by the demo, the tests and the benchmarks.

The PyTensor ports of examples/workloads.py. Each builder makes fresh shared variables
and returns a Workload: what ``pytensor.function`` (or ``fncache.function``) is called
with, the shared variables, and a batch of data. Seeds are fixed, so two processes
build the same graphs and values.
"""
import collections

import numpy as np
import pytensor
import pytensor.tensor as pt

Workload = collections.namedtuple("Workload", "name inputs outputs kwargs shared data")


def mlp(hidden=(256, 128), n_in=64, n_out=10, batch=32, seed=0):
    """tanh layers, softmax output, SGD updates (as fncache's Theano MLP)."""
    rng = np.random.RandomState(seed)
    x, y = pt.dmatrix("x"), pt.ivector("y")
    sizes = (n_in,) + tuple(hidden) + (n_out,)
    params, h = [], x
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = pytensor.shared(rng.randn(a, b) * np.sqrt(1.0 / a), "W%d" % i)
        bias = pytensor.shared(np.zeros(b), "b%d" % i)
        params += [W, bias]
        h = pt.dot(h, W) + bias
        h = pt.special.softmax(h, axis=-1) if i == len(sizes) - 2 else pt.tanh(h)
    cost = -pt.mean(pt.log(h)[pt.arange(y.shape[0]), y])
    grads = pytensor.grad(cost, params)
    updates = [(p, p - 0.05 * g) for p, g in zip(params, grads)]
    data = (rng.randn(batch, n_in), rng.randint(0, n_out, batch).astype("int32"))
    return Workload("mlp", [x, y], cost, {"updates": updates, "name": "mlp_train"}, params, data)


def hier(n_groups=50, n_features=5, n_rows=2000, seed=0):
    """Hierarchical logistic regression: logp and its gradient (what a sampler calls)."""
    rng = np.random.RandomState(seed)
    data_x = pytensor.shared(rng.randn(n_rows, n_features), "data_x")
    data_y = pytensor.shared(rng.randint(0, 2, n_rows).astype("float64"), "data_y")
    group = pytensor.shared(rng.randint(0, n_groups, n_rows).astype("int64"), "group")
    mu, log_tau, beta = pt.dvector("mu"), pt.dscalar("log_tau"), pt.dmatrix("beta")

    def normal_logp(v, mean, sd):
        return pt.sum(-0.5 * ((v - mean) / sd) ** 2 - pt.log(sd) - 0.5 * np.log(2 * np.pi))

    tau = pt.exp(log_tau)
    logit = pt.sum(data_x * beta[group], axis=1)
    loglik = pt.sum(data_y * logit - pt.softplus(logit))
    logp = (normal_logp(mu, 0.0, 5.0) + normal_logp(log_tau, 0.0, 1.0)
            + normal_logp(beta, mu[None, :], tau) + loglik)
    grads = pytensor.grad(logp, [mu, log_tau, beta])
    data = (rng.randn(n_features) * 0.1, 0.0, rng.randn(n_groups, n_features) * 0.1)
    return Workload("hier", [mu, log_tau, beta], [logp] + grads, {"name": "hier_logp_grad"},
                    [data_x, data_y, group], data)


def rnn(n_in=16, n_hidden=32, n_out=4, steps=12, batch=8, seed=0):
    """A scan RNN trained with clipped gradients and momentum."""
    rng = np.random.RandomState(seed)
    x, y = pt.dtensor3("x"), pt.dmatrix("y")
    Wx = pytensor.shared(rng.randn(n_in, n_hidden) * 0.1, "Wx")
    Wh = pytensor.shared(rng.randn(n_hidden, n_hidden) * 0.1, "Wh")
    bh = pytensor.shared(np.zeros(n_hidden), "bh")
    Wo = pytensor.shared(rng.randn(n_hidden, n_out) * 0.1, "Wo")
    params = [Wx, Wh, bh, Wo]
    velocities = [pytensor.shared(np.zeros_like(p.get_value()), "v_" + p.name) for p in params]

    def step(x_t, h_prev):
        return pt.tanh(pt.dot(x_t, Wx) + pt.dot(h_prev, Wh) + bh)

    h = pytensor.scan(step, sequences=x, outputs_info=pt.zeros((x.shape[1], n_hidden)),
                      return_updates=False)
    cost = pt.mean((pt.dot(h[-1], Wo) - y) ** 2)
    grads = [pt.clip(g, -1.0, 1.0) for g in pytensor.grad(cost, params)]
    updates = []
    for p, v, g in zip(params, velocities, grads):
        new_v = 0.9 * v - 0.05 * g
        updates += [(v, new_v), (p, p + new_v)]
    data = (rng.randn(steps, batch, n_in), rng.randn(batch, n_out))
    return Workload("rnn", [x, y], cost, {"updates": updates, "name": "rnn_train"},
                    params + velocities, data)


def dropout(n_in=32, n_out=16, seed=0):
    """Dropout with a shared numpy Generator whose state the function updates."""
    rng = np.random.RandomState(seed)
    x = pt.dmatrix("x")
    W = pytensor.shared(rng.randn(n_in, n_out) * 0.1, "W")
    srng = pt.random.shared_rng(seed=1234, name="srng")
    next_rng, mask = srng.binomial(1, 0.8, size=x.shape)
    out = pt.tanh(pt.dot(x * mask, W))
    return Workload("dropout", [x], out, {"updates": {srng: next_rng}, "name": "dropout"},
                    [W, srng], (rng.randn(4, n_in),))


def ew(n=64, seed=0):
    """Elementwise only (every op has C code without BLAS): for mode C (one CLinker)."""
    rng = np.random.RandomState(seed)
    x = pt.dvector("x")
    w = pytensor.shared(rng.randn(n), "w")
    cost = pt.sum(pt.tanh(x * w) ** 2 + pt.exp(-w * w))
    g = pytensor.grad(cost, w)
    return Workload("ew", [x], [cost, g], {"updates": [(w, w - 0.1 * g)], "name": "ew"},
                    [w], (rng.randn(n),))


ALL = {"mlp": mlp, "hier": hier, "rnn": rnn, "dropout": dropout, "ew": ew}
