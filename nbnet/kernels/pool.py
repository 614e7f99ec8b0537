"""Pooling kernels, NHWC: max and average pooling over windows, global pooling.

Windows: pool size (PH, PW), strides (SH, SW), padding offsets (PT, PL) as for Conv2D
(nbnet.layers.conv.conv_geometry); the output shape y (N, OH, OW, C) gives OH and OW.
Window (oh, ow) covers input rows oh*SH - PT .. oh*SH - PT + PH - 1 (and columns alike),
clipped to the image: padding cells never take part.

    max     y = max over the valid cells; argmax[n, oh, ow, c] = h*W + w of the winner
            (the first maximum in row-major window order; a NaN wins, so it propagates)
            dx[n, h, w, c] = sum of dy over the outputs whose argmax is (h, w)
    average y = sum over the valid cells / their number   (Keras "same": the count of
            VALID cells, not PH*PW); dx[n, h, w, c] = sum over the windows covering
            (h, w) of dy / count(window)
    global  y (N, C): mean (or max, argmax (N, C) = h*W + w) over all H*W positions

argmax arrays are int32. Sums run in float64. Every parallel loop owns what it writes:
forward kernels are parallel over output rows, backward kernels over images (max
pooling scatters, serially inside an image, so overlapping windows never race) or
over input rows (average pooling gathers), so results are identical at any thread count.
"""
import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH

FASTMATH = set(_FASTMATH)  # numba wants a set


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def max_pool_forward(y, argmax, x, ph, pw, sh, sw, pad_top, pad_left):
    """x (N, H, W, C) -> y (N, OH, OW, C), argmax (N, OH, OW, C) int32 = h*W + w
    (both overwritten). Parallel over the N*OH output rows."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        h0 = max(oh * sh - pad_top, 0)
        h1 = min(oh * sh - pad_top + ph, H)
        for ow in range(OW):
            w0 = max(ow * sw - pad_left, 0)
            w1 = min(ow * sw - pad_left + pw, W)
            yo = y[n, oh, ow]
            ao = argmax[n, oh, ow]
            # channels innermost: contiguous reads; the first valid cell starts the max
            for c in range(C):
                yo[c] = x[n, h0, w0, c]
                ao[c] = h0 * W + w0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    for c in range(C):
                        v = x[n, h, w, c]
                        best = yo[c]
                        # NaN wins (v != v) and then stays: nothing is > NaN
                        if v > best or (v != v and best == best):
                            yo[c] = v
                            ao[c] = h * W + w


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def max_pool_backward(dx, dy, argmax, overlap):
    """dy, argmax (N, OH, OW, C) -> dx (N, H, W, C), overwritten: each dy goes to the
    input cell that won its window, summed where windows overlap (overlap: a stride
    smaller than the pool) in a float64 accumulator; without overlap a cell wins at
    most one window and takes its dy as is. Parallel over images, serial inside one."""
    N, H, W, C = dx.shape
    OH, OW = dy.shape[1], dy.shape[2]
    if not overlap:
        # NOTE: no per-image accumulator: allocating (H*W, C) float64 per image cost
        # page faults (128 images 26x26x32, 2x2 pool: 1.21 -> 0.74 ms at 1 thread)
        for n in prange(N):
            dxn = dx[n].reshape(H * W * C)
            for i in range(H * W * C):
                dxn[i] = 0.0
            for oh in range(OH):
                for ow in range(OW):
                    for c in range(C):
                        dxn[argmax[n, oh, ow, c] * C + c] = dy[n, oh, ow, c]
        return
    for n in prange(N):
        acc = np.zeros((H * W, C))
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    acc[argmax[n, oh, ow, c], c] += dy[n, oh, ow, c]
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    dx[n, h, w, c] = acc[h * W + w, c]


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def avg_pool_forward(y, x, ph, pw, sh, sw, pad_top, pad_left):
    """x (N, H, W, C) -> y (N, OH, OW, C) (overwritten): the mean of the valid cells of
    each window. Parallel over the N*OH output rows."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        h0 = max(oh * sh - pad_top, 0)
        h1 = min(oh * sh - pad_top + ph, H)
        acc = np.empty(C)
        for ow in range(OW):
            w0 = max(ow * sw - pad_left, 0)
            w1 = min(ow * sw - pad_left + pw, W)
            acc[:] = 0.0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    for c in range(C):
                        acc[c] += x[n, h, w, c]
            inv = 1.0 / ((h1 - h0) * (w1 - w0))
            for c in range(C):
                y[n, oh, ow, c] = acc[c] * inv


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def avg_pool_backward(dx, dy, ph, pw, sh, sw, pad_top, pad_left):
    """dy (N, OH, OW, C) -> dx (N, H, W, C), overwritten with
    dx[n, h, w, c] = sum over windows (oh, ow) covering (h, w) of dy[n, oh, ow, c] / count
    where count = valid cells of the window. Parallel over the N*H input rows (gather)."""
    N, H, W, C = dx.shape
    OH, OW = dy.shape[1], dy.shape[2]
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        acc = np.zeros((W, C))
        for oh in range(OH):
            top = oh * sh - pad_top
            if h < top or h >= top + ph:
                continue
            rows = min(top + ph, H) - max(top, 0)
            for ow in range(OW):
                left = ow * sw - pad_left
                w0 = max(left, 0)
                w1 = min(left + pw, W)
                inv = 1.0 / (rows * (w1 - w0))
                for w in range(w0, w1):
                    for c in range(C):
                        acc[w, c] += dy[n, oh, ow, c] * inv
        for w in range(W):
            for c in range(C):
                dx[n, h, w, c] = acc[w, c]


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def global_avg_pool_forward(y, x):
    """x (N, H, W, C) -> y (N, C) = mean over H and W (overwritten). Parallel over N."""
    N, H, W, C = x.shape
    inv = 1.0 / (H * W)
    for n in prange(N):
        acc = np.zeros(C)
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    acc[c] += x[n, h, w, c]
        for c in range(C):
            y[n, c] = acc[c] * inv


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def global_avg_pool_backward(dx, dy):
    """dy (N, C) -> dx (N, H, W, C) = dy / (H*W) at every position (overwritten)."""
    N, H, W, C = dx.shape
    inv = 1.0 / (H * W)
    for n in prange(N):
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    dx[n, h, w, c] = dy[n, c] * inv


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def global_max_pool_forward(y, argmax, x):
    """x (N, H, W, C) -> y (N, C) = max over H and W, argmax (N, C) int32 = h*W + w of
    the first maximum (a NaN wins). Both overwritten. Parallel over N."""
    N, H, W, C = x.shape
    for n in prange(N):
        for c in range(C):
            y[n, c] = x[n, 0, 0, c]
            argmax[n, c] = 0
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    v = x[n, h, w, c]
                    best = y[n, c]
                    if v > best or (v != v and best == best):
                        y[n, c] = v
                        argmax[n, c] = h * W + w


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def global_max_pool_backward(dx, dy, argmax):
    """dy, argmax (N, C) -> dx (N, H, W, C) (overwritten): dy[n, c] at the winning
    position of channel c, 0 elsewhere. Parallel over N."""
    N, H, W, C = dx.shape
    for n in prange(N):
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    dx[n, h, w, c] = 0.0
        for c in range(C):
            k = argmax[n, c]
            dx[n, k // W, k - (k // W) * W, c] = dy[n, c]
