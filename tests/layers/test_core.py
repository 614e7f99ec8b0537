"""Dense, Activation (see test_activation_layers.py), Dropout, Flatten, Reshape."""
import json

import numpy as np
import pytest

import nbnet as nb
import reference_dense as R
from helpers import check_config_roundtrip, check_layer
from nbnet.layers.core import Dense, Dropout, Flatten, Reshape


def _x(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape)


# ---------------------------------------------------------------- Dense
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "elu", "gelu",
                                        "softmax", "log_softmax"])
def test_dense_gradients(activation, float64):
    # a random bias keeps the ReLU pre-activations away from 0 generically
    check_layer(Dense(6, activation=activation, bias_initializer="random_normal"), (4, 5))


@pytest.mark.parametrize("shape", [(1, 7), (5, 13), (33, 65)])
def test_dense_no_bias_gradients(shape, float64):
    check_layer(Dense(3, use_bias=False, activation="swish"), shape)


def test_dense_nd_input(float64):
    layer = Dense(4, activation="tanh", bias_initializer="random_normal")
    check_layer(layer, (2, 3, 5))
    assert layer.compute_output_shape((None, 3, 5)) == (None, 3, 4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "leaky_relu"])
def test_dense_matches_reference(activation, dtype):
    rtol = 1e-10 if dtype == "float64" else 1e-5
    atol = 1e-12 if dtype == "float64" else 1e-5
    layer = Dense(7, activation=activation, dtype=dtype, bias_initializer="random_normal")
    x = _x((33, 13)).astype(dtype)
    y = layer(x)
    W, b = layer.get_weights()
    alpha = 0.2 if activation == "leaky_relu" else 0.0
    z_ref, y_ref = R.dense_forward(x, W, b, activation, alpha)
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol)
    dy = _x((33, 7), seed=1).astype(dtype)
    layer.kernel.grad[...] = 5.0  # must be overwritten, not accumulated
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = R.dense_backward(dy, x, W, z_ref, activation, alpha)
    np.testing.assert_allclose(dx, dx_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(layer.kernel.grad, dW_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(layer.bias.grad, db_ref, rtol=rtol, atol=atol)


def test_dense_logits():
    layer = Dense(4, activation="softmax", bias_initializer="random_normal", dtype="float64")
    x = _x((3, 5))
    probs = layer(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    assert layer.final_activation == "softmax"
    W, b = layer.get_weights()
    logits = layer.forward(x, training=True, logits=True)
    np.testing.assert_allclose(logits, x @ W + b, rtol=1e-12)
    g = _x((3, 4), seed=2)  # dL/dlogits
    dx = layer.backward(g.copy())
    np.testing.assert_allclose(dx, g @ W.T, rtol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, x.T @ g, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=0), rtol=1e-12)


def test_dense_frozen_and_first_layer():
    layer = Dense(3, dtype="float64")
    x = _x((4, 2))
    layer(x)
    layer.kernel.grad[...] = 9.0
    layer.bias.grad[...] = 9.0
    layer.trainable = False
    layer.forward(x, training=True)
    dx = layer.backward(np.ones((4, 3)))
    np.testing.assert_allclose(dx, np.ones((4, 3)) @ layer.kernel.value.T)
    assert np.all(layer.kernel.grad == 9.0) and np.all(layer.bias.grad == 9.0)
    layer.trainable = True
    layer.forward(x, training=True)
    assert layer.backward(np.ones((4, 3)), need_dx=False) is None
    np.testing.assert_allclose(layer.kernel.grad, x.T @ np.ones((4, 3)))


def test_dense_reads_rebound_weights():
    """The model rebinds w.value / w.grad to views into flat buffers."""
    layer = Dense(2, dtype="float64")
    x = _x((3, 4))
    layer(x)
    flat = np.zeros(8 + 2)
    flat[:8] = layer.kernel.value.ravel()
    layer.kernel.value = flat[:8].reshape(4, 2)
    layer.bias.value = flat[8:]
    flat[8:] = [1.0, -1.0]
    np.testing.assert_allclose(layer(x), x @ layer.kernel.value + [1.0, -1.0])


def test_dense_config_flops_and_errors():
    layer = Dense(5, activation="relu", kernel_initializer=nb.initializers.get("he_normal"))
    x = _x((2, 3)).astype(np.float32)
    check_config_roundtrip(layer, x)
    cfg = layer.get_config()
    json.dumps(cfg)
    assert cfg["units"] == 5 and cfg["activation"] == "relu" and cfg["use_bias"] is True
    assert layer.flops((None, 3)) == 2 * 3 * 5 + 5 + 5     # product + bias + relu
    assert Dense(5, use_bias=False).flops((None, 3)) == 30
    assert [w.shape for w in layer.weights] == [(3, 5), (5,)]
    with pytest.raises(ValueError):
        Dense(0)
    with pytest.raises(ValueError):
        Dense(3, activation="nope")
    with pytest.raises(ValueError):
        layer(np.zeros((2, 4), np.float32))


# ---------------------------------------------------------------- Dropout
def test_dropout_inference_identity_and_validation():
    x = _x((4, 6)).astype(np.float32)
    layer = Dropout(0.5)
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)
    for bad in (-0.1, 1.0, 1.5, "0.5", None):
        with pytest.raises(ValueError):
            Dropout(bad)


def test_dropout_training():
    x = np.ones((200, 500), np.float32)
    layer = Dropout(0.3, seed=42)
    y = layer(x, training=True)
    kept = y != 0
    sd = np.sqrt(0.3 * 0.7 / x.size)
    assert abs(kept.mean() - 0.7) < 5 * sd
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    # backward multiplies by the same mask
    layer.forward(x, training=True)
    mask = layer._mask.copy()
    dy = _x(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy * mask)
    # a new mask each call; the same seed gives the same sequence of masks
    y2 = Dropout(0.3, seed=42)(x, training=True)
    np.testing.assert_array_equal(y2, y)
    assert not np.array_equal(layer(x, training=True), y)


def test_dropout_global_seed():
    x = np.ones((10, 100))
    nb.random.set_random_seed(7)
    a = Dropout(0.5)(x, training=True)
    nb.random.set_random_seed(7)
    b = Dropout(0.5)(x, training=True)
    np.testing.assert_array_equal(a, b)


def test_dropout_config():
    layer = Dropout(0.25, seed=3, name="drop")
    cfg = layer.get_config()
    json.dumps(cfg)
    assert Dropout.from_config(cfg).get_config() == cfg
    assert cfg["rate"] == 0.25 and cfg["seed"] == 3


# ---------------------------------------------------------------- Flatten, Reshape
def test_flatten(float64):
    layer = Flatten()
    check_layer(layer, (2, 3, 4, 5))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 60)
    np.testing.assert_array_equal(layer(np.arange(24.0).reshape(2, 3, 4)),
                                  np.arange(24.0).reshape(2, 12))


def test_reshape(float64):
    check_layer(Reshape((4, 3)), (2, 12))
    check_layer(Reshape((-1, 2)), (3, 2, 3))
    assert Reshape((-1, 2)).compute_output_shape((None, 2, 3)) == (None, 3, 2)
    assert Reshape((5, -1)).compute_output_shape((None, 10)) == (None, 5, 2)
    np.testing.assert_array_equal(Reshape((2, 3))(np.arange(12.0).reshape(2, 6)),
                                  np.arange(12.0).reshape(2, 2, 3))
    with pytest.raises(ValueError):
        Reshape((-1, -1))
    with pytest.raises(ValueError):
        Reshape((4, 4))(np.zeros((2, 12)))
    with pytest.raises(ValueError):
        Reshape((5, -1))(np.zeros((2, 12)))
    json.dumps(Reshape((2, -1)).get_config())
