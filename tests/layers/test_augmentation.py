"""Random augmentation layers (nbnet/layers/augmentation.py)."""
import json
import os

import numpy as np
import pytest

import nbnet as nb
from helpers import check_layer_grad
from nbnet.layers.augmentation import (RandomBrightness, RandomContrast, RandomCrop,
                                       RandomFlip, RandomRotation, RandomTranslation,
                                       RandomZoom)
from nbnet.layers.preprocessing import Resizing


def _x(shape=(6, 8, 8, 3), seed=0, dtype="float32"):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype(dtype)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def make_all(seed=3):
    return [RandomFlip(seed=seed), RandomFlip("horizontal", seed=seed),
            RandomRotation(0.2, seed=seed), RandomZoom(0.3, seed=seed),
            RandomZoom((-0.3, 0.1), width_factor=0.2, fill_mode="constant", seed=seed),
            RandomTranslation(0.2, (-0.1, 0.3), fill_mode="wrap", interpolation="nearest", seed=seed),
            RandomContrast(0.5, seed=seed), RandomBrightness(0.3, seed=seed)]


def test_inference_is_the_identity_and_training_is_not():
    x = _x()
    for layer in make_all():
        assert layer.forward(x, training=False) is x, layer.name
        y = layer.forward(x, training=True)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert not np.array_equal(y, x), layer.name


def test_seeded_steps_are_deterministic_and_differ():
    x = _x((24, 6, 6, 3))   # enough images that two flip patterns differ
    for a, b in zip(make_all(seed=5), make_all(seed=5)):
        y1 = a.forward(x, training=True, step=4).copy()
        np.testing.assert_array_equal(b.forward(x, training=True, step=4), y1)
        assert not np.array_equal(b.forward(x, training=True, step=5), y1), a.name
    # an unseeded layer draws its seed from nb.utils.set_random_seed and keeps it
    nb.utils.set_random_seed(11)
    s1 = RandomRotation(0.1).seed
    nb.utils.set_random_seed(11)
    assert RandomRotation(0.1).seed == s1


def test_same_images_at_one_and_two_threads():
    x = _x((9, 10, 8, 3))
    old = nb.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            nb.set_num_threads(n)
            outs.append([l.forward(x, training=True, step=2).copy() for l in make_all(seed=9)]
                        + [RandomCrop(5, 6, seed=9).forward(x, training=True, step=2).copy()])
        for a, b in zip(*outs):
            np.testing.assert_array_equal(a, b)
    finally:
        nb.set_num_threads(old)


def test_images_get_their_own_parameters():
    x = np.repeat(_x((1, 8, 8, 3)), 16, axis=0)   # 16 copies of one image
    y = RandomRotation(0.3, seed=1).forward(x, training=True)
    assert len({y[n].tobytes() for n in range(16)}) == 16


def test_horizontal_flip_of_a_known_image():
    x = _x((32, 4, 5, 2))
    layer = RandomFlip("horizontal", seed=0)
    y = layer.forward(x, training=True)
    flipped = [np.array_equal(y[n], np.flip(x[n], axis=1)) for n in range(32)]
    kept = [np.array_equal(y[n], x[n]) for n in range(32)]
    assert all(f != k for f, k in zip(flipped, kept)) and 4 < sum(flipped) < 28
    dy = _x(x.shape, seed=1)
    dx = layer.backward(dy)
    for n in range(32):   # the gradient goes back through the same mirror
        np.testing.assert_array_equal(dx[n], np.flip(dy[n], axis=1) if flipped[n] else dy[n])
    assert layer.backward(dy, need_dx=False) is None
    both = RandomFlip(seed=0).forward(x, training=True)   # Keras 3: one draw flips both axes
    for n in range(32):
        assert (np.array_equal(both[n], x[n, ::-1, ::-1]) or np.array_equal(both[n], x[n]))
    vert = RandomFlip("vertical", seed=0).forward(x, training=True)
    for n in range(32):
        np.testing.assert_array_equal(vert[n], x[n, ::-1] if flipped[n] else x[n])


@pytest.mark.parametrize("fill_mode", ["reflect", "constant"])
def test_rotation_by_a_quarter_turn_is_rot90(fill_mode):
    x = _x((3, 7, 7, 2), dtype="float64")
    y = RandomRotation((0.25, 0.25), fill_mode=fill_mode, seed=0, dtype="float64").forward(
        x, training=True)
    np.testing.assert_allclose(y, np.rot90(x, k=1, axes=(1, 2)), rtol=1e-12, atol=1e-9)
    y = RandomRotation((-0.25, -0.25), seed=0, dtype="float64").forward(x, training=True)
    np.testing.assert_allclose(y, np.rot90(x, k=-1, axes=(1, 2)), rtol=1e-12, atol=1e-9)


