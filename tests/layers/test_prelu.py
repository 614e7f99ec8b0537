"""PReLU: y = max(0, x) + alpha * min(0, x) with a trainable alpha (Keras 3 shapes)."""
import json
import os

import numpy as np
import pytest

import nbnet as nb
from helpers import check_config_roundtrip, check_layer
from nbnet.layers.activations import PReLU

RANDOM_ALPHA = {"class_name": "RandomUniform", "config": {"minval": 0.05, "maxval": 0.6,
                                                           "seed": 3}}


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("shared_axes,shape,alpha_shape", [
    (None, (2, 3, 4, 5), (3, 4, 5)),
    ([1, 2], (2, 3, 4, 5), (1, 1, 5)),
    (3, (2, 3, 4, 5), (3, 4, 1)),
    ((1,), (4, 6), (1,)),
])
def test_alpha_shape_and_forward(shared_axes, shape, alpha_shape, float64):
    layer = PReLU(alpha_initializer=RANDOM_ALPHA, shared_axes=shared_axes)
    x = _x(shape)
    y = layer(x)
    alpha = layer.alpha.numpy()
    assert alpha.shape == alpha_shape and layer.alpha.trainable
    np.testing.assert_allclose(y, np.where(x > 0, x, alpha * x), rtol=1e-15)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]


def test_default_alpha_is_zero_so_prelu_starts_as_relu():
    x = _x((3, 7), dtype=np.float32)
    layer = PReLU()
    np.testing.assert_array_equal(layer(x), np.maximum(x, 0))
    np.testing.assert_array_equal(layer.get_weights()[0], np.zeros(7, np.float32))


@pytest.mark.parametrize("shared_axes,shape", [(None, (3, 4)), ([1, 2], (2, 3, 4, 2)),
                                                ([2], (3, 2, 3, 2))])
def test_gradients(shared_axes, shape, float64):
    check_layer(PReLU(alpha_initializer=RANDOM_ALPHA, shared_axes=shared_axes), shape)


def test_gradient_formulas_and_overwrite(float64):
    layer = PReLU(alpha_initializer=RANDOM_ALPHA, shared_axes=[1])
    x = _x((5, 4, 3))
    layer(x, training=True)
    dy = _x(x.shape, seed=1)
    layer.alpha.grad[...] = 7.0                       # must be overwritten
    dx = layer.backward(dy)
    alpha = layer.alpha.numpy()
    np.testing.assert_allclose(dx, np.where(x > 0, dy, alpha * dy), rtol=1e-15)
    want = np.sum(dy * np.minimum(x, 0), axis=(0, 1)).reshape(1, 3)
    np.testing.assert_allclose(layer.alpha.grad, want, rtol=1e-12)
    assert layer.backward(dy, need_dx=False) is None


def test_frozen_layer_leaves_the_gradient_alone(float64):
    layer = PReLU(alpha_initializer=RANDOM_ALPHA)
    x = _x((3, 4))
    layer(x)
    layer.trainable = False
    layer.alpha.grad[...] = 9.0
    layer.forward(x, training=True)
    layer.backward(_x((3, 4), seed=1))
    assert np.all(layer.alpha.grad == 9.0) and layer.trainable_weights == []


def test_same_bits_at_one_and_two_threads():
    x, dy = _x((64, 6, 6, 8), dtype=np.float32), _x((64, 6, 6, 8), seed=1, dtype=np.float32)
    old = nb.get_num_threads()
    outs = []
    try:
        for t in (1, 2):
            nb.set_num_threads(t)
            layer = PReLU(alpha_initializer=RANDOM_ALPHA, shared_axes=[1, 2])
            y = layer(x, training=True)
            dx = layer.backward(dy).copy()
            outs.append((y, dx, layer.alpha.grad.copy()))
    finally:
        nb.set_num_threads(old)
    for a, b in zip(*outs):
        assert np.array_equal(a, b)


def test_config_roundtrip():
    layer = PReLU(alpha_initializer=RANDOM_ALPHA, shared_axes=[1, 2])
    x = _x((2, 3, 3, 2), dtype=np.float32)
    check_config_roundtrip(layer, x)
    cfg = json.loads(json.dumps(layer.get_config()))
    assert cfg["shared_axes"] == [1, 2] and cfg["alpha_regularizer"] is None
    clone = PReLU.from_config(cfg)
    clone(x)
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(clone.get_weights()[0], layer.get_weights()[0])  # seeded init


@pytest.mark.parametrize("kwargs,exc,word", [
    ({"alpha_regularizer": "l2"}, NotImplementedError, "alpha_regularizer"),
    ({"alpha_constraint": "non_neg"}, NotImplementedError, "alpha_constraint"),
    ({"shared_axes": [0]}, ValueError, "shared_axes"),
    ({"shared_axes": "1"}, ValueError, "shared_axes"),
    ({"alpha_initializer": "no_such_initializer"}, ValueError, "no_such_initializer"),
])
def test_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        PReLU(**kwargs)


def test_shared_axis_out_of_range():
    with pytest.raises(ValueError, match="shared_axes"):
        PReLU(shared_axes=[3])(_x((2, 3)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("shared_axes,shape", [(None, (3, 4, 5)), ([1, 2], (2, 3, 4, 5))])
def test_keras_parity(shared_axes, shape):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = _x(shape, dtype=np.float32)
    ours = PReLU(alpha_initializer=RANDOM_ALPHA, shared_axes=shared_axes)
    y = ours(x)
    theirs = keras.layers.PReLU(shared_axes=shared_axes)
    theirs.build(x.shape)
    assert tuple(theirs.alpha.shape) == ours.alpha.shape
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(theirs(x)), rtol=1e-6, atol=1e-7)


def test_input_that_does_not_fit_alpha():
    layer = PReLU(shared_axes=[1])
    layer(_x((2, 3, 4)))
    with pytest.raises(ValueError, match="alpha"):
        layer(_x((2, 3, 5)))
