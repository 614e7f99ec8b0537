"""1-D convolution kernels (nbnet/kernels/conv1d.py) against plain loop references, and
their determinism at 1 and 2 threads."""
import numba
import numpy as np
import pytest

from nbnet.kernels import activations as A
from nbnet.kernels import conv1d as K
from nbnet.kernels import gemm as G
from nbnet.kernels.threads import small_parallel
from nbnet.layers.conv1d import conv1d_geometry

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
needs_cblas = pytest.mark.skipif(G.cblas() is None,
                                 reason="numpy's BLAS has no OpenBLAS CBLAS entry points")


def _configs(count=30, seed=11):
    """Seeded (N, T, C, k, s, d, padding): kernels 1-5, strides 1-3, dilations 1-3 (also
    together: the kernels allow it, Keras' layer does not), the three paddings, odd
    lengths, batch 1 in every fourth."""
    g = np.random.default_rng(seed)
    out = []
    for i in range(count):
        k, s, d = int(g.integers(1, 6)), int(g.integers(1, 4)), int(g.integers(1, 4))
        padding = ["valid", "same", "causal"][i % 3]
        span = d * (k - 1) + 1
        T = int(g.integers(span if padding == "valid" else 1, span + 12)) | 1  # odd
        N = 1 if i % 4 == 0 else int(g.integers(2, 4))
        out.append((N, T, int(g.integers(1, 5)), k, s, d, padding))
    return out


CONFIGS = _configs()


def ref_im2col(x, k, s, d, pad, OT):
    """cols[n, o, j*C + c] = x[n, o*s - pad + j*d, c], zero outside, by plain loops."""
    N, T, C = x.shape
    cols = np.zeros((N, OT, k * C), x.dtype)
    for n in range(N):
        for o in range(OT):
            for j in range(k):
                t = o * s - pad + j * d
                if 0 <= t < T:
                    cols[n, o, j * C:(j + 1) * C] = x[n, t]
    return cols


def ref_col2im(g, T, k, s, d, pad):
    """The adjoint of ref_im2col: scatter-add every entry back (float64)."""
    N, OT, KC = g.shape
    C = KC // k
    dx = np.zeros((N, T, C))
    for n in range(N):
        for o in range(OT):
            for j in range(k):
                t = o * s - pad + j * d
                if 0 <= t < T:
                    dx[n, t] += g[n, o, j * C:(j + 1) * C]
    return dx


def ref_conv1d(x, W, b, s, d, pad, OT):
    """z[n, o, f] = sum_{j, c} x[n, o*s - pad + j*d, c] W[j, c, f] + b[f], direct loops."""
    N, T, C = x.shape
    k, _, F = W.shape
    z = np.zeros((N, OT, F))
    for n in range(N):
        for o in range(OT):
            for j in range(k):
                t = o * s - pad + j * d
                if 0 <= t < T:
                    z[n, o] += x[n, t].astype(np.float64) @ W[j].astype(np.float64)
    return z + (0.0 if b is None else b)


def test_geometry_matches_keras_formulas():
    # valid: (T - span) // s + 1; same: ceil(T / s), pad = total // 2; causal: d*(k-1)
    assert conv1d_geometry(11, 3, 1, 2, "valid") == (7, 0)
    assert conv1d_geometry(11, 3, 2, 1, "valid") == (5, 0)
    assert conv1d_geometry(11, 4, 1, 1, "same") == (11, 1)   # total 3: 1 before, 2 after
    assert conv1d_geometry(10, 3, 2, 1, "same") == (5, 0)    # total 1: 0 before, 1 after
    assert conv1d_geometry(11, 3, 1, 3, "same") == (11, 3)   # span 7, total 6
    assert conv1d_geometry(11, 3, 1, 2, "causal") == (11, 4)
    assert conv1d_geometry(11, 3, 2, 1, "causal") == (6, 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "N{}T{}C{}k{}s{}d{}{}".format(*c))
