"""Run by tests/distributed/test_mpi.py:  [mpiexec -n R python -m mpi4py] worker.py
MODE(ref|dist) KIND(mlp|cnn|two) OUT.npz (two: a functional model with two inputs
and two outputs). Trains 20 steps at float64 on a fixed data set
with global batch 32 and saves the weights and the loss history (rank 0). No bias
before BatchNormalization: its gradient is exactly zero, so its value is rounding noise."""
import hashlib
import sys

import numpy as np

import nbnet as nb
from nbnet import layers

mode, kind, out = sys.argv[1:4]
nb.config.set_floatx("float64")
nb.utils.set_random_seed(0)
rng = np.random.default_rng(0)
if kind == "mlp":
    x = rng.standard_normal((160, 12))
    model = nb.Sequential([nb.Input(shape=(12,)), layers.Dense(16, use_bias=False), layers.BatchNormalization(),
                           layers.ReLU(), layers.Dense(3)])
elif kind == "cnn":
    x = rng.standard_normal((160, 8, 8, 1))
    model = nb.Sequential([nb.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, use_bias=False), layers.BatchNormalization(),
                           layers.ReLU(), layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3)])
else:
    x = [rng.standard_normal((160, 12)), rng.standard_normal((160, 3))]
    a, b = nb.Input(shape=(12,), name="a"), nb.Input(shape=(3,), name="b")
    h = layers.Dense(16, use_bias=False)(layers.Concatenate()([a, b]))
    h = layers.ReLU()(layers.BatchNormalization()(h))
    model = nb.Model([a, b], [layers.Dense(3, name="cls")(h), layers.Dense(1, name="reg")(h)])
y = rng.integers(0, 3, 160)
if kind == "two":
    y = [y, rng.standard_normal((160, 1))]
    model.compile(nb.optimizers.Adam(learning_rate=0.01),
                  [nb.losses.SparseCategoricalCrossentropy(from_logits=True), "mse"],
                  loss_weights=[1.0, 0.5], metrics={"cls": ["accuracy"]})
else:
    model.compile(nb.optimizers.Adam(learning_rate=0.01),
                  nb.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

steps_checked = 0
if mode == "dist":
    from nbnet.distributed import communicator
    comm = communicator()
    original = nb.Sequential._train_step

    def checked(self, xb, yb, global_batch=None):
        global steps_checked
        result = original(self, xb, yb, global_batch)
        digest = hashlib.sha256(self._flat_w.tobytes()).hexdigest()
        digests = comm.allgather(digest)
        assert len(set(digests)) == 1, f"ranks differ after step {steps_checked}: {digests}"
        steps_checked += 1
        return result

    nb.Sequential._train_step = checked
hist = model.fit(x, y, batch_size=32, epochs=4, verbose=0, distributed=(mode == "dist"))
if mode == "ref" or comm.rank == 0:
    logs = {k.replace("cls_accuracy", "acc").replace("accuracy", "acc"): np.array(v)
            for k, v in hist.history.items()}
    np.savez(out, *model.get_weights(), steps=np.array(steps_checked), **logs)
print("done", steps_checked, flush=True)
