"""Issue 14 losses: KLDivergence, Poisson, LogCosh, Hinge, SquaredHinge, CategoricalHinge,
CosineSimilarity, MSLE, MAPE, the focal cross-entropies, Tversky and Dice; Keras 3
reductions; the function forms and losses.get. Expected values are the published
formulas written out here in NumPy (and, when keras is installed, Keras 3 itself)."""
import json
import os

import numpy as np
import pytest

import nbnet as nb
from helpers import numeric_grad
from nbnet import losses
from nbnet.kernels import losses as K

EPS = 1e-7


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _ref_binary_focal(t, p, alpha=0.25, gamma=2.0, balance=False, logits=False, smooth=0.0):
    t = t * (1 - smooth) + 0.5 * smooth
    p = _sigmoid(p) if logits else p
    c = np.clip(p, EPS, 1 - EPS)
    bce = -(t * np.log(c) + (1 - t) * np.log(1 - c))
    p_t = t * p + (1 - t) * (1 - p)
    w = t * alpha + (1 - t) * (1 - alpha) if balance else 1.0
    return np.mean(w * (1 - p_t) ** gamma * bce)


def _ref_cat_focal(t, p, alpha=0.25, gamma=2.0, logits=False, smooth=0.0):
    k = t.shape[-1]
    t = t * (1 - smooth) + smooth / k
    q = _softmax(p) if logits else p / p.sum(-1, keepdims=True)
    q = np.clip(q, EPS, 1 - EPS)
    return np.mean(np.sum(-np.asarray(alpha) * (1 - q) ** gamma * t * np.log(q), -1))


