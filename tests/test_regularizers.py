"""Regularizers and constraints (Keras 3): penalties by their formulas and gradients by
finite differences; in a model, the reported loss is data loss + penalties and a step
adds the penalty's gradient; constraints hold after every step; config round trip;
the same numbers as Keras 3 (optional)."""
import os

import numpy as np
import pytest

import nbnet as nb
from nbnet import constraints, layers, regularizers
from helpers import numeric_grad


REGS = [regularizers.L1(0.03), regularizers.L2(0.02), regularizers.L1L2(0.01, 0.04),
        regularizers.OrthogonalRegularizer(0.5), regularizers.OrthogonalRegularizer(0.2, "columns")]


@pytest.mark.parametrize("reg", REGS, ids=repr)
def test_penalty_gradient_matches_finite_differences(reg):
    w = np.random.default_rng(0).normal(size=(5, 4))
    g = np.zeros_like(w)
    reg.add_gradient(g, w)
    idx, num = numeric_grad(lambda: reg(w), w, eps=1e-6)
    np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-6, atol=1e-9)


def test_penalties_by_their_formulas():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert regularizers.L1(0.1)(w) == pytest.approx(0.1 * 3.5)
    assert regularizers.L2(0.1)(w) == pytest.approx(0.1 * 5.25)
    assert regularizers.L1L2(0.1, 0.2)(w) == pytest.approx(0.35 + 1.05)
    # rows (1, -2)/sqrt5 and (1, 0): their dot product -> |1/sqrt5|, twice, / (2 * 1)
    assert regularizers.OrthogonalRegularizer(1.0)(w) == pytest.approx(1 / np.sqrt(5))
    assert type(regularizers.get("l2")) is regularizers.L2 and regularizers.get("l2").l2 == 0.01
    l1l2 = regularizers.get("l1_l2")
    assert (l1l2.l1, l1l2.l2) == (0.01, 0.01)
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        regularizers.L2(-1)


def test_constraints_by_their_formulas():
    w = np.array([[3.0, 0.1], [4.0, -0.1]])      # column norms 5 and ~0.1414
    m = constraints.MaxNorm(2.0)(w)
    np.testing.assert_allclose(m[:, 0], w[:, 0] * 2 / (5 + 1e-7))
    np.testing.assert_allclose(m[:, 1], w[:, 1] * np.sqrt(0.02) / (np.sqrt(0.02) + 1e-7))
    np.testing.assert_array_equal(constraints.NonNeg()(w), np.maximum(w, 0))
    np.testing.assert_allclose(np.linalg.norm(constraints.UnitNorm()(w), axis=0), 1.0, rtol=1e-6)
    mm = constraints.MinMaxNorm(0.5, 1.0)(w)
    np.testing.assert_allclose(np.linalg.norm(mm, axis=0), [1.0, 0.5], rtol=1e-5)


def _dense_model(**kw):
    nb.config.set_floatx("float64")
    try:
        nb.utils.set_random_seed(0)
        m = nb.Sequential([nb.Input((4,)), layers.Dense(3, activation="tanh", **kw),
                           layers.Dense(1, kernel_regularizer=regularizers.L1(0.02))])
        m.compile(nb.optimizers.SGD(learning_rate=0.1), "mse")
    finally:
        nb.config.set_floatx("float32")
    return m


def test_reported_loss_and_step_include_the_penalties():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 1))
    reg = _dense_model(kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.05))
    w0 = reg.get_weights()
    data_loss = float(np.mean((reg.predict(x) - y) ** 2))
    penalty = 0.01 * np.sum(w0[0] ** 2) + 0.05 * np.sum(np.abs(w0[1])) + 0.02 * np.sum(np.abs(w0[2]))
    assert reg.losses == pytest.approx([0.01 * np.sum(w0[0] ** 2), 0.05 * np.sum(np.abs(w0[1])),
                                        0.02 * np.sum(np.abs(w0[2]))])
    assert reg.evaluate(x, y, batch_size=10, verbose=0) == pytest.approx(data_loss + penalty)

    # the step's gradient is that of data loss + penalty (finite differences)
    def total():
        return reg.evaluate(x, y, batch_size=10, verbose=0)

    nums = [numeric_grad(total, w.value, eps=1e-6) for w in reg.trainable_weights]
    got = reg.train_on_batch(x, y)
    assert got == pytest.approx(data_loss + penalty)
    for w, a, (idx, num) in zip(reg.trainable_weights, w0, nums):
        g = (a - w.value) / 0.1
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-5, atol=1e-8, err_msg=w.path)


