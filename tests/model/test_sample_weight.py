"""sample_weight / class_weight in fit, evaluate and train_on_batch (Keras 3 semantics):
a batch's loss is sum_n w_n l_n / N, its gradient the unweighted one with row n scaled
by w_n; weighted_metrics are weighted means sum w v / sum w, metrics ignore weights."""
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nbnet as nb
from helpers import ATOL_GRAD, RTOL_GRAD, numeric_grad
from nbnet import layers, losses
from nbnet.trainer import class_weight_to_sample_weight

EPS = 1e-7  # nb.config.epsilon(), Keras' default


# ------------------------------------------------------------------ plain references
def _softmax_ce(z, t):
    lse = math.log(sum(math.exp(v) for v in z))
    return sum(tk * (lse - zk) for tk, zk in zip(t, z))


def _probs_ce(p, t):
    s = sum(p)
    return -sum(tk * math.log(min(max(pk / s, EPS), 1 - EPS)) for tk, pk in zip(t, p))


def _bce(p, t, from_logits):
    if from_logits:
        p = 1.0 / (1.0 + math.exp(-p))
    else:
        p = min(max(p, EPS), 1 - EPS)
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def naive_per_sample(loss, y_true, y_pred):
    """The loss of each sample, one sample and one element at a time."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    n = len(y_pred)
    k = y_pred.shape[-1]
    s = getattr(loss, "label_smoothing", 0.0)
    out = []
    for i in range(n):
        pred = y_pred[i].reshape(-1, k) if y_pred.ndim > 1 else y_pred[i].reshape(1, 1)
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            labels = np.asarray(y_true).reshape(n, -1)[i]
            rows = [[(1 - s) * (c == lab) + s / k for c in range(k)] for lab in labels]
        else:
            rows = np.asarray(y_true, dtype=np.float64).reshape(n, -1)[i].reshape(pred.shape)
        vals = []
        for z, t in zip(pred, rows):
            if isinstance(loss, (losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy)):
                if isinstance(loss, losses.CategoricalCrossentropy):
                    t = [(1 - s) * tk + s / k for tk in t]
                vals.append(_softmax_ce(z, t) if loss.from_logits else _probs_ce(z, t))
                continue
            for p, tk in zip(z, t):
                d = p - tk
                if isinstance(loss, losses.BinaryCrossentropy):
                    vals.append(_bce(p, tk * (1 - s) + 0.5 * s, loss.from_logits))
                elif isinstance(loss, losses.MeanSquaredError):
                    vals.append(d * d)
                elif isinstance(loss, losses.MeanAbsoluteError):
                    vals.append(abs(d))
                elif isinstance(loss, losses.Huber):
                    a, dl = abs(d), loss.delta
                    vals.append(0.5 * d * d if a <= dl else dl * (a - 0.5 * dl))
                elif isinstance(loss, losses.SmoothL1):
                    a, b = abs(d), loss.beta
                    vals.append(a if b == 0 else (0.5 * d * d / b if a < b else a - 0.5 * b))
        out.append(sum(vals) / len(vals))
    return np.array(out)


def loss_cases(rng, n=6, k=4):
    """(id, loss, y_true, y_pred float64) covering every loss class and its options;
    the probability cases include clipped entries (0 and 1)."""
    t_soft = rng.uniform(size=(n, k))
    t_soft /= t_soft.sum(1, keepdims=True)
    p = rng.uniform(0.05, 1.0, size=(n, k))
    p[0, 1] = 0.0  # clipped to eps after normalisation
    p01 = rng.uniform(0.05, 0.95, (n, 3))
    p01[0, 0], p01[1, 2] = 0.0, 1.0
    return [
        ("cce", losses.CategoricalCrossentropy(), np.eye(k)[rng.integers(0, k, n)], p),
        ("cce_smooth", losses.CategoricalCrossentropy(label_smoothing=0.1), t_soft, p),
        ("cce_logits", losses.CategoricalCrossentropy(True, 0.2), t_soft, rng.normal(size=(n, k)) * 3),
        ("scce", losses.SparseCategoricalCrossentropy(label_smoothing=0.1), rng.integers(0, k, n), p),
        ("scce_logits", losses.SparseCategoricalCrossentropy(True), rng.integers(0, k, n),
         rng.normal(size=(n, k)) * 3),
        ("scce_logits_3d", losses.SparseCategoricalCrossentropy(True, 0.1), rng.integers(0, k, (n, 2)),
         rng.normal(size=(n, 2, k))),
        ("bce", losses.BinaryCrossentropy(label_smoothing=0.1),
         rng.integers(0, 2, (n, 3)).astype(float), p01),
        ("bce_logits", losses.BinaryCrossentropy(True), rng.uniform(size=(n, k)),
         rng.normal(size=(n, k)) * 3),
        ("bce_1d", losses.BinaryCrossentropy(True), rng.integers(0, 2, n).astype(float),
         rng.normal(size=n)),
        ("mse", losses.MeanSquaredError(), rng.normal(size=(n,)), rng.normal(size=(n,))),
        ("mae", losses.MeanAbsoluteError(), rng.normal(size=(n, k)), rng.normal(size=(n, k)) + 0.5),
        ("huber", losses.Huber(delta=1.5), np.zeros((n, k)), rng.normal(size=(n, k)) * 2),
        ("smooth_l1", losses.SmoothL1(beta=0.5), np.zeros((n, k)), rng.normal(size=(n, k))),
        ("smooth_l1_beta0", losses.SmoothL1(beta=0.0), np.zeros((n, k)), rng.normal(size=(n, k))),
    ]


CASE_IDS = [c[0] for c in loss_cases(np.random.default_rng(0))]


@pytest.mark.parametrize("case", CASE_IDS)
def test_per_sample_losses_match_plain_formulas_and_the_kernel_mean(case):
    rng = np.random.default_rng(7)
    _, loss, y_true, y_pred = next(c for c in loss_cases(rng) if c[0] == case)
    values = loss.per_sample(y_true, y_pred)
    assert values.dtype == np.float64 and values.shape == (len(y_pred),)
    np.testing.assert_allclose(values, naive_per_sample(loss, y_true, y_pred), rtol=1e-12, atol=1e-14)
    assert values.mean() == pytest.approx(loss(y_true, y_pred), rel=1e-12)  # the kernel's mean
    w = rng.uniform(0, 3, len(y_pred))
    w[1] = 0.0
    assert loss(y_true, y_pred, sample_weight=w) == pytest.approx(
        float(np.sum(w * values) / len(values)), rel=1e-13)


def test_per_sample_of_float32_predictions_is_float64_and_near_the_kernel(rng):
    for _, loss, y_true, y_pred in loss_cases(rng, n=40, k=5):
        y32 = y_pred.astype(np.float32)
        values = loss.per_sample(y_true, y32)
        assert values.dtype == np.float64
        assert values.mean() == pytest.approx(loss(y_true, y32), rel=2e-6, abs=1e-7), loss.name


def test_loss_call_with_scalar_and_column_weights(rng):
    loss = losses.MeanSquaredError()
    y, p = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    assert loss(y, p, sample_weight=2.0) == pytest.approx(2 * loss(y, p), rel=1e-12)
    w = rng.uniform(size=5)
    assert loss(y, p, sample_weight=w[:, None]) == loss(y, p, sample_weight=w)


# ------------------------------------------------------------------ models
def mlp(k=3, act=None, n_in=5, seed=0):
    nb.utils.set_random_seed(seed)
    return nb.Sequential([nb.Input(shape=(n_in,)), layers.Dense(7, activation="tanh"),
                          layers.Dense(k, activation=act)])


def data(rng, n=24, n_in=5, k=3):
    return rng.standard_normal((n, n_in)), rng.integers(0, k, n)


def test_weights_two_double_the_sgd_step(float64, rng):
    x, y = data(rng)
    a, b = mlp(), mlp()
    a.compile(nb.optimizers.SGD(learning_rate=0.05), losses.SparseCategoricalCrossentropy(True))
    b.compile(nb.optimizers.SGD(learning_rate=0.1), losses.SparseCategoricalCrossentropy(True))
    la = a.train_on_batch(x, y, sample_weight=np.full(len(x), 2.0))
    lb = b.train_on_batch(x, y)
    assert la == pytest.approx(2 * lb, rel=1e-12)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss,act,onehot", [
    ("sparse_categorical_crossentropy", "softmax", False),
    ("categorical_crossentropy", "softmax", True),
    ("mse", None, True),
])
def test_integer_weights_equal_duplicated_rows_at_lr_times_m_over_n(float64, rng, loss, act, onehot):
    """sum_n w_n l_n / N on N rows = (M / N) * the mean over the M = sum w rows where row n
    appears w_n times: one SGD step at lr equals a step at lr * M / N on the duplicates."""
    x, y = data(rng, n=10)
    y = np.eye(3)[y] if onehot else y
    w = np.array([1, 2, 0, 3, 1, 1, 0, 2, 1, 1])
    n, m = len(x), int(w.sum())
    a, b = mlp(act=act), mlp(act=act)
    a.compile(nb.optimizers.SGD(learning_rate=0.1), loss)
    b.compile(nb.optimizers.SGD(learning_rate=0.1 * m / n), loss)
    la = a.train_on_batch(x, y, sample_weight=w)
    lb = b.train_on_batch(np.repeat(x, w, axis=0), np.repeat(y, w, axis=0))
    assert la == pytest.approx(lb * m / n, rel=1e-12)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-14)


def test_weights_of_ones_train_bitwise_like_no_weights(rng):
    x, y = data(rng, n=50)
    runs = []
    for kw in ({"sample_weight": np.ones(len(x))}, {}):
        model = mlp(act="softmax")  # seeds the shuffle too
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        runs.append((model, model.fit(x, y, batch_size=16, epochs=2, verbose=0, **kw)))
    (a, ha), (b, hb) = runs
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert ha.history["accuracy"] == hb.history["accuracy"]
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)


def test_shuffled_weights_follow_their_samples(float64, rng):
    """Zero-weight samples cannot matter, whatever their labels, if each weight is
    gathered with its own sample under the shuffle."""
    x, y = data(rng, n=40)
    w = rng.uniform(0.5, 2.0, len(x))
    w[::3] = 0.0
    y2 = y.copy()
    y2[::3] = (y[::3] + 1) % 3
    runs = []
    for labels, weights in ((y, w), (y2, w), (y2, np.ones(len(x)))):
        model = mlp()
        model.compile(nb.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                      losses.SparseCategoricalCrossentropy(True), weighted_metrics=["accuracy"])
        hist = model.fit(x, labels, batch_size=8, epochs=3, verbose=0, shuffle=True,
                         sample_weight=weights)
        runs.append((model.get_weights(), hist.history))
    for wa, wb in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(wa, wb)
    assert runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[1][0][0], runs[2][0][0])  # the labels do matter at weight 1


# ------------------------------------------------------------------ class_weight
def test_class_weight_to_sample_weight_like_keras():
    cw = {0: 1.0, 1: 2.0, 2: 3.0}
    cases = [  # those of keras/src/trainers/data_adapters/data_adapter_utils_test.py ...
        (np.array([0, 1, 0, 2]), cw, [1, 2, 1, 3]),
        (np.eye(3)[[0, 1, 0, 2]], cw, [1, 2, 1, 3]),
        (np.array([[0], [1], [0], [2]]), cw, [1, 2, 1, 3]),
        # ... rounding of a single output, argmax of probability rows, absent classes weigh 1
        (np.array([[0.2], [0.7]]), {1: 5.0}, [1, 5]),
        (np.array([[0.1, 0.9], [0.6, 0.4]]), {0: 4.0}, [1, 4]),
    ]
    for y, weights, expected in cases:
        np.testing.assert_array_equal(class_weight_to_sample_weight(y, weights), expected)


@pytest.mark.parametrize("kind", ["sparse", "onehot", "binary"])
def test_class_weight_equals_the_sample_weight_it_stands_for(rng, kind):
    x, labels = data(rng, n=30, k=2 if kind == "binary" else 3)
    if kind == "sparse":
        y, loss, k, act = labels, "sparse_categorical_crossentropy", 3, "softmax"
    elif kind == "onehot":
        y, loss, k, act = np.eye(3)[labels], "categorical_crossentropy", 3, "softmax"
    else:
        y, loss, k, act = labels.astype(float)[:, None], "binary_crossentropy", 1, "sigmoid"
    sw = np.where(labels == 1, 3.0, 1.0)  # class 2 is absent from the dict: weight 1
    hists, weights = [], []
    for kw in ({"class_weight": {0: 1, 1: 3}}, {"sample_weight": sw}):
        model = mlp(k=k, act=act)
        model.compile("adam", loss, metrics=["accuracy"], weighted_metrics=["accuracy"])
        hists.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0, **kw).history)
        weights.append(model.get_weights())
    assert hists[0] == hists[1]
    for wa, wb in zip(*weights):
        np.testing.assert_array_equal(wa, wb)
    a, b = mlp(k=k, act=act), mlp(k=k, act=act)
    a.compile("sgd", loss)
    b.compile("sgd", loss)
    assert a.train_on_batch(x, y, class_weight={0: 1, 1: 3}) == b.train_on_batch(x, y, sample_weight=sw)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# ------------------------------------------------------------------ gradient
GRAD_CASES = {  # (loss, output activation, units, targets)
    "softmax_scce": ("sparse_categorical_crossentropy", "softmax", 3, "labels"),
    "softmax_cce_probs_smooth": (losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax", 3,
                                 "onehot"),
    "logits_cce_smooth": (losses.CategoricalCrossentropy(True, 0.2), None, 3, "onehot"),
    "sigmoid_bce": ("binary_crossentropy", "sigmoid", 1, "binary"),
    "mse": ("mse", None, 2, "real"),
    "huber": (losses.Huber(delta=0.3), None, 2, "real"),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradient_is_that_of_the_weighted_loss(float64, rng, case):
    loss, act, k, targets = GRAD_CASES[case]
    n = 9
    x = rng.standard_normal((n, 5))
    y = {"labels": rng.integers(0, 3, n), "onehot": np.eye(3)[rng.integers(0, 3, n)],
         "binary": rng.integers(0, 2, n).astype(float), "real": rng.normal(size=(n, k))}[targets]
    w = rng.uniform(0, 3, n)
    w[2] = 0.0
    model = mlp(k=k, act=act)
    model.compile(nb.optimizers.SGD(learning_rate=1.0), loss)

    def weighted_loss():
        return model.evaluate(x, y, sample_weight=w, batch_size=n, verbose=0)

    numeric = []
    for var in model.trainable_weights:
        idx, num = numeric_grad(weighted_loss, var.value)
        numeric.append((idx, num))
    before = model.get_weights()
    expected = weighted_loss()
    assert model.train_on_batch(x, y, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    for (idx, num), w0, w1 in zip(numeric, before, model.get_weights()):
        used = (w0 - w1).reshape(-1)[idx]  # SGD at lr 1: w1 = w0 - grad
        np.testing.assert_allclose(used, num, rtol=RTOL_GRAD, atol=ATOL_GRAD)


# ------------------------------------------------------------------ evaluate
def linear_model(kernel, act=None, loss="mse", metrics=None, weighted_metrics=None):
    model = nb.Sequential([nb.Input(shape=(1,)), layers.Dense(1, activation=act)])
    model.compile("sgd", loss, metrics=metrics, weighted_metrics=weighted_metrics)
    model.set_weights([np.array([[kernel]]), np.zeros(1)])
    return model


@pytest.mark.parametrize("batch_size", [1, 3, 4, 32])
def test_evaluate_weighted_loss_and_metric_by_hand(float64, batch_size):
    """pred = x: errors 0, 1, 2, 3 with weights 1, 2, 0, 1.
    loss = sum w d^2 / N = (0 + 2 + 0 + 9) / 4; mae = sum w |d| / sum w = 5 / 4."""
    model = linear_model(1.0, metrics=["mae"], weighted_metrics=["mae"])
    x, y, w = np.array([[1.0], [2.0], [3.0], [4.0]]), np.ones(4), np.array([1.0, 2.0, 0.0, 1.0])
    logs = model.evaluate(x, y, sample_weight=w, batch_size=batch_size, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae", "weighted_mae"]  # Keras 3's names
    assert logs["loss"] == pytest.approx(11 / 4, rel=1e-14)
    assert logs["weighted_mae"] == pytest.approx(5 / 4, rel=1e-14)
    assert logs["mae"] == pytest.approx(6 / 4, rel=1e-14)  # `metrics` ignore the weights
    assert model.evaluate(x, y, batch_size=batch_size, verbose=0) == pytest.approx([14 / 4, 6 / 4, 6 / 4],
                                                                                    rel=1e-14)


def test_evaluate_weighted_binary_accuracy_and_crossentropy_by_hand(float64):
    """sigmoid(x) with x = -2, -1, 1, 2 predicts 0, 0, 1, 1; labels 0, 1, 1, 0 -> right,
    wrong, right, wrong; weights 3, 1, 1, 0: accuracy (3 + 1) / 5."""
    model = linear_model(1.0, act="sigmoid", loss="binary_crossentropy", weighted_metrics=["accuracy"])
    x, y = np.array([[-2.0], [-1.0], [1.0], [2.0]]), np.array([0.0, 1.0, 1.0, 0.0])
    w = np.array([3.0, 1.0, 1.0, 0.0])
    sig = [1 / (1 + math.exp(2)), 1 / (1 + math.exp(1)), 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-2))]
    ce = [-math.log(1 - sig[0]), -math.log(sig[1]), -math.log(sig[2]), -math.log(1 - sig[3])]
    logs = model.evaluate(x, y, sample_weight=w, batch_size=3, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx((3 * ce[0] + ce[1] + ce[2]) / 4, rel=1e-12)
    assert logs["accuracy"] == pytest.approx(4 / 5, rel=1e-14)


def test_validation_sample_weights(rng):
    x, y = data(rng, n=40)
    xv, yv = data(rng, n=13)
    wv = rng.uniform(0, 2, 13)
    model = mlp(act="softmax")
    model.compile("adam", "sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=(xv, yv, wv))
    val = model.evaluate(xv, yv, batch_size=8, sample_weight=wv, verbose=0, return_dict=True)
    assert hist.history["val_loss"] == [val["loss"]]
    assert hist.history["val_accuracy"] == [val["accuracy"]]
    assert val["loss"] != model.evaluate(xv, yv, batch_size=8, verbose=0)[0]
    # (x, y, None) is (x, y)
    hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=(xv, yv, None))
    assert hist.history["val_loss"] == [model.evaluate(xv, yv, batch_size=8, verbose=0)[0]]


def test_validation_split_splits_sample_weight_but_not_class_weight(rng):
    x, y = data(rng, n=40)
    w = rng.uniform(0, 2, 40)
    model = mlp(act="softmax")
    model.compile("adam", "sparse_categorical_crossentropy")
    hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_split=0.25, sample_weight=w)
    assert hist.history["val_loss"] == [model.evaluate(x[30:], y[30:], batch_size=8, sample_weight=w[30:],
                                                       verbose=0)]
    hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_split=0.25,
                     class_weight={0: 5.0})
    assert hist.history["val_loss"] == [model.evaluate(x[30:], y[30:], batch_size=8, verbose=0)]


# ------------------------------------------------------------------ argument errors
def test_argument_errors(rng):
    x, y = data(rng, n=100)
    model = mlp(act="softmax")
    model.compile("adam", "sparse_categorical_crossentropy")
    fit = dict(verbose=0, epochs=1)
    with pytest.raises(nb.DataError, match=r"^fit: sample_weight has 99 values for 100 samples$"):
        model.fit(x, y, sample_weight=np.ones(99), **fit)
    with pytest.raises(nb.DataError, match=r"fit: sample_weight must be >= 0, got -1 for sample 3"):
        model.fit(x, y, sample_weight=np.r_[np.ones(3), -1.0, np.ones(96)], **fit)
    with pytest.raises(nb.DataError, match=r"fit: sample_weight contains NaN or Inf \(first in sample 5"):
        model.fit(x, y, sample_weight=np.r_[np.ones(5), np.nan, np.ones(94)], **fit)
    with pytest.raises(nb.DataError, match=r"fit: sample_weight must have shape \(100,\)"):
        model.fit(x, y, sample_weight=np.ones((100, 2)), **fit)
    with pytest.raises(nb.DataError, match=r"fit: sample_weight must have shape \(100,\)"):
        model.fit(x, y, sample_weight=2.0, **fit)
    with pytest.raises(nb.DataError, match=r"fit: sample_weight must be numbers"):
        model.fit(x, y, sample_weight=["a"] * 100, **fit)
    with pytest.raises(ValueError, match=r"fit: give sample_weight or class_weight, not both"):
        model.fit(x, y, sample_weight=np.ones(100), class_weight={0: 1.0}, **fit)
    with pytest.raises(ValueError, match=r"fit: class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0, 3.0], **fit)
    for key in ("a", 1.5, None):
        with pytest.raises(ValueError, match=r"fit: class_weight keys must be integer class indices"):
            model.fit(x, y, class_weight={key: 1.0}, **fit)
    for value in (-1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match=r"fit: class_weight\[1\] must be a finite number >= 0"):
            model.fit(x, y, class_weight={1: value}, **fit)
    with pytest.raises(nb.DataError,
                       match=r"fit \(validation_data\): sample_weight has 3 values for 4 samples"):
        model.fit(x, y, validation_data=(x[:4], y[:4], np.ones(3)), **fit)
    with pytest.raises(ValueError, match=r"validation_data must be a tuple \(x_val, y_val\) or"):
        model.fit(x, y, validation_data=(x, y, np.ones(100), 1), **fit)
    with pytest.raises(nb.DataError, match=r"^evaluate: sample_weight has 101 values for 100 samples$"):
        model.evaluate(x, y, sample_weight=np.ones(101), verbose=0)
    with pytest.raises(ValueError, match=r"train_on_batch: give sample_weight or class_weight"):
        model.train_on_batch(x, y, sample_weight=np.ones(100), class_weight={0: 2})
    with pytest.raises(nb.DataError, match=r"train_on_batch: sample_weight has 2 values for 100 samples"):
        model.train_on_batch(x, y, sample_weight=[1, 2])
    with pytest.raises(ValueError, match=r"class_weight needs one class per sample"):
        class_weight_to_sample_weight(np.zeros((2, 3, 4)), {0: 1.0})
    with pytest.raises(nb.DataError, match=r"mean_squared_error: sample_weight has 2 values for 3"):
        losses.MeanSquaredError()(np.zeros(3), np.ones(3), sample_weight=[1, 1])
    # string keys of integers are accepted, as Keras does after a JSON round trip
    model.fit(x, y, class_weight={"0": 2.0, 1: 1}, **fit)


# ------------------------------------------------------------------ Keras parity
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _keras_loss(keras, loss, **kw):
    name = type(loss).__name__
    if name in ("CategoricalCrossentropy", "BinaryCrossentropy"):
        kw.update(from_logits=loss.from_logits, label_smoothing=loss.label_smoothing)
    elif name == "SparseCategoricalCrossentropy":
        if loss.label_smoothing:
            return None  # no label_smoothing in Keras' sparse cross-entropy
        kw.update(from_logits=loss.from_logits)
    elif name == "Huber":
        kw.update(delta=loss.delta)
    elif name == "SmoothL1":
        return None
    return getattr(keras.losses, name)(**kw)


@pytest.mark.parametrize("case", CASE_IDS)
def test_weighted_loss_value_matches_keras(case):
    keras = _keras()
    rng = np.random.default_rng(11)
    _, loss, y_true, y_pred = next(c for c in loss_cases(rng) if c[0] == case)
    kloss = _keras_loss(keras, loss, dtype="float64")
    if kloss is None or case == "scce_logits_3d":
        pytest.skip("no Keras counterpart, or Keras reduces that shape differently")
    if y_pred.ndim == 1:  # Keras averages a 1-D y_pred over its only axis: one sample
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    w = rng.uniform(0, 3, len(y_pred)).astype(np.float32).astype(np.float64)
    w[0] = 0.0
    # w_n l_n at float64 (reduction None), then Keras' reduction. NOTE: Keras' torch
    # backend loses float64 precision in ops.mean (the pointwise losses) and returns the
    # reduced loss in float32 (ops.divide_no_nan), whatever the loss dtype.
    weighted = _keras_loss(keras, loss, dtype="float64", reduction=None)(y_true, y_pred, sample_weight=w)
    rtol = 1e-12 if case.startswith(("cce", "scce")) else 1e-6
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weighted), w * loss.per_sample(y_true, y_pred),
                               rtol=rtol, atol=1e-15)
    expected = float(keras.ops.convert_to_numpy(kloss(y_true, y_pred, sample_weight=w)))
    assert loss(y_true, y_pred, sample_weight=w) == pytest.approx(expected, rel=1e-6)


def test_smooth_l1_weighted_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    p, t, w = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.uniform(0, 2, 6)
    per = torch.nn.functional.smooth_l1_loss(torch.tensor(p), torch.tensor(t), reduction="none", beta=0.5)
    expected = float((per.mean(dim=1) * torch.tensor(w)).sum() / 6)
    assert losses.SmoothL1(beta=0.5)(t, p, sample_weight=w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_fit_with_weights_matches_keras(weighting):
    keras = _keras()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    xv, yv, wv = x[:7] + 0.5, y[:7], rng.uniform(0, 2, 7).astype(np.float32)
    kw = ({"sample_weight": rng.uniform(0, 2, 20).astype(np.float32)} if weighting == "sample_weight"
          else {"class_weight": {0: 0.5, 2: 3.0}})
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(5, activation="tanh"),
                           keras.layers.Dense(3, activation="softmax")])
    km.compile(keras.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy",
               metrics=["accuracy"], weighted_metrics=["accuracy"])
    model = nb.Sequential([nb.Input(shape=(4,)), layers.Dense(5, activation="tanh"),
                           layers.Dense(3, activation="softmax")])
    model.compile(nb.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    model.set_weights(km.get_weights())
    kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                validation_data=(xv, yv, wv), **kw).history
    nh = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                   validation_data=(xv, yv, wv), **kw).history
    assert set(nh) == set(kh) == {"loss", "accuracy", "weighted_accuracy", "val_loss", "val_accuracy",
                                  "val_weighted_accuracy"}
    for key in kh:
        np.testing.assert_allclose(nh[key], kh[key], rtol=2e-5, err_msg=key)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    ke = km.evaluate(xv, yv, sample_weight=wv, verbose=0, return_dict=True)
    ne = model.evaluate(xv, yv, sample_weight=wv, verbose=0, return_dict=True)
    assert set(ne) == set(ke)
    for key in ke:
        np.testing.assert_allclose(ne[key], ke[key], rtol=2e-5, err_msg=key)


# ------------------------------------------------------------------ distributed
WORKER = """
import sys
import numpy as np
import nbnet as nb
from nbnet import layers
mode, out = sys.argv[1], sys.argv[2]
nb.config.set_floatx("float64")
nb.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x, y = rng.standard_normal((96, 6)), rng.integers(0, 3, 96)
w = rng.uniform(0, 2, 96)
w[::5] = 0.0
model = nb.Sequential([nb.Input(shape=(6,)), layers.Dense(8, activation="tanh"), layers.Dense(3)])
model.compile(nb.optimizers.Adam(learning_rate=0.01),
              nb.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
              weighted_metrics=["accuracy"])
hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0, sample_weight=w,
                 distributed=(mode == "dist"))
if mode == "ref" or nb.distributed.rank() == 0:
    np.savez(out, *model.get_weights(), loss=np.array(hist.history["loss"]),
             acc=np.array(hist.history["accuracy"]), wacc=np.array(hist.history["weighted_accuracy"]))
"""


def test_distributed_fit_with_sample_weight_equals_one_process(tmp_path):
    pytest.importorskip("mpi4py")
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("no mpiexec (pip install nbnet[mpi])")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    r = subprocess.run([sys.executable, str(script), "ref", str(tmp_path / "ref.npz")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", str(script), "dist",
                        str(tmp_path / "dist.npz")], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    ref, got = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "dist.npz")
    for f in ref.files:
        np.testing.assert_allclose(got[f], ref[f], rtol=1e-9, atol=1e-12, err_msg=f)