def _cases(rng, n=6, k=4):
    """name -> (loss, y_true, y_pred (float64), reference value from the formula)."""
    onehot = np.eye(k)[rng.integers(0, k, n)]
    dist = rng.uniform(0.1, 1, (n, k))
    dist /= dist.sum(1, keepdims=True)
    probs = rng.uniform(0.05, 0.95, (n, k))
    pos = rng.uniform(0.2, 3.0, (n, k))
    labels01 = rng.integers(0, 2, (n, k)).astype(float)
    z = rng.normal(size=(n, k)) * 2
    # hinge: scores with margins away from 0 (|1 - t p| >= 0.1)
    s = rng.uniform(0.1, 0.9, (n, k)) * rng.choice([-1, 1], (n, k))
    s = np.where(rng.uniform(size=(n, k)) < 0.5, 1 + s, s)
    pm = 2 * labels01 - 1
    counts = rng.integers(0, 5, (n, k)).astype(float)
    reg_t = rng.normal(size=(n, k)) + np.sign(rng.normal(size=(n, k))) * 2
    reg_p = reg_t + rng.uniform(0.2, 1.0, (n, k)) * rng.choice([-1, 1], (n, k))
    t_cos, p_cos = rng.normal(size=(n, k)), rng.normal(size=(n, k))
    # categorical hinge: the argmax of (1 - t) p well separated, margins away from 0
    ch_p = rng.uniform(0, 1, (n, k)) + onehot * rng.uniform(-0.5, 1.5, (n, 1))
    ch_p[np.arange(n), (onehot.argmax(1) + 1) % k] += 1.0
    mask = rng.integers(0, 2, (n, 3, 3, 1)).astype(float)
    soft = rng.uniform(0.05, 0.95, (n, 3, 3, 1))
    cases = {
        "kld": (losses.KLDivergence(), dist, probs,
                np.mean(np.sum(dist * np.log(dist / probs), -1))),
        "poisson": (losses.Poisson(), counts, pos, np.mean(pos - counts * np.log(pos + EPS))),
        "log_cosh": (losses.LogCosh(), reg_t, reg_p, np.mean(np.log(np.cosh(reg_p - reg_t)))),
        "hinge01": (losses.Hinge(), labels01, s, np.mean(np.maximum(1 - pm * s, 0))),
        "hinge_pm": (losses.Hinge(), pm, s, np.mean(np.maximum(1 - pm * s, 0))),
        "squared_hinge": (losses.SquaredHinge(), labels01, s,
                          np.mean(np.maximum(1 - pm * s, 0) ** 2)),
        "categorical_hinge": (losses.CategoricalHinge(), onehot, ch_p, np.mean(np.maximum(
            0, ((1 - onehot) * ch_p).max(-1) - (onehot * ch_p).sum(-1) + 1))),
        "cosine": (losses.CosineSimilarity(), t_cos, p_cos, np.mean(-np.sum(t_cos * p_cos, -1) / (
            np.linalg.norm(t_cos, axis=-1) * np.linalg.norm(p_cos, axis=-1)))),
        "msle": (losses.MeanSquaredLogarithmicError(), pos[::-1].copy(), pos,
                 np.mean((np.log1p(pos) - np.log1p(pos[::-1])) ** 2)),
        "mape": (losses.MeanAbsolutePercentageError(), reg_t, reg_p,
                 100 * np.mean(np.abs((reg_t - reg_p) / reg_t))),
        "cat_focal": (losses.CategoricalFocalCrossentropy(), onehot, probs,
                      _ref_cat_focal(onehot, probs)),
        "cat_focal_logits": (losses.CategoricalFocalCrossentropy(
            alpha=[0.1, 0.2, 0.3, 0.4], gamma=1.5, from_logits=True, label_smoothing=0.1),
            onehot, z, _ref_cat_focal(onehot, z, [0.1, 0.2, 0.3, 0.4], 1.5, True, 0.1)),
        "bin_focal": (losses.BinaryFocalCrossentropy(), labels01, probs,
                      _ref_binary_focal(labels01, probs)),
        "bin_focal_bal_logits": (losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.3, gamma=3.0, from_logits=True,
            label_smoothing=0.2), labels01, z,
            _ref_binary_focal(labels01, z, 0.3, 3.0, True, True, 0.2)),
        "dice": (losses.Dice(), mask, soft,
                 1 - 2 * np.sum(mask * soft) / (mask.sum() + soft.sum() + EPS)),
        "dice_per_sample": (losses.Dice(axis=(1, 2, 3)), mask, soft, np.mean(
            1 - 2 * np.sum(mask * soft, (1, 2, 3)) / (mask.sum((1, 2, 3)) + soft.sum((1, 2, 3)) + EPS))),
        "tversky": (losses.Tversky(alpha=0.7, beta=0.3), mask, soft, 1 - np.sum(mask * soft) / (
            np.sum(mask * soft) + 0.7 * np.sum((1 - soft) * mask) + 0.3 * np.sum(soft * (1 - mask)) + EPS)),
        "tversky_hw": (losses.Tversky(axis=(1, 2)), mask, soft, np.mean(1 - np.sum(mask * soft, (1, 2)) / (
            np.sum(mask * soft, (1, 2)) + 0.5 * np.sum((1 - soft) * mask, (1, 2))
            + 0.5 * np.sum(soft * (1 - mask), (1, 2)) + EPS))),
    }
    return cases


