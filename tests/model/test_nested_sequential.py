"""A Sequential used as a layer of a Sequential (Keras 3: a model is a layer): the same
numbers as the flat stack, gradients into the inner model, save / load, freezing."""
import numpy as np

import nbnet as nb
from nbnet import layers as L


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 5)).astype(np.float32), rng.integers(0, 3, 64)


def test_nested_trains_like_the_flat_stack(tmp_path):
    x, y = _data()
    nb.utils.set_random_seed(1)
    inner = nb.Sequential([L.Dense(8, activation="relu"), L.Dense(6, activation="tanh")])
    nested = nb.Sequential([nb.Input((5,)), inner, L.Dense(3, activation="softmax")])
    flat = nb.Sequential([nb.Input((5,)), L.Dense(8, activation="relu"),
                          L.Dense(6, activation="tanh"), L.Dense(3, activation="softmax")])
    flat.set_weights(nested.get_weights())
    for m in (nested, flat):
        m.compile("sgd", "sparse_categorical_crossentropy")
        m.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(nested.get_weights(), flat.get_weights()):
        np.testing.assert_array_equal(a, b)
    nested.save(tmp_path / "nested.nbnet")
    back = nb.load_model(tmp_path / "nested.nbnet")
    assert type(back.layers[0]).__name__ == "Sequential"
    np.testing.assert_array_equal(back.predict(x, verbose=0), nested.predict(x, verbose=0))


def test_frozen_inner_model_keeps_its_weights():
    x, y = _data()
    inner = nb.Sequential([L.Dense(4)])
    outer = nb.Sequential([nb.Input((5,)), inner, L.Dense(3, activation="softmax")])
    inner.trainable = False
    before = inner.get_weights()
    outer.compile("sgd", "sparse_categorical_crossentropy")
    outer.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, inner.get_weights()))
    assert not np.array_equal(outer.layers[1].get_weights()[0], 0)


def test_wrapped_recurrent_layers_save_and_load(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 6, 3)).astype(np.float32)
    model = nb.Sequential([nb.Input((6, 3)), L.Bidirectional(L.GRU(4, return_sequences=True)),
                           L.TimeDistributed(L.Dense(2))])
    model.save(tmp_path / "wrapped.nbnet")
    back = nb.load_model(tmp_path / "wrapped.nbnet")
    assert [type(l).__name__ for l in back.layers] == ["Bidirectional", "TimeDistributed"]
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
