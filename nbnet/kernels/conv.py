"""Convolution kernels around the BLAS product: NHWC im2col and its adjoint col2im.

Conv2D with kernel W (KH, KW, C, F), strides (SH, SW) and zero padding is one matrix
product once every receptive field is unrolled into a row ("im2col"):

    cols[n, oh, ow, (i*KW + j)*C + c] = x[n, oh*SH - PT + i, ow*SW - PL + j, c]
                                        (0 where the index falls in the padding)
    z = cols.reshape(N*OH*OW, KH*KW*C) @ W.reshape(KH*KW*C, F)

Backward: dcols = dz @ W^T, and dx = col2im(dcols), the adjoint of im2col: every
dx[n, h, w, c] is the sum of the dcols entries that im2col copied from x[n, h, w, c].

Padding (Keras): "valid" PT = PL = 0, OH = (H - KH) // SH + 1; "same" OH = ceil(H / SH),
total = max((OH - 1)*SH + KH - H, 0), PT = total // 2, the odd row at the bottom (same
for columns; nbnet.layers.conv.conv_geometry computes them). The kernels take PT / PL
and read OH / OW from the shape of cols, so cols is passed 4-D: (N, OH, OW, KH*KW*C),
a view of the (N*OH*OW, KH*KW*C) matrix. (PT alone cannot tell OH: "valid" and "same"
both have PT = 0 when the total padding is 1.)

Determinism: im2col only copies; col2im is parallel over (image, row) pairs, each task
owns its dx row and sums its terms serially in float64 in a fixed order, so results are
bitwise identical at any thread count.
"""
import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH

FASTMATH = set(_FASTMATH)  # numba wants a set


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def im2col(cols, x, kh, kw, sh, sw, pad_top, pad_left):
    """x (N, H, W, C) -> cols (N, OH, OW, KH*KW*C) (overwritten; 0 for padding).
    cols[n, oh, ow, (i*KW + j)*C + c] = x[n, oh*SH - PT + i, ow*SW - PL + j, c].
    Parallel over the N*OH output rows."""
    N, H, W, C = x.shape
    OH, OW = cols.shape[1], cols.shape[2]
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        for ow in range(OW):
            col = cols[n, oh, ow]
            for i in range(kh):
                h = oh * sh - pad_top + i
                for j in range(kw):
                    w = ow * sw - pad_left + j
                    base = (i * kw + j) * C
                    if h < 0 or h >= H or w < 0 or w >= W:
                        for c in range(C):
                            col[base + c] = 0.0
                    else:
                        for c in range(C):
                            col[base + c] = x[n, h, w, c]


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def col2im(dx, dcols, kh, kw, sh, sw, pad_top, pad_left):
    """dcols (N, OH, OW, KH*KW*C) -> dx (N, H, W, C), overwritten with
    dx[n, h, w, c] = sum over (oh, ow, i, j) with oh*SH - PT + i = h and
    ow*SW - PL + j = w of dcols[n, oh, ow, (i*KW + j)*C + c]   (the adjoint of im2col).
    Parallel over the N*H input rows; each row is summed serially in float64."""
    N, H, W, C = dx.shape
    OH, OW = dcols.shape[1], dcols.shape[2]
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        acc = np.zeros((W, C))
        for i in range(kh):
            # output rows whose window covers input row h through kernel row i
            r = h + pad_top - i
            if r < 0 or r % sh != 0 or r // sh >= OH:
                continue
            oh = r // sh
            for ow in range(OW):
                col = dcols[n, oh, ow]
                for j in range(kw):
                    w = ow * sw - pad_left + j
                    if w < 0 or w >= W:
                        continue
                    base = (i * kw + j) * C
                    for c in range(C):
                        acc[w, c] += col[base + c]
        for w in range(W):
            for c in range(C):
                dx[n, h, w, c] = acc[w, c]
