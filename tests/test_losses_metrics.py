"""nbnet.losses and nbnet.metrics: Keras documentation values, gradients, resolution."""
import json

import numpy as np
import pytest

import nbnet as nb
import reference_norm_losses as ref
from helpers import numeric_grad
from nbnet import losses, metrics

# ------------------------------------------------------------------ losses

KERAS_DOC_VALUES = [  # (loss, y_true, y_pred, value from the Keras / PyTorch docs)
    (losses.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]],
     [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], 1.177),
    (losses.SparseCategoricalCrossentropy(), [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], 1.177),
    (losses.BinaryCrossentropy(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.815),
    (losses.BinaryCrossentropy(from_logits=True), [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8], 0.865),
    (losses.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [1, 0]], 0.5),
    (losses.MeanAbsoluteError(), [[0, 1], [0, 0]], [[1, 1], [1, 0]], 0.5),
    (losses.Huber(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.155),
    (losses.SmoothL1(), [[0.0, 0.0]], [[0.5, 2.0]], 0.8125),  # (0.125 + 1.5) / 2
]


@pytest.mark.parametrize("loss,y_true,y_pred,value", KERAS_DOC_VALUES,
                         ids=[c[0].name + str(i) for i, c in enumerate(KERAS_DOC_VALUES)])
def test_documented_values(loss, y_true, y_pred, value):
    assert loss(np.array(y_true), np.array(y_pred, dtype=np.float64)) == pytest.approx(value, abs=1e-3)


def _case(rng, name, n=5, k=4):
    """(loss, y_pred float64, y_true) away from kinks and clipping."""
    t_soft = rng.uniform(size=(n, k))
    t_soft /= t_soft.sum(1, keepdims=True)
    p = rng.uniform(0.05, 1.0, size=(n, k))
    cases = {
        "cce": (losses.CategoricalCrossentropy(label_smoothing=0.1), p, t_soft),
        "cce_logits": (losses.CategoricalCrossentropy(True, 0.2), rng.normal(size=(n, k)), t_soft),
        "scce": (losses.SparseCategoricalCrossentropy(label_smoothing=0.1), p, rng.integers(0, k, n)),
        "scce_logits": (losses.SparseCategoricalCrossentropy(True), rng.normal(size=(n, k)),
                        rng.integers(0, k, n)),
        "bce": (losses.BinaryCrossentropy(label_smoothing=0.1), rng.uniform(0.05, 0.95, (n, 1)),
                rng.integers(0, 2, n).astype(float)),
        "bce_logits": (losses.BinaryCrossentropy(True), rng.normal(size=(n, k)) * 3,
                       rng.uniform(size=(n, k))),
        "mse": (losses.get("mse"), rng.normal(size=(n,)), rng.normal(size=(n,))),
        "mae": (losses.get("mae"), rng.normal(size=(n, k)) + 5, rng.normal(size=(n, k))),
        "huber": (losses.Huber(delta=2.0), rng.normal(size=(n, k)) * 3, np.zeros((n, k))),
        "smooth_l1": (losses.SmoothL1(beta=0.5), rng.normal(size=(n, k)) * 2, np.zeros((n, k))),
    }
    loss, y_pred, y_true = cases[name]
    if name in ("huber", "smooth_l1"):
        kink = {"huber": 2.0, "smooth_l1": 0.5}[name]
        y_pred[np.abs(np.abs(y_pred) - kink) < 0.05] += 0.2
    return loss, np.ascontiguousarray(y_pred), y_true


NAMES = ["cce", "cce_logits", "scce", "scce_logits", "bce", "bce_logits", "mse", "mae",
         "huber", "smooth_l1"]


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_gradient_matches_finite_differences(rng, name):
    loss, y_pred, y_true = _case(rng, name)
    grad = np.full_like(y_pred, np.nan)
    value = loss.forward_backward(grad, y_pred, y_true)
    assert value == pytest.approx(loss(y_true, y_pred), rel=1e-14)
    idx, num = numeric_grad(lambda: loss(y_true, y_pred), y_pred, eps=1e-6)
    np.testing.assert_allclose(grad.reshape(-1)[idx], num, rtol=1e-6, atol=1e-9)


def test_loss_values_match_references(rng):
    p = rng.uniform(0.05, 1, size=(6, 3))
    labels = rng.integers(0, 3, 6)
    onehot = np.eye(3)[labels]
    smooth = 0.9 * onehot + 0.1 / 3
    assert losses.SparseCategoricalCrossentropy(label_smoothing=0.1)(labels, p) == pytest.approx(
        ref.ce_from_probs(p, smooth, 1e-7)[0], rel=1e-12)
    z = rng.normal(size=(6, 3))
    assert losses.get("categorical_crossentropy").with_logits()(onehot, z) == pytest.approx(
        ref.softmax_ce(z, onehot)[0], rel=1e-12)
    y = rng.integers(0, 2, size=(6, 1)).astype(float)
    assert losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)(y, z[:, :1]) == \
        pytest.approx(ref.bce_from_logits(z[:, :1], 0.8 * y + 0.1)[0], rel=1e-12)


def test_float32_predictions_give_float32_gradient(rng):
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    z = rng.normal(size=(8, 5)).astype(np.float32)
    grad = np.empty_like(z)
    labels = rng.integers(0, 5, 8)
    value = loss.forward_backward(grad, z, labels)
    expected, g_ref = ref.softmax_ce_sparse(z.astype(float), labels)
    assert value == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(grad, g_ref, rtol=1e-5, atol=1e-7)


