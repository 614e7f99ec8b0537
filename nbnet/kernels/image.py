"""Image kernels, NHWC: flips, crops, resizing, affine warps, contrast and brightness.

Random parameters come from `uniform_draws`: u[n, k] = splitmix64(seed, n*K + k), a
pure function of the seed and the image index, so an augmentation gives the same
images at any thread count. Every parallel loop owns what it writes: forward kernels
are parallel over output rows (or images), backward kernels that scatter over images
(each image's scatter runs serially in one thread). Arithmetic runs in float64; the
result is rounded once to the output's dtype.

    flip        y[n, h, w] = x[n, H-1-h if fv[n] else h, W-1-w if fh[n] else w]
    crop        y[n, h, w] = x[n, h0[n] + h, w0[n] + w]
    resize      separable: rows iy0/iy1 with weights (1 - ly, ly), columns alike
                (tables from resize_table_linear: half-pixel centres, PyTorch's
                align_corners=False arithmetic in the dtype of `lam`), or nearest
                rows/columns (resize_table_nearest: PyTorch's "nearest-exact");
                bicubic and antialiased resizes (and every backward) through tap
                tables: y = sum of wy[o, a] wx[q, b] x[iy[o, a], ix[q, b]]
                (resize_table_cubic / resize_table_antialias, resize_filter)
    affine      output pixel (x, y) samples the input at
                    x_in = a0*x + a1*y + a2,   y_in = b0*x + b1*y + b2
                (M[n] = a0 a1 a2 b0 b1 b2, Keras' transform layout), bilinear or
                nearest (round half to even), out-of-image corner indices fixed by the
                fill mode: CONSTANT (the corner reads fill_value), NEAREST (clamp),
                WRAP (i mod size), REFLECT (d c b a | a b c d | d c b a)
    contrast    m = mean over H, W of x[n, :, :, c];  y = clip((x - m) * f[n] + m, lo, hi)
    brightness  y = clip(x + delta[n], lo, hi)
"""
import numpy as np
from numba import njit, prange

# fill modes and interpolations (the layers pass these codes)
CONSTANT, NEAREST_FILL, WRAP, REFLECT = 0, 1, 2, 3
NEAREST, BILINEAR = 0, 1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2^-53


