"""Pooling kernels against the direct-loop references of tests/reference_conv.py."""
import numba
import numpy as np
import pytest

import reference_conv as R
from nbnet.kernels import pool as K

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _configs(count=24, seed=11):
    """Seeded random (N, H, W, C, ph, pw, sh, sw, padding): windows 1-5, strides 1-3
    (overlapping and gapped windows), odd sizes, batch 1 in every fourth config."""
    g = np.random.default_rng(seed)
    out = []
    for t in range(count):
        ph, pw = (int(v) for v in g.integers(1, 6, size=2))
        sh, sw = (int(v) for v in g.integers(1, 4, size=2))
        H, W = int(g.integers(ph, 13)), int(g.integers(pw, 13))
        N = 1 if t % 4 == 0 else int(g.integers(2, 4))
        out.append((N, H, W, int(g.integers(1, 4)), ph, pw, sh, sw, ["valid", "same"][t % 2]))
    return out


CONFIGS = _configs()


def _unique(rng, shape, dtype):
    """Values without ties (a scaled permutation, shuffled signs), so argmax is unique."""
    n = int(np.prod(shape))
    v = (rng.permutation(n) + 1.0) * 0.01 * rng.choice([-1, 1], size=n)
    return v.reshape(shape).astype(dtype)


def _pads(cfg):
    N, H, W, C, ph, pw, sh, sw, padding = cfg
    OH, pt = R.pads(H, ph, sh, padding)
    OW, pl = R.pads(W, pw, sw, padding)
    return (N, OH, OW, C), pt, pl


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_max_pool_matches_reference(cfg, dtype):
    N, H, W, C, ph, pw, sh, sw, padding = cfg
    out, pt, pl = _pads(cfg)
    rng = np.random.default_rng(cfg[:8])
    x = _unique(rng, (N, H, W, C), dtype)
    y = np.full(out, np.nan, dtype)
    argmax = np.full(out, -7, np.int32)
    K.max_pool_forward(y, argmax, x, ph, pw, sh, sw, pt, pl)
    y_ref, win = R.pool2d_forward(x, (ph, pw), (sh, sw), padding, "max")
    np.testing.assert_array_equal(y, y_ref.astype(dtype))
    np.testing.assert_array_equal(argmax, win[..., 0] * W + win[..., 1])
    dy = rng.normal(size=out).astype(dtype)
    dx_ref = R.pool2d_backward(dy, x, (ph, pw), (sh, sw), padding, "max")
    # the accumulating path is right for every config; the assigning one where windows
    # do not overlap (what the layer picks)
    for overlap in sorted({True, sh < ph or sw < pw}):
        dx = np.full(x.shape, np.nan, dtype)
        K.max_pool_backward(dx, dy, argmax, overlap)
        np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])


def test_pool_configs_have_both_kinds_of_windows():
    assert any(c[6] < c[4] or c[7] < c[5] for c in CONFIGS)        # overlapping
    assert any(c[6] >= c[4] and c[7] >= c[5] for c in CONFIGS)     # not overlapping


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_avg_pool_matches_reference(cfg, dtype):
    N, H, W, C, ph, pw, sh, sw, padding = cfg
    out, pt, pl = _pads(cfg)
    rng = np.random.default_rng(cfg[:8])
    x = rng.normal(size=(N, H, W, C)).astype(dtype)
    y = np.full(out, np.nan, dtype)
    K.avg_pool_forward(y, x, ph, pw, sh, sw, pt, pl)
    np.testing.assert_allclose(y, R.pool2d_forward(x, (ph, pw), (sh, sw), padding, "avg"),
                               **TOL[dtype])
    dy = rng.normal(size=out).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype)
    K.avg_pool_backward(dx, dy, ph, pw, sh, sw, pt, pl)
    np.testing.assert_allclose(dx, R.pool2d_backward(dy, x, (ph, pw), (sh, sw), padding, "avg"),
                               **TOL[dtype])


