"""Activation kernels against tests/reference_dense.py (plain NumPy)."""
import numba
import numpy as np
import pytest

import reference_dense as R
from nbnet.kernels import activations as K

CODES = {name: getattr(K, name.upper()) for name in R.ACTIVATIONS}
ALPHA = {"leaky_relu": 0.2, "elu": 0.7}
TOL = R.TOL
SIZES = [1, 7, 65, 2 * 4096 + 3]


def make_x(n, dtype, seed=0, scale=4.0):
    x = np.random.default_rng(seed).normal(size=n) * scale
    return R.away_from_kinks(x).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CODES))
def test_act_forward_backward_vs_reference(name, dtype):
    a = ALPHA.get(name, 0.0)
    for n in SIZES:
        x = make_x(n, dtype, seed=n)
        dy = np.random.default_rng(n + 1).normal(size=n).astype(dtype)
        y = np.empty_like(x)
        K.act_forward(y, x, CODES[name], a)
        np.testing.assert_allclose(y, R.act(name, x, a), **TOL[dtype], err_msg=name)
        dx = np.empty_like(x)
        K.act_backward(dx, dy, x, y, CODES[name], a)
        np.testing.assert_allclose(dx, dy * R.dact(name, x, a), **TOL[dtype], err_msg=name)


def test_reference_derivatives_match_finite_differences():
    x = make_x(200, np.float64, scale=3.0)
    for name in CODES:
        a = ALPHA.get(name, 0.0)
        num = (R.act(name, x + 1e-6, a) - R.act(name, x - 1e-6, a)) / 2e-6
        np.testing.assert_allclose(R.dact(name, x, a), num, rtol=1e-6, atol=1e-8, err_msg=name)


def test_act_forward_in_place():
    x = make_x(100, np.float64)
    expected = R.act("tanh", x)
    K.act_forward(x, x, K.TANH, 0.0)
    np.testing.assert_allclose(x, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_inputs(dtype):
    x = np.array([-1000.0, -50.0, 50.0, 1000.0], dtype)
    y = np.empty_like(x)
    with np.errstate(all="raise"):
        K.act_forward(y, x, K.SIGMOID, 0.0)
        np.testing.assert_allclose(y, [0.0, np.exp(-50.0), 1.0, 1.0], rtol=1e-6, atol=0)
        K.act_forward(y, x, K.SOFTPLUS, 0.0)
        # softplus(x) ~ exp(x) for x << 0 and ~ x for x >> 0
        np.testing.assert_allclose(y, [0.0, np.exp(-50.0), 50.0, 1000.0], rtol=1e-6, atol=0)
        K.act_forward(y, x, K.SWISH, 0.0)
        np.testing.assert_allclose(y, [0.0, -50.0 * np.exp(-50.0), 50.0, 1000.0], rtol=1e-6)
        for code in CODES.values():
            K.act_forward(y, x, code, 0.1)
            assert np.all(np.isfinite(y))
            dx = np.empty_like(x)
            K.act_backward(dx, np.ones_like(x), x, y, code, 0.1)
            assert np.all(np.isfinite(dx))


def test_nan_propagates():
    x = np.array([np.nan, 1.0, -1.0])
    y = np.empty_like(x)
    for code in CODES.values():
        K.act_forward(y, x, code, 0.1)
        assert np.isnan(y[0]), code


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 7), (5, 13), (33, 65), (4, 1)])
def test_softmax_vs_reference(shape, dtype):
    rng = np.random.default_rng(shape[1])
    x = (rng.normal(size=shape) * 5).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    tol = TOL[dtype]
    y = np.empty_like(x)
    K.softmax_forward(y, x)
    np.testing.assert_allclose(y, R.softmax(x), **tol)
    dx = np.empty_like(x)
    K.softmax_backward(dx, dy, y)
    np.testing.assert_allclose(dx, R.softmax_backward(dy, x), **tol)
    K.log_softmax_forward(y, x)
    np.testing.assert_allclose(y, R.log_softmax(x), rtol=tol["rtol"], atol=1e-5 if dtype == np.float32 else 1e-12)
    K.log_softmax_backward(dx, dy, y)
    np.testing.assert_allclose(dx, R.log_softmax_backward(dy, x), **tol)


def test_softmax_extreme_rows():
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    y = np.empty_like(x)
    K.softmax_forward(y, x)
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-14, atol=0)
    K.log_softmax_forward(y, x)
    np.testing.assert_allclose(y, [[0.0, -1000.0, -2000.0], [-np.log(3)] * 3], rtol=1e-14)


def test_thread_determinism():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    n = 3 * 4096 + 17
    x = make_x(n, np.float32)
    dy = np.random.default_rng(5).normal(size=n).astype(np.float32)
    x2, dy2 = x[:300 * 41].reshape(300, 41), dy[:300 * 41].reshape(300, 41)
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            out = []
            for code in CODES.values():
                y = np.empty_like(x)
                dx = np.empty_like(x)
                K.act_forward(y, x, code, 0.1)
                K.act_backward(dx, dy, x, y, code, 0.1)
                out += [y, dx]
            for fwd, bwd in ((K.softmax_forward, K.softmax_backward),
                             (K.log_softmax_forward, K.log_softmax_backward)):
                y, dx = np.empty_like(x2), np.empty_like(x2)
                fwd(y, x2)
                bwd(dx, dy2, y)
                out += [y, dx]
            results.append(out)
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
