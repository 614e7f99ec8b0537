"""Noise kernels (nbnet/kernels/noise.py): the counter-based Gaussian generator against a
NumPy reference and its statistics, the noise kernels, thread independence."""
import math

import numpy as np
import pytest

import nbnet as nb
from nbnet.kernels import dropout as KD
from nbnet.kernels import noise as K

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


# ------------------------------------------------------------------ NumPy references
def uniform_ref(seed, idx):
    """splitmix64 of counters idx (Steele et al. 2014), top 53 bits in [0, 1)."""
    z = np.uint64(seed) + (idx.astype(np.uint64) + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0 ** 53


def normal_ref(seed, n):
    """Box-Muller over pairs: z_2p = r cos(2 pi v), z_2p+1 = r sin(2 pi v)."""
    i = np.arange(n)
    p = i // 2
    u, v = uniform_ref(seed, 2 * p), uniform_ref(seed, 2 * p + 1)
    r = np.sqrt(-2.0 * np.log1p(-u))
    return np.where(i % 2 == 0, r * np.cos(2 * np.pi * v), r * np.sin(2 * np.pi * v))


def _normal(n, seed):
    z = np.empty(n)
    K.standard_normal(z, seed)
    return z


TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-6, atol=1e-6)}


def test_uniforms_are_those_of_dropout():
    # the same splitmix64 stream as the dropout kernel: its mask is u >= rate
    n, seed, rate = 5000, 2**61 + 17, 0.37
    y, mask = np.empty(n), np.empty(n)
    KD.dropout_forward(y, mask, np.ones(n), rate, seed)
    np.testing.assert_array_equal(mask != 0, uniform_ref(seed, np.arange(n)) >= rate)


@pytest.mark.parametrize("n", [1, 2, 7, 4096, 4097, 3 * 4096 + 5])
def test_standard_normal_matches_reference(n):
    seed = 123456789
    np.testing.assert_allclose(_normal(n, seed), normal_ref(seed, n), rtol=1e-10, atol=1e-12)


def test_standard_normal_statistics():
    n = 1_000_000
    z = _normal(n, 2024)
    assert np.all(np.isfinite(z))
    # mean: sd 1/sqrt(n); variance: sd sqrt(2/n); bounds at 5 standard deviations
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / n)
    # P(|z| < 1) = erf(1/sqrt 2); the fraction is binomial
    p1 = math.erf(1 / math.sqrt(2))
    assert abs(np.mean(np.abs(z) < 1) - p1) < 5 * math.sqrt(p1 * (1 - p1) / n)
    # symmetric, mesokurtic, and the two members of a pair uncorrelated
    assert abs(np.mean(z ** 3)) < 5 * math.sqrt(15 / n)
    assert abs(np.mean(z ** 4) - 3.0) < 5 * math.sqrt(96 / n)
    pairs = z.reshape(-1, 2)
    assert abs(np.mean(pairs[:, 0] * pairs[:, 1])) < 5 / math.sqrt(n / 2)
    assert abs(np.mean(z[1:-1:2] * z[2::2])) < 5 / math.sqrt(n / 2)   # across pairs


def test_seeds_and_prefix():
    a = _normal(10_000, 1)
    assert not np.array_equal(a, _normal(10_000, 2))
    # counter-based: element i depends only on (seed, i)
    np.testing.assert_array_equal(_normal(20_001, 1)[:10_000], a)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gaussian_noise_forward(dtype):
    n, seed, sd = 9001, 77, 0.3
    x = np.random.default_rng(0).normal(size=n).astype(dtype)
    y = np.empty_like(x)
    K.gaussian_noise_forward(y, x, sd, seed)
    np.testing.assert_allclose(y, x.astype(np.float64) + sd * normal_ref(seed, n), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gaussian_dropout_forward_and_backward(dtype):
    n, seed, sd = 9001, 78, 0.5
    x, dy = np.random.default_rng(1).normal(size=(2, n)).astype(dtype)
    y, noise = np.empty_like(x), np.empty_like(x)
    K.gaussian_dropout_forward(y, noise, x, sd, seed)
    want = 1.0 + sd * normal_ref(seed, n)
    np.testing.assert_allclose(noise, want, **TOL[dtype])
    np.testing.assert_allclose(y, x * want, **TOL[dtype])
    dx = np.full_like(x, np.nan)
    K.scale_backward(dx, dy, noise)
    np.testing.assert_array_equal(dx, dy * noise)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_alpha_dropout_forward(dtype):
    n, seed, rate = 9001, 79, 0.2
    a, b, alpha_p = 0.9, 0.3, -1.7
    x = np.random.default_rng(2).normal(size=n).astype(dtype)
    y, factor = np.empty_like(x), np.empty_like(x)
    K.alpha_dropout_forward(y, factor, x, rate, a, b, alpha_p, seed)
    keep = uniform_ref(seed, np.arange(n)) >= rate
    np.testing.assert_allclose(y, np.where(keep, a * x.astype(np.float64) + b, a * alpha_p + b),
                               **TOL[dtype])
    np.testing.assert_allclose(factor, np.where(keep, a, 0.0), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spatial_dropout(dtype):
    N, S, C, seed, rate = 5, 7, 6, 80, 0.4
    x, dy = np.random.default_rng(3).normal(size=(2, N, S, C)).astype(dtype)
    y, mask = np.empty_like(x), np.empty((N, C), dtype)
    K.spatial_dropout_forward(y, mask, x, rate, seed)
    keep = (uniform_ref(seed, np.arange(N * C)) >= rate).reshape(N, C)
    want_mask = np.where(keep, 1 / (1 - rate), 0.0)
    np.testing.assert_allclose(mask, want_mask, **TOL[dtype])
    np.testing.assert_allclose(y, x * want_mask[:, None, :], **TOL[dtype])
    dx = np.full_like(x, np.nan)
    K.spatial_dropout_backward(dx, dy, mask)
    np.testing.assert_array_equal(dx, dy * mask[:, None, :])


def test_same_bits_at_one_and_two_threads():
    n = 5 * 4096 + 11
    x = np.random.default_rng(4).normal(size=n).astype(np.float32)
    old = nb.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            nb.set_num_threads(t)
            z = np.empty(n)
            K.standard_normal(z, 2**62 + 5)
            y1, y2, noise = np.empty_like(x), np.empty_like(x), np.empty_like(x)
            K.gaussian_noise_forward(y1, x, 0.1, 11)
            K.gaussian_dropout_forward(y2, noise, x, 0.4, 12)
            y3, f3 = np.empty_like(x), np.empty_like(x)
            K.alpha_dropout_forward(y3, f3, x, 0.3, 0.8, 0.1, -1.75, 13)
            x3 = x[:9 * 100 * 20].reshape(9, 100, 20)
            y4, m4 = np.empty_like(x3), np.empty((9, 20), np.float32)
            K.spatial_dropout_forward(y4, m4, x3, 0.5, 14)
            results.append([z, y1, y2, noise, y3, f3, y4, m4])
    finally:
        nb.set_num_threads(old)
    for a, b in zip(*results):
        assert np.array_equal(a, b)
