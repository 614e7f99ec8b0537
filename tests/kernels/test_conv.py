"""im2col / col2im kernels against plain loop references, and their determinism."""
import numba
import numpy as np
import pytest

from nbnet.kernels import conv as K
from nbnet.layers.conv import conv_geometry

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _configs(count=24, seed=7):
    """Seeded random (N, H, W, C, kh, kw, sh, sw, padding): kernels 1-5, strides 1-3,
    odd sizes, batch 1 in every fourth config."""
    g = np.random.default_rng(seed)
    out = []
    for t in range(count):
        kh, kw = g.integers(1, 6, size=2)
        sh, sw = g.integers(1, 4, size=2)
        padding = ["valid", "same"][t % 2]
        H, W = g.integers(max(kh, 1), 13), g.integers(max(kw, 1), 13)
        N = 1 if t % 4 == 0 else int(g.integers(2, 4))
        C = int(g.integers(1, 4))
        out.append((N, int(H), int(W), C, int(kh), int(kw), int(sh), int(sw), padding))
    return out


CONFIGS = _configs()


def _geometry(H, W, kh, kw, sh, sw, padding):
    OH, pt = conv_geometry(H, kh, sh, padding)
    OW, pl = conv_geometry(W, kw, sw, padding)
    return OH, OW, pt, pl


def ref_im2col(x, kh, kw, sh, sw, pt, pl, OH, OW):
    """Loops: the row of output (n, oh, ow) lists x over the window, (i, j, c) order."""
    N, H, W, C = x.shape
    cols = np.zeros((N, OH, OW, kh * kw * C), dtype=x.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for i in range(kh):
                    for j in range(kw):
                        h, w = oh * sh - pt + i, ow * sw - pl + j
                        if 0 <= h < H and 0 <= w < W:
                            cols[n, oh, ow, (i * kw + j) * C:(i * kw + j + 1) * C] = x[n, h, w]
    return cols


def ref_col2im(dcols, x_shape, kh, kw, sh, sw, pt, pl):
    """Loops: add each column entry back where im2col took it from (float64)."""
    N, H, W, C = x_shape
    _, OH, OW, _ = dcols.shape
    dx = np.zeros(x_shape)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for i in range(kh):
                    for j in range(kw):
                        h, w = oh * sh - pt + i, ow * sw - pl + j
                        if 0 <= h < H and 0 <= w < W:
                            dx[n, h, w] += dcols[n, oh, ow, (i * kw + j) * C:(i * kw + j + 1) * C]
    return dx


def test_configs_cover_the_brief():
    ks = {c[4] for c in CONFIGS} | {c[5] for c in CONFIGS}
    ss = {c[6] for c in CONFIGS} | {c[7] for c in CONFIGS}
    assert ks == {1, 2, 3, 4, 5} and ss == {1, 2, 3}
    assert {c[8] for c in CONFIGS} == {"valid", "same"}
    assert any(c[0] == 1 for c in CONFIGS) and any(c[1] % 2 for c in CONFIGS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_im2col_col2im_match_reference(cfg, dtype):
    N, H, W, C, kh, kw, sh, sw, padding = cfg
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, padding)
    rng = np.random.default_rng(cfg[:8])
    x = rng.normal(size=(N, H, W, C)).astype(dtype)
    cols = np.full((N, OH, OW, kh * kw * C), np.nan, dtype=dtype)  # must be overwritten
    K.im2col(cols, x, kh, kw, sh, sw, pt, pl)
    np.testing.assert_array_equal(cols, ref_im2col(x, kh, kw, sh, sw, pt, pl, OH, OW))

    dcols = rng.normal(size=cols.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype=dtype)
    K.col2im(dx, dcols, kh, kw, sh, sw, pt, pl)
    np.testing.assert_allclose(dx, ref_col2im(dcols, x.shape, kh, kw, sh, sw, pt, pl),
                               **TOL[dtype])


@pytest.mark.parametrize("cfg", CONFIGS[:6])
def test_col2im_is_the_adjoint_of_im2col(cfg):
    # <im2col(x), g> = <x, col2im(g)> for all x, g
    N, H, W, C, kh, kw, sh, sw, padding = cfg
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, padding)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, H, W, C))
    g = rng.normal(size=(N, OH, OW, kh * kw * C))
    cols, dx = np.empty_like(g), np.empty_like(x)
    K.im2col(cols, x, kh, kw, sh, sw, pt, pl)
    K.col2im(dx, g, kh, kw, sh, sw, pt, pl)
    assert np.sum(cols * g) == pytest.approx(np.sum(x * dx), rel=1e-12)


def test_kernels_are_valid_python():
    # what NUMBA_DISABLE_JIT=1 runs: the undecorated functions
    N, H, W, C, kh, kw, sh, sw, padding = 2, 5, 6, 2, 3, 2, 2, 1, "same"
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, padding)
    x = np.random.default_rng(0).normal(size=(N, H, W, C))
    a, b = np.empty((N, OH, OW, kh * kw * C)), np.empty((N, OH, OW, kh * kw * C))
    K.im2col(a, x, kh, kw, sh, sw, pt, pl)
    K.im2col.py_func(b, x, kh, kw, sh, sw, pt, pl)
    np.testing.assert_array_equal(a, b)
    dx1, dx2 = np.empty_like(x), np.empty_like(x)
    K.col2im(dx1, a, kh, kw, sh, sw, pt, pl)
    K.col2im.py_func(dx2, a, kh, kw, sh, sw, pt, pl)
    np.testing.assert_array_equal(dx1, dx2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bitwise_identical_at_1_and_2_threads(dtype):
    N, H, W, C, kh, kw, sh, sw = 9, 17, 15, 5, 3, 3, 1, 2
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, "same")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N, H, W, C)).astype(dtype)
    g = rng.normal(size=(N, OH, OW, kh * kw * C)).astype(dtype)
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            cols, dx = np.empty_like(g), np.empty_like(x)
            K.im2col(cols, x, kh, kw, sh, sw, pt, pl)
            K.col2im(dx, g, kh, kw, sh, sw, pt, pl)
            results.append((cols, dx))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
