"""Rescaling, Normalization, Resizing, CenterCrop (nbnet/layers/preprocessing.py)."""
import json
import os

import numpy as np
import pytest

from helpers import check_config_roundtrip, check_layer_grad
from nbnet.layers.preprocessing import CenterCrop, Normalization, Rescaling, Resizing


def _x(shape, seed=0, lo=-1.0, hi=1.0, dtype="float64"):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def ref_resize_bilinear(x, oh, ow):
    """Half-pixel centres (src = (o + 0.5) * in / out - 0.5, clamped at 0), exact."""
    def table(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = np.floor(src).astype(int)
        return i0, np.minimum(i0 + 1, n_in - 1), src - i0
    y0, y1, ly = table(x.shape[1], oh)
    x0, x1, lx = table(x.shape[2], ow)
    ly, lx = ly[None, :, None, None], lx[None, None, :, None]
    rows0, rows1 = x[:, y0], x[:, y1]
    top = rows0[:, :, x0] * (1 - lx) + rows0[:, :, x1] * lx
    bot = rows1[:, :, x0] * (1 - lx) + rows1[:, :, x1] * lx
    return top * (1 - ly) + bot * ly


# ------------------------------------------------------------------ Rescaling
def test_rescaling_forward_backward_config(float64):
    layer = Rescaling(1 / 127.5, offset=-1.0)
    x = _x((3, 4, 5, 2), lo=0, hi=255)
    y = layer(x)
    np.testing.assert_allclose(y, x / 127.5 - 1.0, rtol=1e-12)
    assert -1.0 <= y.min() and y.max() <= 1.0
    check_layer_grad(layer, x)
    check_config_roundtrip(layer, x)
    assert layer.weights == []


def test_rescaling_per_channel_and_float32():
    layer = Rescaling([1.0, 2.0, 0.5], offset=0.25, dtype="float32")
    x = _x((2, 3, 3, 3), dtype="float32")
    y = layer(x)
    assert y.dtype == np.float32
    # Keras: cast to the compute dtype, then x * scale + offset (two roundings)
    ref = x * np.array([1.0, 2.0, 0.5], np.float32) + np.float32(0.25)
    np.testing.assert_array_equal(y, ref)
    layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.broadcast_to(
        np.array([1.0, 2.0, 0.5], np.float32), x.shape))
    assert layer.backward(np.ones_like(x), need_dx=False) is None
    json.dumps(layer.get_config())


def test_rescaling_bad_arguments():
    with pytest.raises(TypeError, match="scale"):
        Rescaling("half")
    with pytest.raises(TypeError, match="offset"):
        Rescaling(1.0, offset=None)


# ------------------------------------------------------------------ Normalization
def test_normalization_adapt_per_feature(float64):
    x = _x((50, 4, 3), lo=-3, hi=7)
    layer = Normalization()            # axis=-1: one mean / variance per last index
    layer.adapt(x)
    mean, var, count = layer.get_weights()
    np.testing.assert_allclose(mean, x.reshape(-1, 3).mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, x.reshape(-1, 3).var(0), rtol=1e-12)
    assert count.shape == () and [w.name for w in layer.weights] == ["mean", "variance", "count"]
    assert all(not w.trainable for w in layer.weights) and layer.trainable_weights == []
    y = layer(x)
    np.testing.assert_allclose(y.reshape(-1, 3).mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.reshape(-1, 3).std(0), 1.0, rtol=1e-12)
    check_layer_grad(layer, x[:4])


