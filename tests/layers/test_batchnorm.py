"""BatchNormalization layer: gradients, Keras 3 semantics, moving statistics."""
import json

import numpy as np
import pytest

import nbnet as nb
import reference_norm_losses as ref
from helpers import check_layer, check_layer_grad
from nbnet.layers.normalization import BatchNormalization


def _randomise(layer, rng):
    c = layer.moving_mean.shape[0]
    layer.set_weights([rng.uniform(0.5, 2, c), rng.normal(size=c),
                       rng.normal(size=c), rng.uniform(0.5, 2, c)])


@pytest.mark.parametrize("shape", [(8, 5), (6, 130), (3, 4, 5, 3), (2, 3, 3, 7)])
def test_check_layer(float64, shape):
    check_layer(BatchNormalization(momentum=0.9), shape)


@pytest.mark.parametrize("shape", [(9, 6), (5, 140), (2, 4, 3, 5)])
def test_gradients_with_random_weights_and_fused_relu(float64, rng, shape):
    layer = BatchNormalization()
    layer(rng.normal(size=shape))
    _randomise(layer, rng)
    x = rng.normal(size=shape) * 2 + 1
    y = np.array(layer.forward(x, training=True, relu=True))
    assert np.all(y >= 0) and np.any(y == 0)
    np.testing.assert_allclose(y, np.maximum(layer.forward(x, training=True), 0), rtol=1e-12,
                               atol=1e-15)   # a different kernel: last-bit differences
    check_layer_grad(layer, x, training=True, relu=True)
    check_layer_grad(layer, x, training=False, relu=True)


@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
def test_center_scale_flags(float64, rng, center, scale):
    layer = BatchNormalization(center=center, scale=scale)
    check_layer(layer, (7, 4))
    names = [w.name for w in layer.weights]
    assert names == (["gamma"] if scale else []) + (["beta"] if center else []) + \
        ["moving_mean", "moving_variance"]


def test_inference_gradient_check(float64, rng):
    layer = BatchNormalization()
    layer(rng.normal(size=(4, 6)))
    _randomise(layer, rng)
    check_layer_grad(layer, rng.normal(size=(5, 6)), training=False)


def test_training_output_matches_reference_and_moving_update(float64, rng):
    layer = BatchNormalization(momentum=0.8, epsilon=1e-2)
    x = rng.normal(size=(2, 3, 4, 6)) * 3 + 5
    layer(x[:1])  # build
    gamma, beta = rng.uniform(0.5, 2, 6), rng.normal(size=6)
    mm0, mv0 = rng.normal(size=6), rng.uniform(0.5, 2, 6)
    layer.set_weights([gamma, beta, mm0, mv0])
    y = layer(x, training=True)
    x2 = x.reshape(-1, 6)
    y_ref, mean, _ = ref.bn_train(x2, gamma, beta, 1e-2)
    np.testing.assert_allclose(y.reshape(-1, 6), y_ref, rtol=1e-10, atol=1e-12)
    var_biased = ((x2 - x2.mean(0)) ** 2).mean(0)
    np.testing.assert_allclose(layer.moving_mean.value, 0.8 * mm0 + 0.2 * x2.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.value, 0.8 * mv0 + 0.2 * var_biased, rtol=1e-12)


def test_inference_uses_moving_statistics(float64, rng):
    layer = BatchNormalization(epsilon=1e-3)
    x = rng.normal(size=(5, 3))
    layer(x)
    w = [rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.normal(size=3), rng.uniform(0.5, 2, 3)]
    layer.set_weights(w)
    y = layer(x, training=False)
    np.testing.assert_allclose(y, w[0] * (x - w[2]) / np.sqrt(w[3] + 1e-3) + w[1], rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.value, w[2])  # unchanged


def test_frozen_layer_runs_in_inference_mode(float64, rng):
    layer = BatchNormalization()
    x = rng.normal(size=(6, 4)) + 3
    layer(x)
    _randomise(layer, rng)
    before = layer.get_weights()
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4
    y = layer(x, training=True)
    np.testing.assert_allclose(y, layer(x, training=False), rtol=0, atol=0)
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    check_layer_grad(layer, x, training=True)  # the affine map's dx


def test_batch_of_one_in_training_raises_data_error(rng):
    layer = BatchNormalization()
    with pytest.raises(nb.DataError, match="one value per channel"):
        layer(rng.normal(size=(1, 4)), training=True)
    assert layer(rng.normal(size=(1, 4)), training=False).shape == (1, 4)
    # NHWC with one image still has H*W values per channel
    assert np.all(np.isfinite(BatchNormalization()(rng.normal(size=(1, 3, 3, 2)), training=True)))


def test_wrong_channel_count_raises(rng):
    layer = BatchNormalization()
    layer(rng.normal(size=(4, 3)))
    with pytest.raises(nb.DataError, match="expected 3"):
        layer(rng.normal(size=(4, 5)))


def test_float32_large_mean_small_std(rng):
    """Feature with mean 1e4 and std 1e-2 in float32: normalised output has std ~1."""
    layer = BatchNormalization(epsilon=1e-8, momentum=0.0, dtype="float32")
    x = (1e4 + 1e-2 * rng.normal(size=(512, 3))).astype(np.float32)
    y = layer(x, training=True)
    assert y.dtype == np.float32
    xd = x.astype(np.float64)
    np.testing.assert_allclose(layer.moving_variance.value, xd.var(0), rtol=1e-4)
    np.testing.assert_allclose(y.std(0), 1.0, rtol=1e-3)


def test_constant_feature_stays_finite(float64):
    layer = BatchNormalization()
    x = np.ones((10, 2))
    x[:, 1] = np.arange(10)
    y = layer(x, training=True)
    assert np.all(np.isfinite(y)) and np.all(y[:, 0] == 0)
    assert np.all(np.isfinite(layer.backward(np.ones_like(x))))


def test_config_is_json_and_round_trips(rng):
    layer = BatchNormalization(momentum=0.5, epsilon=1e-4, center=False,
                               gamma_initializer=nb.initializers.Constant(2.0), name="bn7")
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = BatchNormalization.from_config(cfg)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(clone(x), layer(x))
    assert clone.get_config() == layer.get_config()
    assert cfg["momentum"] == 0.5 and cfg["center"] is False
    np.testing.assert_array_equal(clone.gamma.value, 2.0)


def test_flops_and_output_shape():
    layer = BatchNormalization()
    assert layer.flops((None, 4, 4, 3)) == 4 * 48
    assert layer.compute_output_shape((None, 7)) == (None, 7)


def test_param_grads_overwrite_not_accumulate(float64, rng):
    layer = BatchNormalization()
    x = rng.normal(size=(6, 3))
    layer(x)
    dy = rng.normal(size=(6, 3))
    for _ in range(2):
        layer.forward(x, training=True)
        layer.backward(dy)
    xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(layer.gamma.grad, (dy * xhat).sum(0), rtol=1e-10)
    np.testing.assert_allclose(layer.beta.grad, dy.sum(0), rtol=1e-10)
    layer.forward(x, training=True)
    assert layer.backward(dy, need_dx=False) is None
