"""Batch-norm kernels against the NumPy references (tests/reference_norm_losses.py)."""
import numba
import numpy as np
import pytest

import reference_norm_losses as ref
from helpers import numeric_grad
from nbnet.kernels import norm as K
from nbnet.kernels.threads import PASSIVE as SMALL_PARALLEL  # the higher of the two cut-offs

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
SHAPES = [(1, 7), (2, 3), (5, 1), (33, 130), (17, 65), (1030, 5), (1500, 19)]
TRAIN = {"2d": K.batchnorm_forward_train_2d, "tall": K.batchnorm_forward_train_tall}
BACK = {"2d": K.batchnorm_backward_2d, "tall": K.batchnorm_backward_tall}


def _data(rng, shape, dtype):
    n, f = shape
    x = (rng.normal(size=shape) * rng.uniform(0.5, 3, size=f) + rng.normal(size=f) * 3).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, size=f).astype(dtype)
    beta = rng.normal(size=f).astype(dtype)
    return x, gamma, beta


def _train(variant, x, gamma, beta, eps, relu):
    y = np.empty_like(x)
    mean, inv_std = np.empty(x.shape[1]), np.empty(x.shape[1])
    TRAIN[variant](y, mean, inv_std, x, gamma, beta, eps, relu)
    return y, mean, inv_std