def test_normalization_adapt_batches_equal_whole_array(float64):
    x = _x((60, 5), seed=3, lo=0, hi=10)
    whole, batched = Normalization(), Normalization()
    whole.adapt(x)
    batched.adapt([x[:25], x[25:40], x[40:]])   # combined as Keras does
    for a, b in zip(whole.get_weights()[:2], batched.get_weights()[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_normalization_axes_and_none(float64):
    x = _x((10, 3, 4), seed=1, lo=0, hi=5)
    layer = Normalization(axis=(1, 2))
    layer.adapt(x)
    np.testing.assert_allclose(layer.get_weights()[0], x.mean(0), rtol=1e-12)
    glob = Normalization(axis=None)
    glob.adapt(x)
    assert glob.get_weights()[0].shape == ()
    np.testing.assert_allclose(glob(x), (x - x.mean()) / x.std(), rtol=1e-10)


def test_normalization_given_stats_invert_and_epsilon(float64):
    x = _x((6, 3), seed=2)
    mean, var = [1.0, -2.0, 0.5], [4.0, 0.25, 0.0]
    layer = Normalization(mean=mean, variance=var)
    assert layer.get_weights() == []
    std = np.maximum(np.sqrt(var), 1e-7)   # Keras: max(sqrt(var), epsilon())
    np.testing.assert_allclose(layer(x), (x - mean) / std, rtol=1e-12)
    inv = Normalization(mean=mean, variance=var, invert=True)
    np.testing.assert_allclose(inv(x), np.array(mean) + x * std, rtol=1e-12)
    check_layer_grad(Normalization(mean=mean, variance=[4.0, 0.25, 1.0]), x)
    check_layer_grad(Normalization(mean=mean, variance=[4.0, 0.25, 1.0], invert=True), x)
    check_config_roundtrip(layer, x)
    assert json.loads(json.dumps(layer.get_config()))["mean"] == mean


def test_normalization_save_load_through_config_and_weights(float64):
    x = _x((40, 2, 3), seed=4, lo=0, hi=9)
    layer = Normalization(axis=-1)
    layer.adapt(x)
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = Normalization.from_config(cfg)
    clone(x[:1])                       # builds
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x), layer(x))
    unadapted = Normalization.from_config(cfg)
    assert not np.allclose(unadapted(x), layer(x))


def test_normalization_bad_arguments():
    with pytest.raises(ValueError, match="mean"):
        Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="same shape"):
        Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(TypeError, match="axis"):
        Normalization(axis="x")
    with pytest.raises(ValueError, match="axis"):
        Normalization(axis=3).adapt(np.zeros((4, 2)))


def test_normalization_matches_keras():
    keras = _keras()
    x = _x((30, 5, 2), seed=6, lo=-2, hi=3, dtype="float32")
    k = keras.layers.Normalization(axis=-1)
    k.adapt(x)
    n = Normalization(axis=-1, dtype="float32")
    n.adapt(x)
    np.testing.assert_allclose(n.get_weights()[0], np.asarray(k.get_weights()[0]), rtol=1e-5)
    np.testing.assert_allclose(n.get_weights()[1], np.asarray(k.get_weights()[1]), rtol=1e-5)
    assert [w.path.split("/")[-1] for w in k.weights] == [w.name for w in n.weights]
    np.testing.assert_allclose(n(x), np.asarray(k(x)), rtol=1e-5, atol=1e-5)
    kinv = keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0], invert=True)
    ninv = Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0], invert=True, dtype="float32")
    np.testing.assert_allclose(ninv(x), np.asarray(kinv(x)), rtol=1e-6)


# ------------------------------------------------------------------ Resizing
@pytest.mark.parametrize("size", [(3, 7), (9, 4), (6, 5)])
def test_resizing_bilinear_matches_reference(size, float64):
    x = _x((2, 6, 5, 3), lo=0, hi=255)
    layer = Resizing(*size)
    y = layer(x)
    assert y.shape == (2,) + size + (3,)
    assert layer.compute_output_shape((None, 6, 5, 3)) == (None,) + size + (3,)
    np.testing.assert_allclose(y, ref_resize_bilinear(x, *size), rtol=1e-10, atol=1e-10)
    if size == (6, 5):
        np.testing.assert_allclose(y, x, rtol=1e-12)
    check_config_roundtrip(layer, x)


