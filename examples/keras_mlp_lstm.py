"""Two small Keras 2.3.1 models on the Theano backend: a program that knows nothing of fncache.

Shows: the functions Keras compiles for an MLP with dropout and adam and for an LSTM with
rmsprop (training, evaluation, prediction, their metrics: 19 functions, some built twice)
load from the cache on the second run, with the same predictions. Run it twice:

    fncache run --summary --profile examples/keras_mlp_lstm.py
    fncache run --summary --profile examples/keras_mlp_lstm.py
    # -> fncache: compiled 0 functions, 24 loaded from cache, ... saved

`benchmarks/bench_keras.py --program keras_mlp_lstm` times it. Needs Keras 2.3.1 (in
fncache's `test` extra). `--quick` or FNCACHE_EXAMPLE_QUICK=1 trains for one epoch
instead of two.
"""
import collections
import collections.abc
import hashlib
import os
import sys

# Keras 2.3.1 predates Python 3.10, which removed these aliases of collections.abc.
for _name in ("Iterable", "Mapping", "MutableMapping", "Sequence", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
os.environ.setdefault("KERAS_BACKEND", "theano")

import numpy as np  # noqa: E402

np.random.seed(1234)  # Keras draws its initial weights and dropout seeds from numpy

from keras import layers, models  # noqa: E402

QUICK = "--quick" in sys.argv or os.environ.get("FNCACHE_EXAMPLE_QUICK") == "1"
EPOCHS = 1 if QUICK else 2

rng = np.random.RandomState(0)
x = rng.rand(128, 20).astype("float32")
y = np.eye(4, dtype="float32")[(x[:, :5].sum(axis=1) * 3).astype(int) % 4]
mlp = models.Sequential([layers.Dense(64, activation="relu", input_shape=(20,)),
                         layers.Dropout(0.3),
                         layers.Dense(64, activation="relu"),
                         layers.Dense(4, activation="softmax")])
mlp.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
mlp_history = mlp.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0, validation_split=0.25)
mlp_loss, mlp_accuracy = mlp.evaluate(x, y, verbose=0)
mlp_predictions = mlp.predict(x)

sequences = rng.rand(64, 10, 8).astype("float32")
targets = rng.rand(64, 1).astype("float32")
lstm = models.Sequential([layers.LSTM(16, input_shape=(10, 8)), layers.Dense(1)])
lstm.compile(optimizer="rmsprop", loss="mse")
lstm_history = lstm.fit(sequences, targets, epochs=EPOCHS, batch_size=16, verbose=0,
                        validation_split=0.25)
lstm_loss = lstm.evaluate(sequences, targets, verbose=0)
lstm_predictions = lstm.predict(sequences)

print("mlp losses per epoch:", " ".join(repr(v) for v in mlp_history.history["loss"]))
print("mlp evaluation: loss %r, accuracy %r" % (float(mlp_loss), float(mlp_accuracy)))
print("lstm losses per epoch:", " ".join(repr(v) for v in lstm_history.history["loss"]))
print("lstm evaluation: loss %r" % float(lstm_loss))
print("predictions sha256:",
      hashlib.sha256(mlp_predictions.tobytes() + lstm_predictions.tobytes()).hexdigest())
