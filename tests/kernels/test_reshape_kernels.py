"""Reshaping kernels (nbnet/kernels/reshape.py) against plain NumPy references."""
import numpy as np
import pytest

import nbnet as nb
from nbnet.kernels import reshape as K

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# ------------------------------------------------------------------ references
def bilinear_matrix(n_in, s):
    """(n_in * s, n_in): row o blends the inputs at the half-pixel source
    max((o + 0.5) / s - 0.5, 0), clamped at the last input."""
    n_out = n_in * s
    src = np.maximum((np.arange(n_out) + 0.5) / s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    A = np.zeros((n_out, n_in))
    np.add.at(A, (np.arange(n_out), i0), 1.0 - lam)
    np.add.at(A, (np.arange(n_out), i1), lam)
    return A


def bilinear_ref(x, sh, sw):
    Ah, Aw = bilinear_matrix(x.shape[1], sh), bilinear_matrix(x.shape[2], sw)
    return np.einsum("oh,nhwc,pw->nopc", Ah, x.astype(np.float64), Aw)


def bilinear_backward_ref(dy, H, W, sh, sw):
    Ah, Aw = bilinear_matrix(H, sh), bilinear_matrix(W, sw)
    return np.einsum("oh,nopc,pw->nhwc", Ah, dy.astype(np.float64), Aw)


def test_bilinear_matrix_is_a_partition_of_unity_and_matches_the_midpoints():
    A = bilinear_matrix(4, 2)
    np.testing.assert_allclose(A.sum(axis=1), 1.0)
    # output 3 (source 1.25) is 3/4 of input 1 and 1/4 of input 2; the ends copy
    np.testing.assert_allclose(A[3], [0, 0.75, 0.25, 0])
    np.testing.assert_allclose(A[0], [1, 0, 0, 0])
    np.testing.assert_allclose(A[-1], [0, 0, 0, 1])


def test_bilinear_reference_matches_torch():
    torch = pytest.importorskip("torch")
    x = _x((2, 5, 3, 4), np.float64)
    want = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2),
                                           scale_factor=(3, 2), mode="bilinear",
                                           align_corners=False).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(bilinear_ref(x, 3, 2), want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ padding / cropping
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((0, 2), (3, 0)), ((0, 0), (0, 0))])
def test_pad_and_crop(pads, dtype):
    x = _x((3, 4, 5, 2), dtype)
    (t, b), (l, r) = pads
    y = np.full((3, 4 + t + b, 5 + l + r, 2), np.nan, dtype)
    K.pad2d(y, x, t, l)
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (t, b), (l, r), (0, 0))))
    back = np.full_like(x, np.nan)
    K.crop2d(back, y, t, l)   # the backward of padding: the window where x went
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_crop_window(dtype):
    x = _x((2, 7, 6, 3), dtype)
    y = np.empty((2, 4, 3, 3), dtype)
    K.crop2d(y, x, 1, 2)
    np.testing.assert_array_equal(y, x[:, 1:5, 2:5])


# ------------------------------------------------------------------ up-sampling
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [(2, 2), (1, 3), (3, 2)])
def test_upsample_nearest(size, dtype):
    sh, sw = size
    x = _x((2, 3, 4, 5), dtype)
    y = np.empty((2, 3 * sh, 4 * sw, 5), dtype)
    K.upsample_nearest_forward(y, x, sh, sw)
    np.testing.assert_array_equal(y, np.repeat(np.repeat(x, sh, axis=1), sw, axis=2))
    dy = _x(y.shape, dtype, seed=1)
    dx = np.full_like(x, np.nan)
    K.upsample_nearest_backward(dx, dy, sh, sw)
    want = dy.astype(np.float64).reshape(2, 3, sh, 4, sw, 5).sum(axis=(2, 4))
    np.testing.assert_allclose(dx, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,size", [((2, 3, 4, 5), (2, 2)), ((1, 5, 2, 3), (3, 1)),
                                        ((2, 1, 1, 2), (2, 3))])
def test_upsample_bilinear(shape, size, dtype):
    sh, sw = size
    N, H, W, C = shape
    x = _x(shape, dtype)
    y = np.empty((N, H * sh, W * sw, C), dtype)
    K.upsample_bilinear_forward(y, x, sh, sw)
    np.testing.assert_allclose(y, bilinear_ref(x, sh, sw), **TOL[dtype])
    dy = _x(y.shape, dtype, seed=1)
    dx = np.full_like(x, np.nan)
    K.upsample_bilinear_backward(dx, dy, sh, sw)
    np.testing.assert_allclose(dx, bilinear_backward_ref(dy, H, W, sh, sw), **TOL[dtype])


def test_bilinear_backward_is_the_adjoint_of_forward():
    # <A x, dy> == <x, A^T dy> for the linear map A
    x, dy = _x((2, 4, 3, 2), np.float64), _x((2, 8, 9, 2), np.float64, seed=3)
    y, dx = np.empty_like(dy), np.empty_like(x)
    K.upsample_bilinear_forward(y, x, 2, 3)
    K.upsample_bilinear_backward(dx, dy, 2, 3)
    assert np.isclose(np.sum(y * dy), np.sum(x * dx), rtol=1e-12)


def test_same_bits_at_one_and_two_threads():
    x = _x((9, 6, 5, 3), np.float32)
    dy = _x((9, 12, 10, 3), np.float32, seed=4)
    old = nb.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            nb.set_num_threads(t)
            out = []
            for fwd, bwd in ((K.upsample_nearest_forward, K.upsample_nearest_backward),
                             (K.upsample_bilinear_forward, K.upsample_bilinear_backward)):
                y, dx = np.empty_like(dy), np.empty_like(x)
                fwd(y, x, 2, 2)
                bwd(dx, dy, 2, 2)
                out += [y, dx]
            p = np.empty((9, 9, 8, 3), np.float32)
            K.pad2d(p, x, 1, 2)
            out.append(p)
            results.append(out)
    finally:
        nb.set_num_threads(old)
    for a, b in zip(*results):
        assert np.array_equal(a, b)
