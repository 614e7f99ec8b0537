"""im2col / col2im kernels against plain loop references, and their determinism."""
import numba
import numpy as np
import pytest

import reference_conv as R
from nbnet.kernels import activations as A
from nbnet.kernels import conv as K
from nbnet.kernels import gemm as G
from nbnet.kernels.threads import small_parallel
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


def ref_im2col(x, kh, kw, sh, sw, pt, pl, OH, OW, dh=1, dw=1):
    """Loops: the row of output (n, oh, ow) lists x over the window, (i, j, c) order;
    taps dh rows and dw columns apart."""
    N, H, W, C = x.shape
    cols = np.zeros((N, OH, OW, kh * kw * C), dtype=x.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for i in range(kh):
                    for j in range(kw):
                        h, w = oh * sh - pt + i * dh, ow * sw - pl + j * dw
                        if 0 <= h < H and 0 <= w < W:
                            cols[n, oh, ow, (i * kw + j) * C:(i * kw + j + 1) * C] = x[n, h, w]
    return cols


def ref_col2im(dcols, x_shape, kh, kw, sh, sw, pt, pl, dh=1, dw=1):
    """Loops: add each column entry back where im2col took it from (float64)."""
    N, H, W, C = x_shape
    _, OH, OW, _ = dcols.shape
    dx = np.zeros(x_shape)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for i in range(kh):
                    for j in range(kw):
                        h, w = oh * sh - pt + i * dh, ow * sw - pl + j * dw
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
    K.im2col(cols, x, kh, kw, sh, sw, pt, pl, 1, 1)
    np.testing.assert_array_equal(cols, ref_im2col(x, kh, kw, sh, sw, pt, pl, OH, OW))

    dcols = rng.normal(size=cols.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype=dtype)
    K.col2im(dx, dcols, kh, kw, sh, sw, pt, pl, 1, 1)
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
    K.im2col(cols, x, kh, kw, sh, sw, pt, pl, 1, 1)
    K.col2im(dx, g, kh, kw, sh, sw, pt, pl, 1, 1)
    assert np.sum(cols * g) == pytest.approx(np.sum(x * dx), rel=1e-12)


def test_kernels_are_valid_python():
    # what NUMBA_DISABLE_JIT=1 runs: the undecorated functions
    N, H, W, C, kh, kw, sh, sw, padding = 2, 5, 6, 2, 3, 2, 2, 1, "same"
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, padding)
    x = np.random.default_rng(0).normal(size=(N, H, W, C))
    a, b = np.empty((N, OH, OW, kh * kw * C)), np.empty((N, OH, OW, kh * kw * C))
    K.im2col(a, x, kh, kw, sh, sw, pt, pl, 1, 1)
    K.im2col.py_func(b, x, kh, kw, sh, sw, pt, pl, 1, 1)
    np.testing.assert_array_equal(a, b)
    dx1, dx2 = np.empty_like(x), np.empty_like(x)
    K.col2im(dx1, a, kh, kw, sh, sw, pt, pl, 1, 1)
    K.col2im.py_func(dx2, a, kh, kw, sh, sw, pt, pl, 1, 1)
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
            K.im2col(cols, x, kh, kw, sh, sw, pt, pl, 1, 1)
            K.col2im(dx, g, kh, kw, sh, sw, pt, pl, 1, 1)
            results.append((cols, dx))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ whole convolutions
needs_cblas = pytest.mark.skipif(G.cblas() is None, reason="numpy's BLAS has no OpenBLAS CBLAS entry points")


def _conv_run(x, Wm, dy, kh, kw, sh, sw, pt, pl, OH, OW, chunk, b=None, act=A.LINEAR,
              need_dw=True, need_dx=True, dh=1, dw=1):
    """conv_forward and conv_backward with NaN-filled outputs (all must be overwritten):
    (z, y, dz, db, dW, dx)."""
    N, H, W, C = x.shape
    F, dtype = Wm.shape[1], x.dtype
    fns, ilp64 = G.cblas()
    n_chunks = (N + chunk - 1) // chunk
    has_bias = b is not None
    b = b if has_bias else np.zeros(F, dtype)
    scratch = np.full((numba.config.NUMBA_NUM_THREADS, chunk * OH * OW * Wm.shape[0]), np.nan, dtype)
    z, y, dz = (np.full((N * OH * OW, F), np.nan, dtype) for _ in range(3))
    dW = np.full(Wm.shape, np.nan, dtype)
    db = np.full(F, np.nan, dtype)
    parts = np.full((n_chunks,) + Wm.shape, np.nan, dtype)
    dx = np.full(x.shape, np.nan, dtype)
    with G.blas_lock:
        K.conv_forward(z, y, x, Wm, b, has_bias, act, 0.0, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW,
                       chunk, scratch, fns, ilp64)
        K.conv_backward(dW if need_dw else np.empty((0, 0), dtype),
                        parts if need_dw else np.empty((0, 0, 0), dtype),
                        db, np.full((n_chunks, F), np.nan),
                        dx if need_dx else np.empty((0, 0, 0, 0), dtype),
                        dz, dy, z, y, has_bias, act, 0.0, x, Wm, kh, kw, sh, sw, pt, pl, dh, dw,
                        OH, OW, chunk, scratch, fns, ilp64, need_dw, need_dx)
    return z, y, dz, db, dW, dx


