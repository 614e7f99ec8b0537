"""Dropout kernels: counter-based mask statistics, reproducibility, backward."""
import numba
import numpy as np
import pytest

from nbnet.kernels import dropout as K


def _forward(x, rate, seed):
    y, mask = np.empty_like(x), np.empty_like(x)
    K.dropout_forward(y, mask, x, rate, seed)
    return y, mask


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_mask_fraction_and_scale(rate, dtype):
    n = 200_003
    x = np.random.default_rng(0).normal(size=n).astype(dtype)
    y, mask = _forward(x, rate, 12345)
    kept = mask != 0
    # binomial(n, 1 - rate): the kept fraction lies within 5 standard deviations
    sd = np.sqrt(rate * (1 - rate) / n)
    assert abs(kept.mean() - (1 - rate)) < 5 * sd
    np.testing.assert_allclose(mask[kept], 1 / (1 - rate), rtol=1e-7 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(y[~kept], 0)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_mask_has_no_obvious_pattern():
    x = np.ones(100_000)
    _, mask = _forward(x, 0.5, 7)
    kept = (mask != 0).astype(float)
    # neighbours independent: P(both kept) ~ 1/4; halves of the array alike
    assert abs(np.mean(kept[1:] * kept[:-1]) - 0.25) < 0.01
    assert abs(kept[:50_000].mean() - kept[50_000:].mean()) < 0.015


@pytest.mark.parametrize("n", [1, 7, 65, 3 * 4096 + 5])
def test_same_seed_same_mask_and_prefix_property(n):
    x = np.arange(1, n + 1, dtype=np.float64)
    _, m1 = _forward(x, 0.3, 99)
    _, m2 = _forward(x, 0.3, 99)
    assert np.array_equal(m1, m2)
    # counter-based: element i depends only on (seed, i), not on the array length
    _, big = _forward(np.ones(n + 1000), 0.3, 99)
    assert np.array_equal(big[:n], m1)
    if n > 64:
        _, m3 = _forward(x, 0.3, 100)
        assert not np.array_equal(m1, m3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_is_dy_times_mask(dtype):
    rng = np.random.default_rng(1)
    x, dy = rng.normal(size=(2, 513)).astype(dtype)
    _, mask = _forward(x, 0.4, 5)
    dx = np.full_like(dy, 3.0)
    K.dropout_backward(dx, dy, mask)
    np.testing.assert_array_equal(dx, dy * mask)


def test_rate_zero_keeps_everything():
    x = np.random.default_rng(2).normal(size=1000)
    y, mask = _forward(x, 0.0, 3)
    assert np.all(mask == 1.0) and np.array_equal(y, x)


def test_thread_determinism():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    x = np.random.default_rng(3).normal(size=5 * 4096 + 11).astype(np.float32)
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            y, mask = _forward(x, 0.25, 2**62 + 12345)
            dx = np.empty_like(x)
            K.dropout_backward(dx, x, mask)
            results.append((y, mask, dx))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
