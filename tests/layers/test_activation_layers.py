"""Activation layers, the Activation layer and nb.activations, against the reference."""
import numpy as np
import pytest

import nbnet as nb
import nbnet.activations as A
import reference_dense as R
from helpers import check_layer
from nbnet.layers.activations import ELU, LeakyReLU, ReLU, Softmax
from nbnet.layers.core import Activation

ELEMENTWISE = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "gelu",
               "softplus", "softsign", "swish", "silu", "hard_sigmoid", "relu6"]
REF_NAME = {"silu": "swish"}
REF_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}  # Keras 3 defaults of the functions


def smooth_x(shape, seed=0):
    """Inputs in (-2.5, 2.5) and at least 0.05 from 0 (no kinks, no ties)."""
    x = np.random.default_rng(seed).uniform(-2.5, 2.5, size=shape)
    return R.away_from_kinks(x)


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax", "log_softmax"])
def test_activation_layer_gradients(name, float64):
    check_layer(Activation(name), (3, 7), x=smooth_x((3, 7)))


@pytest.mark.parametrize("make", [ReLU, lambda: ReLU(negative_slope=0.1),
                                  lambda: ReLU(max_value=6), LeakyReLU,
                                  lambda: LeakyReLU(negative_slope=0.05), ELU,
                                  lambda: ELU(alpha=0.5), Softmax])
def test_activation_layers_check(make, float64):
    check_layer(make(), (4, 3, 5), x=smooth_x((4, 3, 5), seed=1))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_functions_match_reference(name):
    x = smooth_x((5, 13)) * 2
    ref = R.act(REF_NAME.get(name, name), x, REF_ALPHA.get(name, 0.0))
    np.testing.assert_allclose(A.get(name)(x), ref, rtol=1e-10, atol=1e-12)
    y32 = getattr(A, name)(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, R.act(REF_NAME.get(name, name), x.astype(np.float32),
                                          REF_ALPHA.get(name, 0.0)), rtol=1e-5, atol=1e-6)


def test_function_arguments_and_defaults():
    x = np.array([-2.0, -0.5, 0.5, 8.0])
    np.testing.assert_allclose(A.leaky_relu(x), [-0.4, -0.1, 0.5, 8.0])       # slope 0.2
    np.testing.assert_allclose(A.leaky_relu(x, negative_slope=0.5), [-1.0, -0.25, 0.5, 8.0])
    np.testing.assert_allclose(A.elu(x, alpha=2.0), np.where(x > 0, x, 2 * np.expm1(x)))
    np.testing.assert_allclose(A.relu(x, max_value=6), [0, 0, 0.5, 6.0])
    np.testing.assert_allclose(A.relu(x, negative_slope=0.1), [-0.2, -0.05, 0.5, 8.0])
    np.testing.assert_allclose(A.relu(x, threshold=1.0), [0, 0, 0, 8.0])
    np.testing.assert_allclose(A.relu(x, max_value=2.0), [0, 0, 0.5, 2.0])
    np.testing.assert_allclose(A.hard_sigmoid(x), np.clip((x + 3) / 6, 0, 1))
    np.testing.assert_allclose(A.gelu(x, approximate=True), R.act("gelu_tanh", x), rtol=1e-12)
    assert A.swish is A.silu
    x2 = np.random.default_rng(0).normal(size=(3, 4, 5))
    for axis in (-1, 0, 1):
        e = np.exp(x2 - x2.max(axis=axis, keepdims=True))
        np.testing.assert_allclose(A.softmax(x2, axis=axis), e / e.sum(axis=axis, keepdims=True),
                                   rtol=1e-12)
        np.testing.assert_allclose(A.log_softmax(x2, axis=axis),
                                   np.log(e / e.sum(axis=axis, keepdims=True)), rtol=1e-12)


def test_extreme_inputs():
    x = np.array([-1000.0, 1000.0])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(A.sigmoid(x), [0.0, 1.0])
        np.testing.assert_array_equal(A.softplus(x), [0.0, 1000.0])
        np.testing.assert_array_equal(A.softmax(np.array([[1000.0, -1000.0]])), [[1.0, 0.0]])
        np.testing.assert_array_equal(A.tanh(x), [-1.0, 1.0])


def test_get_spec_serialize():
    assert A.get(None) is A.linear and A.get("relu") is A.relu and A.get(A.tanh) is A.tanh
    assert A.spec("leaky_relu")[2] == 0.2 and A.spec("elu")[2] == 1.0
    assert A.spec("softmax")[1] < 0 and A.spec("log_softmax")[1] < 0
    assert A.spec("softmax")[1] != A.spec("log_softmax")[1]
    assert A.serialize(A.sigmoid) == "sigmoid" and A.serialize(None) == "linear"
    assert A.serialize(A.swish) == "silu" and A.serialize("swish") == "swish"
    with pytest.raises(ValueError, match="unknown activation"):
        A.get("relux")
    with pytest.raises(ValueError):
        A.get(np.sin)


def test_layer_defaults_and_configs():
    x = np.array([[-2.0, 3.0]])
    np.testing.assert_allclose(LeakyReLU()(x), [[-0.6, 3.0]])   # Keras 3 default 0.3
    np.testing.assert_allclose(ELU()(x), [[np.expm1(-2.0), 3.0]], rtol=1e-6)
    np.testing.assert_allclose(ReLU(max_value=6.0)(np.array([[-1.0, 7.0, 2.0]])), [[0, 6, 2]])
    assert ReLU().get_config()["max_value"] is None
    assert LeakyReLU(0.1).get_config()["negative_slope"] == 0.1
    assert Activation("gelu").get_config()["activation"] == "gelu"
    assert Activation(A.tanh).get_config()["activation"] == "tanh"
    assert Softmax().final_activation == "softmax"
    assert Activation("sigmoid").final_activation == "sigmoid"


def test_unsupported_arguments():
    with pytest.raises(NotImplementedError):
        ReLU(max_value=3.0)
    with pytest.raises(NotImplementedError):
        ReLU(threshold=0.5)
    with pytest.raises(ValueError):
        ReLU(negative_slope=-1)
    with pytest.raises(ValueError):
        Softmax(axis=1)(np.zeros((2, 3, 4)))
    np.testing.assert_allclose(Softmax(axis=2)(np.zeros((2, 3, 4))), 0.25)


@pytest.mark.parametrize("make", [Softmax, lambda: Activation("softmax"),
                                  lambda: Activation("sigmoid")])
def test_logits_pass_through(make):
    layer = make()
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(layer.dtype)
    dy = np.random.default_rng(1).normal(size=(3, 4)).astype(layer.dtype)
    np.testing.assert_array_equal(layer.forward(x, training=True, logits=True), x)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    y = layer.forward(x, training=True)
    assert not np.allclose(y, x)
    assert not np.allclose(layer.backward(dy), dy)


def test_need_dx_false_returns_none():
    layer = Activation("tanh")
    layer(np.ones((2, 3)))
    layer.forward(np.ones((2, 3), layer.dtype))
    assert layer.backward(np.ones((2, 3), layer.dtype), need_dx=False) is None


def test_float32_layer_matches_reference():
    x = smooth_x((6, 9)).astype(np.float32)
    layer = Activation("elu", dtype="float32")
    np.testing.assert_allclose(layer(x), R.act("elu", x, 1.0), rtol=1e-5, atol=1e-6)
    assert nb.config.floatx() == "float32"