NAMES = list(_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("name", NAMES)
def test_value_formula_and_gradient_at_float64(rng, name):
    loss, y_true, y_pred, expected = _cases(rng)[name]
    y_pred = np.ascontiguousarray(y_pred)
    assert loss(y_true, y_pred) == pytest.approx(expected, rel=1e-12, abs=1e-14)
    assert np.mean(loss.per_sample(y_true, y_pred)) == pytest.approx(expected, rel=1e-12)
    grad = np.full_like(y_pred, np.nan)
    assert loss.forward_backward(grad, y_pred, y_true) == pytest.approx(expected, rel=1e-12)
    idx, num = numeric_grad(lambda: loss(y_true, y_pred), y_pred, eps=1e-6)
    np.testing.assert_allclose(grad.reshape(-1)[idx], num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_float32_follows_float64(rng, name):
    loss, y_true, y_pred, expected = _cases(rng)[name]
    p32 = np.ascontiguousarray(y_pred, dtype=np.float32)
    g32, g64 = np.empty_like(p32), np.empty_like(y_pred)
    v32 = loss.forward_backward(g32, p32, np.asarray(y_true, dtype=np.float32))
    v64 = loss.forward_backward(g64, p32.astype(np.float64), y_true)
    assert g32.dtype == np.float32 and np.isfinite(g32).all()
    assert v32 == pytest.approx(v64, rel=1e-6, abs=1e-7)
    np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-6)


def test_moved_axis_cosine_and_hinge_label_rule(rng):
    t, p = rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 3, 5))
    moved = losses.CosineSimilarity(axis=1)
    last = losses.CosineSimilarity()
    tt, pp = np.ascontiguousarray(np.swapaxes(t, 1, 2)), np.ascontiguousarray(np.swapaxes(p, 1, 2))
    assert moved(t, p) == pytest.approx(last(tt, pp), rel=1e-13)
    grad = np.empty_like(p)
    moved.forward_backward(grad, p, t)
    idx, num = numeric_grad(lambda: moved(t, p), p, eps=1e-6)
    np.testing.assert_allclose(grad.reshape(-1)[idx], num, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="axis"):
        losses.CosineSimilarity(axis=0)(t, p)
    # labels not all in {0, 1} are used as they are (Keras): 0 stays 0
    y = np.array([[0.0, 1.0, -1.0]])
    s = np.array([[0.5, 0.5, 0.5]])
    assert losses.Hinge()(y, s) == pytest.approx(np.mean([1.0, 0.5, 1.5]))


@pytest.mark.parametrize("kernel,args", [
    (K.poisson, (EPS,)), (K.log_cosh, ()), (K.hinge, ()), (K.mape, (EPS,)),
    (K.binary_focal, (0.25, 2.0, True, True, EPS)), (K.overlap, (0.5, 0.5, False, EPS)),
    (K.cosine_similarity, (EPS,)), (K.kl_divergence, (EPS,)),
])
def test_kernels_bitwise_at_one_and_two_threads(kernel, args):
    r = np.random.default_rng(7)
    p = r.uniform(0.05, 2.0, (300, 37))   # > 4096 elements: several chunks
    t = r.uniform(0.0, 1.0, (300, 37))
    old = nb.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            nb.set_num_threads(threads)
            g = np.empty_like(p)
            out.append((kernel(g, p, t, *args), g))
    finally:
        nb.set_num_threads(old)
    assert out[0][0] == out[1][0] and np.array_equal(out[0][1], out[1][1])


def test_reductions_like_keras(rng):
    t, p = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    w = np.array([0.5, 1.0, 0.0, 2.0, 1.5])
    per = np.mean(np.log(np.cosh(p - t)), axis=1)
    assert losses.LogCosh()(t, p) == pytest.approx(per.mean(), rel=1e-12)
    assert losses.LogCosh(reduction="mean")(t, p, w) == pytest.approx((per * w).sum() / 5, rel=1e-12)
    assert losses.LogCosh(reduction="sum")(t, p) == pytest.approx(per.sum(), rel=1e-12)
    assert losses.LogCosh(reduction="sum")(t, p, w) == pytest.approx((per * w).sum(), rel=1e-12)
    assert losses.LogCosh(reduction="mean_with_sample_weight")(t, p, w) == pytest.approx(
        (per * w).sum() / w.sum(), rel=1e-12)
    assert losses.LogCosh(reduction="mean_with_sample_weight")(t, p) == pytest.approx(per.mean())
    for none in (None, "none"):
        np.testing.assert_allclose(losses.LogCosh(reduction=none)(t, p), per, rtol=1e-12)
        np.testing.assert_allclose(losses.LogCosh(reduction=none)(t, p, w), per * w, rtol=1e-12)
    # existing losses take it too, and keep their default results bit for bit
    mse = losses.MeanSquaredError(reduction="sum")
    assert mse(t, p) == pytest.approx(np.sum(np.mean((p - t) ** 2, 1)), rel=1e-12)
    assert losses.MeanSquaredError()(t, p) == losses.MeanSquaredError(reduction="mean")(t, p)
    assert mse.get_config() == {"name": "mean_squared_error", "reduction": "sum"}
    assert losses.MeanSquaredError().get_config() == {"name": "mean_squared_error"}
    # a whole-batch Dice is one value (Keras: a scalar, sum or not)
    m, s = rng.integers(0, 2, (4, 6)).astype(float), rng.uniform(size=(4, 6))
    d = 1 - 2 * np.sum(m * s) / (m.sum() + s.sum() + EPS)
    assert losses.Dice(reduction="sum")(m, s) == pytest.approx(d, rel=1e-12)
    assert losses.Dice()(m, s, np.full(4, 2.0)) == pytest.approx(2 * d, rel=1e-12)
    with pytest.raises(ValueError, match="reduction"):
        losses.Poisson(reduction="avg")


