"""LayerNormalization and GroupNormalization layers: gradients, Keras 3 semantics."""
import json

import numpy as np
import pytest

import nbnet as nb
from helpers import check_config_roundtrip, check_layer, check_layer_grad
from nbnet.layers import GroupNormalization, LayerNormalization


def _randomise(layer, rng):
    layer.set_weights([rng.uniform(0.5, 2, w.shape) if w.name == "gamma" else rng.normal(size=w.shape)
                       for w in layer.weights])


def _ln_numpy(x, axes, gamma, beta, eps, rms=False):
    mu = x.mean(axis=tuple(axes), keepdims=True)
    var = x.var(axis=tuple(axes), keepdims=True)
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    g = gamma.reshape(shape)
    if rms:
        return x / np.sqrt(var + eps) * g
    return (x - mu) / np.sqrt(var + eps) * g + beta.reshape(shape)


# ---------------------------------------------------------------- LayerNormalization
@pytest.mark.parametrize("shape,kw", [
    ((4, 7), {}),
    ((3, 5, 6), {}),
    ((3, 4, 5), {"axis": [1, 2]}),
    ((3, 4, 5), {"axis": 1}),             # not the last axis: moved last for the kernel
    ((2, 3, 4, 5), {"axis": [1, 3]}),
    ((4, 6), {"rms_scaling": True}),
    ((3, 4, 5), {"axis": [-2], "rms_scaling": True}),
    ((4, 6), {"center": False}),
    ((4, 6), {"scale": False, "epsilon": 0.1}),
])
def test_layernorm_check_layer(float64, shape, kw):
    check_layer(LayerNormalization(**kw), shape)


@pytest.mark.parametrize("shape,kw", [((5, 9), {}), ((3, 4, 5), {"axis": [1]}),
                                      ((2, 3, 4, 5), {"axis": [1, 3]}),
                                      ((6, 8), {"rms_scaling": True})])
def test_layernorm_random_weights_gradients_and_output(float64, rng, shape, kw):
    layer = LayerNormalization(**kw)
    x = rng.normal(size=shape) * 2 + 1
    layer(x)
    _randomise(layer, rng)
    gamma = layer.gamma.value
    beta = layer.beta.value if layer.beta is not None else None
    axes = [a % len(shape) for a in np.atleast_1d(kw.get("axis", -1))]
    np.testing.assert_allclose(layer(x), _ln_numpy(x, axes, gamma, beta, 1e-3,
                                                   kw.get("rms_scaling", False)),
                               rtol=1e-10, atol=1e-12)
    check_layer_grad(layer, x, training=True)
    check_layer_grad(layer, x, training=False)  # same maths: no moving statistics


def test_layernorm_rms_scaling_is_keras_variance_scaling(float64, rng):
    """Keras 3: y = x * rsqrt(var(x) + eps) * gamma: not centred, not the RMS, no beta."""
    x = rng.normal(size=(3, 10)) + 4.0
    layer = LayerNormalization(rms_scaling=True, epsilon=1e-2)
    y = layer(x)
    np.testing.assert_allclose(y, x / np.sqrt(x.var(-1, keepdims=True) + 1e-2), rtol=1e-12)
    rms = np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-2)
    assert not np.allclose(y, x / rms)
    assert [w.name for w in layer.weights] == ["gamma"]


@pytest.mark.parametrize("kw,names", [({}, ["gamma", "beta"]), ({"center": False}, ["gamma"]),
                                      ({"scale": False}, ["beta"]),
                                      ({"scale": False, "center": False}, []),
                                      ({"rms_scaling": True}, ["gamma"]),
                                      ({"rms_scaling": True, "scale": False}, ["gamma"])])
def test_layernorm_weights_as_keras_lists_them(rng, kw, names):
    layer = LayerNormalization(**kw)
    layer(rng.normal(size=(2, 3, 4)))
    assert [w.name for w in layer.weights] == names
    assert all(w.shape == (4,) for w in layer.weights)


def test_layernorm_weight_shape_spans_the_axes(rng):
    layer = LayerNormalization(axis=[3, 1])
    layer(rng.normal(size=(2, 3, 4, 5)))
    assert layer.gamma.shape == (3, 5) and layer.beta.shape == (3, 5)
    assert layer.get_config()["axis"] == [3, 1]


def test_layernorm_defaults_and_config_json_round_trip(rng):
    layer = LayerNormalization()
    cfg = layer.get_config()
    assert (cfg["axis"], cfg["epsilon"], cfg["center"], cfg["scale"], cfg["rms_scaling"]) == \
        (-1, 1e-3, True, True, False)
    assert layer.supports_masking
    layer = LayerNormalization(axis=[1, 2], epsilon=1e-5, gamma_regularizer="l2",
                               beta_constraint="non_neg",
                               gamma_initializer=nb.initializers.Constant(2.0), name="ln7")
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    layer(x)
    assert layer.gamma.regularizer is not None and layer.beta.constraint is not None
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = LayerNormalization.from_config(cfg)
    np.testing.assert_array_equal(clone(x), layer(x))
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(clone.gamma.value, 2.0)
    check_config_roundtrip(LayerNormalization(rms_scaling=True), x)


