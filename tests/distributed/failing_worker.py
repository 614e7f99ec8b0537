"""Run by test_mpi.py under mpiexec: trains with a checkpoint after every epoch (rank 0
writes it); rank 1 fails at global step FAIL_STEP, by raising or by SIGKILL."""
import os
import signal
import sys

import numpy as np

import nbnet as nb
from nbnet import layers

how, fail_step, ckpt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nb.config.set_floatx("float64")
nb.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x, y = rng.standard_normal((160, 12)), rng.integers(0, 3, 160)
model = nb.Sequential([nb.Input(shape=(12,)), layers.Dense(16, use_bias=False),
                       layers.BatchNormalization(), layers.ReLU(), layers.Dense(3)])
model.compile(nb.optimizers.Adam(learning_rate=0.01),
              nb.losses.SparseCategoricalCrossentropy(from_logits=True))
from nbnet.distributed import communicator  # noqa: E402

rank = communicator().rank
original = nb.Sequential._train_step


def failing(self, xb, yb, global_batch=None):
    if rank == 1 and self.optimizer.iterations == fail_step:
        if how == "raise":
            raise RuntimeError(f"rank 1 fails on purpose at step {fail_step}")
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, xb, yb, global_batch)


nb.Sequential._train_step = failing
model.fit(x, y, batch_size=32, epochs=6, verbose=0, distributed=True,
          callbacks=[nb.callbacks.ModelCheckpoint(ckpt, monitor="loss")])