def test_get_strings_functions_and_serialize():
    strings = {"kl_divergence": losses.KLDivergence, "kld": losses.KLDivergence,
               "poisson": losses.Poisson, "log_cosh": losses.LogCosh, "logcosh": losses.LogCosh,
               "hinge": losses.Hinge, "squared_hinge": losses.SquaredHinge,
               "categorical_hinge": losses.CategoricalHinge,
               "cosine_similarity": losses.CosineSimilarity, "msle": losses.MeanSquaredLogarithmicError,
               "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
               "mape": losses.MeanAbsolutePercentageError,
               "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
               "categorical_focal_crossentropy": losses.CategoricalFocalCrossentropy,
               "binary_focal_crossentropy": losses.BinaryFocalCrossentropy,
               "tversky": losses.Tversky, "dice": losses.Dice, "KLD": losses.KLDivergence,
               "bce": losses.BinaryCrossentropy}
    for s, cls in strings.items():
        assert type(losses.get(s)) is cls
    for loss in (losses.Tversky(alpha=0.2, beta=0.8, axis=(1, 2)),
                 losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5], gamma=1.0, from_logits=True),
                 losses.BinaryFocalCrossentropy(apply_class_balancing=True, label_smoothing=0.1),
                 losses.CosineSimilarity(axis=1, reduction="sum"), losses.Dice()):
        again = losses.get(json.loads(json.dumps(losses.serialize(loss))))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert isinstance(losses.get(losses.mean_squared_error), losses.MeanSquaredError)
    assert isinstance(losses.get(losses.kl_divergence), losses.KLDivergence)
    assert isinstance(losses.get(nb.losses.sparse_categorical_crossentropy),
                      losses.SparseCategoricalCrossentropy)
    with pytest.raises(ValueError, match="nbnet's loss functions"):
        losses.get(lambda y_true, y_pred: 0.0)
    with pytest.raises(ValueError, match="nbnet's loss functions"):
        losses.get(np.mean)
    # declared targets and fused activations
    assert losses.get("kld").target == "categorical" and losses.get("dice").target == "binary"
    assert losses.get("hinge").target == "regression" and losses.get("poisson").target == "regression"
    focal = losses.BinaryFocalCrossentropy(gamma=1.0)
    fused = focal.with_logits()
    assert focal.logits_activation == "sigmoid" and fused.from_logits and fused.gamma == 1.0
    assert losses.CategoricalFocalCrossentropy().logits_activation == "softmax"
    assert losses.get("kld").with_logits() is None and losses.KLDivergence().logits_activation is None


def test_focal_with_logits_equals_the_loss_of_the_activation(rng):
    z = rng.normal(size=(6, 3))
    y = np.eye(3)[rng.integers(0, 3, 6)]
    cat = losses.CategoricalFocalCrossentropy(label_smoothing=0.1)
    assert cat.with_logits()(y, z) == pytest.approx(cat(y, _softmax(z)), rel=1e-12)
    b = rng.integers(0, 2, (6, 3)).astype(float)
    bf = losses.BinaryFocalCrossentropy(apply_class_balancing=True)
    assert bf.with_logits()(b, z) == pytest.approx(bf(b, _sigmoid(z)), rel=1e-12)


