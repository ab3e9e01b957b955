"""Warm start of a long experiment: killed halfway, restarted, nothing recompiled or re-evaluated.

Shows: a scan RNN trained on data it generates, checkpointing its parameters
every epoch (npz files in a work directory). Its evaluation on a fixed
validation set is a pure function of the parameters' values, so it is
memoized (memoize=True). Kill the run halfway and start it again: it resumes
from the last checkpoint, compiles 0 functions (compile cache), and every
evaluation the first run already did is served from the memo. At the end it
picks the best checkpoint by evaluating all of them: the finished ones are
memo hits too. Each run prints its compile time and evaluation time.

Run:
    python examples/warm_start.py --workdir /tmp/ws --stop-after 3   # "killed" after epoch 3
    python examples/warm_start.py --workdir /tmp/ws                  # resumes at epoch 4
Options: --epochs N (default 8), --quick (or FNCACHE_EXAMPLE_QUICK=1: smaller and 4 epochs);
the work directory may also come from FNCACHE_EXAMPLE_WORKDIR.
"""
import argparse
import glob
import os
import time

import numpy as np

import fncache  # first: makes Theano work on this Python
import theano
import theano.tensor as T
from fncache.observe import counters


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=os.environ.get("FNCACHE_EXAMPLE_WORKDIR", "warm_start_run"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many epochs in total, as if killed")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("FNCACHE_EXAMPLE_QUICK") == "1")
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = 4 if args.quick else 8
    return args


def make_data(rng, n, steps, n_in):
    """Sequences whose label says which of two noisy sine frequencies they carry."""
    label = rng.randint(0, 2, n)
    t = np.arange(steps)[:, None]
    freq = np.where(label == 1, 0.6, 0.3)[None, :]
    signal = np.sin(freq * t + rng.uniform(0, 6.3, n)[None, :])
    x = signal[:, :, None] + 0.5 * rng.randn(steps, n, n_in)
    return x, label.astype("int32")


class Model:
    """A tanh RNN (scan) with a logistic output, trained by SGD with momentum."""

    def __init__(self, n_in, n_hidden):
        rng = np.random.RandomState(0)
        self.params = [theano.shared(rng.randn(n_in, n_hidden) * 0.3, "Wx"),
                       theano.shared(rng.randn(n_hidden, n_hidden) * 0.3, "Wh"),
                       theano.shared(np.zeros(n_hidden), "bh"),
                       theano.shared(np.zeros(n_hidden), "w_out")]
        self.velocities = [theano.shared(np.zeros_like(p.get_value()), "v_" + p.name)
                           for p in self.params]
        Wx, Wh, bh, w_out = self.params
        x, y = T.dtensor3("x"), T.ivector("y")

        def step(x_t, h_prev):
            return T.tanh(T.dot(x_t, Wx) + T.dot(h_prev, Wh) + bh)

        h, _ = theano.scan(step, sequences=x, outputs_info=T.zeros((x.shape[1], n_hidden)))
        p = T.nnet.sigmoid(T.dot(h[-1], w_out))
        loss = T.nnet.binary_crossentropy(p, y).mean()
        accuracy = T.mean(T.eq(p > 0.5, y))
        grads = [T.clip(g, -1.0, 1.0) for g in T.grad(loss, self.params)]
        updates = []
        for param, v, g in zip(self.params, self.velocities, grads):
            new_v = 0.9 * v - 0.02 * g
            updates += [(v, new_v), (param, param + new_v)]

        started = time.perf_counter()
        self.train = fncache.function([x, y], loss, updates=updates, name="train_step")
        # Pure: reads the shared parameters by value, updates nothing. The memo keys
        # each call on the graph, the validation arrays and the parameters' values.
        # min_seconds=0: keep even fast evaluations (the quick mode's are small).
        self.evaluate = fncache.function([x, y], [loss, accuracy], name="evaluate",
                                         memoize={"mode": "pure", "min_seconds": 0})
        self.compile_seconds = time.perf_counter() - started

    def state(self):
        return {v.name: v.get_value() for v in self.params + self.velocities}

    def load(self, state):
        for v in self.params + self.velocities:
            v.set_value(state[v.name])


def checkpoint_path(workdir, epoch):
    return os.path.join(workdir, "epoch_%03d.npz" % epoch)


def last_checkpoint(workdir):
    found = sorted(glob.glob(os.path.join(workdir, "epoch_*.npz")))
    return (int(found[-1][-7:-4]), found[-1]) if found else (0, None)


def main():
    args = parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    n_in, n_hidden, steps = 2, (16 if args.quick else 32), 20
    n_train, n_val, batch = (768, 256, 32) if args.quick else (2048, 1024, 64)
    x_val, y_val = make_data(np.random.RandomState(99), n_val, steps, n_in)

    model = Model(n_in, n_hidden)
    eval_seconds = 0.0

    def evaluate():
        nonlocal eval_seconds
        started = time.perf_counter()
        loss, accuracy = model.evaluate(x_val, y_val)
        eval_seconds += time.perf_counter() - started
        return float(loss), float(accuracy)

    done, path = last_checkpoint(args.workdir)
    if path:
        with np.load(path) as saved:
            model.load(saved)
        loss, accuracy = evaluate()
        print("resumed from %s: validation loss %.4f, accuracy %.3f" % (path, loss, accuracy))
    else:
        print("starting from scratch in %s" % args.workdir)

    last = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
    for epoch in range(done + 1, last + 1):
        x, y = make_data(np.random.RandomState(epoch), n_train, steps, n_in)
        costs = [model.train(x[:, i:i + batch], y[i:i + batch]) for i in range(0, n_train, batch)]
        np.savez(checkpoint_path(args.workdir, epoch), **model.state())
        loss, accuracy = evaluate()
        print("epoch %d: train loss %.4f, validation loss %.4f, accuracy %.3f"
              % (epoch, np.mean(costs), loss, accuracy))

    if last < args.epochs:
        print("stopped after epoch %d (as if killed); run again to resume" % last)
    else:  # pick the best checkpoint: the finished evaluations come from the memo
        final = model.state()
        scores = []
        for epoch in range(1, args.epochs + 1):
            with np.load(checkpoint_path(args.workdir, epoch)) as saved:
                model.load(saved)
            scores.append((evaluate()[0], epoch))
        model.load(final)
        print("best checkpoint: epoch %d (validation loss %.4f)" % (min(scores)[1], min(scores)[0]))

    s = counters.session()
    print("compile: %.3f s, compiled %d functions, %d loaded from cache"
          % (model.compile_seconds, s.get("compile.count", 0), s.get("compiled.hits", 0)))
    print("evaluation: %.3f s, memo hits %d, memo misses %d"
          % (eval_seconds, s.get("memo.hits", 0), s.get("memo.misses", 0)))


if __name__ == "__main__":
    main()