ACTS = {A.LINEAR: (lambda z: z, lambda z: np.ones_like(z)),
        A.RELU: (lambda z: np.maximum(z, 0), lambda z: (z > 0) * 1.0),
        A.TANH: (np.tanh, lambda z: 1 - np.tanh(z) ** 2)}


@needs_cblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", [A.LINEAR, A.RELU, A.TANH])
@pytest.mark.parametrize("chunk", [1, 2])
@pytest.mark.parametrize("cfg", CONFIGS[:8])
def test_conv_forward_backward_match_reference(cfg, chunk, act, dtype):
    N, H, W, C, kh, kw, sh, sw, padding = cfg
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, padding)
    F = 3
    rng = np.random.default_rng(cfg[:8])
    x = rng.normal(size=(N, H, W, C)).astype(dtype)
    Wm = rng.normal(size=(kh * kw * C, F)).astype(dtype)
    b = rng.normal(size=F).astype(dtype) if (chunk, act) != (2, A.TANH) else None
    dy = rng.normal(size=(N * OH * OW, F)).astype(dtype)
    z, y, dz, db, dW, dx = _conv_run(x, Wm, dy, kh, kw, sh, sw, pt, pl, OH, OW, chunk, b, act)
    cols = ref_im2col(x.astype(np.float64), kh, kw, sh, sw, pt, pl, OH, OW).reshape(N * OH * OW, -1)
    z_ref = cols @ Wm + (0.0 if b is None else b)
    f, df = ACTS[act]
    np.testing.assert_allclose(z, z_ref, **TOL[dtype])
    np.testing.assert_allclose(y, f(z_ref), **TOL[dtype])
    dz_ref = dy * df(z_ref)
    np.testing.assert_allclose(dz, dz_ref, **TOL[dtype])
    if b is not None:
        np.testing.assert_allclose(db, dz_ref.sum(axis=0), **TOL[dtype])
    else:
        assert np.all(np.isnan(db))  # no bias: left alone
    np.testing.assert_allclose(dW, cols.T @ dz_ref, **TOL[dtype])
    dcols = (dz_ref @ Wm.T).reshape(N, OH, OW, -1)
    np.testing.assert_allclose(dx, ref_col2im(dcols, x.shape, kh, kw, sh, sw, pt, pl), **TOL[dtype])


@needs_cblas
def test_conv_backward_leaves_what_it_is_not_asked_for():
    N, H, W, C, kh, kw, sh, sw, padding = CONFIGS[1]
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, padding)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, H, W, C))
    Wm = rng.normal(size=(kh * kw * C, 2))
    dz = rng.normal(size=(N * OH * OW, 2))
    dW, dx = _conv_run(x, Wm, dz, kh, kw, sh, sw, pt, pl, OH, OW, 1, need_dw=False)[4:]
    assert np.all(np.isnan(dW)) and not np.any(np.isnan(dx))
    dW, dx = _conv_run(x, Wm, dz, kh, kw, sh, sw, pt, pl, OH, OW, 1, need_dx=False)[4:]
    assert not np.any(np.isnan(dW)) and np.all(np.isnan(dx))


@needs_cblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_kernels_bitwise_identical_at_1_and_2_threads(dtype):
    N, H, W, C, kh, kw, sh, sw, F = 9, 17, 15, 8, 3, 3, 1, 2, 16  # 9 chunks of 1 image, 3 of 4
    OH, OW, pt, pl = _geometry(H, W, kh, kw, sh, sw, "same")
    # enough work that the kernels do use two threads (see kernels/threads.py)
    assert N * OH * OW * kh * kw * C * F // 32 >= small_parallel()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N, H, W, C)).astype(dtype)
    Wm = rng.normal(size=(kh * kw * C, F)).astype(dtype)
    dz = rng.normal(size=(N * OH * OW, F)).astype(dtype)
    old = numba.get_num_threads()
    for chunk in (1, 4):
        results = []
        try:
            for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
                numba.set_num_threads(t)
                results.append(_conv_run(x, Wm, dz, kh, kw, sh, sw, pt, pl, OH, OW, chunk,
                                         b=np.linspace(-1, 1, F).astype(dtype), act=A.TANH))
        finally:
            numba.set_num_threads(old)
        for a, b in zip(*results):
            assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ dilation
# (N, H, W, C, kh, kw, dh, dw, padding), stride 1 (Keras refuses strides with dilation):
# dilations (2, 1), (2, 3), (1, 2) with both paddings, then (2, 2) and (3, 3); even and
# odd dilated extents; C < 16 takes the contiguous-run path of im2col when dw == 1 (the
# per-pixel path otherwise), C = 20 the per-pixel path always.
DILATED = [(2, 9, 8, 2, 3, 3, 2, 1, "valid"), (2, 10, 7, 1, 4, 2, 2, 1, "same"),
           (1, 13, 12, 3, 3, 2, 2, 3, "valid"), (1, 11, 10, 3, 3, 2, 2, 3, "same"),
           (2, 7, 9, 1, 2, 3, 1, 2, "valid"), (3, 6, 7, 2, 2, 2, 1, 2, "same"),
           (3, 8, 8, 20, 3, 3, 2, 2, "same"), (1, 6, 6, 2, 2, 2, 3, 3, "same")]