def test_resizing_nearest_and_aspect_ratio(float64):
    x = _x((1, 4, 6, 1), lo=0, hi=255)
    near = Resizing(8, 3, interpolation="nearest")
    # nearest-exact: source index floor((o + 0.5) * in / out)
    np.testing.assert_array_equal(near(x), x[:, [0, 0, 1, 1, 2, 2, 3, 3]][:, :, [1, 3, 5]])
    crop = Resizing(2, 2, crop_to_aspect_ratio=True)   # central 4x4 window, then 2x2
    np.testing.assert_allclose(crop(x), ref_resize_bilinear(x[:, :, 1:5], 2, 2), rtol=1e-12)
    pad = Resizing(6, 6, pad_to_aspect_ratio=True, fill_value=-1.0)   # pad 1 row each side
    xp = np.concatenate([np.full((1, 1, 6, 1), -1.0), x, np.full((1, 1, 6, 1), -1.0)], axis=1)
    np.testing.assert_allclose(pad(x), xp, rtol=1e-12)


def test_resizing_bad_arguments():
    with pytest.raises(ValueError, match="height"):
        Resizing(0, 3)
    with pytest.raises(ValueError, match="interpolation"):
        Resizing(3, 3, interpolation="cubic-ish")
    with pytest.raises(NotImplementedError, match="lanczos3"):
        Resizing(3, 3, interpolation="lanczos3")
    with pytest.raises(ValueError, match="aspect_ratio"):
        Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    layer = Resizing(3, 3)
    with pytest.raises(ValueError, match="height, width"):
        layer(np.zeros((2, 4, 4)))
    layer(np.zeros((1, 4, 4, 1)))
    assert layer.backward(np.zeros((1, 3, 3, 1)), need_dx=False) is None


def _cubic(t, a=-0.75):
    t = abs(t)
    if t < 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    return (((t - 5) * t + 8) * t - 4) * a if t < 2 else 0.0


def test_resizing_bicubic_and_antialias_by_hand(float64):
    x = _x((1, 1, 8, 1), lo=0, hi=255)
    r = x[0, 0, :, 0]
    # antialiased bilinear, 8 -> 4 (scale 2): the triangle filter stretched 2x, centred
    # at 2o + 1: taps 2o-1 .. 2o+2 weighted 1, 3, 3, 1 (/ 8); at the edges the taps
    # inside the image, renormalised: .75, .75, .25 (/ 1.75)
    want = [(.75 * r[0] + .75 * r[1] + .25 * r[2]) / 1.75,
            (r[1] + 3 * r[2] + 3 * r[3] + r[4]) / 8, (r[3] + 3 * r[4] + 3 * r[5] + r[6]) / 8,
            (.25 * r[5] + .75 * r[6] + .75 * r[7]) / 1.75]
    y = Resizing(1, 4, antialias=True)(x)
    np.testing.assert_allclose(y[0, 0, :, 0], want, rtol=1e-12)
    # bicubic (Keys, a = -0.75), 8 -> 16: output 1 samples src = 0.5 * 1.5 - 0.5 = 0.25:
    # taps -1, 0, 1, 2 (clamped: 0, 0, 1, 2) with t = 0.25
    y = Resizing(1, 16, interpolation="bicubic")(x)[0, 0, :, 0]
    w = [_cubic(1.25), _cubic(0.25), _cubic(0.75), _cubic(1.75)]
    assert y[1] == pytest.approx(w[0] * r[0] + w[1] * r[0] + w[2] * r[1] + w[3] * r[2],
                                 rel=1e-12)
    # output 7: src = 3.25, taps 2..5
    assert y[7] == pytest.approx(sum(wk * r[2 + k] for k, wk in enumerate(w)), rel=1e-12)
    # the same size: every interpolation gives the image back
    x2 = _x((2, 5, 7, 3), lo=0, hi=255)
    for kw in (dict(interpolation="bicubic"), dict(antialias=True),
               dict(interpolation="bicubic", antialias=True)):
        np.testing.assert_allclose(Resizing(5, 7, **kw)(x2), x2, rtol=1e-12, err_msg=str(kw))


