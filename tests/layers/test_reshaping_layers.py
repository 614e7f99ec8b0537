"""ZeroPadding2D, Cropping2D, UpSampling2D, Permute, RepeatVector, Identity."""
import json
import os

import numpy as np
import pytest

from helpers import check_config_roundtrip, check_layer
from nbnet.layers.reshaping import (Cropping2D, Identity, Permute, RepeatVector, UpSampling2D,
                                    ZeroPadding2D)


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# ------------------------------------------------------------------ ZeroPadding2D
@pytest.mark.parametrize("padding,want", [(2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))),
                                          (((0, 2), (1, 0)), ((0, 2), (1, 0)))])
def test_zero_padding_arguments_and_values(padding, want):
    layer = ZeroPadding2D(padding, dtype="float64")
    assert layer.padding == want
    x = _x((2, 3, 4, 2))
    (t, b), (l, r) = want
    np.testing.assert_array_equal(layer(x), np.pad(x, ((0, 0), (t, b), (l, r), (0, 0))))
    assert layer.compute_output_shape((None, 3, None, 2)) == (None, 3 + t + b, None, 2)


def test_zero_padding_gradients_and_config(float64):
    check_layer(ZeroPadding2D(((1, 2), (0, 3))), (2, 3, 4, 2))
    layer = ZeroPadding2D()
    check_layer(layer, (1, 2, 2, 3))
    dy = _x((1, 4, 4, 3), seed=1)
    np.testing.assert_array_equal(layer.backward(dy), dy[:, 1:3, 1:3])


# ------------------------------------------------------------------ Cropping2D
def test_cropping_values_and_gradients(float64):
    layer = Cropping2D(((1, 2), (0, 3)))
    x = _x((2, 6, 5, 3))
    np.testing.assert_array_equal(layer(x), x[:, 1:4, 0:2])
    assert layer.compute_output_shape((None, 6, 5, 3)) == (None, 3, 2, 3)
    check_layer(layer, (2, 6, 5, 3))
    check_layer(Cropping2D(1), (3, 4, 4, 2))
    layer.forward(x)
    dy = _x((2, 3, 2, 3), seed=2)
    np.testing.assert_array_equal(layer.backward(dy), np.pad(dy, ((0, 0), (1, 2), (0, 3), (0, 0))))


def test_cropping_too_much_is_refused():
    with pytest.raises(ValueError, match="cropping"):
        Cropping2D(((2, 2), (0, 0)))(_x((1, 4, 4, 1)))


# ------------------------------------------------------------------ UpSampling2D
def test_upsampling_nearest_values_and_gradients(float64):
    layer = UpSampling2D((2, 3))
    x = _x((2, 3, 2, 4))
    np.testing.assert_array_equal(layer(x), np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))
    assert layer.compute_output_shape((None, 3, 2, 4)) == (None, 6, 6, 4)
    assert layer.flops((1, 3, 2, 4)) == 0
    check_layer(layer, (2, 3, 2, 4))


def test_upsampling_bilinear_gradients(float64):
    layer = UpSampling2D(2, interpolation="Bilinear")
    assert layer.interpolation == "bilinear" and layer.size == (2, 2)
    check_layer(layer, (2, 3, 4, 2))
    x = np.ones((1, 3, 3, 1))
    np.testing.assert_allclose(layer(x), 1.0, rtol=1e-15)   # weights sum to 1


# ------------------------------------------------------------------ channels_first
@pytest.mark.parametrize("make", [lambda f: ZeroPadding2D(((1, 0), (2, 1)), data_format=f),
                                  lambda f: Cropping2D(((1, 0), (0, 2)), data_format=f),
                                  lambda f: UpSampling2D((2, 1), data_format=f),
                                  lambda f: UpSampling2D(2, data_format=f,
                                                         interpolation="bilinear")])
def test_channels_first_is_channels_last_transposed(make, float64):
    x = _x((2, 4, 5, 3))                       # NHWC
    last, first = make("channels_last"), make("channels_first")
    y_last = last(x)
    y_first = first(np.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_array_equal(y_first, np.transpose(y_last, (0, 3, 1, 2)))
    assert first.compute_output_shape((None, 3, 4, 5)) == (None,) + tuple(y_first.shape[1:])
    dy = _x(y_last.shape, seed=5)
    last.forward(x)
    dx_last = last.backward(dy)
    first.forward(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))))
    dx_first = first.backward(np.ascontiguousarray(np.transpose(dy, (0, 3, 1, 2))))
    np.testing.assert_array_equal(dx_first, np.transpose(dx_last, (0, 3, 1, 2)))