def test_same_padding_cells_are_not_counted():
    # 3x3 ones, pool 2 stride 2 "same": out 2x2, windows of 4, 2, 2 and 1 valid cells.
    # All means are 1 (a window-size divisor would give 0.5 and 0.25); max of -1s is -1.
    x = np.ones((1, 3, 3, 1))
    y = np.empty((1, 2, 2, 1))
    K.avg_pool_forward(y, x, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(y, 1.0)
    arg = np.empty((1, 2, 2, 1), np.int32)
    K.max_pool_forward(y, arg, -x, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(y, -1.0)
    # avg backward: the corner cell (2, 2) alone forms window (1, 1): gets all of its dy
    dx = np.empty_like(x)
    K.avg_pool_backward(dx, np.ones((1, 2, 2, 1)), 2, 2, 2, 2, 0, 0)
    np.testing.assert_allclose(dx[0, :, :, 0], [[.25, .25, .5], [.25, .25, .5], [.5, .5, 1]])


def test_max_pool_propagates_nan():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    x[0, 0, 1, 0] = np.nan
    y, arg = np.empty((1, 2, 2, 1)), np.empty((1, 2, 2, 1), np.int32)
    K.max_pool_forward(y, arg, x, 2, 2, 2, 2, 0, 0)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 1, 1, 0] == 15.0
    g, garg = np.empty((1, 1)), np.empty((1, 1), np.int32)
    K.global_max_pool_forward(g, garg, x)
    assert np.isnan(g[0, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 5, 7, 3), (3, 4, 9, 2), (2, 12, 11, 5)])
def test_global_pools_match_reference(shape, dtype):
    rng = np.random.default_rng(shape)
    x = _unique(rng, shape, dtype)
    N, H, W, C = shape
    dy = rng.normal(size=(N, C)).astype(dtype)
    y, dx = np.full((N, C), np.nan, dtype), np.full(shape, np.nan, dtype)
    K.global_avg_pool_forward(y, x)
    np.testing.assert_allclose(y, R.global_pool_forward(x, "avg"), **TOL[dtype])
    K.global_avg_pool_backward(dx, dy)
    np.testing.assert_allclose(dx, R.global_pool_backward(dy, x, "avg"), **TOL[dtype])
    arg = np.full((N, C), -1, np.int32)
    K.global_max_pool_forward(y, arg, x)
    np.testing.assert_array_equal(y, R.global_pool_forward(x, "max").astype(dtype))
    K.global_max_pool_backward(dx, dy, arg)
    np.testing.assert_allclose(dx, R.global_pool_backward(dy, x, "max"), **TOL[dtype])


def test_bitwise_identical_at_1_and_2_threads():
    rng = np.random.default_rng(2)
    N, H, W, C, p, s, pt, pl = 7, 15, 13, 6, 3, 2, 1, 1  # overlapping "same" windows
    x = rng.normal(size=(N, H, W, C)).astype(np.float32)
    out = (N, 8, 7, C)
    dy = rng.normal(size=out).astype(np.float32)
    gdy = rng.normal(size=(N, C)).astype(np.float32)
    old = numba.get_num_threads()
    runs = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            y, arg, dx = np.empty(out, x.dtype), np.empty(out, np.int32), np.empty_like(x)
            K.max_pool_forward(y, arg, x, p, p, s, s, pt, pl)
            K.max_pool_backward(dx, dy, arg, True)
            ya, dxa = np.empty(out, x.dtype), np.empty_like(x)
            K.avg_pool_forward(ya, x, p, p, s, s, pt, pl)
            K.avg_pool_backward(dxa, dy, p, p, s, s, pt, pl)
            g, garg, gdx = np.empty((N, C), x.dtype), np.empty((N, C), np.int32), np.empty_like(x)
            K.global_avg_pool_forward(g, x)
            K.global_max_pool_forward(g, garg, x)
            K.global_max_pool_backward(gdx, gdy, garg)
            runs.append([y, arg, dx, ya, dxa, g, garg, gdx])
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()