def test_zoom_and_translation_exact_cases():
    x = _x((2, 6, 8, 1), dtype="float64")
    # zoom factor 0 and translation 0: the identity warp
    np.testing.assert_allclose(RandomZoom((0.0, 0.0), seed=1, dtype="float64").forward(
        x, training=True), x, rtol=1e-14)
    # a shift by exactly one quarter of the width (2 columns) to the right, one row down
    t = RandomTranslation((1 / 6, 1 / 6), (0.25, 0.25), fill_mode="constant", fill_value=-1.0,
                          seed=1, dtype="float64").forward(x, training=True)
    np.testing.assert_allclose(t[:, 1:, 2:], x[:, :-1, :-2], rtol=1e-12)
    assert np.all(t[:, 0] == -1.0) and np.all(t[:, :, :2] == -1.0)
    # zoom 0.5 (factor -0.5): column x samples (W-1)/2 * 0.5 + 0.5 * x, rows alike
    z = RandomZoom((-0.5, -0.5), seed=1, interpolation="nearest", dtype="float64").forward(
        x, training=True)
    src_w = np.round(3.5 * 0.5 + 0.5 * np.arange(8)).astype(int)
    src_h = np.round(2.5 * 0.5 + 0.5 * np.arange(6)).astype(int)
    np.testing.assert_array_equal(z, x[:, src_h][:, :, src_w])


def test_value_ranges():
    x = _x((40, 5, 5, 3), dtype="float64")
    c = RandomContrast(0.9, value_range=(0, 255), seed=2, dtype="float64").forward(x, training=True)
    assert c.min() >= 0.0 and c.max() <= 255.0
    # contrast f = U(1 - 0, 1 + 0.9) (Keras 3: a float factor gives lower = 0):
    # the per-channel std grows by f where nothing is clipped
    ratio = (c.std(axis=(1, 2)) / x.std(axis=(1, 2)))
    assert ratio.min() >= 1.0 - 1e-9 and ratio.max() <= 1.9 + 1e-9
    b = RandomBrightness((-0.2, 0.4), value_range=(0, 1), seed=3, dtype="float64")
    xb = x / 255.0
    yb = b.forward(xb, training=True)
    assert yb.min() >= 0.0 and yb.max() <= 1.0
    inside = (yb > 0) & (yb < 1)
    delta = np.where(inside, yb - xb, np.nan)
    d = np.nanmean(delta, axis=(1, 2, 3))
    np.testing.assert_allclose(np.nanmax(delta, axis=(1, 2, 3)), d, atol=1e-12)  # one delta per image
    assert d.min() >= -0.2 and d.max() <= 0.4 and d.max() - d.min() > 0.2


def test_random_crop_training_and_inference():
    x = _x((12, 9, 10, 2))
    layer = RandomCrop(5, 6, seed=4)
    y = layer.forward(x, training=True)
    assert y.shape == (12, 5, 6, 2) == (12,) + layer.compute_output_shape((None, 9, 10, 2))[1:]
    corners = []
    for n in range(12):
        hits = [(h, w) for h in range(5) for w in range(5)
                if np.array_equal(y[n], x[n, h:h + 5, w:w + 6])]
        assert len(hits) == 1
        corners.append(hits[0])
    assert len(set(corners)) > 3
    dy = _x(y.shape, seed=2)
    dx = layer.backward(dy)
    h, w = corners[0]
    np.testing.assert_array_equal(dx[0, h:h + 5, w:w + 6], dy[0])
    assert dx[0].sum() == pytest.approx(dy[0].sum(), rel=1e-5)
    # inference: the central window of the target aspect ratio, resized to the target
    ref = Resizing(5, 6, crop_to_aspect_ratio=True)(x)
    np.testing.assert_allclose(layer.forward(x, training=False), ref, rtol=1e-6)
    sq = RandomCrop(8, 8, seed=1).forward(x, training=False)   # a central 9x9 -> 8x8 resize
    assert sq.shape == (12, 8, 8, 2)
    exact = RandomCrop(9, 4, seed=1).forward(x, training=False)   # the window is the target
    np.testing.assert_array_equal(exact, x[:, :, 3:7])


def test_backward_of_warps_and_colour(float64):
    x = np.random.default_rng(0).uniform(0.2, 0.8, (2, 5, 6, 2))
    for layer in [RandomRotation(0.1, fill_mode="wrap", seed=1),
                  RandomZoom(0.2, fill_mode="constant", seed=1),
                  RandomTranslation(0.2, 0.2, fill_mode="nearest", seed=1),
                  RandomContrast(0.5, value_range=(0, 1), seed=1),
                  RandomBrightness(0.1, value_range=(0, 1), seed=1)]:
        # a fixed step makes every forward draw the same parameters
        check_layer_grad(layer, x, step=3)