def _dilated_geometry(H, W, kh, kw, dh, dw, padding):
    return _geometry(H, W, (kh - 1) * dh + 1, (kw - 1) * dw + 1, 1, 1, padding)


def test_dilated_configs_cover_the_brief():
    got = {(c[6], c[7], c[8]) for c in DILATED}
    assert {(d, p) for d in ((2, 1), (2, 3), (1, 2)) for p in ("valid", "same")} <= \
        {((a, b), p) for a, b, p in got}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", DILATED)
def test_dilated_im2col_col2im_match_reference(cfg, dtype):
    N, H, W, C, kh, kw, dh, dw, padding = cfg
    OH, OW, pt, pl = _dilated_geometry(H, W, kh, kw, dh, dw, padding)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(N, H, W, C)).astype(dtype)
    cols = np.full((N, OH, OW, kh * kw * C), np.nan, dtype=dtype)  # must be overwritten
    K.im2col(cols, x, kh, kw, 1, 1, pt, pl, dh, dw)
    np.testing.assert_array_equal(cols, ref_im2col(x, kh, kw, 1, 1, pt, pl, OH, OW, dh, dw))
    dcols = rng.normal(size=cols.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype=dtype)
    K.col2im(dx, dcols, kh, kw, 1, 1, pt, pl, dh, dw)
    np.testing.assert_allclose(dx, ref_col2im(dcols, x.shape, kh, kw, 1, 1, pt, pl, dh, dw),
                               **TOL[dtype])
    # and the adjoint identity <im2col(x), g> = <x, col2im(g)> at float64
    x64, g64 = x.astype(np.float64), dcols.astype(np.float64)
    c64, dx64 = np.empty_like(g64), np.empty_like(x64)
    K.im2col(c64, x64, kh, kw, 1, 1, pt, pl, dh, dw)
    K.col2im(dx64, g64, kh, kw, 1, 1, pt, pl, dh, dw)
    assert np.sum(c64 * g64) == pytest.approx(np.sum(x64 * dx64), rel=1e-12)


def test_dilation_changes_the_result():
    # the tests above would pass for a kernel ignoring dh, dw only if the references did too
    N, H, W, C, kh, kw, dh, dw, padding = DILATED[3]
    x = np.random.default_rng(0).normal(size=(N, H, W, C))
    OH, OW, pt, pl = _dilated_geometry(H, W, kh, kw, dh, dw, padding)
    a, b = np.empty((N, OH, OW, kh * kw * C)), np.empty((N, OH, OW, kh * kw * C))
    K.im2col(a, x, kh, kw, 1, 1, pt, pl, dh, dw)
    K.im2col(b, x, kh, kw, 1, 1, pt, pl, 1, 1)
    assert not np.array_equal(a, b)


@needs_cblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [1, 2])
@pytest.mark.parametrize("cfg", DILATED)
def test_dilated_conv_forward_backward_match_reference(cfg, chunk, dtype):
    """Against the direct-loop convolution of tests/reference_conv.py (no im2col)."""
    N, H, W, C, kh, kw, dh, dw, padding = cfg
    OH, OW, pt, pl = _dilated_geometry(H, W, kh, kw, dh, dw, padding)
    F = 3
    rng = np.random.default_rng(12)
    x = rng.normal(size=(N, H, W, C)).astype(dtype)
    Wk = rng.normal(size=(kh, kw, C, F)).astype(dtype)
    b = rng.normal(size=F).astype(dtype)
    dy = rng.normal(size=(N * OH * OW, F)).astype(dtype)
    act = A.RELU if chunk == 1 else A.LINEAR
    z, y, dz, db, dW, dx = _conv_run(x, Wk.reshape(-1, F), dy, kh, kw, 1, 1, pt, pl, OH, OW,
                                     chunk, b, act, dh=dh, dw=dw)
    z_ref = R.conv2d_forward(x, Wk, b, (1, 1), padding, (dh, dw))
    assert z_ref.shape == (N, OH, OW, F)
    z_ref = z_ref.reshape(-1, F)
    f, df = ACTS[act]
    np.testing.assert_allclose(z, z_ref, **TOL[dtype])
    np.testing.assert_allclose(y, f(z_ref), **TOL[dtype])
    dz_ref = dy * df(z_ref)
    np.testing.assert_allclose(dz, dz_ref, **TOL[dtype])
    dx_ref, dW_ref, db_ref = R.conv2d_backward(dz_ref.reshape(N, OH, OW, F), x, Wk, (1, 1),
                                               padding, (dh, dw))
    np.testing.assert_allclose(db, db_ref, **TOL[dtype])
    np.testing.assert_allclose(dW, dW_ref.reshape(-1, F), **TOL[dtype])
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
