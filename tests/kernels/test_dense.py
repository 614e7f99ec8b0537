"""bias_act_forward / bias_act_backward against plain NumPy (tests/reference_dense.py)."""
import numba
import numpy as np
import pytest

import reference_dense as R
from nbnet.kernels import activations as KA
from nbnet.kernels import dense as K

CODES = {name: getattr(KA, name.upper()) for name in R.ACTIVATIONS}
TOL = R.TOL
SHAPES = [(1, 7), (5, 13), (33, 65), (600, 9)]  # 600 rows: several 256-row chunks


def _data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    z0 = R.away_from_kinks(rng.normal(size=shape) * 3)
    b = rng.normal(size=shape[1]) * 0.1
    dy = rng.normal(size=shape)
    # z0 is the pre-activation: the kernel sees z = z0 - b on entry, then adds b
    return (z0 - b).astype(dtype), b.astype(dtype), dy.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh", "leaky_relu",
                                  "elu", "gelu", "swish", "softplus", "relu6"])
def test_bias_act_vs_reference(name, dtype):
    a = 0.2 if name in ("leaky_relu", "elu") else 0.0
    tol = TOL[dtype]
    for seed, shape in enumerate(SHAPES):
        for has_bias in (True, False):
            xw, b, dy = _data(shape, dtype, seed)
            z = xw.copy()
            y = np.empty_like(z)
            K.bias_act_forward(z, y, b, has_bias, CODES[name], a)
            z_ref = xw.astype(np.float64) + (b if has_bias else 0.0)
            np.testing.assert_allclose(z, z_ref, **tol)
            np.testing.assert_allclose(y, R.act(name, z, a), **tol)
            dz = np.empty_like(z)
            db = np.full(shape[1], 7.0, dtype)
            K.bias_act_backward(dz, db, dy, z, y, has_bias, CODES[name], a)
            dz_ref = dy * R.dact(name, z, a)
            np.testing.assert_allclose(dz, dz_ref, **tol)
            if has_bias:  # overwritten, not accumulated onto the 7s
                np.testing.assert_allclose(db, dz_ref.sum(axis=0), rtol=tol["rtol"],
                                           atol=1e-4 if dtype == np.float32 else 1e-10)
            else:
                assert np.all(db == 7.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_in_place(dtype):
    xw, b, dy = _data((9, 11), dtype, 3)
    z = xw.copy()
    K.bias_act_forward(z, z, b, True, KA.LINEAR, 0.0)
    np.testing.assert_allclose(z, xw.astype(np.float64) + b, **TOL[dtype])
    g = dy.copy()
    db = np.empty(11, dtype)
    K.bias_act_backward(g, db, g, z, z, True, KA.LINEAR, 0.0)
    assert np.array_equal(g, dy)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=0), rtol=1e-5)


def test_dense_product_matches_reference():
    """The layer's recipe (BLAS + kernels) equals plain NumPy for forward and backward."""
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(5, 13)), rng.normal(size=(13, 7)), rng.normal(size=7)
    dy = rng.normal(size=(5, 7))
    z = np.dot(x, W)
    y = np.empty_like(z)
    K.bias_act_forward(z, y, b, True, KA.TANH, 0.0)
    z_ref, y_ref = R.dense_forward(x, W, b, "tanh")
    np.testing.assert_allclose(y, y_ref, rtol=1e-10)
    dz, db = np.empty_like(z), np.empty(7)
    K.bias_act_backward(dz, db, dy, z, y, True, KA.TANH, 0.0)
    dx_ref, dW_ref, db_ref = R.dense_backward(dy, x, W, z_ref, "tanh")
    np.testing.assert_allclose(dz @ W.T, dx_ref, rtol=1e-10)
    np.testing.assert_allclose(x.T @ dz, dW_ref, rtol=1e-10)
    np.testing.assert_allclose(db, db_ref, rtol=1e-10)


def test_thread_determinism():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    xw, b, dy = _data((1000, 37), np.float32, 11)
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            out = []
            for code in (KA.LINEAR, KA.RELU, KA.SIGMOID, KA.GELU):
                z = xw.copy()
                y = np.empty_like(z)
                K.bias_act_forward(z, y, b, True, code, 0.0)
                dz, db = np.empty_like(z), np.empty_like(b)
                K.bias_act_backward(dz, db, dy, z, y, True, code, 0.0)
                out += [z, y, dz, db]
            results.append(out)
    finally:
        numba.set_num_threads(old)
    for a, b_ in zip(*results):
        assert a.tobytes() == b_.tobytes()