def test_with_logits():
    for loss, act in ((losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax"),
                      (losses.get("sparse_categorical_crossentropy"), "softmax"),
                      (losses.BinaryCrossentropy(), "sigmoid")):
        fused = loss.with_logits()
        assert fused.from_logits and not loss.from_logits and type(fused) is type(loss)
        assert fused.label_smoothing == loss.label_smoothing and loss.logits_activation == act
        assert fused.with_logits() is None  # already on logits: nothing to fuse
    assert losses.get("mse").with_logits() is None and losses.Huber().with_logits() is None


def test_get_serialize_and_names():
    expected = {"categorical_crossentropy": "categorical_crossentropy",
                "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
                "binary_crossentropy": "binary_crossentropy", "mse": "mean_squared_error",
                "mean_squared_error": "mean_squared_error", "mae": "mean_absolute_error",
                "mean_absolute_error": "mean_absolute_error", "huber": "huber_loss",
                "smooth_l1": "smooth_l1"}
    for s, name in expected.items():
        loss = losses.get(s)
        assert loss.name == name
        spec = json.loads(json.dumps(losses.serialize(loss)))
        again = losses.get(spec)
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert losses.get("sparse_categorical_crossentropy").target == "sparse"
    assert losses.get("categorical_crossentropy").target == "categorical"
    h = losses.get(losses.serialize(losses.Huber(delta=0.3)))
    assert h.delta == 0.3
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get("hinge_like")


def test_bad_labels_and_shapes_raise_data_error():
    with pytest.raises(nb.DataError, match="labels must be in"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(nb.DataError, match="do not match"):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 3)))


def test_huge_logits_through_the_class():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert loss(np.array([1]), np.array([[1e4, -1e4]])) == 2e4
    assert loss(np.array([0]), np.array([[1e4, -1e4]])) == 0.0


# ------------------------------------------------------------------ metrics

def test_mean_is_weighted_by_sample_weight():
    m = metrics.Mean()
    m.update_state(2.0, sample_weight=3)
    m.update_state(4.0, sample_weight=1)
    assert m.result() == pytest.approx(2.5)
    m.update_state(np.array([1.0, 3.0]), sample_weight=np.array([2.0, 2.0]))  # arrays: (10 + 8) / 8
    assert m.result() == pytest.approx(18.0 / 8.0)
    m.reset_state()
    assert m.result() == 0.0


def test_accuracy_metrics_on_keras_doc_examples():
    acc = metrics.BinaryAccuracy()
    acc.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert acc.result() == pytest.approx(0.75)
    pred = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    cat = metrics.CategoricalAccuracy()
    cat.update_state([[0, 0, 1], [0, 1, 0]], pred)
    assert cat.result() == pytest.approx(0.5)
    sp = metrics.SparseCategoricalAccuracy()
    sp.update_state([[2], [1]], pred)
    assert sp.result() == pytest.approx(0.5)
    for k, value in ((1, 0.5), (2, 1.0)):
        top = metrics.TopKCategoricalAccuracy(k=k)
        top.update_state([[0, 0, 1], [0, 1, 0]], pred)
        assert top.result() == pytest.approx(value)


def test_per_sample_metrics_weight_batches_by_size():
    m = metrics.get("mse")
    m.update_state([[0, 1], [0, 0]], [[1, 1], [1, 0]])  # per sample 0.5, 0.5
    m.update_state([[0, 0]], [[2, 2]])                  # per sample 4
    assert m.result() == pytest.approx((0.5 + 0.5 + 4) / 3)
    mae = metrics.get("mean_absolute_error")
    mae.update_state(np.array([1.0, 2.0, 3.0]), np.array([[1.5], [2.0], [1.0]]))
    assert mae.result() == pytest.approx(2.5 / 3)
    assert m.name == "mse" and mae.name == "mean_absolute_error"


def test_accuracy_resolution_like_keras():
    sparse = losses.get("sparse_categorical_crossentropy")
    m = metrics.get("accuracy", loss=sparse, output_shape=(None, 3))
    m.update_state(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]))
    assert m.name == "accuracy" and m.result() == pytest.approx(0.5)
    b = metrics.get("acc", loss=losses.get("binary_crossentropy"), output_shape=(None, 1))
    b.update_state(np.array([[1.0], [0.0]]), np.array([[0.7], [0.8]]))
    assert b.name == "acc" and b.result() == pytest.approx(0.5)
    c = metrics.get("accuracy", loss=losses.get("categorical_crossentropy"), output_shape=(None, 3))
    c.update_state(np.eye(3)[[2, 1]], np.array([[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]))
    assert c.result() == pytest.approx(1.0)
    lazy = metrics.get("accuracy")  # no loss or shape: Keras 3 rule on the arrays
    lazy.update_state(np.array([[2], [0]]), np.array([[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]))
    assert lazy.result() == pytest.approx(0.5)


def test_metric_get_serialize_and_errors():
    m = metrics.get("binary_accuracy")
    assert isinstance(m, metrics.BinaryAccuracy) and m.name == "binary_accuracy"
    t = metrics.TopKCategoricalAccuracy(k=3, name="top3")
    again = metrics.get(json.loads(json.dumps(metrics.serialize(t))))
    assert isinstance(again, metrics.TopKCategoricalAccuracy) and again.get_config() == \
        {"name": "top3", "k": 3}
    assert metrics.get(t) is t
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("f1ish")
    with pytest.raises(TypeError):
        metrics.BinaryAccuracy(k=3)
