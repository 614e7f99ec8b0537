"""Convolution kernels around the BLAS product: NHWC im2col and its adjoint col2im.

Conv2D with kernel W (KH, KW, C, F), strides (SH, SW), dilation (DH, DW) and zero
padding is one matrix product once every receptive field is unrolled into a row
("im2col"):

    cols[n, oh, ow, (i*KW + j)*C + c] = x[n, oh*SH - PT + i*DH, ow*SW - PL + j*DW, c]
                                        (0 where the index falls in the padding)
    z = cols.reshape(N*OH*OW, KH*KW*C) @ W.reshape(KH*KW*C, F)

Backward: dcols = dz @ W^T, and dx = col2im(dcols), the adjoint of im2col: every
dx[n, h, w, c] is the sum of the dcols entries that im2col copied from x[n, h, w, c].

Padding (Keras): "valid" PT = PL = 0, OH = (H - KH) // SH + 1; "same" OH = ceil(H / SH),
total = max((OH - 1)*SH + KH - H, 0), PT = total // 2, the odd row at the bottom (same
for columns; nbnet.layers.conv.conv_geometry computes them), with KH the dilated
extent (KH - 1)*DH + 1. The kernels take PT / PL
and read OH / OW from the shape of cols, so cols is passed 4-D: (N, OH, OW, KH*KW*C),
a view of the (N*OH*OW, KH*KW*C) matrix. (PT alone cannot tell OH: "valid" and "same"
both have PT = 0 when the total padding is 1.)

Determinism: im2col only copies; col2im is parallel over (image, row) pairs, each task
owns its dx row and sums its terms serially in float64 in a fixed order, so results are
bitwise identical at any thread count. conv_forward / conv_backward (whole convolutions,
chunk by chunk of images) are too: see the note above them.
"""
import numpy as np
from numba import get_thread_id, njit, prange

from . import FASTMATH as _FASTMATH
from .activations import bias_act_rows, dact_rows
from .gemm import blas_single_begin, blas_single_end, gemm_call
from .threads import few_threads, restore_threads

FASTMATH = set(_FASTMATH)  # numba wants a set


@njit(inline="always", fastmath=FASTMATH)
def _im2col_row(cols, x, t, kh, kw, sh, sw, pad_top, pad_left, dh, dw):
    """Output row t = n * OH + oh of im2col (all OW receptive fields of it)."""
    if x.shape[3] < 16 and dw == 1:
        _im2col_row_runs(cols, x, t, kh, kw, sh, sw, pad_top, pad_left, dh)
        return
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = cols.shape[1], cols.shape[2]
    n = t // OH
    oh = t - n * OH
    for ow in range(OW):
        col = cols[n, oh, ow]
        for i in range(kh):
            h = oh * sh - pad_top + i * dh
            for j in range(kw):
                w = ow * sw - pad_left + j * dw
                base = (i * kw + j) * C
                if h < 0 or h >= H or w < 0 or w >= W:
                    for c in range(C):
                        col[base + c] = 0.0
                else:
                    for c in range(C):
                        col[base + c] = x[n, h, w, c]


