"""Slow, obvious NumPy references for convolution and pooling, NHWC, written with
direct loops over output positions and kernel offsets (no im2col), in float64.

Padding follows Keras: "valid" has none; "same" gives out = ceil(size / stride) and
pads max((out - 1)*stride + k - size, 0) zeros, half before, the odd one after. A
convolution with dilation d has its taps d apart, so k there is the dilated extent
(k - 1)*d + 1.
"""
import math

import numpy as np


def pads(size, k, s, padding):
    """(out, pad_before) along one axis."""
    if padding == "valid":
        return (size - k) // s + 1, 0
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2


def _window(o, s, before, k, size):
    """Input indices of window o along one axis, without the padding ones."""
    start = o * s - before
    return [t for t in range(start, start + k) if 0 <= t < size]


def _extent(k, d):
    """The input span of a window of k taps d apart."""
    return (k - 1) * d + 1


def conv2d_forward(x, W, b, strides, padding, dilation=(1, 1)):
    """x (N, H, W, C), W (KH, KW, C, F), b (F,) or None -> z (N, OH, OW, F):
    z[n, oh, ow] = sum_ij x[n, oh*SH - PT + i*DH, ow*SW - PL + j*DW] @ W[i, j] (+ b)."""
    x, W = np.asarray(x, np.float64), np.asarray(W, np.float64)
    N, H, Wd, C = x.shape
    KH, KW, _, F = W.shape
    (dh, dw) = dilation
    OH, pt = pads(H, _extent(KH, dh), strides[0], padding)
    OW, pl = pads(Wd, _extent(KW, dw), strides[1], padding)
    z = np.zeros((N, OH, OW, F))
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for i in range(KH):
                    h = oh * strides[0] - pt + i * dh
                    for j in range(KW):
                        w = ow * strides[1] - pl + j * dw
                        if 0 <= h < H and 0 <= w < Wd:  # padding contributes zero
                            z[n, oh, ow] += x[n, h, w] @ W[i, j]
    if b is not None:
        z += np.asarray(b, np.float64)
    return z


def conv2d_backward(dz, x, W, strides, padding, dilation=(1, 1)):
    """dz = dL/dz (N, OH, OW, F) -> (dx, dW, db) of z = conv2d_forward(x, W, b, strides,
    padding, dilation)."""
    dz, x, W = (np.asarray(a, np.float64) for a in (dz, x, W))
    N, H, Wd, C = x.shape
    KH, KW, _, F = W.shape
    (dh, dw) = dilation
    OH, pt = pads(H, _extent(KH, dh), strides[0], padding)
    OW, pl = pads(Wd, _extent(KW, dw), strides[1], padding)
    dx = np.zeros_like(x)
    dW = np.zeros_like(W)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for i in range(KH):
                    h = oh * strides[0] - pt + i * dh
                    for j in range(KW):
                        w = ow * strides[1] - pl + j * dw
                        if 0 <= h < H and 0 <= w < Wd:
                            # z[n,oh,ow,f] += sum_c x[n,h,w,c] W[i,j,c,f]
                            dx[n, h, w] += W[i, j] @ dz[n, oh, ow]
                            dW[i, j] += np.outer(x[n, h, w], dz[n, oh, ow])
    db = dz.sum(axis=(0, 1, 2))
    return dx, dW, db


def pool2d_forward(x, pool, strides, padding, mode):
    """mode "max" or "avg" -> y (N, OH, OW, C); max also returns the winning (h, w)
    per output as an int array (N, OH, OW, C, 2)."""
    x = np.asarray(x, np.float64)
    N, H, Wd, C = x.shape
    OH, pt = pads(H, pool[0], strides[0], padding)
    OW, pl = pads(Wd, pool[1], strides[1], padding)
    y = np.zeros((N, OH, OW, C))
    win = np.zeros((N, OH, OW, C, 2), dtype=int)
    for n in range(N):
        for oh in range(OH):
            hs = _window(oh, strides[0], pt, pool[0], H)
            for ow in range(OW):
                ws = _window(ow, strides[1], pl, pool[1], Wd)
                for c in range(C):
                    cells = [(x[n, h, w, c], h, w) for h in hs for w in ws]
                    if mode == "max":
                        v, h, w = max(cells, key=lambda t: t[0])
                        y[n, oh, ow, c] = v
                        win[n, oh, ow, c] = (h, w)
                    else:  # average over the valid cells only
                        y[n, oh, ow, c] = sum(t[0] for t in cells) / len(cells)
    return (y, win) if mode == "max" else y


def pool2d_backward(dy, x, pool, strides, padding, mode):
    """dL/dx of pool2d_forward for dy = dL/dy (N, OH, OW, C)."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    N, H, Wd, C = x.shape
    OH, pt = pads(H, pool[0], strides[0], padding)
    OW, pl = pads(Wd, pool[1], strides[1], padding)
    dx = np.zeros_like(x)
    if mode == "max":
        _, win = pool2d_forward(x, pool, strides, padding, "max")
    for n in range(N):
        for oh in range(OH):
            hs = _window(oh, strides[0], pt, pool[0], H)
            for ow in range(OW):
                ws = _window(ow, strides[1], pl, pool[1], Wd)
                for c in range(C):
                    if mode == "max":
                        h, w = win[n, oh, ow, c]
                        dx[n, h, w, c] += dy[n, oh, ow, c]
                    else:
                        for h in hs:
                            for w in ws:
                                dx[n, h, w, c] += dy[n, oh, ow, c] / (len(hs) * len(ws))
    return dx


def global_pool_forward(x, mode):
    """(N, H, W, C) -> (N, C): mean or max over H and W."""
    x = np.asarray(x, np.float64)
    return x.mean(axis=(1, 2)) if mode == "avg" else x.max(axis=(1, 2))


def global_pool_backward(dy, x, mode):
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    N, H, Wd, C = x.shape
    if mode == "avg":
        return np.broadcast_to(dy[:, None, None, :] / (H * Wd), x.shape).copy()
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            h, w = np.unravel_index(np.argmax(x[n, :, :, c]), (H, Wd))
            dx[n, h, w, c] = dy[n, c]
    return dx
