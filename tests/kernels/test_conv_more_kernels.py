"""Depthwise convolution kernels against plain NumPy references (padded input, one
strided slice per kernel offset), float64 and float32, and across thread counts."""
import numba
import numpy as np
import pytest

from nbnet.kernels import conv_more as K
from nbnet.kernels import threads

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _geometry(size, k, s, padding):
    """(out, pad_before, pad_after) along one axis, Keras "valid" / "same"."""
    if padding == "valid":
        return (size - k) // s + 1, 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _padded(x, kh, kw, s, padding):
    (OH, pt, pb), (OW, pl, pr) = (_geometry(x.shape[1], kh, s[0], padding),
                                  _geometry(x.shape[2], kw, s[1], padding))
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    return xp, OH, OW, pt, pl


def _window(a, i, j, s, OH, OW):
    """a[:, oh*s0 + i, ow*s1 + j, :] for every output (oh, ow): (N, OH, OW, C)."""
    return a[:, i:i + s[0] * (OH - 1) + 1:s[0], j:j + s[1] * (OW - 1) + 1:s[1], :]


def ref_forward(x, Wd, s, padding):
    """z (N, OH, OW, C*M), channel c*M + m."""
    KH, KW, C, M = Wd.shape
    xp, OH, OW, _, _ = _padded(x, KH, KW, s, padding)
    z = np.zeros((x.shape[0], OH, OW, C, M))
    for i in range(KH):
        for j in range(KW):
            z += _window(xp, i, j, s, OH, OW)[..., None] * np.asarray(Wd[i, j], np.float64)
    return z.reshape(x.shape[0], OH, OW, C * M)


def ref_backward(dz, x, Wd, s, padding):
    """(dx, dWd) of ref_forward for dz = dL/dz."""
    KH, KW, C, M = Wd.shape
    xp, OH, OW, pt, pl = _padded(x, KH, KW, s, padding)
    dz = np.asarray(dz, np.float64).reshape(x.shape[0], OH, OW, C, M)
    dxp = np.zeros_like(xp)
    dW = np.zeros((KH, KW, C, M))
    for i in range(KH):
        for j in range(KW):
            _window(dxp, i, j, s, OH, OW)[...] += np.einsum("nhwcm,cm->nhwc", dz, Wd[i, j])
            dW[i, j] = np.einsum("nhwc,nhwcm->cm", _window(xp, i, j, s, OH, OW), dz)
    H, W = x.shape[1], x.shape[2]
    return dxp[:, pt:pt + H, pl:pl + W], dW


def _configs(count=14, seed=5):
    g = np.random.default_rng(seed)
    out = []
    for t in range(count):
        kh, kw = (int(v) for v in g.integers(1, 5, size=2))
        s = tuple(int(v) for v in g.integers(1, 4, size=2))
        out.append(dict(N=int(g.integers(1, 4)), H=int(g.integers(kh, 10)),
                        W=int(g.integers(kw, 10)), C=int(g.integers(1, 5)),
                        M=int(g.integers(1, 4)), k=(kh, kw), s=s,
                        padding=["valid", "same"][t % 2]))
    return out


def _run(cfg, dtype, chunk):
    rng = np.random.default_rng([cfg["H"], cfg["W"], cfg["C"], cfg["M"], *cfg["k"], *cfg["s"]])
    (kh, kw), s = cfg["k"], cfg["s"]
    x = rng.normal(size=(cfg["N"], cfg["H"], cfg["W"], cfg["C"])).astype(dtype)
    Wd = rng.normal(size=(kh, kw, cfg["C"], cfg["M"])).astype(dtype)
    (OH, pt, _), (OW, pl, _) = (_geometry(cfg["H"], kh, s[0], cfg["padding"]),
                                _geometry(cfg["W"], kw, s[1], cfg["padding"]))
    z = np.full((cfg["N"], OH, OW, cfg["C"] * cfg["M"]), np.nan, dtype)  # overwritten
    K.depthwise_forward(z, x, Wd, s[0], s[1], pt, pl)
    dz = rng.normal(size=z.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype)
    K.depthwise_backward_input(dx, dz, Wd, s[0], s[1], pt, pl)
    dW = np.full(Wd.shape, np.nan, dtype)
    parts = np.full(((cfg["N"] + chunk - 1) // chunk,) + Wd.shape, np.nan)
    K.depthwise_backward_kernel(dW, parts, dz, x, s[0], s[1], pt, pl, chunk)
    return x, Wd, dz, z, dx, dW


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", _configs(), ids=lambda c: f"{c['k']}{c['s']}{c['padding']}M{c['M']}")
def test_depthwise_kernels_match_numpy(cfg, dtype):
    for chunk in (1, 2, 8):
        x, Wd, dz, z, dx, dW = _run(cfg, dtype, chunk)
        np.testing.assert_allclose(z, ref_forward(x, Wd, cfg["s"], cfg["padding"]), **TOL[dtype])
        dx_ref, dW_ref = ref_backward(dz, x, Wd, cfg["s"], cfg["padding"])
        np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
        np.testing.assert_allclose(dW, dW_ref, **TOL[dtype])


def test_reference_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 4, 2))
    Wd = rng.normal(size=(3, 2, 2, 2))
    r = rng.normal(size=ref_forward(x, Wd, (2, 1), "same").shape)
    dx, dW = ref_backward(r, x, Wd, (2, 1), "same")
    eps = 1e-6
    for arr, grad in ((x, dx), (Wd, dW)):
        flat, g = arr.reshape(-1), grad.reshape(-1)
        for k in range(0, flat.size, 3):
            old = flat[k]
            flat[k] = old + eps
            fp = np.sum(ref_forward(x, Wd, (2, 1), "same") * r)
            flat[k] = old - eps
            fm = np.sum(ref_forward(x, Wd, (2, 1), "same") * r)
            flat[k] = old
            assert abs((fp - fm) / (2 * eps) - g[k]) < 1e-6


def test_depthwise_kernels_bitwise_identical_at_1_and_2_threads():
    cfg = dict(N=9, H=12, W=11, C=6, M=2, k=(3, 3), s=(2, 1), padding="same")
    old, small = numba.get_num_threads(), threads.small_parallel()
    threads.set_small_parallel(0)  # small work too runs on every thread
    runs = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            runs.append(_run(cfg, np.float32, chunk=2)[3:])
    finally:
        numba.set_num_threads(old)
        threads.set_small_parallel(small)
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()