def test_function_forms_give_per_sample_values(rng):
    t, p = rng.uniform(0.1, 1, (4, 2, 3)), rng.uniform(0.1, 1, (4, 2, 3))
    np.testing.assert_allclose(losses.poisson(t, p), np.mean(p - t * np.log(p + EPS), -1), rtol=1e-12)
    np.testing.assert_allclose(losses.kl_divergence(t, p), np.sum(t * np.log(t / p), -1), rtol=1e-12)
    np.testing.assert_allclose(losses.log_cosh(t, p), np.mean(np.log(np.cosh(p - t)), -1), rtol=1e-12)
    np.testing.assert_allclose(losses.mean_squared_error(t, p), np.mean((p - t) ** 2, -1), rtol=1e-12)
    np.testing.assert_allclose(losses.cosine_similarity(t, p, axis=1), -np.sum(t * p, 1) / (
        np.linalg.norm(t, axis=1) * np.linalg.norm(p, axis=1)), rtol=1e-12)
    assert losses.hinge(t, p).shape == (4, 2) and losses.dice(t, p).shape == ()
    assert losses.dice(t, p, axis=(1, 2)).shape == (4,)
    assert losses.poisson(t, p.astype(np.float32)).dtype == np.float32
    # (N,) against (N, 1): Keras' rank fix, one value a sample
    assert losses.mean_absolute_error(np.ones(3), np.zeros((3, 1))).shape == (3,)
    for fn, cls in ((losses.squared_hinge, losses.SquaredHinge),
                    (losses.mean_absolute_percentage_error, losses.MeanAbsolutePercentageError),
                    (losses.categorical_hinge, losses.CategoricalHinge),
                    (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy),
                    (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy)):
        x, y = t.reshape(4, 6), p.reshape(4, 6)
        np.testing.assert_allclose(fn(x, y), cls(reduction=None)(x, y), rtol=1e-12)


def test_bad_arguments_and_data():
    with pytest.raises(ValueError, match="alpha"):
        losses.BinaryFocalCrossentropy(alpha=1.5)
    with pytest.raises(ValueError, match="gamma"):
        losses.CategoricalFocalCrossentropy(gamma=-1)
    with pytest.raises(TypeError, match="axis"):
        losses.CosineSimilarity(axis="last")
    with pytest.raises(TypeError, match="axis"):
        losses.Dice(axis="all")
    with pytest.raises(ValueError, match="alpha has 2 values for 3 classes"):
        losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5])(np.eye(3), np.full((3, 3), 1 / 3))
    with pytest.raises(nb.DataError, match="do not match"):
        losses.Poisson()(np.ones((4, 2)), np.ones((4, 3)))
    with pytest.raises(nb.DataError, match="sample_weight"):
        losses.Hinge()(np.ones((4, 2)), np.ones((4, 2)), sample_weight=[1, 2])


@pytest.mark.parametrize("loss,act,units,kind", [
    ("log_cosh", None, 1, "reg"), ("poisson", "softplus", 1, "count"),
    ("hinge", "tanh", 1, "bin"),
    (losses.BinaryFocalCrossentropy(), "sigmoid", 1, "bin"),
    (losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0), "softmax", 3, "cat"),
    ("dice", "sigmoid", 1, "bin"),
])
def test_a_tiny_model_learns(loss, act, units, kind):
    nb.utils.set_random_seed(3)
    r = np.random.default_rng(3)
    x = r.normal(size=(96, 4)).astype(np.float32)
    s = x[:, 0] + 0.5 * x[:, 1]
    y = {"reg": s[:, None], "count": np.round(np.exp(0.5 * s))[:, None],
         "bin": (s > 0).astype(np.float32)[:, None],
         "cat": np.eye(3, dtype=np.float32)[np.digitize(s, [-0.5, 0.5])]}[kind]
    model = nb.Sequential([nb.Input(shape=(4,)), nb.layers.Dense(8, activation="relu"),
                           nb.layers.Dense(units, activation=act)])
    model.compile(nb.optimizers.Adam(learning_rate=0.02), loss)
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0, shuffle=False)
    assert np.isfinite(first) and model.evaluate(x, y, verbose=0) < 0.8 * first


