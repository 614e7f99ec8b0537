"""fit / evaluate / predict on real data, the fused output path, determinism."""
import numba
import numpy as np
import pytest

import nbnet as nb
from nbnet import layers


def digits_split(seed=0):
    ds = nb.datasets.load_digits()
    x, y = ds.x, ds.y
    idx = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    return x[idx[:cut]], y[idx[:cut]], x[idx[cut:]], y[idx[cut:]]


def test_mlp_on_digits_reaches_97_percent():
    nb.utils.set_random_seed(42)
    x_tr, y_tr, x_te, y_te = digits_split()
    model = nb.Sequential([nb.Input(shape=(64,)),
                           layers.Dense(128, activation="relu"),
                           layers.Dense(64, activation="relu"),
                           layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x_tr, y_tr, epochs=30, batch_size=32, validation_split=0.1, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(hist.history["loss"]) == 30
    assert hist.history["loss"][-1] < hist.history["loss"][0] / 5
    loss, acc = model.evaluate(x_te, y_te, verbose=0)
    assert acc >= 0.97, acc
    pred = model.predict(x_te)
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(pred.argmax(axis=1) == y_te) == pytest.approx(acc)


def _train(model_kind, seed=3, epochs=3):
    nb.utils.set_random_seed(seed)
    x_tr, y_tr, _, _ = digits_split()
    x_tr, y_tr = x_tr[:300], y_tr[:300]
    if model_kind == "softmax":
        out = layers.Dense(10, activation="softmax")
        loss, y = "categorical_crossentropy", nb.utils.to_categorical(y_tr, 10)
    else:
        out = layers.Dense(10)
        loss, y = nb.losses.SparseCategoricalCrossentropy(from_logits=True), y_tr
    model = nb.Sequential([nb.Input(shape=(64,)), layers.Dense(32, activation="tanh"), out])
    model.compile(nb.optimizers.Adam(learning_rate=0.01), loss)
    hist = model.fit(x_tr, y, epochs=epochs, batch_size=50, verbose=0)
    return hist.history["loss"], model.get_weights()


def test_softmax_categorical_equals_logits_sparse():
    loss_a, w_a = _train("softmax")
    loss_b, w_b = _train("logits")
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for a, b in zip(w_a, w_b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _train_bn_dropout(threads, seed=7):
    old = numba.get_num_threads()
    nb.set_num_threads(threads)
    try:
        nb.utils.set_random_seed(seed)
        x_tr, y_tr, _, _ = digits_split()
        model = nb.Sequential([nb.Input(shape=(64,)), layers.Dense(48),
                               layers.BatchNormalization(), layers.ReLU(), layers.Dropout(0.2),
                               layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_tr, y_tr, epochs=2, batch_size=64, verbose=0)
        return model.get_weights()
    finally:
        nb.set_num_threads(old)


def test_same_seed_bitwise_identical_weights_at_1_and_2_threads():
    w1 = _train_bn_dropout(1)
    w1b = _train_bn_dropout(1)
    w2 = _train_bn_dropout(2)
    for a, b, c in zip(w1, w1b, w2):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c)


def _train_wide(threads):
    """Big enough that every matrix product is split among threads (the digits model
    above is not: its products are too small for BLAS to thread)."""
    old = numba.get_num_threads()
    nb.set_num_threads(threads)
    try:
        nb.utils.set_random_seed(3)
        model = nb.Sequential([nb.Input(shape=(784,)), layers.Dense(512), layers.BatchNormalization(),
                               layers.ReLU(), layers.Dense(256), layers.BatchNormalization(),
                               layers.ReLU(), layers.Dense(10)])
        model.compile(nb.optimizers.Adam(1e-3), nb.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(512, 784)).astype("float32")
        y = rng.integers(0, 10, 512)
        model.fit(x, y, epochs=1, batch_size=256, verbose=0)
        return model.get_weights(), model.predict(x[:300], batch_size=300)
    finally:
        nb.set_num_threads(old)


def test_reference_mlp_bitwise_identical_at_1_and_2_threads():
    (w1, p1), (w2, p2) = _train_wide(1), _train_wide(2)
    for a, b in zip(w1, w2):
        assert np.array_equal(a, b)
    assert np.array_equal(p1, p2)


def test_train_on_batch_and_predict_on_batch():
    nb.utils.set_random_seed(0)
    model = nb.Sequential([nb.Input(shape=(3,)), layers.Dense(1)])
    model.compile(nb.optimizers.SGD(learning_rate=0.1), "mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], dtype="float32")
    losses = [model.train_on_batch(x, y) for _ in range(50)]
    assert losses[-1] < losses[0] * 1e-2
    np.testing.assert_allclose(model.predict_on_batch(x)[:, 0], y, atol=0.05)


def test_evaluate_returns_scalar_without_metrics_and_dict_on_request():
    model = nb.Sequential([nb.Input(shape=(2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2)), np.ones(4)
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    model.compile("sgd", "mse", metrics=["mae"])
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "mae"}
    w, b = model.get_weights()
    expected = float(np.mean((x @ w + b - 1.0) ** 2))
    assert d["loss"] == pytest.approx(expected, rel=1e-6)


def test_running_mean_loss_weighted_by_batch_size_like_keras():
    """Epoch loss = sum(batch_loss * batch_size) / n, with a partial last batch."""
    model = nb.Sequential([nb.Input(shape=(1,)), layers.Dense(1, kernel_initializer="zeros")])
    model.compile(nb.optimizers.SGD(learning_rate=0.0), "mse")
    x = np.arange(10, dtype="float32")[:, None]
    y = np.zeros(10, dtype="float32")
    model.layers[0].set_weights([np.ones((1, 1)), np.zeros(1)])
    hist = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(np.mean(x ** 2), rel=1e-6)


@pytest.mark.parametrize("bad, match", [
    (lambda x, y: (x[:, :3], y), "expects inputs of shape"),
    (lambda x, y: (x, y[:-1]), "different lengths"),
    (lambda x, y: (x, y + 10), "out of range"),
    (lambda x, y: (np.where(np.arange(len(x))[:, None] == 2, np.nan, x), y), "NaN or Inf .*sample 2"),
    (lambda x, y: (x[:0], y[:0]), "empty"),
    (lambda x, y: (x.astype(str), y), "numeric"),
])
def test_bad_arrays_raise_data_error(bad, match):
    model = nb.Sequential([nb.Input(shape=(4,)), layers.Dense(3)])
    model.compile("adam", nb.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(8, 4))
    y = np.arange(8) % 3
    bx, by = bad(x, y)
    with pytest.raises(nb.DataError, match=match):
        model.fit(bx, by, verbose=0)


def test_fit_argument_errors():
    model = nb.Sequential([nb.Input(shape=(2,)), layers.Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.ones((2, 2)), np.ones(2))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(np.ones((2, 2)), np.ones(2), batch_size=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(np.ones((2, 2)), np.ones(2), validation_split=1.5)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(np.ones((2, 2)), np.ones(2), epochs=-1)


def test_batchnorm_relu_fusion_changes_no_bit():
    """The model fuses BatchNormalization + ReLU into one kernel; a linear Activation in
    between prevents the fusion. Both must train to bitwise the same weights."""
    x_tr, y_tr, _, _ = digits_split()

    def train(separate):
        nb.utils.set_random_seed(5)
        mid = [layers.Activation("linear")] if separate else []
        model = nb.Sequential([nb.Input(shape=(64,)), layers.Dense(32), layers.BatchNormalization(),
                               *mid, layers.ReLU(), layers.Dense(10)])
        model.compile("adam", nb.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x_tr, y_tr, epochs=2, batch_size=64, verbose=0)
        assert [c.name for c in model._plan] == (
            ["layer", "batchnorm", "layer", "layer", "layer"] if separate else
            ["layer", "batchnorm_relu", "fused", "layer"])
        return model.get_weights(), model.predict(x_tr)

    (wa, pa), (wb, pb) = train(False), train(True)
    for a, b in zip(wa, wb):
        assert np.array_equal(a, b)
    assert np.array_equal(pa, pb)


def test_uncompiled_predict_fuses_batchnorm_relu_bit_for_bit():
    nb.utils.set_random_seed(5)
    model = nb.Sequential([nb.Input(shape=(20,)), layers.Dense(16), layers.BatchNormalization(),
                           layers.ReLU(), layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(50, 20)).astype("float32")
    bn = model.layers[1]
    bn.set_weights([w + 0.3 for w in bn.get_weights()])  # non-trivial moving statistics
    h = x
    for layer in model.layers:  # unfused: each layer alone
        h = np.array(layer.forward(h, training=False), copy=True)
    out = model.predict(x, batch_size=50)
    # predict fused them although the model was never compiled
    assert [c.name for c in model._plan] == ["layer", "batchnorm_relu", "fused", "layer"]
    assert np.array_equal(out, h)


def test_layers_of_a_fitted_model_compute_alone_what_they_compute_alone():
    """The model steers its layers through the plan's arguments, never by setting
    attributes on them: after a fit that fused batch norm + ReLU and softmax +
    cross-entropy (and drew dropout masks by step), each layer called alone still
    computes its own function, and a layer's attributes are the ones its own calls make."""
    def make():
        nb.utils.set_random_seed(2)
        return [layers.Dense(16), layers.BatchNormalization(), layers.ReLU(),
                layers.Dropout(0.2), layers.Dense(3, activation="softmax")]

    x_tr, y_tr, _, _ = digits_split()
    alone = make()
    model = nb.Sequential([nb.Input(shape=(64,))] + make())
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_tr[:256], y_tr[:256] % 3, epochs=1, batch_size=64, verbose=0)
    assert [c.name for c in model._plan] == ["layer", "batchnorm_relu", "fused", "stepped", "logits"]
    dense, bn, relu, drop, out = model.layers
    h = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    assert np.any(bn(h) < 0)                                   # no ReLU inside
    np.testing.assert_array_equal(relu(h), np.maximum(h, 0))   # the ReLU applies itself
    probs = out(h)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)   # not logits
    # the same layers, used alone (forward and backward, training and not), hold the
    # same attribute names as the ones inside the fitted model
    a = x_tr[:64]
    for layer_alone, layer_in in zip(alone, model.layers):
        for training in (True, False):
            b = layer_alone(a, training=training)
            layer_alone.backward(np.ones_like(b))
        a = b
        assert set(vars(layer_in)) <= set(vars(layer_alone)), layer_in.name