def _backward(variant, dy, x, mean, inv_std, gamma, beta, relu):
    dx = np.empty_like(x)
    dgamma, dbeta = np.empty_like(gamma), np.empty_like(gamma)
    BACK[variant](dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, beta, relu)
    return dx, dgamma, dbeta


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", ["2d", "tall"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_forward_train_matches_reference(rng, dtype, variant, shape, relu):
    x, gamma, beta = _data(rng, shape, dtype)
    y, mean, inv_std = _train(variant, x, gamma, beta, 1e-3, relu)
    y_r, mean_r, inv_r = ref.bn_train(x, gamma.astype(float), beta.astype(float), 1e-3, relu)
    assert mean.dtype == np.float64 and y.dtype == dtype
    np.testing.assert_allclose(mean, mean_r, rtol=1e-12 if dtype == np.float64 else 1e-6, atol=1e-12)
    np.testing.assert_allclose(inv_std, inv_r, rtol=1e-10 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(y, y_r, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_forward_infer_matches_reference(rng, dtype, shape, relu):
    x, gamma, beta = _data(rng, shape, dtype)
    mm = rng.normal(size=shape[1]).astype(dtype)
    mv = rng.uniform(0.1, 4.0, size=shape[1]).astype(dtype)
    y = np.empty_like(x)
    K.batchnorm_forward_infer(y, x, mm, mv, gamma, beta, 1e-3, relu)
    y_r = ref.bn_infer(x, mm, mv, gamma.astype(float), beta.astype(float), 1e-3, relu)
    np.testing.assert_allclose(y, y_r, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", ["2d", "tall"])
@pytest.mark.parametrize("shape", [s for s in SHAPES if s[0] > 1])
@pytest.mark.parametrize("relu", [False, True])
def test_backward_matches_reference(rng, dtype, variant, shape, relu):
    x, gamma, beta = _data(rng, shape, dtype)
    dy = rng.normal(size=shape).astype(dtype)
    _, mean, inv_std = _train(variant, x, gamma, beta, 1e-3, False)
    dx, dgamma, dbeta = _backward(variant, dy, x, mean, inv_std, gamma, beta, relu)
    dx_r, dg_r, db_r = ref.bn_backward(dy, x, gamma.astype(float), beta.astype(float), 1e-3, relu)
    tol = TOL[dtype]
    scale = np.abs(dx_r).max()
    np.testing.assert_allclose(dx, dx_r, rtol=tol["rtol"], atol=tol["rtol"] * scale)
    np.testing.assert_allclose(dgamma, dg_r, rtol=tol["rtol"], atol=tol["rtol"] * np.abs(dg_r).max())
    np.testing.assert_allclose(dbeta, db_r, rtol=tol["rtol"], atol=tol["rtol"] * np.abs(db_r).max())


def test_reference_backward_matches_finite_differences(rng):
    x, gamma, beta = _data(rng, (6, 4), np.float64)
    r = rng.normal(size=x.shape)
    dx, dgamma, dbeta = ref.bn_backward(r, x, gamma, beta, 1e-3)
    for arr, analytic in ((x, dx), (gamma, dgamma), (beta, dbeta)):
        idx, num = numeric_grad(lambda: np.sum(ref.bn_train(x, gamma, beta, 1e-3)[0] * r), arr)
        np.testing.assert_allclose(analytic.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("relu", [False, True])
def test_backward_infer_is_the_affine_map(rng, dtype, relu):
    x, gamma, beta = _data(rng, (37, 9), dtype)
    dy = rng.normal(size=x.shape).astype(dtype)
    mean = rng.normal(size=9)
    inv_std = rng.uniform(0.5, 2, size=9)
    dx = np.empty_like(x)
    K.batchnorm_backward_infer(dx, dy, x, mean, inv_std, gamma, beta, relu)
    expected = dy.astype(float) * gamma * inv_std
    if relu:
        expected *= (gamma * (x - mean) * inv_std + beta) > 0
    np.testing.assert_allclose(dx, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", ["2d", "tall"])
def test_large_mean_small_std_gives_right_variance(rng, dtype, variant):
    """mean 1e4, std 1e-2: a naive E[x^2] - E[x]^2 in float64 would lose ~all digits."""
    x = (1e4 + 1e-2 * rng.normal(size=(4000, 3))).astype(dtype)
    ones, zeros = np.ones(3, dtype), np.zeros(3, dtype)
    y, mean, inv_std = _train(variant, x, ones, zeros, 1e-8, False)
    xd = x.astype(np.float64)
    var_true = ((xd - xd.mean(0)) ** 2).mean(0)
    np.testing.assert_allclose(1.0 / inv_std ** 2 - 1e-8, var_true, rtol=1e-6)
    np.testing.assert_allclose(mean, xd.mean(0), rtol=1e-13)
    assert abs(float(y.astype(float).std()) - 1.0) < 1e-3


@pytest.mark.parametrize("variant", ["2d", "tall"])
def test_constant_feature_stays_finite(variant):
    x = np.full((50, 2), 3.25)
    x[:, 1] = np.arange(50)
    y, mean, inv_std = _train(variant, x, np.ones(2), np.full(2, 0.5), 1e-3, False)
    assert np.all(np.isfinite(y)) and np.all(y[:, 0] == 0.5)
    assert inv_std[0] == pytest.approx(1 / np.sqrt(1e-3))
    dx, dg, db = _backward(variant, np.ones_like(x), x, mean, inv_std, np.ones(2), np.zeros(2), False)
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dg))


def test_nan_propagates():
    x = np.ones((20, 3))
    x[4, 1] = np.nan
    for variant in ("2d", "tall"):
        y, mean, _ = _train(variant, x, np.ones(3), np.zeros(3), 1e-3, True)
        assert np.isnan(mean[1]) and np.all(np.isnan(y[:, 1])) and np.all(np.isfinite(y[:, [0, 2]]))


@pytest.mark.parametrize("variant", ["2d", "tall"])
def test_bitwise_identical_at_1_and_2_threads(variant):
    rng = np.random.default_rng(7)
    # large enough that the kernels do use 2 threads (smaller work runs on one)
    shape = (30000, 21) if variant == "tall" else (1000, 700)
    assert 2 * shape[0] * shape[1] >= SMALL_PARALLEL
    x, gamma, beta = _data(rng, shape, np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    mm, mv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
    results = []
    old = numba.get_num_threads()
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            y, mean, inv_std = _train(variant, x, gamma, beta, 1e-3, True)
            grads = _backward(variant, dy, x, mean, inv_std, gamma, beta, True)
            yi = np.empty_like(x)
            K.batchnorm_forward_infer(yi, x, mm, mv, gamma, beta, 1e-3, False)
            dxi = np.empty_like(x)
            K.batchnorm_backward_infer(dxi, dy, x, mean, inv_std, gamma, beta, False)
            results.append((y, mean, inv_std, *grads, yi, dxi))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_update_moving_matches_the_formula(rng, dtype):
    c = 37
    mm = rng.normal(size=c).astype(dtype)
    mv = rng.uniform(0.5, 2.0, size=c).astype(dtype)
    mean = rng.normal(size=c)
    var = rng.uniform(0.0, 3.0, size=c)
    var[0] = 0.0  # a constant channel
    inv_std = 1.0 / np.sqrt(var + 1e-3)
    exp_mm = 0.9 * mm.astype(np.float64) + 0.1 * mean
    exp_mv = 0.9 * mv.astype(np.float64) + 0.1 * var
    K.batchnorm_update_moving(mm, mv, mean, inv_std, 0.9, 1e-3)
    np.testing.assert_allclose(mm, exp_mm, **TOL[dtype])
    np.testing.assert_allclose(mv, exp_mv, rtol=TOL[dtype]["rtol"], atol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [s for s in SHAPES if s[0] > 1])
@pytest.mark.parametrize("relu", [False, True])
def test_distributed_pieces_on_one_rank_match_reference(rng, dtype, shape, relu):
    """The pieces nbnet/distributed.py runs around its Allreduces, with one rank's
    sums standing for the global ones, give the reference forward and backward."""
    x, gamma, beta = _data(rng, shape, dtype)
    dy = rng.normal(size=shape).astype(dtype)
    m, c = shape
    s1 = np.empty(c)
    K.bn_local_sums(s1, x, np.zeros(c), False)
    np.testing.assert_allclose(s1, x.astype(np.float64).sum(0), rtol=1e-12, atol=1e-12 * np.abs(x).sum(0).max())
    mean = s1 / m
    sq = np.empty(c)
    K.bn_local_sums(sq, x, mean, True)
    inv_std = 1.0 / np.sqrt(sq / m + 1e-3)
    y = np.empty_like(x)
    K.bn_normalize(y, x, mean, inv_std, gamma, beta, relu)
    y_r, mean_r, inv_std_r = ref.bn_train(x, gamma.astype(float), beta.astype(float), 1e-3, relu)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, y_r, rtol=tol["rtol"], atol=tol["rtol"] * np.abs(y_r).max())
    tot = np.empty(2 * c)
    K.bn_local_grad_sums(tot, dy, x, mean, inv_std, gamma, beta, relu)
    dx = np.empty_like(x)
    K.bn_grad_input(dx, dy, x, mean, inv_std, gamma, beta, relu, tot, float(m))
    dx_r, dg_r, db_r = ref.bn_backward(dy, x, gamma.astype(float), beta.astype(float), 1e-3, relu)
    np.testing.assert_allclose(dx, dx_r, rtol=tol["rtol"], atol=tol["rtol"] * np.abs(dx_r).max())
    np.testing.assert_allclose(tot[c:], dg_r, rtol=tol["rtol"], atol=tol["rtol"] * np.abs(dg_r).max())
    np.testing.assert_allclose(tot[:c], db_r, rtol=tol["rtol"], atol=tol["rtol"] * np.abs(db_r).max())


def test_distributed_pieces_bitwise_identical_at_1_and_2_threads():
    rng = np.random.default_rng(11)
    shape = (60000, 21)  # enough work for 2 threads
    assert shape[0] * shape[1] >= SMALL_PARALLEL
    x, gamma, beta = _data(rng, shape, np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    c = shape[1]
    results = []
    old = numba.get_num_threads()
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            s1, sq, tot = np.empty(c), np.empty(c), np.empty(2 * c)
            K.bn_local_sums(s1, x, np.zeros(c), False)
            mean = s1 / shape[0]
            K.bn_local_sums(sq, x, mean, True)
            inv_std = 1.0 / np.sqrt(sq / shape[0] + 1e-3)
            y, dx = np.empty_like(x), np.empty_like(x)
            K.bn_normalize(y, x, mean, inv_std, gamma, beta, True)
            K.bn_local_grad_sums(tot, dy, x, mean, inv_std, gamma, beta, True)
            K.bn_grad_input(dx, dy, x, mean, inv_std, gamma, beta, True, tot, float(shape[0]))
            results.append((s1, sq, y, tot, dx))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