def test_config_round_trip_and_model():
    x = _x((4, 8, 8, 3))
    for layer in make_all() + [RandomCrop(5, 5, seed=2)]:
        cfg = json.loads(json.dumps(layer.get_config()))
        clone = type(layer).from_config(cfg)
        assert clone.get_config() == layer.get_config()
        np.testing.assert_array_equal(clone.forward(x, training=True, step=7),
                                      layer.forward(x, training=True, step=7))
    from nbnet import layers
    m = nb.Sequential([nb.Input(shape=(8, 8, 3)), RandomFlip(seed=1), RandomRotation(0.1, seed=2),
                       layers.Flatten(), layers.Dense(2)])
    m.compile("sgd", "mse")
    m.fit(x / 255.0, np.zeros((4, 2)), epochs=1, batch_size=2, verbose=0)
    flatten, dense = m.layers[2], m.layers[3]   # at inference the augmentation is the identity
    np.testing.assert_allclose(m.predict(x, batch_size=4), dense(flatten(x)), rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        RandomFlip("diagonal")
    with pytest.raises(ValueError, match="factor"):
        RandomRotation(1.5)
    with pytest.raises(ValueError, match="fill_mode"):
        RandomRotation(0.1, fill_mode="mirror-ish")
    with pytest.raises(ValueError, match="interpolation"):
        RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="height_factor"):
        RandomZoom(-1.0)
    with pytest.raises(ValueError, match="width_factor"):
        RandomTranslation(0.1, (0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="factor"):
        RandomContrast(-0.5)
    with pytest.raises(ValueError, match="value_range"):
        RandomBrightness(0.1, value_range=5)
    with pytest.raises(ValueError, match="seed"):
        RandomFlip(seed=-1)
    with pytest.raises(ValueError, match="height"):
        RandomCrop(0, 3)
    with pytest.raises(ValueError, match="height, width"):
        RandomFlip(seed=0).forward(np.zeros((2, 3, 3)), training=True)


# ------------------------------------------------------------------ optional: Keras
def test_deterministic_ranges_match_keras():
    keras = _keras()
    x = _x((2, 7, 7, 3))
    pairs = [
        (RandomRotation((0.25, 0.25), seed=0), keras.layers.RandomRotation((0.25, 0.25), seed=0)),
        (RandomRotation((0.1, 0.1), fill_mode="constant", fill_value=3.0, seed=0),
         keras.layers.RandomRotation((0.1, 0.1), fill_mode="constant", fill_value=3.0, seed=0)),
        (RandomRotation((-0.15, -0.15), fill_mode="wrap", seed=0),
         keras.layers.RandomRotation((-0.15, -0.15), fill_mode="wrap", seed=0)),
        (RandomZoom((-0.4, -0.4), (0.3, 0.3), seed=0),
         keras.layers.RandomZoom((-0.4, -0.4), (0.3, 0.3), seed=0)),
        (RandomZoom((0.5, 0.5), fill_mode="nearest", interpolation="nearest", seed=0),
         keras.layers.RandomZoom((0.5, 0.5), fill_mode="nearest", interpolation="nearest", seed=0)),
        (RandomTranslation((0.3, 0.3), (-0.2, -0.2), seed=0),
         keras.layers.RandomTranslation((0.3, 0.3), (-0.2, -0.2), seed=0)),
        # contrast: U(1 - lower, 1 + upper) with lower = -0.5, upper = 0.5 -> f = 1.5
        (RandomContrast((-0.5, 0.5), seed=0), keras.layers.RandomContrast((-0.5, 0.5), seed=0)),
        (RandomBrightness((0.2, 0.2), seed=0), keras.layers.RandomBrightness((0.2, 0.2), seed=0)),
    ]
    for ours, theirs in pairs:
        ref = np.asarray(theirs(x, training=True))
        np.testing.assert_allclose(ours.forward(x, training=True), ref, rtol=1e-4, atol=2e-3,
                                   err_msg=ours.name)
    np.testing.assert_allclose(np.asarray(keras.layers.RandomRotation((0.25, 0.25))(x, training=True)),
                               np.rot90(x, k=1, axes=(1, 2)), atol=1e-3)
    assert keras.layers.RandomContrast(0.5).factor == RandomContrast(0.5).factor
    for ours, theirs in [(RandomFlip(seed=0), keras.layers.RandomFlip(seed=0)),
                         (RandomRotation(0.3, seed=0), keras.layers.RandomRotation(0.3, seed=0))]:
        assert np.array_equal(np.asarray(theirs(x, training=False)), x)
        assert ours.forward(x, training=False) is x
