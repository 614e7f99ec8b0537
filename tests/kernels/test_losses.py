"""Loss kernels against the NumPy references, finite differences and edge cases."""
import numba
import numpy as np
import pytest

import reference_norm_losses as ref
from helpers import numeric_grad
from nbnet.kernels import losses as K
from nbnet.kernels.threads import PASSIVE as SMALL_PARALLEL  # the higher of the two cut-offs

TOL = {np.float64: dict(rtol=1e-10, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-7)}
SHAPES = [(1, 1), (1, 5), (3, 2), (17, 10), (64, 3), (5, 1000), (3000, 3)]
EPS = 1e-7


def _inputs(rng, name, shape, dtype):
    """(prediction, target, extra args) for each loss kernel, away from kinks."""
    n, k = shape
    if name in ("softmax_ce_sparse",):
        return rng.normal(size=shape) * 3, rng.integers(0, k, size=n), (0.1,)
    if name == "softmax_ce_dense":
        t = rng.uniform(size=shape)
        return rng.normal(size=shape) * 3, t / t.sum(1, keepdims=True), (0.1,)
    if name == "ce_from_probs":
        t = rng.uniform(size=shape)
        return rng.uniform(0.05, 1.0, size=shape), t / t.sum(1, keepdims=True), (EPS,)
    if name == "bce_from_probs":
        return rng.uniform(0.02, 0.98, size=shape), rng.uniform(size=shape), (EPS,)
    if name == "bce_from_logits":
        return rng.normal(size=shape) * 4, rng.uniform(size=shape), ()
    d = rng.choice([-1, 1], size=shape) * rng.uniform(0.05, 3.0, size=shape)
    d[np.abs(np.abs(d) - 1.0) < 0.05] += 0.2  # keep away from the huber/smooth-L1 kink
    t = rng.normal(size=shape)
    extra = {"huber": (1.0,), "smooth_l1": (1.0,)}.get(name, ())
    return t + d, t, extra


REFS = {
    "softmax_ce_sparse": ref.softmax_ce_sparse, "softmax_ce_dense": ref.softmax_ce,
    "ce_from_probs": ref.ce_from_probs, "bce_from_probs": ref.bce_from_probs,
    "bce_from_logits": ref.bce_from_logits, "mse": ref.mse, "mae": ref.mae,
    "huber": ref.huber, "smooth_l1": ref.smooth_l1,
}


def _cast(pred, target, dtype):
    pred = np.ascontiguousarray(pred, dtype=dtype)
    target = target if target.dtype == np.int64 else np.ascontiguousarray(target, dtype=dtype)
    return pred, target


def _run(name, pred, target, extra):
    grad = np.empty_like(pred)
    value = getattr(K, name)(grad, pred, target, *[float(e) for e in extra])
    return value, grad


