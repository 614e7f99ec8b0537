"""Embedding kernels against plain NumPy: fancy indexing for the gather, np.add.at (a
sequential scatter-add in float64) for the backward."""
import numba
import numpy as np
import pytest

from nbnet.kernels import embedding as K
from nbnet.kernels.threads import PASSIVE as SMALL_PARALLEL


def _backward(dy, idx, v):
    dW = np.full((v, dy.shape[1]), np.nan, dy.dtype)  # every entry must be overwritten
    start = np.full(v + 1, -7, np.int64)
    order = np.full(idx.shape[0], -7, np.int64)
    K.embedding_backward(dW, start, order, dy, idx)
    return dW, start, order


def _ref_backward(dy, idx, v):
    dW = np.zeros((v, dy.shape[1]))
    np.add.at(dW, idx, dy.astype(np.float64))
    return dW


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m,v,d", [(1, 1, 1), (7, 3, 5), (200, 50, 17), (1000, 7, 64)])
def test_forward_is_the_gather(rng, dtype, m, v, d):
    W = rng.normal(size=(v, d)).astype(dtype)
    idx = rng.integers(0, v, m).astype(np.int64)
    y = np.full((m, d), np.nan, dtype)
    K.embedding_forward(y, W, idx)
    np.testing.assert_array_equal(y, W[idx])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m,v,d", [(1, 1, 1), (7, 3, 5), (200, 50, 17), (1000, 7, 64), (30, 100, 3)])
def test_backward_matches_add_at_with_repeated_indices(rng, dtype, m, v, d):
    dy = rng.normal(size=(m, d)).astype(dtype)
    idx = rng.integers(0, v, m).astype(np.int64)
    idx[: m // 2] = idx[0]  # one id repeated many times
    dW, start, order = _backward(dy, idx, v)
    ref = _ref_backward(dy, idx, v)
    np.testing.assert_allclose(dW, ref, rtol=1e-10 if dtype == np.float64 else 1e-6,
                               atol=1e-12 if dtype == np.float64 else 1e-6)
    unused = np.setdiff1d(np.arange(v), idx)
    assert np.all(dW[unused] == 0)
    # the counting sort: tokens of each id, in increasing position
    np.testing.assert_array_equal(start, np.concatenate([[0], np.cumsum(np.bincount(idx, minlength=v))]))
    np.testing.assert_array_equal(order, np.argsort(idx, kind="stable"))


def test_backward_float64_sum_in_token_order_is_exact_on_integers(rng):
    """Small integers sum exactly in any order: the result must equal the bincount."""
    idx = rng.integers(0, 5, 300).astype(np.int64)
    dy = rng.integers(-50, 50, (300, 4)).astype(np.float64)
    dW, _, _ = _backward(dy, idx, 5)
    for j in range(4):
        np.testing.assert_array_equal(dW[:, j], np.bincount(idx, weights=dy[:, j], minlength=5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_indices_accepts_integral_values_and_reports_the_first_bad_one(dtype):
    x = np.array([0, 3, 9, 2], dtype)
    idx = np.empty(4, np.int64)
    assert K.embedding_indices(idx, x, 10) == -1
    np.testing.assert_array_equal(idx, [0, 3, 9, 2])
    for bad, pos in (([0, 1.5, 2, 3], 1), ([0, 1, 10, 3], 2), ([0, 1, 2, -1], 3),
                     ([np.nan, 1, 2, 3], 0), ([0, np.inf, 2, 3], 1), ([0, -0.5, 2, 3], 1)):
        assert K.embedding_indices(idx, np.array(bad, dtype), 10) == pos


def test_backward_bitwise_identical_at_1_and_2_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    rng = np.random.default_rng(5)
    m, v, d = 20000, 3000, 64
    assert v * d + m * d >= SMALL_PARALLEL
    idx = np.minimum(rng.zipf(1.3, m) - 1, v - 1).astype(np.int64)  # many repeats
    dy = rng.normal(size=(m, d)).astype(np.float32)
    W = rng.normal(size=(v, d)).astype(np.float32)
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            dW, _, _ = _backward(dy, idx, v)
            y = np.empty((m, d), np.float32)
            K.embedding_forward(y, W, idx)
            results.append((dW, y))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