@njit(inline="always", fastmath=FASTMATH)
def _im2col_row_runs(cols, x, t, kh, kw, sh, sw, pad_top, pad_left, dh):
    """_im2col_row for few channels: a window row inside x is copied as one contiguous
    run of KW*C values (measured, 1 thread, 128 images 28x28x1, 3x3: 1.50 -> 0.87 ms;
    with 32 channels the per-pixel copies of _im2col_row are faster, 0.76 ms against
    1.6)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = cols.shape[1], cols.shape[2]
    n = t // OH
    oh = t - n * OH
    xf = x.reshape(x.size)
    run = kw * C
    for ow in range(OW):
        col = cols[n, oh, ow]
        w0 = ow * sw - pad_left
        inside = w0 >= 0 and w0 + kw <= W
        for i in range(kh):
            h = oh * sh - pad_top + i * dh
            base = i * run
            if h < 0 or h >= H:
                for k in range(run):
                    col[base + k] = 0.0
            elif inside:
                src = ((n * H + h) * W + w0) * C
                for k in range(run):
                    col[base + k] = xf[src + k]
            else:
                for j in range(kw):
                    w = w0 + j
                    for c in range(C):
                        col[base + j * C + c] = x[n, h, w, c] if 0 <= w < W else 0.0


@njit(inline="always", fastmath=FASTMATH)
def _col2im_row(dx, dcols, t, acc, kh, kw, sh, sw, pad_top, pad_left, dh, dw):
    """Input row t = n * H + h of col2im, summed serially in float64 in acc (W, C)."""
    H, W, C = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = dcols.shape[1], dcols.shape[2]
    n = t // H
    h = t - n * H
    acc[:, :] = 0.0
    for i in range(kh):
        # output rows whose window covers input row h through kernel row i
        r = h + pad_top - i * dh
        if r < 0 or r % sh != 0 or r // sh >= OH:
            continue
        oh = r // sh
        for ow in range(OW):
            col = dcols[n, oh, ow]
            for j in range(kw):
                w = ow * sw - pad_left + j * dw
                if w < 0 or w >= W:
                    continue
                base = (i * kw + j) * C
                for c in range(C):
                    acc[w, c] += col[base + c]
    for w in range(W):
        for c in range(C):
            dx[n, h, w, c] = acc[w, c]


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def im2col(cols, x, kh, kw, sh, sw, pad_top, pad_left, dh, dw):
    """x (N, H, W, C) -> cols (N, OH, OW, KH*KW*C) (overwritten; 0 for padding).
    cols[n, oh, ow, (i*KW + j)*C + c] = x[n, oh*SH - PT + i*DH, ow*SW - PL + j*DW, c]
    (DH, DW: the dilation, 1 for a plain convolution).
    Parallel over the N*OH output rows."""
    N, OH = x.shape[0], cols.shape[1]
    for t in prange(N * OH):
        _im2col_row(cols, x, t, kh, kw, sh, sw, pad_top, pad_left, dh, dw)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def col2im(dx, dcols, kh, kw, sh, sw, pad_top, pad_left, dh, dw):
    """dcols (N, OH, OW, KH*KW*C) -> dx (N, H, W, C), overwritten with
    dx[n, h, w, c] = sum over (oh, ow, i, j) with oh*SH - PT + i*DH = h and
    ow*SW - PL + j*DW = w of dcols[n, oh, ow, (i*KW + j)*C + c]   (the adjoint of im2col).
    Parallel over the N*H input rows; each row is summed serially in float64."""
    N, H, W, C = dx.shape
    for t in prange(N * H):
        acc = np.empty((W, C))
        _col2im_row(dx, dcols, t, acc, kh, kw, sh, sw, pad_top, pad_left, dh, dw)


# ------------------------------------------------------------------ whole convolutions
# conv_forward / conv_backward run im2col and the products chunk by chunk of images,
# each chunk on one thread with its cols in that thread's slice of `scratch` (L2-sized:
# see nbnet.layers.conv), and one single-threaded BLAS call per product. Unrolling the
# whole batch first wrote the cols (18 MB for 128 images 13x13x32, 3x3) to memory and
# read them back, for the forward, dW and col2im. Chunks are a fixed number of images
# (never the thread count), and dW is summed over chunks in chunk order, in float64.


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def conv_forward(z, y, x, Wm, b, has_bias, act, alpha, kh, kw, sh, sw, pad_top, pad_left, dh, dw,
                 OH, OW, chunk, scratch, fns, ilp64):
    """z (N*OH*OW, F) = im2col(x) @ Wm (+ b if has_bias), Wm (KH*KW*C, F); then y = f(z)
    as bias_act_forward (y may be z, act LINEAR). scratch (threads, >= chunk *
    OH*OW*KH*KW*C) of x's dtype; fns, ilp64: see nbnet.kernels.gemm.gemm."""
    N = x.shape[0]
    KK, F = Wm.shape
    rows = OH * OW
    isz = z.itemsize
    nch = (N + chunk - 1) // chunk
    old = few_threads(N * rows * KK * F // 32)
    blas = blas_single_begin(fns)
    for k in prange(nch):
        n0 = k * chunk
        nc = min(N, n0 + chunk) - n0
        buf = scratch[get_thread_id()]
        cols = buf[:nc * rows * KK].reshape((nc, OH, OW, KK))
        xc = x[n0:n0 + nc]
        for t in range(nc * OH):
            _im2col_row(cols, xc, t, kh, kw, sh, sw, pad_top, pad_left, dh, dw)
        gemm_call(fns, ilp64, isz == 8, False, False, nc * rows, F, KK, buf.ctypes.data, KK,
                  Wm.ctypes.data, F, 0.0, z.ctypes.data + n0 * rows * F * isz, F)
        bias_act_rows(z, y, b, has_bias, act, alpha, n0 * rows, (n0 + nc) * rows)
    blas_single_end(fns, blas)
    restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def conv_backward(dWm, parts, db, dbparts, dx, dz, dy, z, y, has_bias, act, alpha, x, Wm, kh, kw,
                  sh, sw, pad_top, pad_left, dh, dw, OH, OW, chunk, scratch, fns, ilp64, need_dw,
                  need_dx):
    """Backward of conv_forward: dz = dy * f'(z) (as bias_act_backward; dz may be dy) and
    db = its column sums (if has_bias; dbparts (chunks, F) float64, always given); dWm (KK, F) =
    im2col(x).T @ dz when need_dw (parts: (chunks, KK, F) of x's dtype, the per-chunk
    terms); dx (N, H, W, C) = col2im(dz @ Wm.T) when need_dx. Per-chunk terms are added
    in chunk order. Arrays a flag leaves unused may be empty. scratch, fns, ilp64 as for
    conv_forward."""
    N, H, W, C = x.shape
    KK, F = Wm.shape
    rows = OH * OW
    isz = dz.itemsize
    nch = (N + chunk - 1) // chunk
    old = few_threads(N * rows * KK * F // 16)
    blas = blas_single_begin(fns)
    for k in prange(nch):
        n0 = k * chunk
        nc = min(N, n0 + chunk) - n0
        dbparts[k, :] = 0.0
        dact_rows(dz, dbparts[k], dy, z, y, has_bias, act, alpha, n0 * rows, (n0 + nc) * rows)
        buf = scratch[get_thread_id()]
        cols = buf[:nc * rows * KK].reshape((nc, OH, OW, KK))
        dzc = dz.ctypes.data + n0 * rows * F * isz
        if need_dw:
            xc = x[n0:n0 + nc]
            for t in range(nc * OH):
                _im2col_row(cols, xc, t, kh, kw, sh, sw, pad_top, pad_left, dh, dw)
            gemm_call(fns, ilp64, isz == 8, True, False, KK, F, nc * rows, buf.ctypes.data, KK,
                      dzc, F, 0.0, parts[k].ctypes.data, F)
        if need_dx:  # dcols = dz @ Wm.T into the same scratch, then col2im
            gemm_call(fns, ilp64, isz == 8, False, True, nc * rows, KK, F, dzc, F,
                      Wm.ctypes.data, F, 0.0, buf.ctypes.data, KK)
            acc = np.empty((W, C))
            dxc = dx[n0:n0 + nc]
            for t in range(nc * H):
                _col2im_row(dxc, cols, t, acc, kh, kw, sh, sw, pad_top, pad_left, dh, dw)
    blas_single_end(fns, blas)
    if has_bias:
        for f in range(F):
            s = 0.0
            for k in range(nch):
                s += dbparts[k, f]
            db[f] = s
    if need_dw:  # sum the chunks' terms in chunk order
        for e in prange(KK):
            for f in range(F):
                s = 0.0
                for k in range(nch):
                    s += parts[k, e, f]
                dWm[e, f] = s
    restore_threads(old)