@pytest.mark.parametrize("name", sorted(REFS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference(rng, name, dtype, shape):
    pred, target, extra = _inputs(rng, name, shape, dtype)
    pred, target = _cast(pred, target, dtype)
    value, grad = _run(name, pred, target, extra)
    args = (pred.astype(np.float64), target if target.dtype == np.int64 else target.astype(np.float64))
    v_ref, g_ref = REFS[name](*args, *extra)
    assert isinstance(value, float) and grad.dtype == dtype
    assert value == pytest.approx(v_ref, rel=TOL[dtype]["rtol"], abs=1e-12)
    np.testing.assert_allclose(grad, g_ref, rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["rtol"] * np.abs(g_ref).max() + 1e-300)


@pytest.mark.parametrize("name", sorted(REFS))
def test_gradient_matches_finite_differences(rng, name):
    pred, target, extra = _inputs(rng, name, (6, 4), np.float64)
    pred = np.ascontiguousarray(pred)
    _, grad = _run(name, pred, target, extra)
    idx, num = numeric_grad(lambda: _run(name, pred, target, extra)[0], pred, eps=1e-6)
    np.testing.assert_allclose(grad.reshape(-1)[idx], num, rtol=1e-6, atol=1e-9)


def test_label_smoothing_targets():
    """K=4, s=0.2: target 0.85 on the label, 0.05 elsewhere; zero logits -> grad p - t."""
    grad = np.empty((1, 4))
    loss = K.softmax_ce_sparse(grad, np.zeros((1, 4)), np.array([2]), 0.2)
    assert loss == pytest.approx(np.log(4.0), rel=1e-14)
    np.testing.assert_allclose(grad[0], [0.2, 0.2, 0.25 - 0.85, 0.2], rtol=1e-14)
    grad_d = np.empty((1, 4))
    loss_d = K.softmax_ce_dense(grad_d, np.zeros((1, 4)), np.array([[0.0, 0, 1, 0]]), 0.2)
    assert loss_d == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(grad_d, grad, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_on_huge_logits_is_exact(dtype):
    logits = np.array([[1e4, -1e4], [1e4, -1e4]], dtype=dtype)
    grad = np.empty_like(logits)
    assert K.softmax_ce_sparse(grad, logits, np.array([0, 0]), 0.0) == 0.0
    np.testing.assert_array_equal(grad, 0.0)
    assert K.softmax_ce_sparse(grad, logits, np.array([1, 1]), 0.0) == 2e4
    np.testing.assert_allclose(grad, [[0.5, -0.5], [0.5, -0.5]])
    onehot = np.array([[0, 1], [0, 1]], dtype=dtype)
    assert K.softmax_ce_dense(grad, logits, onehot, 0.0) == 2e4
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_from_logits_at_plus_minus_100(dtype):
    z = np.array([[100.0, -100.0, 100.0, -100.0]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0, 1.0]], dtype=dtype)
    grad = np.empty_like(z)
    loss = K.bce_from_logits(grad, z, y)
    # right answers cost ~exp(-100); wrong ones cost 100 each: mean = (0+0+100+100)/4
    assert loss == pytest.approx(50.0, rel=1e-12)
    np.testing.assert_allclose(grad, [[0.0, 0.0, 0.25, -0.25]], atol=1e-12)


def test_probability_losses_clip_like_keras():
    p = np.array([[0.0, 1.0]])
    y = np.array([[1.0, 1.0]])
    grad = np.empty_like(p)
    loss = K.bce_from_probs(grad, p, y, 1e-7)
    assert loss == pytest.approx(-(np.log(1e-7) + np.log(1 - 1e-7)) / 2, rel=1e-12)
    np.testing.assert_array_equal(grad, 0.0)  # both clipped
    # categorical: the row renormalises to [0, 1] then clips
    loss = K.ce_from_probs(grad, np.array([[0.0, 3.0]]), np.array([[1.0, 0.0]]), 1e-7)
    assert loss == pytest.approx(-np.log(1e-7), rel=1e-12)


def test_mae_and_smooth_l1_beta0_zero_gradient_at_equality():
    pred = np.array([[1.0, 2.0, 3.0]])
    target = np.array([[1.0, 3.0, 2.0]])
    for f, extra in ((K.mae, ()), (K.smooth_l1, (0.0,))):
        grad = np.empty_like(pred)
        assert f(grad, pred, target, *extra) == pytest.approx(2 / 3)
        np.testing.assert_array_equal(grad, [[0.0, -1 / 3, 1 / 3]])


def test_nan_propagates():
    pred = np.array([[0.1, np.nan, 0.3]])
    target = np.array([[0.0, 1.0, 0.0]])
    grad = np.empty_like(pred)
    for f, extra in ((K.mse, ()), (K.softmax_ce_dense, (0.0,)), (K.bce_from_logits, ()),
                     (K.ce_from_probs, (1e-7,))):
        assert np.isnan(f(grad, pred, target, *extra))
    assert np.isnan(K.softmax_ce_sparse(grad, pred, np.array([0]), 0.0))


@pytest.mark.parametrize("name", sorted(REFS))
def test_bitwise_identical_at_1_and_2_threads(name):
    rng = np.random.default_rng(3)
    shape = (20000, 7)  # several _CHUNKs, many blocks, and enough work for 2 threads
    assert 8 * shape[0] * shape[1] >= SMALL_PARALLEL  # softmax CE's limit for one thread
    pred, target, extra = _inputs(rng, name, shape, np.float32)
    pred, target = _cast(pred, target, np.float32)
    out = []
    old = numba.get_num_threads()
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            out.append(_run(name, pred, target, extra))
    finally:
        numba.set_num_threads(old)
    assert out[0][0] == out[1][0]
    assert out[0][1].tobytes() == out[1][1].tobytes()


@pytest.mark.parametrize("name", ["softmax_ce_sparse", "softmax_ce_dense"])
def test_float32_rows_far_below_the_block_max(rng, name):
    """float32 softmax rows of few classes share their block's max as shift; a row far
    below it must still get its exact loss and gradient (it is redone with its own max)."""
    shape = (300, 10)  # 102 rows per block: several blocks
    pred, target, extra = _inputs(rng, name, shape, np.float64)
    pred[5] -= 60.0    # exp(z - block max) ~1e-26: under the threshold, redone
    pred[7] -= 40.0    # ~1e-17: kept on the block's shift, still exact
    pred[150] -= 300.0  # every exp(z - block max) underflows to 0
    pred[200] += 80.0  # this row is the block max; the others sit far below it
    pred32, target32 = _cast(pred, target, np.float32)
    # the reference on the float32 inputs themselves (at -300 a float32 step is 3e-5)
    expected, expected_grad = REFS[name](pred32.astype(np.float64), target32.astype(np.float64)
                                         if target32.dtype != np.int64 else target32, *extra)
    value, grad = _run(name, pred32, target32, extra)
    np.testing.assert_allclose(value, expected, **TOL[np.float32])
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-7 / shape[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_ce_nan_and_minus_inf(dtype):
    z = np.zeros((40, 10), dtype)
    z[3, 4] = np.nan
    labels = np.zeros(40, np.int64)
    grad = np.empty_like(z)
    assert np.isnan(K.softmax_ce_sparse(grad, z, labels, 0.0))
    assert np.isnan(K.softmax_ce_dense(grad, z, np.eye(10, dtype=dtype)[labels], 0.0))
    z[3, 4] = -np.inf  # a class that can't happen: probability 0, the rest as if it were absent
    loss = K.softmax_ce_sparse(grad, z, labels, 0.0)
    assert loss == pytest.approx((39 * np.log(10) + np.log(9)) / 40, rel=1e-6)
    assert grad[3, 4] == 0.0
    np.testing.assert_allclose(grad[3, 0], (1 / 9 - 1) / 40, rtol=1e-6)


def test_small_work_runs_on_one_thread_and_restores_the_count():
    old = numba.get_num_threads()
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads")
    try:
        numba.set_num_threads(2)
        z = np.zeros((16, 10), np.float32)
        grad = np.empty_like(z)
        K.softmax_ce_sparse(grad, z, np.zeros(16, np.int64), 0.0)
        assert numba.get_num_threads() == 2
    finally:
        numba.set_num_threads(old)
