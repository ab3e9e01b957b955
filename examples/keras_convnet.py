"""A Keras 2.3.1 conv net on the Theano backend, a program that knows nothing of fncache.

Shows: `fncache run` caches every function Keras compiles (training, evaluation,
prediction: convolutions, batch normalization, pooling), so the second run loads
them all and predicts exactly the same numbers. Run it twice:

    fncache run --summary examples/keras_convnet.py
    fncache run --summary examples/keras_convnet.py
    # -> fncache: compiled 0 functions, ... loaded from cache, ... saved

Needs Keras 2.3.1 (`pip install keras==2.3.1`, in fncache's `test` extra).
`--quick` or FNCACHE_EXAMPLE_QUICK=1 trains for one epoch instead of three.
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

rng = np.random.RandomState(0)
images = rng.rand(64, 12, 12, 1).astype("float32")
labels = np.eye(3, dtype="float32")[(images[:, :6].mean(axis=(1, 2, 3)) * 30).astype(int) % 3]

model = models.Sequential([
    layers.Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)),
    layers.BatchNormalization(),
    layers.MaxPooling2D((2, 2)),
    layers.Conv2D(8, (3, 3), padding="same", activation="relu"),
    layers.Flatten(),
    layers.Dense(16, activation="relu"),
    layers.Dropout(0.25),
    layers.Dense(3, activation="softmax"),
])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit(images, labels, epochs=1 if QUICK else 3, batch_size=16, verbose=0,
                    validation_split=0.25)
loss, accuracy = model.evaluate(images, labels, verbose=0)
predictions = model.predict(images, batch_size=32)

print("losses per epoch:", " ".join(repr(v) for v in history.history["loss"]))
print("evaluation: loss %r, accuracy %r" % (float(loss), float(accuracy)))
print("predictions sha256:", hashlib.sha256(predictions.tobytes()).hexdigest())
print("first prediction:", " ".join(repr(float(v)) for v in predictions[0]))
