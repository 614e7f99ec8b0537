"""nbnet/kernels/image.py against plain NumPy references, at float64 and float32."""
import os

import numpy as np
import pytest

from helpers import numeric_grad
from nbnet.kernels import image as KI

DTYPES = ["float64", "float32"]


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=2e-6, atol=2e-4)


def _img(shape, dtype="float64", seed=0, lo=0.0, hi=255.0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


# ------------------------------------------------------------------ references
def ref_splitmix(seed, counters):
    """splitmix64 (Steele et al. 2014) in NumPy uint64 arithmetic."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (counters.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


def ref_linear_table(n_in, n_out):
    """Half-pixel linear sampling, exact arithmetic (float64)."""
    src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def ref_resize_linear(x, oh, ow):
    y0, y1, ly = ref_linear_table(x.shape[1], oh)
    x0, x1, lx = ref_linear_table(x.shape[2], ow)
    x = x.astype(np.float64)
    ly, lx = ly[None, :, None, None], lx[None, None, :, None]
    top = x[:, y0][:, :, x0] * (1 - lx) + x[:, y0][:, :, x1] * lx
    bot = x[:, y1][:, :, x0] * (1 - lx) + x[:, y1][:, :, x1] * lx
    return top * (1 - ly) + bot * ly


def ref_nearest_table(n_in, n_out):
    """floor((o + 0.5) * in / out) in integers, clipped."""
    return np.minimum(((2 * np.arange(n_out) + 1) * n_in) // (2 * n_out), n_in - 1)


def ref_fix(i, size, mode):
    if mode == "wrap":
        return np.mod(i, size)
    if mode == "reflect":   # ... d c b a | a b c d | d c b a ...
        period = 2 * size
        j = np.mod(i, period)
        return np.where(j < size, j, period - 1 - j)
    return np.clip(i, 0, size - 1)


def ref_affine(x, M, interp, mode, fill_value):
    """Keras' map_coordinates: output pixel (h, w) samples the input at row
    b0*w + b1*h + b2, column a0*w + a1*h + a2."""
    N, H, W, C = x.shape
    hh, ww = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    y = np.empty(x.shape, dtype=np.float64)
    for n in range(N):
        a0, a1, a2, b0, b1, b2 = M[n]
        cx, cy = a0 * ww + a1 * hh + a2, b0 * ww + b1 * hh + b2
        if interp == "nearest":
            corners = [(np.round(cy).astype(int), np.round(cx).astype(int), 1.0)]
        else:
            fy, fx = np.floor(cy), np.floor(cx)
            ry, rx = cy - fy, cx - fx
            fy, fx = fy.astype(int), fx.astype(int)
            corners = [(fy, fx, (1 - ry) * (1 - rx)), (fy, fx + 1, (1 - ry) * rx),
                       (fy + 1, fx, ry * (1 - rx)), (fy + 1, fx + 1, ry * rx)]
        acc = np.zeros((H, W, C))
        for r, q, wgt in corners:
            v = x[n][ref_fix(r, H, mode), ref_fix(q, W, mode)].astype(np.float64)
            if mode == "constant":
                valid = (r >= 0) & (r < H) & (q >= 0) & (q < W)
                v = np.where(valid[..., None], v, fill_value)
            acc += np.asarray(wgt)[..., None] * v
        y[n] = acc
    return y


def ref_contrast(x, f, lo, hi):
    x = x.astype(np.float64)
    m = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - m) * f[:, None, None, None] + m, lo, hi)


MODES = {"constant": KI.CONSTANT, "nearest": KI.NEAREST_FILL, "wrap": KI.WRAP,
         "reflect": KI.REFLECT}
INTERP = {"nearest": KI.NEAREST, "bilinear": KI.BILINEAR}


def _matrices(N, H, W, seed=0):
    """Random rotations + zooms + shifts about the centre, some far outside the image."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(-np.pi, np.pi, N)
    z = rng.uniform(0.5, 1.8, N)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    a0, a1, b0, b1 = z * np.cos(t), -z * np.sin(t), z * np.sin(t), z * np.cos(t)
    a2 = cx - cx * a0 - cy * a1 + rng.uniform(-1.5 * W, 1.5 * W, N)
    b2 = cy - cx * b0 - cy * b1 + rng.uniform(-1.5 * H, 1.5 * H, N)
    return np.stack([a0, a1, a2, b0, b1, b2], axis=1)


# ------------------------------------------------------------------ tests
def test_uniform_draws_are_splitmix64_per_image():
    u = np.empty((7, 3))
    KI.uniform_draws(u, 12345)
    np.testing.assert_array_equal(u.reshape(-1), ref_splitmix(12345, np.arange(21)))
    big = np.empty((4000, 2))
    KI.uniform_draws(big, 7)
    assert 0.0 <= big.min() and big.max() < 1.0
    assert abs(big.mean() - 0.5) < 0.01
    other = np.empty((7, 3))
    KI.uniform_draws(other, 12346)
    assert not np.any(other == u)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flip(dtype):
    x = _img((4, 5, 6, 3), dtype)
    fh = np.array([0, 1, 0, 1], dtype=np.int64)
    fv = np.array([0, 0, 1, 1], dtype=np.int64)
    y = np.empty_like(x)
    KI.flip_forward(y, x, fh, fv)
    np.testing.assert_array_equal(y[0], x[0])
    np.testing.assert_array_equal(y[1], x[1, :, ::-1])
    np.testing.assert_array_equal(y[2], x[2, ::-1])
    np.testing.assert_array_equal(y[3], x[3, ::-1, ::-1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_crop_and_its_transpose(dtype):
    x = _img((3, 7, 6, 2), dtype)
    h0, w0 = np.array([0, 2, 3], dtype=np.int64), np.array([1, 0, 2], dtype=np.int64)
    y = np.empty((3, 4, 4, 2), dtype=dtype)
    KI.crop_forward(y, x, h0, w0)
    for n in range(3):
        np.testing.assert_array_equal(y[n], x[n, h0[n]:h0[n] + 4, w0[n]:w0[n] + 4])
    dy = _img(y.shape, dtype, seed=1)
    dx = np.full_like(x, 7.0)   # overwritten
    KI.crop_backward(dx, dy, h0, w0)
    ref = np.zeros_like(x)
    for n in range(3):
        ref[n, h0[n]:h0[n] + 4, w0[n]:w0[n] + 4] = dy[n]
    np.testing.assert_array_equal(dx, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [(8, 5), (5, 8), (7, 7), (1, 4), (4, 1), (9, 3)])
def test_resize_tables(sizes, dtype):
    n_in, n_out = sizes
    i0, i1 = np.empty(n_out, np.int64), np.empty(n_out, np.int64)
    lam = np.empty(n_out, dtype)
    KI.resize_table_linear(i0, i1, lam, n_in, n_out)
    r0, r1, rl = ref_linear_table(n_in, n_out)
    np.testing.assert_array_equal(i0, r0)
    np.testing.assert_array_equal(i1, r1)
    np.testing.assert_allclose(lam, rl, **_tol(dtype))
    idx = np.empty(n_out, np.int64)
    KI.resize_table_nearest(idx, n_in, n_out)
    np.testing.assert_array_equal(idx, ref_nearest_table(n_in, n_out))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [(3, 4), (11, 9), (6, 6)])
def test_resize_linear_and_nearest(out, dtype):
    x = _img((2, 6, 5, 3), dtype)
    oh, ow = out
    tabs = []
    for n_in, n_out in ((6, oh), (5, ow)):
        i0, i1, lam = np.empty(n_out, np.int64), np.empty(n_out, np.int64), np.empty(n_out, dtype)
        KI.resize_table_linear(i0, i1, lam, n_in, n_out)
        tabs += [i0, i1, lam]
    y = np.empty((2, oh, ow, 3), dtype)
    KI.resize_linear(y, x, *tabs)
    np.testing.assert_allclose(y, ref_resize_linear(x, oh, ow), **_tol(dtype))
    if out == (6, 6):   # a shape kept along H: the rows are copied
        np.testing.assert_array_equal(y[:, :, :, :].shape, (2, 6, 6, 3))
        np.testing.assert_allclose(y[:, :, 0], x[:, :, 0], **_tol(dtype))
    iy, ix = ref_nearest_table(6, oh), ref_nearest_table(5, ow)
    KI.resize_nearest(y, x, iy, ix)
    np.testing.assert_array_equal(y, x[:, iy][:, :, ix])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "reflect"])
