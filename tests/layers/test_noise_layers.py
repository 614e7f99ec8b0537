"""GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout2D."""
import json
import math
import os

import numpy as np
import pytest

import nbnet as nb
from helpers import check_config_roundtrip, check_layer_grad
from nbnet.layers.core import Dense
from nbnet.layers.noise import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout2D,
                                alpha_dropout_constants)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

LAYERS = [
    (lambda **k: GaussianNoise(0.3, seed=1, **k), (3, 4, 5)),
    (lambda **k: GaussianDropout(0.4, seed=2, **k), (3, 4, 5)),
    (lambda **k: AlphaDropout(0.3, seed=3, **k), (3, 4, 5)),
    (lambda **k: AlphaDropout(0.3, noise_shape=(None, 1, 5), seed=3, **k), (3, 4, 5)),
    (lambda **k: SpatialDropout2D(0.5, seed=4, **k), (3, 2, 3, 6)),
    (lambda **k: SpatialDropout2D(0.5, data_format="channels_first", seed=4, **k), (3, 6, 2, 3)),
]


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("make,shape", LAYERS)
def test_inference_is_the_identity(make, shape):
    layer = make()
    x = _x(shape, dtype=np.float32)
    assert layer.forward(x, training=False) is x
    assert layer.forward(x, training=False, step=5) is x
    np.testing.assert_array_equal(layer(x), x)
    dy = _x(shape, seed=1, dtype=np.float32)
    assert layer.backward(dy) is dy
    assert layer.backward(dy, need_dx=False) is None
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]
    assert layer.flops(shape) == 0


@pytest.mark.parametrize("make,shape", LAYERS)
def test_training_gradients(make, shape, float64):
    layer = make()
    check_layer_grad(layer, _x(shape), training=True, step=3)


@pytest.mark.parametrize("make,shape", LAYERS)
def test_noise_is_a_function_of_seed_and_step(make, shape):
    x = _x(shape, dtype=np.float32)
    a, b = make(), make()
    y3 = a.forward(x, training=True, step=3).copy()
    assert not np.array_equal(y3, x)
    b.forward(x, training=True, step=7)                  # another step first
    np.testing.assert_array_equal(b.forward(x, training=True, step=3), y3)
    assert not np.array_equal(a.forward(x, training=True, step=4), y3)
    # called alone, a layer counts its training calls: steps 0, 1, ...
    c, d = make(), make()
    first = c(x, training=True)
    np.testing.assert_array_equal(first, d.forward(x, training=True, step=0))
    assert not np.array_equal(c(x, training=True), first)


@pytest.mark.parametrize("make,shape", LAYERS)
def test_config_roundtrip_keeps_the_seed(make, shape):
    layer = make()
    x = _x(shape, dtype=np.float32)
    check_config_roundtrip(layer, x)
    clone = type(layer).from_config(json.loads(json.dumps(layer.get_config())))
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(clone.forward(x, training=True, step=2),
                                  layer.forward(x, training=True, step=2))


def test_unseeded_layers_take_their_seed_from_set_random_seed():
    nb.utils.set_random_seed(11)
    a = GaussianNoise(0.1)
    nb.utils.set_random_seed(11)
    b = GaussianNoise(0.1)
    c = GaussianNoise(0.1)
    assert a.seed == b.seed != c.seed
    assert a.get_config()["seed"] == a.seed