def test_layernorm_passes_the_mask_on(rng):
    layer = LayerNormalization()
    mask = np.array([[True, False, True]])
    x = rng.normal(size=(1, 3, 4))
    assert layer.compute_mask(x, mask) is mask and layer.compute_mask(x, None) is None


def test_layernorm_bad_axes_and_inputs(rng):
    with pytest.raises(TypeError, match="int or a list"):
        LayerNormalization(axis="last")
    with pytest.raises(ValueError, match="out of bounds"):
        LayerNormalization(axis=3)(rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="batch axis"):
        LayerNormalization(axis=[0, 1])(rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="distinct"):
        LayerNormalization(axis=[1, -1])(rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="epsilon"):
        LayerNormalization(epsilon=0)
    layer = LayerNormalization()
    layer(rng.normal(size=(2, 3)))
    with pytest.raises(nb.DataError, match="sizes"):
        layer(rng.normal(size=(2, 4)))


def test_layernorm_float32_output_and_grads_overwrite(rng):
    layer = LayerNormalization(dtype="float32")
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = layer(x, training=True)
    assert y.dtype == np.float32
    dy = rng.normal(size=x.shape).astype(np.float32)
    layer.forward(x, training=True)
    layer.backward(dy)
    g1 = layer.gamma.grad.copy()
    layer.backward(dy)
    np.testing.assert_array_equal(layer.gamma.grad, g1)   # overwritten, not accumulated
    np.testing.assert_allclose(layer.beta.grad, dy.sum(0), rtol=1e-5)
    assert layer.backward(dy, need_dx=False) is None


def test_layernorm_frozen_writes_no_grads(float64, rng):
    layer = LayerNormalization()
    x = rng.normal(size=(4, 5))
    layer(x)
    layer.trainable = False
    layer.gamma.grad[...] = 7.0
    layer.forward(x)
    assert layer.backward(np.ones_like(x)).shape == x.shape
    assert np.all(layer.gamma.grad == 7.0)
    check_layer_grad(layer, x)   # only dx: no trainable weights


# ---------------------------------------------------------------- GroupNormalization
@pytest.mark.parametrize("shape,kw", [
    ((2, 4, 4, 6), {"groups": 3}),
    ((3, 8), {"groups": 2}),
    ((2, 5, 4), {"groups": -1}),          # instance normalisation
    ((2, 3, 3, 4), {"groups": 1}),
    ((2, 3, 70, 2), {"groups": 2}),       # more than one chunk of spatial positions
    ((2, 3, 3, 4), {"groups": 2, "center": False}),
    ((2, 3, 3, 4), {"groups": 4, "scale": False}),
])
def test_groupnorm_check_layer(float64, shape, kw):
    check_layer(GroupNormalization(**kw), shape)


def test_groupnorm_random_weights_matches_numpy_and_gradients(float64, rng):
    layer = GroupNormalization(groups=2, epsilon=1e-2)
    x = rng.normal(size=(3, 4, 5, 6)) * 3 - 2
    layer(x)
    _randomise(layer, rng)
    xg = x.reshape(3, 4, 5, 2, 3)
    mu = xg.mean(axis=(1, 2, 4), keepdims=True)
    var = xg.var(axis=(1, 2, 4), keepdims=True)
    expected = ((xg - mu) / np.sqrt(var + 1e-2)).reshape(x.shape) * layer.gamma.value + \
        layer.beta.value
    np.testing.assert_allclose(layer(x), expected, rtol=1e-10, atol=1e-12)
    check_layer_grad(layer, x)


def test_groupnorm_defaults_weights_and_config(rng):
    layer = GroupNormalization()
    cfg = layer.get_config()
    assert (cfg["groups"], cfg["axis"], cfg["epsilon"], cfg["center"], cfg["scale"]) == \
        (32, -1, 1e-3, True, True)
    x = rng.normal(size=(2, 3, 3, 64)).astype(np.float32)
    assert layer(x).shape == x.shape and layer.supports_masking
    assert [w.name for w in layer.weights] == ["gamma", "beta"]
    check_config_roundtrip(GroupNormalization(groups=8, gamma_regularizer="l1",
                                              gamma_constraint="non_neg"), x)
    inst = GroupNormalization(groups=-1)
    inst(x)
    assert inst.get_config()["groups"] == 64   # as Keras: -1 becomes the channel count


def test_groupnorm_bad_arguments(rng):
    for groups in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="groups"):
            GroupNormalization(groups=groups)
    with pytest.raises(ValueError, match="multiple"):
        GroupNormalization(groups=4)(rng.normal(size=(2, 6)))
    with pytest.raises(ValueError, match="cannot be more"):
        GroupNormalization(groups=8)(rng.normal(size=(2, 6)))
    with pytest.raises(ValueError, match="channels last"):
        GroupNormalization(groups=2, axis=1)(rng.normal(size=(2, 4, 6)))
    layer = GroupNormalization(groups=2)
    layer(rng.normal(size=(2, 4)))
    with pytest.raises(nb.DataError, match="expected 4 channels"):
        layer(rng.normal(size=(2, 6)))


def test_groupnorm_flops_and_shape():
    layer = GroupNormalization(groups=2)
    assert layer.compute_output_shape((None, 4, 4, 6)) == (None, 4, 4, 6)
    assert layer.flops((None, 4, 4, 6)) == 8 * 96