def test_im2col_col2im_match_loops(cfg, dtype):
    N, T, C, k, s, d, padding = cfg
    OT, pad = conv1d_geometry(T, k, s, d, padding)
    rng = np.random.default_rng(list(cfg[:6]))
    x = rng.normal(size=(N, T, C)).astype(dtype)
    cols = np.full((N, OT, k * C), np.nan, dtype)
    K.im2col1d(cols, x, s, d, pad)
    np.testing.assert_array_equal(cols, ref_im2col(x, k, s, d, pad, OT))  # a copy: exact
    g = rng.normal(size=cols.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype)
    K.col2im1d(dx, g, s, d, pad)
    np.testing.assert_allclose(dx, ref_col2im(g.astype(np.float64), T, k, s, d, pad), **TOL[dtype])


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), g> = <x, col2im(g)> (and the references agree with finite sums)."""
    N, T, C, k, s, d = 2, 13, 3, 4, 2, 1
    OT, pad = conv1d_geometry(T, k, s, d, "same")
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(N, T, C)), rng.normal(size=(N, OT, k * C))
    cols, dx = np.empty_like(g), np.empty_like(x)
    K.im2col1d(cols, x, s, d, pad)
    K.col2im1d(dx, g, s, d, pad)
    np.testing.assert_allclose(np.sum(cols * g), np.sum(x * dx), rtol=1e-12)


def _conv_run(x, Wm, dz, s, d, pad, OT, chunk, b=None, act=A.LINEAR, need_dw=True,
              need_dx=True):
    """conv1d_forward then conv1d_backward -> (z, y, dz_out, db, dW, dx)."""
    N, T, C = x.shape
    KC, F = Wm.shape
    dt = x.dtype
    fns, ilp64 = G.cblas()
    nch = (N + chunk - 1) // chunk
    scratch = np.empty((numba.config.NUMBA_NUM_THREADS, chunk * OT * KC), dt)
    has_bias = b is not None
    b = np.zeros(F, dt) if b is None else b
    z, y = np.empty((N * OT, F), dt), np.empty((N * OT, F), dt)
    K.conv1d_forward(z, y, x, Wm, b, has_bias, act, 0.0, s, d, pad, OT, chunk, scratch, fns, ilp64)
    dzo, db = np.empty_like(z), np.full(F, np.nan, dt)
    dW, dx = np.full((KC, F), np.nan, dt), np.full(x.shape, np.nan, dt)
    K.conv1d_backward(dW, np.empty((nch, KC, F), dt), db, np.empty((nch, F)), dx, dzo, dz, z, y,
                      has_bias, act, 0.0, x, Wm, s, d, pad, OT, chunk, scratch, fns, ilp64,
                      need_dw, need_dx)
    return z, y, dzo, db, dW, dx


@needs_cblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS[::2], ids=lambda c: "N{}T{}C{}k{}s{}d{}{}".format(*c))
def test_whole_convolution_kernels_match_loops(cfg, dtype):
    N, T, C, k, s, d, padding = cfg
    OT, pad = conv1d_geometry(T, k, s, d, padding)
    F = 3
    rng = np.random.default_rng(list(cfg[:6]))
    x = rng.normal(size=(N, T, C)).astype(dtype)
    W = rng.normal(size=(k, C, F)).astype(dtype)
    b = rng.normal(size=F).astype(dtype)
    dy = rng.normal(size=(N * OT, F)).astype(dtype)
    z_ref = ref_conv1d(x, W, b, s, d, pad, OT).reshape(-1, F)
    dz_ref = dy * (1 - np.tanh(z_ref) ** 2)
    cols = ref_im2col(x.astype(np.float64), k, s, d, pad, OT).reshape(-1, k * C)
    dW_ref = cols.T @ dz_ref
    dx_ref = ref_col2im((dz_ref @ W.reshape(-1, F).astype(np.float64).T).reshape(N, OT, -1),
                        T, k, s, d, pad)
    for chunk in (1, 2, N):
        z, y, dz, db, dW, dx = _conv_run(x, W.reshape(-1, F), dy, s, d, pad, OT, chunk, b=b,
                                         act=A.TANH)
        np.testing.assert_allclose(z, z_ref, **TOL[dtype])
        np.testing.assert_allclose(y, np.tanh(z_ref), **TOL[dtype])
        np.testing.assert_allclose(dz, dz_ref, **TOL[dtype])
        np.testing.assert_allclose(db, dz_ref.sum(0), **TOL[dtype])
        np.testing.assert_allclose(dW, dW_ref, **TOL[dtype])
        np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])


@needs_cblas
def test_whole_convolution_flags_leave_outputs_alone():
    N, T, C, k, s, d, F = 3, 9, 2, 3, 1, 2, 4
    OT, pad = conv1d_geometry(T, k, s, d, "causal")
    rng = np.random.default_rng(2)
    x, Wm = rng.normal(size=(N, T, C)), rng.normal(size=(k * C, F))
    dz = rng.normal(size=(N * OT, F))
    dW, dx = _conv_run(x, Wm, dz, s, d, pad, OT, 1, need_dw=False)[4:]
    assert np.all(np.isnan(dW)) and not np.any(np.isnan(dx))
    dW, dx = _conv_run(x, Wm, dz, s, d, pad, OT, 1, need_dx=False)[4:]
    assert not np.any(np.isnan(dW)) and np.all(np.isnan(dx))


def ref_masked_mean(x, mask):
    m = mask[:, :, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * m).sum(1) / m.sum(1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_mean_matches_numpy(dtype):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 9, 3)).astype(dtype)
    mask = rng.random((5, 9)) < 0.6
    mask[0] = True
    mask[1] = False   # no true step: 0 / 0 = NaN, as Keras
    mask[2, :] = False
    mask[2, 4] = True
    y = np.empty((5, 3), dtype)
    K.masked_mean_forward(y, x, mask)
    ref = ref_masked_mean(x.astype(np.float64), mask)
    assert np.all(np.isnan(y[1]))
    keep = np.arange(5) != 1
    np.testing.assert_allclose(y[keep], ref[keep], **TOL[dtype])
    np.testing.assert_array_equal(y[2], x[2, 4])
    dy = rng.normal(size=(5, 3)).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype)
    K.masked_mean_backward(dx, dy, mask)
    cnt = mask.sum(1)
    dref = np.where(mask[:, :, None], dy[:, None, :] / np.maximum(cnt, 1)[:, None, None], 0.0)
    np.testing.assert_allclose(dx, dref, **TOL[dtype])
    assert np.all(dx[~mask] == 0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_bitwise_identical_at_1_and_2_threads(dtype):
    N, T, C, k, s, d, F = 12, 301, 16, 5, 1, 2, 32
    OT, pad = conv1d_geometry(T, k, s, d, "same")
    # enough work that the kernels do use two threads (see kernels/threads.py)
    assert N * OT * k * C * F // 32 >= small_parallel()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N, T, C)).astype(dtype)
    g = rng.normal(size=(N, OT, k * C)).astype(dtype)
    Wm = rng.normal(size=(k * C, F)).astype(dtype)
    dz = rng.normal(size=(N * OT, F)).astype(dtype)
    mask = rng.random((N, T)) < 0.7
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            cols, dx, y = np.empty_like(g), np.empty_like(x), np.empty((N, C), dtype)
            K.im2col1d(cols, x, s, d, pad)
            K.col2im1d(dx, g, s, d, pad)
            K.masked_mean_forward(y, x, mask)
            out = [cols, dx, y]
            if G.cblas() is not None:
                for chunk in (1, 3):
                    out += _conv_run(x, Wm, dz, s, d, pad, OT, chunk,
                                     b=np.linspace(-1, 1, F).astype(dtype), act=A.TANH)
            results.append(out)
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