# ------------------------------------------------------------------ Keras 3 (optional)

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_every_loss_matches_keras_at_float32(rng):
    keras = _keras()
    KL = keras.losses
    pairs = [
        (losses.KLDivergence(), KL.KLDivergence()), (losses.Poisson(), KL.Poisson()),
        (losses.LogCosh(), KL.LogCosh()), (losses.Hinge(), KL.Hinge()),
        (losses.SquaredHinge(), KL.SquaredHinge()), (losses.CategoricalHinge(), KL.CategoricalHinge()),
        (losses.CosineSimilarity(), KL.CosineSimilarity()),
        (losses.MeanSquaredLogarithmicError(), KL.MeanSquaredLogarithmicError()),
        (losses.MeanAbsolutePercentageError(), KL.MeanAbsolutePercentageError()),
        (losses.CategoricalFocalCrossentropy(label_smoothing=0.1),
         KL.CategoricalFocalCrossentropy(label_smoothing=0.1)),
        (losses.CategoricalFocalCrossentropy(from_logits=True, gamma=1.0),
         KL.CategoricalFocalCrossentropy(from_logits=True, gamma=1.0)),
        (losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4),
         KL.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4)),
        (losses.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.2),
         KL.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.2)),
        (losses.Tversky(alpha=0.3, beta=0.7), KL.Tversky(alpha=0.3, beta=0.7)),
        (losses.Dice(), KL.Dice()), (losses.Dice(axis=(1,)), KL.Dice(axis=(1,))),
        (losses.LogCosh(reduction="sum"), KL.LogCosh(reduction="sum")),
        (losses.Poisson(reduction="mean_with_sample_weight"),
         KL.Poisson(reduction="mean_with_sample_weight")),
    ]
    y_cat = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 16)]
    y_bin = rng.integers(0, 2, (16, 5)).astype(np.float32)
    y_pos = rng.uniform(0, 3, (16, 5)).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (16, 5)).astype(np.float32)
    z = rng.normal(size=(16, 5)).astype(np.float32) * 2
    w = rng.uniform(0.5, 2, 16).astype(np.float32)
    for ours, theirs in pairs:
        t = {"categorical": y_cat, "binary": y_bin}.get(ours.target, y_pos)
        if isinstance(ours, losses.Hinge):
            t = y_bin
        pred = z if getattr(ours, "from_logits", False) or isinstance(
            ours, (losses.CosineSimilarity, losses.Hinge, losses.CategoricalHinge)) else p
        for sw in (None, w):
            expected = float(np.asarray(theirs(t, pred, sample_weight=sw)))
            assert ours(t, pred, sample_weight=sw) == pytest.approx(expected, rel=1e-5, abs=1e-6), \
                (ours.name, sw is not None)
    np.testing.assert_allclose(losses.LogCosh(reduction=None)(y_pos, p),
                               np.asarray(KL.LogCosh(reduction=None)(y_pos, p)), rtol=1e-5)
    for name in ("kl_divergence", "poisson", "log_cosh", "hinge", "squared_hinge",
                 "categorical_hinge", "mean_squared_logarithmic_error",
                 "mean_absolute_percentage_error", "binary_focal_crossentropy",
                 "categorical_focal_crossentropy"):
        np.testing.assert_allclose(getattr(losses, name)(y_cat, p),
                                   np.asarray(getattr(KL, name)(y_cat, p)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses.cosine_similarity(y_pos, z), np.asarray(
        KL.cosine_similarity(y_pos, z)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses.tversky(y_bin, p), np.asarray(KL.tversky(y_bin, p)), rtol=1e-5)
    np.testing.assert_allclose(losses.dice(y_bin, p), np.asarray(KL.dice(y_bin, p)), rtol=1e-5)
