"""Layer / group normalisation kernels against plain NumPy references.

The references' backward builds each slice's Jacobian explicitly (a different
formulation from the kernels' closed form) and is checked against finite differences."""
import numba
import numpy as np
import pytest

from helpers import numeric_grad
from nbnet.kernels import layernorm as K
from nbnet.kernels.threads import PASSIVE as SMALL_PARALLEL  # the higher of the two cut-offs

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


# ---------------------------------------------------------------- references
def _stats(v, eps):
    """v: (K,) float64 -> mean, 1 / sqrt(var + eps) (biased variance, two passes)."""
    mu = v.mean()
    return mu, 1.0 / np.sqrt(((v - mu) ** 2).mean() + eps)


def _vjp(v, gvec, dyv, eps, rms):
    """dL/dv for y = gvec * xhat(v) (+ beta), from the explicit Jacobian of one slice."""
    k = v.size
    mu, r = _stats(v, eps)
    if rms:   # y_j = g_j v_j r;  dr/dv_k = -r^3 (v_k - mu) / K
        jac = gvec[:, None] * (r * np.eye(k) - np.outer(v, v - mu) * r ** 3 / k)
    else:     # xhat_j = (v_j - mu) r;  dxhat_j/dv_k = r (delta_jk - 1/K - xhat_j xhat_k / K)
        xh = (v - mu) * r
        jac = gvec[:, None] * r * (np.eye(k) - 1.0 / k - np.outer(xh, xh) / k)
    return jac.T @ dyv


def ln_ref(x, gamma, beta, eps, rms=False):
    x = x.astype(np.float64)
    y = np.empty_like(x)
    for i, v in enumerate(x):
        mu, r = _stats(v, eps)
        y[i] = gamma * v * r if rms else gamma * (v - mu) * r + beta
    return y


def ln_backward_ref(dy, x, gamma, eps, rms=False):
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    dx = np.empty_like(x)
    dgamma = np.zeros(x.shape[1])
    for i, v in enumerate(x):
        mu, r = _stats(v, eps)
        dgamma += dy[i] * (v * r if rms else (v - mu) * r)
        dx[i] = _vjp(v, gamma, dy[i], eps, rms)
    return dx, dgamma, dy.sum(0)


def gn_ref(x, gamma, beta, groups, eps):
    """x: (N, S, C); stats over each (sample, group) of S * C / groups values."""
    n, s, c = x.shape
    xg = x.astype(np.float64).reshape(n, s, groups, c // groups)
    mu = xg.mean(axis=(1, 3), keepdims=True)
    var = ((xg - mu) ** 2).mean(axis=(1, 3), keepdims=True)
    xhat = ((xg - mu) / np.sqrt(var + eps)).reshape(n, s, c)
    return gamma * xhat + beta, mu.reshape(n, groups), 1 / np.sqrt(var.reshape(n, groups) + eps)


def gn_backward_ref(dy, x, gamma, groups, eps):
    n, s, c = x.shape
    cg = c // groups
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    dx = np.empty_like(x)
    xhat = np.empty_like(x)
    for i in range(n):
        for g in range(groups):
            sl = (i, slice(None), slice(g * cg, (g + 1) * cg))
            v = x[sl].reshape(-1)
            mu, r = _stats(v, eps)
            xhat[sl] = (x[sl] - mu) * r
            gvec = np.broadcast_to(gamma[g * cg:(g + 1) * cg], (s, cg)).reshape(-1)
            dx[sl] = _vjp(v, gvec, dy[sl].reshape(-1), eps, False).reshape(s, cg)
    return dx, (dy * xhat).sum(axis=(0, 1)), dy.sum(axis=(0, 1))


# ---------------------------------------------------------------- helpers
def _data(rng, shape, dtype):
    d = shape[-1]
    x = rng.normal(size=shape) * rng.uniform(0.5, 3, size=shape[:-1] + (1,)) + \
        rng.normal(size=shape[:-1] + (1,)) * 3
    gamma = rng.uniform(0.5, 2.0, size=d)
    beta = rng.normal(size=d)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


def _ln(x, gamma, beta, eps, rms):
    y = np.empty_like(x)
    mean, inv_std = np.empty(x.shape[0]), np.empty(x.shape[0])
    K.layernorm_forward(y, mean, inv_std, x, gamma, beta, eps, rms)
    return y, mean, inv_std


def _ln_back(dy, x, mean, inv_std, gamma, rms):
    dx, dg, db = np.empty_like(x), np.empty_like(gamma), np.empty_like(gamma)
    K.layernorm_backward(dx, dg, db, dy, x, mean, inv_std, gamma, rms)
    return dx, dg, db


def _gn(x, gamma, beta, groups, eps):
    y = np.empty_like(x)
    mean, inv_std = np.empty((x.shape[0], groups)), np.empty((x.shape[0], groups))
    K.groupnorm_forward(y, mean, inv_std, x, gamma, beta, groups, eps)
    return y, mean, inv_std


def _gn_back(dy, x, mean, inv_std, gamma, groups):
    dx, dg, db = np.empty_like(x), np.empty_like(gamma), np.empty_like(gamma)
    K.groupnorm_backward(dx, dg, db, dy, x, mean, inv_std, gamma, groups)
    return dx, dg, db


def _close(a, b, dtype):
    """Relative to the largest entry of b (cancellation in sums of mixed signs)."""
    rtol = TOL[dtype]["rtol"]
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(np.abs(b).max(), 1e-300))