# ------------------------------------------------------------------ Permute / RepeatVector
def test_permute(float64):
    layer = Permute((3, 1, 2))
    x = _x((2, 3, 4, 5))
    np.testing.assert_array_equal(layer(x), np.transpose(x, (0, 3, 1, 2)))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    check_layer(layer, (2, 3, 4, 5))
    check_layer(Permute((2, 1)), (3, 4, 2))


def test_repeat_vector(float64):
    layer = RepeatVector(3)
    x = _x((4, 5))
    y = layer(x)
    assert y.shape == (4, 3, 5) and layer.compute_output_shape((None, 5)) == (None, 3, 5)
    for k in range(3):
        np.testing.assert_array_equal(y[:, k], x)
    check_layer(layer, (4, 5))
    dy = _x((4, 3, 5), seed=3)
    np.testing.assert_allclose(layer.backward(dy), dy[:, 0] + dy[:, 1] + dy[:, 2], rtol=1e-15)


def test_identity(float64):
    layer = Identity()
    x = _x((3, 2))
    assert layer.forward(x) is x
    np.testing.assert_array_equal(layer(x), x)
    check_layer(layer, (3, 2))


# ------------------------------------------------------------------ config and errors
@pytest.mark.parametrize("layer,shape", [
    (ZeroPadding2D(((1, 2), (3, 4))), (1, 2, 3, 2)),
    (Cropping2D(((1, 0), (0, 1))), (1, 3, 3, 2)),
    (UpSampling2D((2, 3), interpolation="bilinear"), (1, 2, 3, 2)),
    (Permute((2, 1)), (2, 3, 4)),
    (RepeatVector(2), (2, 3)),
    (Identity(), (2, 3)),
])
def test_config_roundtrip_through_json(layer, shape):
    x = _x(shape, dtype=np.float32)
    check_config_roundtrip(layer, x)
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(clone(x), layer(x))


@pytest.mark.parametrize("make,exc,word", [
    (lambda: ZeroPadding2D(-1), ValueError, "padding"),
    (lambda: ZeroPadding2D((1, 2, 3)), ValueError, "padding"),
    (lambda: ZeroPadding2D(((1,), (2, 2))), ValueError, "padding"),
    (lambda: ZeroPadding2D(1.5), ValueError, "padding"),
    (lambda: ZeroPadding2D(1, data_format="nhwc"), ValueError, "data_format"),
    (lambda: Cropping2D("a"), ValueError, "cropping"),
    (lambda: UpSampling2D(0), ValueError, "size"),
    (lambda: UpSampling2D(2, interpolation="cubic"), ValueError, "interpolation"),
    (lambda: UpSampling2D(2, interpolation="bicubic"), NotImplementedError, "interpolation"),
    (lambda: Permute((1, 3)), ValueError, "dims"),
    (lambda: Permute((0, 1)), ValueError, "dims"),
    (lambda: RepeatVector(2.0), TypeError, "RepeatVector n"),
    (lambda: RepeatVector(0), ValueError, "RepeatVector n"),
])
def test_bad_arguments(make, exc, word):
    with pytest.raises(exc, match=word):
        make()


def test_bad_input_ranks():
    with pytest.raises(ValueError, match="4-D"):
        ZeroPadding2D()(_x((2, 3, 4)))
    with pytest.raises(ValueError, match="2-D"):
        RepeatVector(2)(_x((2, 3, 4)))
    with pytest.raises(ValueError, match="dims"):
        Permute((2, 1))(_x((2, 3, 4, 5)))


# ------------------------------------------------------------------ Keras parity (optional)
@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("name,args,kwargs,shape", [
    ("ZeroPadding2D", (((1, 2), (0, 3)),), {}, (2, 3, 4, 2)),
    ("ZeroPadding2D", (2,), {"data_format": "channels_first"}, (2, 3, 4, 2)),
    ("Cropping2D", (((1, 0), (2, 1)),), {}, (2, 4, 5, 3)),
    ("UpSampling2D", ((2, 3),), {}, (2, 3, 4, 2)),
    ("UpSampling2D", ((2, 3),), {"interpolation": "bilinear"}, (2, 3, 4, 2)),
    ("UpSampling2D", (3,), {"interpolation": "bilinear", "data_format": "channels_first"},
     (1, 2, 3, 4)),
    ("Permute", ((3, 1, 2),), {}, (2, 3, 4, 5)),
    ("RepeatVector", (4,), {}, (3, 5)),
])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_parity(keras, name, args, kwargs, shape):
    import nbnet.layers.reshaping as R
    x = _x(shape, dtype=np.float32)
    want = keras.ops.convert_to_numpy(getattr(keras.layers, name)(*args, **kwargs)(x))
    ours = getattr(R, name)(*args, **kwargs)
    np.testing.assert_allclose(ours(x), want, rtol=1e-6, atol=1e-6)
    assert ours.compute_output_shape((None,) + shape[1:])[1:] == want.shape[1:]
