"""Depthwise convolution kernels (DepthwiseConv2D, the first half of SeparableConv2D).

NHWC input x (N, H, W, C), depthwise kernel Wd (KH, KW, C, M) (M = depth_multiplier,
Keras' layout), strides (SH, SW), zero padding PT / PL (Keras "valid" / "same", see
nbnet.kernels.conv), output z (N, OH, OW, C*M) with output channel c*M + m (Keras'):

    z[n, oh, ow, c*M + m] = sum_{i, j} x[n, oh*SH - PT + i, ow*SW - PL + j, c] * Wd[i, j, c, m]

(terms whose input index falls in the padding are zero). Every input channel is
convolved alone, so there is no matrix product to hand to BLAS: the kernels are direct
loops. Backward, with dz = dL/dz:

    dx[n, h, w, c]  = sum over (oh, ow, i, j) with oh*SH - PT + i = h, ow*SW - PL + j = w
                      of sum_m dz[n, oh, ow, c*M + m] * Wd[i, j, c, m]
    dWd[i, j, c, m] = sum over (n, oh, ow) of x[n, oh*SH - PT + i, ow*SW - PL + j, c]
                      * dz[n, oh, ow, c*M + m]

Conv2DTranspose needs no kernel of its own: it is the adjoint of Conv2D, one BLAS
product and nbnet.kernels.conv.col2im (forward), im2col and two products (backward).

Determinism: the forward and dx are parallel over output / input rows (image, row), each
task owns its row and sums serially in float64. dWd is summed over images in chunks of
a fixed number of images (the caller's `chunk`, from the shapes only): one float64
partial per (chunk, kernel row), then the partials added in chunk order, so the bits do
not depend on the thread count.
"""
import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH
from .threads import few_threads, restore_threads

FASTMATH = set(_FASTMATH)  # numba wants a set


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def depthwise_forward(z, x, Wd, sh, sw, pad_top, pad_left):
    """x (N, H, W, C), Wd (KH, KW, C, M) -> z (N, OH, OW, C*M), overwritten with
    z[n, oh, ow, c*M + m] = sum_{i,j} x[n, oh*SH - PT + i, ow*SW - PL + j, c] * Wd[i, j, c, m].
    OH, OW are read from z. Parallel over the N*OH output rows; float64 sums."""
    N, H, W, C = x.shape
    KH, KW, _, M = Wd.shape
    OH, OW = z.shape[1], z.shape[2]
    old = few_threads(N * OH * OW * KH * KW * C * M)
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        acc = np.empty(C * M)
        for ow in range(OW):
            acc[:] = 0.0
            for i in range(KH):
                h = oh * sh - pad_top + i
                if h < 0 or h >= H:
                    continue
                for j in range(KW):
                    w = ow * sw - pad_left + j
                    if w < 0 or w >= W:
                        continue
                    for c in range(C):
                        xv = x[n, h, w, c]
                        for m in range(M):
                            acc[c * M + m] += xv * Wd[i, j, c, m]
            for k in range(C * M):
                z[n, oh, ow, k] = acc[k]
    restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def depthwise_backward_input(dx, dz, Wd, sh, sw, pad_top, pad_left):
    """dz (N, OH, OW, C*M), Wd (KH, KW, C, M) -> dx (N, H, W, C), overwritten with
    dx[n, h, w, c] = sum over (oh, ow, i, j) with oh*SH - PT + i = h and
    ow*SW - PL + j = w of sum_m dz[n, oh, ow, c*M + m] * Wd[i, j, c, m].
    Parallel over the N*H input rows; each row summed serially in float64."""
    N, H, W, C = dx.shape
    KH, KW, _, M = Wd.shape
    OH, OW = dz.shape[1], dz.shape[2]
    old = few_threads(N * OH * OW * KH * KW * C * M)
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        acc = np.zeros((W, C))
        for i in range(KH):
            r = h + pad_top - i  # output rows whose window row i is input row h
            if r < 0 or r % sh != 0 or r // sh >= OH:
                continue
            oh = r // sh
            for ow in range(OW):
                for j in range(KW):
                    w = ow * sw - pad_left + j
                    if w < 0 or w >= W:
                        continue
                    for c in range(C):
                        s = 0.0
                        for m in range(M):
                            s += dz[n, oh, ow, c * M + m] * Wd[i, j, c, m]
                        acc[w, c] += s
        for w in range(W):
            for c in range(C):
                dx[n, h, w, c] = acc[w, c]
    restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def depthwise_backward_kernel(dWd, parts, dz, x, sh, sw, pad_top, pad_left, chunk):
    """x (N, H, W, C), dz (N, OH, OW, C*M) -> dWd (KH, KW, C, M), overwritten with
    dWd[i, j, c, m] = sum_{n, oh, ow} x[n, oh*SH - PT + i, ow*SW - PL + j, c]
    * dz[n, oh, ow, c*M + m]. parts: float64 (ceil(N / chunk), KH, KW, C, M) scratch, the
    per-chunk sums (chunk images each, parallel over (chunk, kernel row)), then added in
    chunk order: bitwise the same at any thread count."""
    N, H, W, C = x.shape
    KH, KW, _, M = dWd.shape
    OH, OW = dz.shape[1], dz.shape[2]
    nch = (N + chunk - 1) // chunk
    old = few_threads(N * OH * OW * KH * KW * C * M)
    for task in prange(nch * KH):
        k = task // KH
        i = task - k * KH
        part = parts[k, i]
        part[:, :, :] = 0.0
        for n in range(k * chunk, min(N, (k + 1) * chunk)):
            for oh in range(OH):
                h = oh * sh - pad_top + i
                if h < 0 or h >= H:
                    continue
                for ow in range(OW):
                    for j in range(KW):
                        w = ow * sw - pad_left + j
                        if w < 0 or w >= W:
                            continue
                        for c in range(C):
                            xv = x[n, h, w, c]
                            for m in range(M):
                                part[j, c, m] += xv * dz[n, oh, ow, c * M + m]
    for e in prange(KH * KW):
        i = e // KW
        j = e - i * KW
        for c in range(C):
            for m in range(M):
                s = 0.0
                for k in range(nch):  # chunk order
                    s += parts[k, i, j, c, m]
                dWd[i, j, c, m] = s
    restore_threads(old)