LN_SHAPES = [(1, 5), (3, 1), (7, 2), (65, 33), (130, 64), (200, 7)]
GN_CASES = [((2, 5, 6), 3), ((3, 70, 8), 2), ((1, 130, 4), 4), ((2, 1, 6), 1), ((2, 9, 12), 12)]


# ---------------------------------------------------------------- layer norm
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", LN_SHAPES)
@pytest.mark.parametrize("rms", [False, True])
def test_layernorm_forward_matches_reference(rng, dtype, shape, rms):
    x, gamma, beta = _data(rng, shape, dtype)
    y, mean, inv_std = _ln(x, gamma, beta, 1e-3, rms)
    assert y.dtype == dtype and mean.dtype == np.float64
    xd = x.astype(np.float64)
    np.testing.assert_allclose(mean, xd.mean(1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(xd.var(1) + 1e-3), rtol=1e-10)
    np.testing.assert_allclose(y, ln_ref(x, gamma.astype(float), beta.astype(float), 1e-3, rms),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", LN_SHAPES)
@pytest.mark.parametrize("rms", [False, True])
def test_layernorm_backward_matches_reference(rng, dtype, shape, rms):
    x, gamma, _ = _data(rng, shape, dtype)
    dy = rng.normal(size=shape).astype(dtype)
    _, mean, inv_std = _ln(x, gamma, gamma, 1e-3, rms)
    dx, dg, db = _ln_back(dy, x, mean, inv_std, gamma, rms)
    dx_r, dg_r, db_r = ln_backward_ref(dy, x, gamma.astype(float), 1e-3, rms)
    assert dx.dtype == dg.dtype == dtype
    _close(dx, dx_r, dtype)
    _close(dg, dg_r, dtype)
    _close(db, db_r, dtype)


@pytest.mark.parametrize("rms", [False, True])
def test_layernorm_reference_backward_matches_finite_differences(rng, rms):
    x, gamma, beta = _data(rng, (4, 6), np.float64)
    r = rng.normal(size=x.shape)
    dx, dg, db = ln_backward_ref(r, x, gamma, 1e-3, rms)
    for arr, analytic in ((x, dx), (gamma, dg), (beta, db if not rms else 0 * db)):
        idx, num = numeric_grad(lambda: np.sum(ln_ref(x, gamma, beta, 1e-3, rms) * r), arr)
        np.testing.assert_allclose(analytic.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)


def test_layernorm_large_mean_small_std_and_constant_row(rng):
    x = (1e4 + 1e-2 * rng.normal(size=(6, 300))).astype(np.float32)
    x[2] = 3.25  # a constant row: var = 0, y = beta
    ones, beta = np.ones(300, np.float32), np.full(300, 0.5, np.float32)
    y, mean, inv_std = _ln(x, ones, beta, 1e-8, False)
    xd = x.astype(np.float64)
    np.testing.assert_allclose(1 / inv_std ** 2 - 1e-8, xd.var(1), rtol=1e-6, atol=1e-12)
    assert np.all(y[2] == 0.5) and np.all(np.isfinite(y))
    assert abs(float(y[[0, 1, 3, 4, 5]].astype(float).std(1).mean()) - 1.0) < 1e-3
    # the float32 normalisation does not round the mean (an error of up to 5e-4 there
    # would shift every output by up to 0.05 here)
    np.testing.assert_allclose(y, ln_ref(x, ones, beta, 1e-8), rtol=0, atol=1e-5)


def test_layernorm_nan_stays_in_its_row():
    x = np.ones((4, 5))
    x[1, 3] = np.nan
    y, mean, _ = _ln(x, np.ones(5), np.zeros(5), 1e-3, False)
    assert np.isnan(mean[1]) and np.all(np.isnan(y[1])) and np.all(np.isfinite(y[[0, 2, 3]]))


# ---------------------------------------------------------------- group norm
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,groups", GN_CASES)
def test_groupnorm_forward_matches_reference(rng, dtype, shape, groups):
    x, gamma, beta = _data(rng, shape, dtype)
    y, mean, inv_std = _gn(x, gamma, beta, groups, 1e-3)
    y_r, mean_r, inv_r = gn_ref(x, gamma.astype(float), beta.astype(float), groups, 1e-3)
    assert y.dtype == dtype
    np.testing.assert_allclose(mean, mean_r, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(inv_std, inv_r, rtol=1e-10)
    np.testing.assert_allclose(y, y_r, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,groups", GN_CASES)
def test_groupnorm_backward_matches_reference(rng, dtype, shape, groups):
    x, gamma, beta = _data(rng, shape, dtype)
    dy = rng.normal(size=shape).astype(dtype)
    _, mean, inv_std = _gn(x, gamma, beta, groups, 1e-3)
    dx, dg, db = _gn_back(dy, x, mean, inv_std, gamma, groups)
    dx_r, dg_r, db_r = gn_backward_ref(dy, x, gamma.astype(float), groups, 1e-3)
    _close(dx, dx_r, dtype)
    _close(dg, dg_r, dtype)
    _close(db, db_r, dtype)


def test_groupnorm_reference_backward_matches_finite_differences(rng):
    x, gamma, beta = _data(rng, (2, 3, 4), np.float64)
    r = rng.normal(size=x.shape)
    dx, dg, db = gn_backward_ref(r, x, gamma, 2, 1e-3)
    for arr, analytic in ((x, dx), (gamma, dg), (beta, db)):
        idx, num = numeric_grad(lambda: np.sum(gn_ref(x, gamma, beta, 2, 1e-3)[0] * r), arr)
        np.testing.assert_allclose(analytic.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- threads
def _bitwise_at_1_and_2_threads(fn):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            results.append(fn())
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("rms", [False, True])
def test_layernorm_bitwise_identical_at_1_and_2_threads(rms):
    rng = np.random.default_rng(7)
    shape = (5000, 130)   # 79 chunks of rows: large enough that 2 threads are used
    assert 2 * shape[0] * shape[1] >= SMALL_PARALLEL
    x, gamma, beta = _data(rng, shape, np.float32)
    dy = rng.normal(size=shape).astype(np.float32)

    def run():
        y, mean, inv_std = _ln(x, gamma, beta, 1e-3, rms)
        return (y, mean, inv_std) + _ln_back(dy, x, mean, inv_std, gamma, rms)
    _bitwise_at_1_and_2_threads(run)


def test_groupnorm_bitwise_identical_at_1_and_2_threads():
    rng = np.random.default_rng(8)
    shape = (6, 1500, 96)
    assert 2 * np.prod(shape) >= SMALL_PARALLEL
    x, gamma, beta = _data(rng, shape, np.float32)
    dy = rng.normal(size=shape).astype(np.float32)

    def run():
        y, mean, inv_std = _gn(x, gamma, beta, 8, 1e-3)
        return (y, mean, inv_std) + _gn_back(dy, x, mean, inv_std, gamma, 8)
    _bitwise_at_1_and_2_threads(run)