# ------------------------------------------------------------------ statistics
def test_gaussian_noise_statistics():
    n, sd = 200_000, 0.25
    x = _x((n // 100, 100))
    z = (GaussianNoise(sd, seed=5, dtype="float64").forward(x, training=True, step=0) - x) / sd
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_gaussian_dropout_statistics(rate):
    n = 200_000
    x = np.full((n // 100, 100), 2.0)
    f = GaussianDropout(rate, seed=6, dtype="float64").forward(x, training=True, step=0) / 2.0
    sd = math.sqrt(rate / (1 - rate))
    assert abs(f.mean() - 1) < 5 * sd / math.sqrt(n)
    assert abs(f.std() / sd - 1) < 5 * math.sqrt(1 / (2 * n))


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(rate):
    n = 400_000
    x = _x((n // 100, 100), seed=7)                 # mean 0, variance 1 (the SELU fixed point)
    layer = AlphaDropout(rate, seed=8, dtype="float64")
    y = layer.forward(x, training=True, step=0)
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = 1 / math.sqrt((1 - rate) * (1 + rate * alpha_p ** 2))
    b = -a * alpha_p * rate
    dropped = np.isclose(y, a * alpha_p + b, rtol=0, atol=1e-12)
    assert abs(dropped.mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-12, atol=1e-12)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01


def test_alpha_dropout_noise_shape_broadcasts():
    rate = 0.5
    x = _x((4, 6, 5))
    layer = AlphaDropout(rate, noise_shape=(None, 1, 5), seed=9, dtype="float64")
    y = layer.forward(x, training=True, step=1)
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = 1 / math.sqrt((1 - rate) * (1 + rate * alpha_p ** 2))
    b = -a * alpha_p * rate
    dropped = np.isclose(y, a * alpha_p + b, rtol=0, atol=1e-12)
    # the mask is shared along axis 1: a (sample, feature) is dropped at every row or none
    assert np.all(dropped == dropped[:, :1]) and 0 < dropped.mean() < 1
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-12)


def test_spatial_dropout_drops_whole_channels():
    N, H, W, C, rate = 40, 3, 4, 25, 0.3
    x = _x((N, H, W, C)) + 5.0                       # never 0
    y = SpatialDropout2D(rate, seed=10, dtype="float64").forward(x, training=True, step=0)
    ratio = (y / x).reshape(N, H * W, C)
    assert np.all(np.isclose(ratio, ratio[:, :1], rtol=1e-12))   # one factor per map
    kept = ratio[:, 0] != 0
    np.testing.assert_allclose(ratio[:, 0][kept], 1 / (1 - rate), rtol=1e-12)
    assert abs((~kept).mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / (N * C))
    # channels_first drops the same maps for the same seed and step
    yf = SpatialDropout2D(rate, data_format="channels_first", seed=10,
                          dtype="float64").forward(
        np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))), training=True, step=0)
    np.testing.assert_array_equal(yf, np.transpose(y, (0, 3, 1, 2)))


def test_same_bits_at_one_and_two_threads():
    x = _x((16, 8, 8, 8), dtype=np.float32)
    makers = [GaussianNoise(0.3, seed=1), GaussianDropout(0.4, seed=2), AlphaDropout(0.3, seed=3),
              AlphaDropout(0.3, noise_shape=(None, 1, 1, 8), seed=3), SpatialDropout2D(0.5, seed=4)]
    old = nb.get_num_threads()
    outs = []
    try:
        for t in (1, 2):
            nb.set_num_threads(t)
            outs.append([layer.forward(x, training=True, step=5).copy() for layer in makers])
    finally:
        nb.set_num_threads(old)
    for a, b in zip(*outs):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------ in a model
def test_a_model_passes_the_step_and_fits_reproducibly():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype(np.float32), rng.normal(size=(32, 2)).astype(np.float32)

    def run():
        nb.utils.set_random_seed(3)
        m = nb.Sequential([nb.Input(shape=(4,)), GaussianNoise(0.5), GaussianDropout(0.3),
                           Dense(8), AlphaDropout(0.2), Dense(2)])
        m.compile("sgd", "mse")
        m.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        return m.get_weights(), m.predict(x)

    w1, p1 = run()
    w2, p2 = run()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p1, p2)
    # predict is inference: the noise layers are the identity
    m = nb.Sequential([nb.Input(shape=(4,)), GaussianNoise(0.5), Dense(2)])
    ref = nb.Sequential([nb.Input(shape=(4,)), Dense(2)])
    ref.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x), ref.predict(x))


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize("make,word", [
    (lambda: GaussianNoise(-0.1), "stddev"),
    (lambda: GaussianNoise(1.5), "stddev"),
    (lambda: GaussianNoise("a"), "stddev"),
    (lambda: GaussianDropout(1.0), "rate"),
    (lambda: AlphaDropout(-0.2), "rate"),
    (lambda: AlphaDropout(0.2, noise_shape=(None, 0)), "noise_shape"),
    (lambda: SpatialDropout2D(True), "rate"),
    (lambda: SpatialDropout2D(0.2, data_format="NCHW"), "data_format"),
    (lambda: GaussianNoise(0.1, seed=-1), "seed"),
])
def test_bad_arguments(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_bad_shapes():
    with pytest.raises(ValueError, match="4-D"):
        SpatialDropout2D(0.2)(_x((2, 3, 4)))
    with pytest.raises(ValueError, match="noise_shape"):
        AlphaDropout(0.2, noise_shape=(None, 3))(_x((2, 4)), training=True)


def test_rate_zero_is_the_identity_in_training():
    x = _x((3, 4))
    for layer in (GaussianNoise(0.0), GaussianDropout(0.0), AlphaDropout(0.0)):
        assert layer.forward(x, training=True, step=1) is x


# ------------------------------------------------------------------ Keras (optional)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_alpha_dropout_constants_are_keras(rate):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = _x((50, 40), seed=12, dtype=np.float32)
    yk = keras.ops.convert_to_numpy(keras.layers.AlphaDropout(rate, seed=1)(x, training=True))
    alpha_p, a, b = alpha_dropout_constants(rate)
    assert alpha_p == -SELU_ALPHA * SELU_SCALE
    # every Keras output is one of our two branches: a * x + b, or the dropped a * alpha_p + b
    kept_k = ~np.isclose(yk, a * alpha_p + b, rtol=1e-6, atol=1e-6)
    assert 0 < kept_k.mean() < 1
    np.testing.assert_allclose(yk[kept_k], a * x[kept_k] + b, rtol=1e-5, atol=1e-5)
