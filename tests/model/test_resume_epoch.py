"""The epoch count a model file records survives a resume that has nothing left to run
(found by the kill -9 soak: a run killed after its last checkpoint, resumed, saved
epoch 1 instead of the epochs trained; the weights were right)."""
import numpy as np

import nbnet as nb
from nbnet.saving import read_config


def test_resume_with_no_epoch_left_keeps_the_epoch_count(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 2, 64)
    model = nb.Sequential([nb.Input((4,)), nb.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, verbose=0)
    model.save(tmp_path / "done.nbnet")
    assert read_config(tmp_path / "done.nbnet")["training"]["epoch"] == 5
    resumed = nb.load_model(tmp_path / "done.nbnet")
    before = resumed.get_weights()
    resumed.fit(x, y, epochs=5, initial_epoch=5, verbose=0)   # nothing left to run
    resumed.save(tmp_path / "again.nbnet")
    assert read_config(tmp_path / "again.nbnet")["training"]["epoch"] == 5
    assert all(np.array_equal(a, b) for a, b in zip(before, resumed.get_weights()))