@njit(inline="always")
def _uniform(seed, i):
    """u in [0, 1): splitmix64 output for counter i, top 53 bits as a double."""
    z = seed + (np.uint64(i) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _TWO_M53


@njit(cache=True)
def uniform_draws(u, seed):
    """u (N, K) float64 overwritten with u[n, k] = splitmix64(seed, n*K + k) in [0, 1).
    seed: a non-negative int below 2^63."""
    N, K = u.shape
    s = np.uint64(seed)
    for n in range(N):
        for k in range(K):
            u[n, k] = _uniform(s, n * K + k)


# ------------------------------------------------------------------ flip / crop
@njit(cache=True, parallel=True)
def flip_forward(y, x, fh, fv):
    """x, y (N, H, W, C); fh, fv (N,) int64: flip image n left-right if fh[n], upside
    down if fv[n]. Also the backward pass (a flip is its own transpose)."""
    N, H, W, C = x.shape
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        hs = H - 1 - h if fv[n] else h
        for w in range(W):
            ws = W - 1 - w if fh[n] else w
            for c in range(C):
                y[n, h, w, c] = x[n, hs, ws, c]


@njit(cache=True, parallel=True)
def crop_forward(y, x, h0, w0):
    """x (N, H, W, C) -> y (N, OH, OW, C): y[n, h, w] = x[n, h0[n] + h, w0[n] + w];
    h0, w0 (N,) int64 with the window inside the image."""
    N, OH, OW, C = y.shape
    for t in prange(N * OH):
        n = t // OH
        h = t - n * OH
        for w in range(OW):
            for c in range(C):
                y[n, h, w, c] = x[n, h0[n] + h, w0[n] + w, c]


@njit(cache=True, parallel=True)
def crop_backward(dx, dy, h0, w0):
    """dy (N, OH, OW, C) -> dx (N, H, W, C) (overwritten): dy inside each image's
    window, zero elsewhere."""
    N, H, W, C = dx.shape
    OH, OW = dy.shape[1], dy.shape[2]
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        hh = h - h0[n]
        for w in range(W):
            ww = w - w0[n]
            inside = 0 <= hh < OH and 0 <= ww < OW
            for c in range(C):
                dx[n, h, w, c] = dy[n, hh, ww, c] if inside else 0.0


# ------------------------------------------------------------------ resize
@njit(cache=True)
def resize_table_linear(i0, i1, lam, in_size, out_size):
    """Half-pixel linear sampling of in_size cells at out_size (PyTorch's
    align_corners=False): src = max(scale*(o + 0.5) - 0.5, 0) with scale = in/out,
    every step rounded to lam's dtype as PyTorch computes it; i0 = floor(src),
    i1 = min(i0 + 1, in - 1), lam = min(src - i0, 1). i0, i1 (out,) int64."""
    lam[0] = in_size
    lam[0] = lam[0] / out_size          # the scale, in lam's dtype
    scale = lam[0]
    for o in range(out_size):
        lam[o] = o + 0.5
        lam[o] = scale * lam[o]
        lam[o] = lam[o] - 0.5
        if lam[o] < 0.0:
            lam[o] = 0.0
        k = int(np.floor(lam[o]))
        i0[o] = k
        i1[o] = k + 1 if k < in_size - 1 else k
        lam[o] = min(max(lam[o] - k, 0.0), 1.0)


@njit(cache=True)
def resize_table_nearest(idx, in_size, out_size):
    """PyTorch's "nearest-exact": idx[o] = min(floor((o + 0.5) * scale), in - 1) with
    scale = float32(in) / out and the product rounded to float32. idx (out,) int64."""
    scale = np.float32(in_size) / np.float32(out_size)
    for o in range(out_size):
        p = np.float32((o + 0.5) * np.float64(scale))
        idx[o] = min(int(np.floor(p)), in_size - 1)


@njit(cache=True, parallel=True)
def resize_linear(y, x, iy0, iy1, ly, ix0, ix1, lx):
    """x (N, H, W, C) -> y (N, OH, OW, C):
    y = (1-ly)*((1-lx)*x[iy0, ix0] + lx*x[iy0, ix1]) + ly*((1-lx)*x[iy1, ix0] + lx*x[iy1, ix1])."""
    N, OH, OW, C = y.shape
    for t in prange(N * OH):
        n = t // OH
        o = t - n * OH
        a, b = iy0[o], iy1[o]
        wb = np.float64(ly[o])
        wa = 1.0 - wb
        for q in range(OW):
            c0, c1 = ix0[q], ix1[q]
            w1 = np.float64(lx[q])
            w0 = 1.0 - w1
            for c in range(C):
                top = w0 * x[n, a, c0, c] + w1 * x[n, a, c1, c]
                bot = w0 * x[n, b, c0, c] + w1 * x[n, b, c1, c]
                y[n, o, q, c] = wa * top + wb * bot


@njit(cache=True, parallel=True)
def resize_nearest(y, x, iy, ix):
    """x (N, H, W, C) -> y (N, OH, OW, C): y[n, o, q] = x[n, iy[o], ix[q]]."""
    N, OH, OW, C = y.shape
    for t in prange(N * OH):
        n = t // OH
        o = t - n * OH
        for q in range(OW):
            for c in range(C):
                y[n, o, q, c] = x[n, iy[o], ix[q], c]


@njit(inline="always")
def _cubic(x, a):
    """Keys' cubic convolution kernel with parameter a, at |x|."""
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


@njit(cache=True)
def resize_table_cubic(idx, wt, in_size, out_size):
    """PyTorch's bicubic (align_corners=False, a = -0.75): src = scale*(o + 0.5) - 0.5,
    i = floor(src), t = src - i; taps i-1 .. i+2 (clamped to the image) with weights
    k(t + 1), k(t), k(1 - t), k(2 - t). idx (out, 4) int64, wt (out, 4) float64."""
    scale = in_size / out_size
    for o in range(out_size):
        src = scale * (o + 0.5) - 0.5
        i = min(int(np.floor(src)), in_size - 1)
        t = min(max(src - i, 0.0), 1.0)
        for k in range(4):
            idx[o, k] = min(max(i - 1 + k, 0), in_size - 1)
        wt[o, 0] = _cubic(t + 1.0, -0.75)
        wt[o, 1] = _cubic(t, -0.75)
        wt[o, 2] = _cubic(1.0 - t, -0.75)
        wt[o, 3] = _cubic(2.0 - t, -0.75)


@njit(cache=True)
def resize_table_antialias(idx, wt, in_size, out_size, cubic):
    """PyTorch's antialiased resize (PIL's filters): output cell o, centred at
    c = scale*(o + 0.5) in input coordinates, averages the input cells j in
    [int(c - support + 0.5), int(c + support + 0.5)) with weights
    f((j - c + 0.5) / s), normalised to sum 1; s = max(scale, 1), support = s * 1 (linear:
    the triangle f = max(0, 1 - |x|)) or s * 2 (cubic: Keys with a = -0.5). Unused taps
    get weight 0 (and index 0). idx, wt: (out, K) with K >= the widest window."""
    scale = in_size / out_size
    s = scale if scale >= 1.0 else 1.0
    support = s * (2.0 if cubic else 1.0)
    K = idx.shape[1]
    for o in range(out_size):
        c = scale * (o + 0.5)
        lo = max(int(c - support + 0.5), 0)
        n = min(min(int(c + support + 0.5), in_size) - lo, K)
        total = 0.0
        for k in range(K):
            idx[o, k] = 0
            wt[o, k] = 0.0
        for k in range(n):
            d = (k + lo - c + 0.5) / s
            w = _cubic(d, -0.5) if cubic else max(0.0, 1.0 - abs(d))
            idx[o, k] = lo + k
            wt[o, k] = w
            total += w
        if total != 0.0:
            for k in range(n):
                wt[o, k] /= total


@njit(cache=True, parallel=True)
def resize_filter(y, x, iy, wy, ix, wx):
    """x (N, H, W, C) -> y (N, OH, OW, C) through tap tables (rows iy, wy (OH, KH);
    columns ix, wx (OW, KW)):  y[n, o, q] = sum_a sum_b wy[o, a] wx[q, b] x[n, iy[o, a], ix[q, b]]
    summed in float64, in tap order."""
    N, OH, OW, C = y.shape
    KH, KW = iy.shape[1], ix.shape[1]
    for t in prange(N * OH):
        n = t // OH
        o = t - n * OH
        acc = np.empty(C, dtype=np.float64)
        for q in range(OW):
            acc[:] = 0.0
            for a in range(KH):
                wa = wy[o, a]
                if wa == 0.0:
                    continue
                r = iy[o, a]
                for b in range(KW):
                    w = wa * wx[q, b]
                    if w == 0.0:
                        continue
                    col = ix[q, b]
                    for c in range(C):
                        acc[c] += w * x[n, r, col, c]
            for c in range(C):
                y[n, o, q, c] = acc[c]


@njit(cache=True, parallel=True)
def resize_filter_backward(dx, dy, iy, wy, ix, wx):
    """The transpose of resize_filter: dx (N, H, W, C) overwritten with
    dx[n, iy[o, a], ix[q, b]] += wy[o, a] wx[q, b] dy[n, o, q], each image's scatter
    in one thread, in (o, q, a, b) order, summed in float64."""
    N, OH, OW, C = dy.shape
    H, W = dx.shape[1], dx.shape[2]
    KH, KW = iy.shape[1], ix.shape[1]
    for n in prange(N):
        acc = np.zeros((H, W, C), dtype=np.float64)
        for o in range(OH):
            for q in range(OW):
                for a in range(KH):
                    wa = wy[o, a]
                    if wa == 0.0:
                        continue
                    r = iy[o, a]
                    for b in range(KW):
                        w = wa * wx[q, b]
                        if w == 0.0:
                            continue
                        col = ix[q, b]
                        for c in range(C):
                            acc[r, col, c] += w * dy[n, o, q, c]
        for h in range(H):
            for w_ in range(W):
                for c in range(C):
                    dx[n, h, w_, c] = acc[h, w_, c]


# ------------------------------------------------------------------ affine
@njit(inline="always")
def _fix(i, size, mode):
    """The index that an out-of-image index i reads in fill mode `mode`."""
    if 0 <= i < size:      # inside: every mode reads i (and skips the integer divisions)
        return i
    if mode == WRAP:
        return i % size
    if mode == REFLECT:
        # half-sample symmetric: the triangular wave of period 2*(2*size), as Keras
        m = 2 * i + 1
        s = 2 * size
        m = abs((m + s) % (2 * s) - s)
        return (m - 1) // 2
    return min(max(i, 0), size - 1)   # NEAREST (and CONSTANT, whose corner is masked)


@njit(inline="always")
def _round_half_even(v):
    r = np.floor(v + 0.5)
    if r - v == 0.5 and r % 2.0 != 0.0:
        r -= 1.0
    return r


@njit(cache=True, parallel=True)
def affine_forward(y, x, M, interp, mode, fill_value):
    """x, y (N, H, W, C); M (N, 6) float64 (a0 a1 a2 b0 b1 b2): the output pixel (h, w)
    samples the input at (b0*w + b1*h + b2, a0*w + a1*h + a2) (row, column).
    interp: NEAREST or BILINEAR; mode: CONSTANT, NEAREST_FILL, WRAP or REFLECT.
    Bilinear: y = sum over the 4 corners of wy*wx*v, v = x at the fixed corner index, or
    fill_value for a corner outside the image in CONSTANT mode."""
    N, H, W, C = x.shape
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        a0, a1, a2 = M[n, 0], M[n, 1], M[n, 2]
        b0, b1, b2 = M[n, 3], M[n, 4], M[n, 5]
        for w in range(W):
            xs = a0 * w + a1 * h + a2
            ys = b0 * w + b1 * h + b2
            if interp == NEAREST:
                r = int(_round_half_even(ys))
                q = int(_round_half_even(xs))
                ok = mode != CONSTANT or (0 <= r < H and 0 <= q < W)
                r, q = _fix(r, H, mode), _fix(q, W, mode)
                for c in range(C):
                    y[n, h, w, c] = x[n, r, q, c] if ok else fill_value
                continue
            fy = np.floor(ys)
            fx = np.floor(xs)
            wy1 = ys - fy
            wx1 = xs - fx
            wy0 = 1.0 - wy1
            wx0 = 1.0 - wx1
            r0, q0 = int(fy), int(fx)
            r1, q1 = r0 + 1, q0 + 1
            ok00 = ok01 = ok10 = ok11 = True
            if mode == CONSTANT:
                vr0, vr1 = 0 <= r0 < H, 0 <= r1 < H
                vq0, vq1 = 0 <= q0 < W, 0 <= q1 < W
                ok00, ok01, ok10, ok11 = vr0 and vq0, vr0 and vq1, vr1 and vq0, vr1 and vq1
            r0, r1 = _fix(r0, H, mode), _fix(r1, H, mode)
            q0, q1 = _fix(q0, W, mode), _fix(q1, W, mode)
            w00, w01, w10, w11 = wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1
            for c in range(C):
                v00 = x[n, r0, q0, c] if ok00 else fill_value
                v01 = x[n, r0, q1, c] if ok01 else fill_value
                v10 = x[n, r1, q0, c] if ok10 else fill_value
                v11 = x[n, r1, q1, c] if ok11 else fill_value
                y[n, h, w, c] = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11


@njit(inline="always")
def _taps(p, size, interp, mode):
    """One axis of a sample at coordinate p: (i0, i1, w0, w1, ok0, ok1) as affine_forward
    computes them (nearest: i0 = i1, w0 = 1, w1 = 0)."""
    if interp == NEAREST:
        i = int(_round_half_even(p))
        ok = mode != CONSTANT or 0 <= i < size
        i = _fix(i, size, mode)
        return i, i, 1.0, 0.0, ok, ok
    f = np.floor(p)
    w1 = p - f
    i0 = int(f)
    i1 = i0 + 1
    ok0 = mode != CONSTANT or 0 <= i0 < size
    ok1 = mode != CONSTANT or 0 <= i1 < size
    return _fix(i0, size, mode), _fix(i1, size, mode), 1.0 - w1, w1, ok0, ok1


@njit(cache=True, parallel=True)
def affine_axis_forward(y, x, M, interp, mode, fill_value):
    """affine_forward for warps without rotation or shear (a1 = b0 = 0 in every M[n]:
    zooms, translations), with the same numbers: the column taps are computed once per
    image column and the row taps once per row, instead of both at every pixel."""
    N, H, W, C = x.shape
    qi = np.empty((N, W, 2), dtype=np.int64)
    qw = np.empty((N, W, 2), dtype=np.float64)
    qok = np.empty((N, W, 2), dtype=np.bool_)
    for t in prange(N * W):
        n = t // W
        w = t - n * W
        i0, i1, w0, w1, ok0, ok1 = _taps(M[n, 0] * w + M[n, 2], W, interp, mode)
        qi[n, w, 0], qi[n, w, 1] = i0, i1
        qw[n, w, 0], qw[n, w, 1] = w0, w1
        qok[n, w, 0], qok[n, w, 1] = ok0, ok1
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        r0, r1, wy0, wy1, okr0, okr1 = _taps(M[n, 4] * h + M[n, 5], H, interp, mode)
        for w in range(W):
            q0, q1 = qi[n, w, 0], qi[n, w, 1]
            if interp == NEAREST:
                ok = okr0 and qok[n, w, 0]
                for c in range(C):
                    y[n, h, w, c] = x[n, r0, q0, c] if ok else fill_value
                continue
            wx0, wx1 = qw[n, w, 0], qw[n, w, 1]
            ok00, ok01 = okr0 and qok[n, w, 0], okr0 and qok[n, w, 1]
            ok10, ok11 = okr1 and qok[n, w, 0], okr1 and qok[n, w, 1]
            w00, w01, w10, w11 = wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1
            for c in range(C):
                v00 = x[n, r0, q0, c] if ok00 else fill_value
                v01 = x[n, r0, q1, c] if ok01 else fill_value
                v10 = x[n, r1, q0, c] if ok10 else fill_value
                v11 = x[n, r1, q1, c] if ok11 else fill_value
                y[n, h, w, c] = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11


@njit(cache=True, parallel=True)
def affine_backward(dx, dy, M, interp, mode):
    """The transpose of affine_forward in x (fill values carry no gradient): dx (N, H,
    W, C) overwritten with the sum, over the output pixels, of each corner weight times
    dy at that pixel. Parallel over images (each image's scatter runs in one thread)."""
    N, H, W, C = dx.shape
    for n in prange(N):
        dx[n] = 0.0
        a0, a1, a2 = M[n, 0], M[n, 1], M[n, 2]
        b0, b1, b2 = M[n, 3], M[n, 4], M[n, 5]
        for h in range(H):
            for w in range(W):
                xs = a0 * w + a1 * h + a2
                ys = b0 * w + b1 * h + b2
                if interp == NEAREST:
                    r = int(_round_half_even(ys))
                    q = int(_round_half_even(xs))
                    if mode == CONSTANT and not (0 <= r < H and 0 <= q < W):
                        continue
                    r, q = _fix(r, H, mode), _fix(q, W, mode)
                    for c in range(C):
                        dx[n, r, q, c] += dy[n, h, w, c]
                    continue
                fy = np.floor(ys)
                fx = np.floor(xs)
                wy1 = ys - fy
                wx1 = xs - fx
                r0, q0 = int(fy), int(fx)
                for dr in range(2):
                    r = r0 + dr
                    wy = wy1 if dr == 1 else 1.0 - wy1
                    if mode == CONSTANT and not 0 <= r < H:
                        continue
                    r = _fix(r, H, mode)
                    for dq in range(2):
                        q = q0 + dq
                        wgt = wy * (wx1 if dq == 1 else 1.0 - wx1)
                        if mode == CONSTANT and not 0 <= q < W:
                            continue
                        q = _fix(q, W, mode)
                        for c in range(C):
                            dx[n, r, q, c] += wgt * dy[n, h, w, c]


# ------------------------------------------------------------------ contrast / brightness
@njit(cache=True, parallel=True)
def contrast_forward(y, x, factor, lo, hi):
    """x, y (N, H, W, C); factor (N,) float64: per image and channel, m = mean over
    H, W; y = clip((x - m) * factor[n] + m, lo, hi). Parallel over images."""
    N, H, W, C = x.shape
    for n in prange(N):
        m = np.zeros(C)
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    m[c] += x[n, h, w, c]
        m /= H * W
        f = factor[n]
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    v = (x[n, h, w, c] - m[c]) * f + m[c]
                    y[n, h, w, c] = min(max(v, lo), hi)


@njit(cache=True, parallel=True)
def contrast_backward(dx, dy, x, factor, lo, hi):
    """dx overwritten with dL/dx of contrast_forward: with g = dy where the unclipped
    value lies in [lo, hi] (else 0), dx = f*g + (1 - f)/(H*W) * sum over H, W of g."""
    N, H, W, C = x.shape
    for n in prange(N):
        m = np.zeros(C)
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    m[c] += x[n, h, w, c]
        m /= H * W
        f = factor[n]
        s = np.zeros(C)
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    v = (x[n, h, w, c] - m[c]) * f + m[c]
                    if lo <= v <= hi:
                        s[c] += dy[n, h, w, c]
        s *= (1.0 - f) / (H * W)
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    v = (x[n, h, w, c] - m[c]) * f + m[c]
                    g = dy[n, h, w, c] if lo <= v <= hi else 0.0
                    dx[n, h, w, c] = f * g + s[c]


@njit(cache=True, parallel=True)
def brightness_forward(y, x, delta, lo, hi):
    """x, y (N, H, W, C); delta (N,) float64: y = clip(x + delta[n], lo, hi)."""
    N, H, W, C = x.shape
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        d = delta[n]
        for w in range(W):
            for c in range(C):
                y[n, h, w, c] = min(max(x[n, h, w, c] + d, lo), hi)


@njit(cache=True, parallel=True)
def brightness_backward(dx, dy, x, delta, lo, hi):
    """dx = dy where lo <= x + delta[n] <= hi, else 0 (overwritten)."""
    N, H, W, C = x.shape
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        d = delta[n]
        for w in range(W):
            for c in range(C):
                v = x[n, h, w, c] + d
                dx[n, h, w, c] = dy[n, h, w, c] if lo <= v <= hi else 0.0
