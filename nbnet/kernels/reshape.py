"""Reshaping kernels, NHWC: zero padding, cropping, up-sampling, and their backward.

x (N, H, W, C); a channels_first caller views (N, C, H, W) as (N*C, H, W, 1).

    pad2d          y (N, H+PT+PB, W+PL+PR, C) = 0, y[:, PT:PT+H, PL:PL+W] = x
    crop2d         y (N, OH, OW, C) = x[:, T:T+OH, L:L+OW]
                   (crop2d is the backward of pad2d and pad2d the backward of crop2d:
                   dx of a padding is the window of dy, dx of a cropping is dy padded)
    upsample_nearest_forward    y[n, oh, ow] = x[n, oh // SH, ow // SW]
    upsample_nearest_backward   dx[n, h, w] = sum_{i<SH, j<SW} dy[n, h*SH+i, w*SW+j]
    upsample_bilinear_forward   half-pixel centres (PyTorch align_corners=False, as
                   Keras' image.resize): source row s = max((oh + 0.5) / SH - 0.5, 0),
                   h0 = floor(s), h1 = min(h0 + 1, H - 1), weights (1 - (s - h0), s - h0);
                   columns alike; y = the bilinear blend of the four cells
    upsample_bilinear_backward  dx = the transpose of that linear map (a scatter)

Outputs are OVERWRITTEN. Copies and the nearest backward are parallel over output rows
(each row owns what it writes; the nearest backward sums its SH*SW cells in a fixed
order in float64); the bilinear backward scatters, so it is parallel over images and
serial inside one. Results are bitwise the same at any thread count.
"""
from numba import njit, prange


@njit(cache=True, parallel=True)
def pad2d(y, x, top, left):
    """x (N, H, W, C) -> y (N, OH, OW, C) with OH >= top + H, OW >= left + W:
    y = 0 except y[:, top:top+H, left:left+W] = x. Parallel over the N*OH output rows."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        h = oh - top
        yr = y[n, oh]
        if h < 0 or h >= H:
            for ow in range(OW):
                for c in range(C):
                    yr[ow, c] = 0.0
            continue
        xr = x[n, h]
        for ow in range(left):
            for c in range(C):
                yr[ow, c] = 0.0
        for w in range(W):
            for c in range(C):
                yr[left + w, c] = xr[w, c]
        for ow in range(left + W, OW):
            for c in range(C):
                yr[ow, c] = 0.0


@njit(cache=True, parallel=True)
def crop2d(y, x, top, left):
    """x (N, H, W, C) -> y (N, OH, OW, C) = x[:, top:top+OH, left:left+OW].
    Parallel over the N*OH output rows."""
    OH, OW, C = y.shape[1], y.shape[2], y.shape[3]
    N = y.shape[0]
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        yr = y[n, oh]
        xr = x[n, oh + top]
        for ow in range(OW):
            for c in range(C):
                yr[ow, c] = xr[left + ow, c]


@njit(cache=True, parallel=True)
def upsample_nearest_forward(y, x, sh, sw):
    """x (N, H, W, C) -> y (N, H*sh, W*sw, C), y[n, oh, ow] = x[n, oh // sh, ow // sw].
    Parallel over the N*OH output rows."""
    N, H, W, C = x.shape
    OH, OW = H * sh, W * sw
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        xr = x[n, oh // sh]
        yr = y[n, oh]
        for ow in range(OW):
            w = ow // sw
            for c in range(C):
                yr[ow, c] = xr[w, c]


@njit(cache=True, parallel=True)
def upsample_nearest_backward(dx, dy, sh, sw):
    """dy (N, H*sh, W*sw, C) -> dx (N, H, W, C), dx[n, h, w] = the sum of the sh*sw
    cells of dy that copied x[n, h, w] (rows then columns, float64). Parallel over the
    N*H input rows."""
    N, H, W, C = dx.shape
    for t in prange(N * H):
        n = t // H
        h = t - n * H
        for w in range(W):
            for c in range(C):
                acc = 0.0
                for i in range(sh):
                    for j in range(sw):
                        acc += dy[n, h * sh + i, w * sw + j, c]
                dx[n, h, w, c] = acc


@njit(inline="always")
def _source(o, s, n_in):
    """Half-pixel source of output index o at integer scale s: (i0, i1, weight of i1)."""
    src = (o + 0.5) / s - 0.5
    if src < 0.0:
        src = 0.0
    i0 = int(src)
    if i0 > n_in - 1:
        i0 = n_in - 1
    i1 = i0 + 1 if i0 < n_in - 1 else i0
    return i0, i1, src - i0


@njit(cache=True, parallel=True)
def upsample_bilinear_forward(y, x, sh, sw):
    """x (N, H, W, C) -> y (N, H*sh, W*sw, C), bilinear with half-pixel centres (see
    the module docstring); blends in float64. Parallel over the N*OH output rows."""
    N, H, W, C = x.shape
    OH, OW = H * sh, W * sw
    for t in prange(N * OH):
        n = t // OH
        oh = t - n * OH
        h0, h1, lh = _source(oh, sh, H)
        for ow in range(OW):
            w0, w1, lw = _source(ow, sw, W)
            for c in range(C):
                top = (1.0 - lw) * x[n, h0, w0, c] + lw * x[n, h0, w1, c]
                bot = (1.0 - lw) * x[n, h1, w0, c] + lw * x[n, h1, w1, c]
                y[n, oh, ow, c] = (1.0 - lh) * top + lh * bot


@njit(cache=True, parallel=True)
def upsample_bilinear_backward(dx, dy, sh, sw):
    """dy (N, H*sh, W*sw, C) -> dx (N, H, W, C) (overwritten): each dy cell adds its
    four weighted parts to the cells it was blended from, in row-major output order.
    Parallel over images, serial inside one."""
    N, H, W, C = dx.shape
    OH, OW = H * sh, W * sw
    for n in prange(N):
        dxn = dx[n]
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    dxn[h, w, c] = 0.0
        for oh in range(OH):
            h0, h1, lh = _source(oh, sh, H)
            for ow in range(OW):
                w0, w1, lw = _source(ow, sw, W)
                for c in range(C):
                    g = dy[n, oh, ow, c]
                    gt = (1.0 - lh) * g
                    gb = lh * g
                    dxn[h0, w0, c] += (1.0 - lw) * gt
                    dxn[h0, w1, c] += lw * gt
                    dxn[h1, w0, c] += (1.0 - lw) * gb
                    dxn[h1, w1, c] += lw * gb