def test_constraint_holds_after_every_step_and_configs_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 4)), 5 * rng.normal(size=(32, 1))
    m = _dense_model(kernel_constraint=constraints.MaxNorm(0.5), bias_constraint="non_neg",
                     kernel_regularizer=regularizers.L1L2(0.01, 0.02))
    seen = []
    cb = nb.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(
        (np.linalg.norm(m.layers[0].kernel.value, axis=0).max(), m.layers[0].bias.value.min())))
    m.fit(x, y, batch_size=8, epochs=2, callbacks=[cb], verbose=0)
    assert len(seen) == 8
    assert all(n <= 0.5 + 1e-6 and b >= 0 for n, b in seen)
    cfg = m.layers[0].get_config()
    assert cfg["kernel_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 0.5, "axis": 0}}
    assert cfg["kernel_regularizer"] == {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}}
    m.save(tmp_path / "r.nbnet")
    back = nb.load_model(tmp_path / "r.nbnet")
    assert back.evaluate(x, y, verbose=0) == m.evaluate(x, y, verbose=0)
    assert "kernel_regularizer" not in layers.Dense(2).get_config()


def test_conv2d_takes_regularizers_too():
    layer = layers.Conv2D(2, 3, kernel_regularizer="l1", kernel_constraint="unit_norm")
    layer(np.zeros((1, 5, 5, 1), "float32"))
    assert layer.kernel.regularizer.l1 == 0.01 and type(layer.kernel.constraint).__name__ == "UnitNorm"
    assert layers.Dense(2, activity_regularizer="l2").get_config()["activity_regularizer"] == \
        {"class_name": "L2", "config": {"l2": 0.01}}


def test_penalties_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    w = np.random.default_rng(3).normal(size=(6, 4)).astype("float32")
    pairs = [(regularizers.L1(0.03), keras.regularizers.L1(0.03)),
             (regularizers.L2(0.02), keras.regularizers.L2(0.02)),
             (regularizers.L1L2(0.01, 0.04), keras.regularizers.L1L2(0.01, 0.04)),
             (regularizers.OrthogonalRegularizer(0.5), keras.regularizers.OrthogonalRegularizer(0.5)),
             (regularizers.OrthogonalRegularizer(0.2, "columns"),
              keras.regularizers.OrthogonalRegularizer(0.2, "columns"))]
    for ours, theirs in pairs:
        want = float(keras.ops.convert_to_numpy(theirs(keras.ops.convert_to_tensor(w))))
        assert ours(w) == pytest.approx(want, rel=1e-5), type(ours).__name__
    for ours, theirs in [(constraints.MaxNorm(1.0), keras.constraints.MaxNorm(1.0)),
                         (constraints.UnitNorm(), keras.constraints.UnitNorm()),
                         (constraints.NonNeg(), keras.constraints.NonNeg()),
                         (constraints.MinMaxNorm(0.5, 1.5, 0.7), keras.constraints.MinMaxNorm(0.5, 1.5, 0.7))]:
        want = keras.ops.convert_to_numpy(theirs(keras.ops.convert_to_tensor(w)))
        np.testing.assert_allclose(ours(w), want, rtol=1e-5, atol=1e-7)


def _activity_model(lib, reg_hidden, reg_layer):
    a = lib.Input((4,))
    h = lib.layers.Dense(3, activation="tanh", activity_regularizer=reg_hidden)(a)
    h = lib.layers.ActivityRegularization(l1=reg_layer)(h)
    return lib.Model(a, lib.layers.Dense(2, activation="softmax")(h))


def test_activity_regularizers_join_the_loss_divided_by_the_batch_size(float64):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 4)), rng.integers(0, 2, 12)
    nb.utils.set_random_seed(0)
    model = _activity_model(nb, regularizers.L2(0.3), 0.2)
    model.compile(nb.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy")
    W, b = model.layers[1].get_weights()
    h = np.tanh(x @ W + b)
    p = model.predict(x)
    data = -np.mean(np.log(p[np.arange(12), y]))
    want = data + (0.3 * np.sum(h ** 2) + 0.2 * np.sum(np.abs(h))) / 12
    assert model.evaluate(x, y, batch_size=12, verbose=0) == pytest.approx(want, rel=1e-10)
    nums = [numeric_grad(lambda: model.evaluate(x, y, batch_size=12, verbose=0), w.value, eps=1e-6)
            for w in model.trainable_weights]
    w0 = [w.value.copy() for w in model.trainable_weights]
    assert model.train_on_batch(x, y) == pytest.approx(want, rel=1e-10)
    for w, a, (idx, num) in zip(model.trainable_weights, w0, nums):
        g = ((a - w.value) / 0.1).reshape(-1)
        np.testing.assert_allclose(g[idx], num, rtol=1e-6, atol=1e-9, err_msg=w.path)


def test_activity_regularizers_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 4)).astype("float32"), rng.integers(0, 2, 10)
    ours = _activity_model(nb, regularizers.L2(0.3), 0.2)
    theirs = _activity_model(keras, keras.regularizers.L2(0.3), 0.2)
    theirs.set_weights(ours.get_weights())
    for m in (ours, theirs):
        m.compile("sgd", "sparse_categorical_crossentropy")
    assert ours.evaluate(x, y, batch_size=10, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, batch_size=10, verbose=0), rel=1e-5)