def test_affine_forward(mode, interp, dtype):
    x = _img((5, 7, 6, 2), dtype)
    M = _matrices(5, 7, 6)
    y = np.empty_like(x)
    KI.affine_forward(y, x, M, INTERP[interp], MODES[mode], -3.5)
    np.testing.assert_allclose(y, ref_affine(x, M, interp, mode, -3.5), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "reflect"])
def test_affine_axis_forward_is_affine_forward_for_zooms_and_shifts(mode, interp, dtype):
    x = _img((5, 9, 7, 3), dtype)
    rng = np.random.default_rng(6)
    M = np.zeros((5, 6))
    M[:, 0], M[:, 4] = rng.uniform(0.5, 1.8, 5), rng.uniform(0.5, 1.8, 5)   # zoom
    M[:, 2], M[:, 5] = rng.uniform(-4, 4, 5), rng.uniform(-4, 4, 5)         # shift
    M[0, 2], M[1] = 0.5, [1.0, 0, 2.0, 0, 1.0, 0.0]      # half-way samples, a pure shift
    y = np.empty_like(x)
    KI.affine_axis_forward(y, x, M, INTERP[interp], MODES[mode], -3.5)
    np.testing.assert_allclose(y, ref_affine(x, M, interp, mode, -3.5), **_tol(dtype))
    general = np.empty_like(x)
    KI.affine_forward(general, x, M, INTERP[interp], MODES[mode], -3.5)
    np.testing.assert_array_equal(y, general)     # bitwise: the layers pick either