@pytest.mark.parametrize("kw", [dict(height=3, width=4), dict(height=9, width=11),
                                dict(height=4, width=3, interpolation="nearest"),
                                dict(height=3, width=7, interpolation="bicubic"),
                                dict(height=2, width=3, antialias=True),
                                dict(height=3, width=2, interpolation="bicubic", antialias=True),
                                dict(height=3, width=3, crop_to_aspect_ratio=True),
                                dict(height=4, width=6, pad_to_aspect_ratio=True,
                                     fill_value=3.0)])
def test_resizing_backward_finite_differences(kw, float64):
    x = _x((2, 6, 5, 2), lo=0, hi=1)
    check_layer_grad(Resizing(**kw), x)


@pytest.mark.parametrize("interp", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", [(3, 4), (13, 11), (2, 17)])
def test_resizing_matches_torch_forward_and_backward(interp, antialias, size):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for dt, tol in (("float64", dict(rtol=1e-10, atol=1e-10)),
                    ("float32", dict(rtol=1e-5, atol=5e-4))):
        x = _x((2, 8, 6, 3), seed=3, lo=0, hi=255, dtype=dt)
        layer = Resizing(*size, interpolation=interp, antialias=antialias, dtype=dt)
        y = layer(x)
        tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
        mode = "nearest-exact" if interp == "nearest" else interp
        extra = {} if interp == "nearest" else dict(align_corners=False, antialias=antialias)
        ty = F.interpolate(tx, size=size, mode=mode, **extra)
        np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), **tol)
        dy = _x(y.shape, seed=4, dtype=dt)
        ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
        np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy().transpose(0, 2, 3, 1),
                                   **tol)


@pytest.mark.parametrize("kw", [dict(height=5, width=7), dict(height=13, width=3),
                                dict(height=4, width=4, interpolation="nearest"),
                                dict(height=16, width=4, interpolation="nearest"),
                                dict(height=3, width=3, crop_to_aspect_ratio=True),
                                dict(height=5, width=9, pad_to_aspect_ratio=True, fill_value=7.0),
                                dict(height=3, width=4, interpolation="bicubic"),
                                dict(height=11, width=5, interpolation="bicubic"),
                                dict(height=3, width=2, antialias=True),
                                dict(height=3, width=4, interpolation="bicubic", antialias=True),
                                dict(height=3, width=3, antialias=True, crop_to_aspect_ratio=True)])
def test_resizing_matches_keras(kw):
    keras = _keras()
    x = _x((2, 8, 6, 3), seed=5, lo=0, hi=255, dtype="float32")
    ref = np.asarray(keras.layers.Resizing(**kw)(x))
    y = Resizing(dtype="float32", **kw)(x)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=2e-6, atol=2e-4)


# ------------------------------------------------------------------ CenterCrop
def test_center_crop_crops_and_backward(float64):
    x = _x((2, 7, 6, 3), lo=0, hi=1)
    layer = CenterCrop(4, 3)
    y = layer(x)
    np.testing.assert_array_equal(y, x[:, 1:5, 1:4])   # offsets (7-4)//2, (6-3)//2
    check_layer_grad(layer, x)
    check_config_roundtrip(layer, x)


def test_center_crop_smaller_image_resizes(float64):
    x = _x((1, 4, 8, 2), lo=0, hi=1)
    layer = CenterCrop(6, 6)    # taller than the image: crop to 4x4 (aspect 1), resize
    np.testing.assert_allclose(layer(x), ref_resize_bilinear(x[:, :, 2:6], 6, 6), rtol=1e-12)
    check_layer_grad(layer, x)                 # the resize's transpose, zeros outside


def test_center_crop_matches_keras():
    keras = _keras()
    x = _x((2, 8, 6, 1), seed=7, lo=0, hi=255, dtype="float32")
    for h, w in ((4, 4), (8, 6), (10, 4), (3, 9)):
        ref = np.asarray(keras.layers.CenterCrop(h, w)(x))
        np.testing.assert_allclose(CenterCrop(h, w, dtype="float32")(x), ref, rtol=2e-6, atol=2e-4)
