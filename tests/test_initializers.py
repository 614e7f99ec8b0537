"""Initializers (nbnet/initializers.py): sample moments and bounds against the Keras /
PyTorch formulas, truncation, seeding, orthogonality, convolution fans."""
import json
import math

import numpy as np
import pytest

import nbnet as nb
from nbnet import initializers as I

SHAPE = (800, 600)          # Dense kernel (in, out): fan_in 800, fan_out 600
FAN_IN, FAN_OUT = 800, 600
FAN_AVG = (FAN_IN + FAN_OUT) / 2
CONV = (3, 3, 16, 32)       # Conv2D kernel (kh, kw, in, out)
CONV_IN, CONV_OUT = 3 * 3 * 16, 3 * 3 * 32
TRUNC_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]

# name -> (distribution, target std of the samples)
#   uniform on [-L, L] has std L / sqrt(3); L = sqrt(3 * scale / n)  =>  std = sqrt(scale / n)
VARIANCE_SCALING = {
    "he_normal": ("truncated", math.sqrt(2 / FAN_IN)),
    "he_uniform": ("uniform", math.sqrt(2 / FAN_IN)),
    "kaiming_normal": ("normal", math.sqrt(2 / FAN_IN)),
    "kaiming_uniform": ("uniform", math.sqrt(2 / FAN_IN)),
    "glorot_normal": ("truncated", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "glorot_uniform": ("uniform", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_normal": ("normal", math.sqrt(1 / FAN_AVG)),
    "xavier_uniform": ("uniform", math.sqrt(1 / FAN_AVG)),
    "lecun_normal": ("truncated", math.sqrt(1 / FAN_IN)),
    "lecun_uniform": ("uniform", math.sqrt(1 / FAN_IN)),
}


@pytest.mark.parametrize("name", sorted(VARIANCE_SCALING))
def test_variance_scaling_std_and_bounds(name):
    kind, std = VARIANCE_SCALING[name]
    w = I.get(name)(SHAPE)
    assert w.shape == SHAPE and w.dtype == np.float32
    w = w.astype(np.float64)
    assert abs(w.std() / std - 1) < 0.02
    assert abs(w.mean()) < 0.01 * std
    top = np.abs(w).max()
    if kind == "uniform":
        limit = math.sqrt(3) * std
        assert top <= limit * (1 + 1e-6)
        assert top > 0.999 * limit          # and the whole range is used
    elif kind == "truncated":
        # Keras: a normal of std s / 0.8796 cut at 2 of its stds; the result has std s
        bound = 2 * std / TRUNC_STD
        assert top <= bound * (1 + 1e-6)
        assert top > 0.99 * bound
    else:  # PyTorch's normal_: not truncated, 480000 draws reach beyond 4 std
        assert top > 4 * std


def test_random_and_truncated_normal_keras_semantics():
    w = I.RandomNormal(mean=1.0, stddev=0.05, seed=1)(SHAPE, "float64")
    assert abs(w.std() / 0.05 - 1) < 0.02 and abs(w.mean() - 1.0) < 1e-3
    # TruncatedNormal: `stddev` is that of the normal before cutting at +-2 stddev
    w = I.TruncatedNormal(stddev=0.05, seed=1)(SHAPE, "float64")
    assert np.abs(w).max() <= 0.1
    assert abs(w.std() / (0.05 * TRUNC_STD) - 1) < 0.02
    w = I.RandomUniform(minval=-0.2, maxval=0.6, seed=1)(SHAPE, "float64")
    assert w.min() >= -0.2 and w.max() < 0.6
    assert abs(w.mean() - 0.2) < 2e-3 and abs(w.std() / (0.8 / math.sqrt(12)) - 1) < 0.02


def test_conv_shaped_fans():
    assert I.compute_fans(CONV) == (CONV_IN, CONV_OUT)
    assert I.compute_fans((7, 5)) == (7, 5)
    limit = math.sqrt(6 / CONV_IN)
    w = I.he_uniform(seed=3)(CONV, "float64")
    assert w.shape == CONV
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert abs(w.std() / (limit / math.sqrt(3)) - 1) < 0.03  # 4608 samples
    w = I.glorot_uniform(seed=3)(CONV, "float64")
    assert np.abs(w).max() <= math.sqrt(6 / (CONV_IN + CONV_OUT))


def test_dtype_and_constant_initializers():
    assert I.get("he_normal")((4, 3), "float64").dtype == np.float64
    assert np.array_equal(I.get("zeros")((2, 3)), np.zeros((2, 3)))
    assert np.array_equal(I.get("ones")((4,)), np.ones(4))
    assert np.array_equal(I.Constant(2.5)((3,)), np.full(3, 2.5))


@pytest.mark.parametrize("name", sorted(VARIANCE_SCALING) + ["random_normal", "random_uniform",
                                                            "truncated_normal", "orthogonal"])
def test_same_seed_same_weights_other_seed_differs(name):
    cls = type(I.get(name))
    a = cls(seed=42)((30, 20))
    assert np.array_equal(a, cls(seed=42)((30, 20)))
    assert not np.array_equal(a, cls(seed=43)((30, 20)))


def test_set_random_seed_makes_unseeded_initializers_reproducible():
    def draw():
        return [I.get("he_normal")((20, 30)), I.get("glorot_uniform")((5, 5)),
                I.get("orthogonal")((6, 6)), I.get("he_normal")((20, 30))]

    nb.utils.set_random_seed(7)
    first = draw()
    nb.utils.set_random_seed(7)
    again = draw()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[3])  # successive draws differ
    nb.utils.set_random_seed(8)
    assert not np.array_equal(draw()[0], first[0])


@pytest.mark.parametrize("shape", [(50, 30), (30, 50), (40, 40), (3, 3, 16, 32)])
def test_orthogonal(shape):
    w = I.Orthogonal(seed=0)(shape, "float64")
    assert w.shape == shape
    m = w.reshape(-1, shape[-1])
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)
    w2 = I.Orthogonal(gain=2.0, seed=0)(shape, "float64").reshape(rows, cols)
    np.testing.assert_allclose(w2, 2 * m, rtol=1e-14)
    with pytest.raises(ValueError):
        I.Orthogonal()((5,))


@pytest.mark.parametrize("init", [I.HeNormal(seed=3), I.VarianceScaling(0.5, "fan_out", "uniform"),
                                  I.RandomUniform(-1, 1, seed=2), I.Constant(0.3), I.Zeros(),
                                  I.Orthogonal(gain=1.5, seed=4), I.KaimingUniform()],
                         ids=lambda i: type(i).__name__)
def test_serialize_round_trip(init):
    cfg = json.loads(json.dumps(I.serialize(init)))
    back = I.get(cfg)
    assert type(back) is type(init) and back.get_config() == init.get_config()


def test_unknown_names():
    with pytest.raises(ValueError, match="he_normal"):
        I.get("he_norml")
    with pytest.raises(ValueError, match="mode"):
        I.VarianceScaling(mode="fan_sum")