def test_affine_identity_and_integer_shift():
    x = _img((2, 5, 4, 3))
    M = np.array([[1.0, 0, 0, 0, 1.0, 0], [1.0, 0, 2.0, 0, 1.0, -1.0]])
    y = np.empty_like(x)
    KI.affine_forward(y, x, M, KI.BILINEAR, KI.CONSTANT, 0.0)
    np.testing.assert_array_equal(y[0], x[0])
    # image 1 reads column w + 2 and row h - 1: shifted left by 2, down by 1
    np.testing.assert_array_equal(y[1, 1:, :2], x[1, :-1, 2:])
    assert np.all(y[1, 0] == 0.0) and np.all(y[1, :, 2:] == 0.0)


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "reflect"])
def test_affine_backward_is_the_transpose(mode, interp):
    # <A x, dy> == <x, A^T dy> with A the (linear, fill 0) warp
    x = _img((3, 6, 7, 2), seed=2, lo=-1, hi=1)
    dy = _img((3, 6, 7, 2), seed=3, lo=-1, hi=1)
    M = _matrices(3, 6, 7, seed=4)
    y = np.empty_like(x)
    KI.affine_forward(y, x, M, INTERP[interp], MODES[mode], 0.0)
    dx = np.full_like(x, 9.0)
    KI.affine_backward(dx, dy, M, INTERP[interp], MODES[mode])
    np.testing.assert_allclose(np.sum(y * dy, axis=(1, 2, 3)), np.sum(x * dx, axis=(1, 2, 3)),
                               rtol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_contrast_forward(dtype):
    x = _img((4, 5, 6, 3), dtype)
    f = np.array([0.3, 1.0, 1.7, 2.5])
    y = np.empty_like(x)
    KI.contrast_forward(y, x, f, 0.0, 255.0)
    np.testing.assert_allclose(y, ref_contrast(x, f, 0.0, 255.0), **_tol(dtype))
    assert y.min() >= 0.0 and y.max() <= 255.0 and (y == 255.0).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_brightness_forward(dtype):
    x = _img((3, 4, 5, 2), dtype)
    d = np.array([-100.0, 0.0, 80.0])
    y = np.empty_like(x)
    KI.brightness_forward(y, x, d, 0.0, 255.0)
    ref = np.clip(x.astype(np.float64) + d[:, None, None, None], 0.0, 255.0)
    np.testing.assert_allclose(y, ref, **_tol(dtype))


@pytest.mark.parametrize("kind", ["contrast", "brightness"])
def test_colour_backward_finite_differences(kind):
    rng = np.random.default_rng(5)
    x = rng.uniform(0.3, 0.7, (2, 3, 4, 2))
    x[0, 0, 0, 0] = 0.98   # clipped in image 0, channel 0
    r = rng.normal(size=x.shape)
    p = np.array([1.6, 0.4]) if kind == "contrast" else np.array([0.1, -0.2])
    fwd = KI.contrast_forward if kind == "contrast" else KI.brightness_forward
    bwd = KI.contrast_backward if kind == "contrast" else KI.brightness_backward
    y = np.empty_like(x)

    def loss():
        fwd(y, x, p, 0.0, 1.0)
        return float(np.sum(y * r))

    loss()
    assert y[0, 0, 0, 0] == 1.0
    dx = np.empty_like(x)
    bwd(dx, r, x, p, 0.0, 1.0)
    idx, num = numeric_grad(loss, x, eps=1e-6, max_coords=48)
    np.testing.assert_allclose(dx.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ optional: Keras
def test_affine_matches_keras_map_coordinates():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = _img((3, 7, 6, 2), "float32")
    M = _matrices(3, 7, 6, seed=8)
    for mode in ("constant", "nearest", "wrap", "reflect"):
        for interp in ("bilinear", "nearest"):
            ref = np.asarray(keras.ops.image.affine_transform(
                x.astype(np.float64), np.concatenate([M, np.zeros((3, 2))], axis=1),
                interpolation=interp, fill_mode=mode, fill_value=-3.5))
            y = np.empty_like(x)
            KI.affine_forward(y, x, M, INTERP[interp], MODES[mode], -3.5)
            np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-3, err_msg=f"{mode} {interp}")
