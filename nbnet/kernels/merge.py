"""Merge kernels (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate).

Element-wise kernels take 1-D C-contiguous arrays (callers ravel) and combine TWO
inputs; a layer with n > 2 inputs loops, feeding the output back in as `a`:

    merge_forward      y = op(a, b) / d      op: ADD a + b, SUBTRACT a - b, MULTIPLY a * b
    extreme_forward    y = max(a, b) or min(a, b), and idx = the input y came from
    sum_backward       dx_0 = dy * s0, dx_k = dy * s (k > 0)     (Add, Subtract, Average)
    multiply_backward  dx_0 = dy * x_1, dx_1 = dy * x_0          (Multiply, 2 inputs)
    extreme_backward   dx_k = dy where idx == k, else 0          (Maximum, Minimum)
    copy_cols          dst[r, d0:d0+w] = src[r, s0:s0+w]         (Concatenate, both ways)

Gradients (dxs: (K, N), one row per input) are OVERWRITTEN, never accumulated.
Maximum / minimum propagate NaN (as np.maximum and torch.maximum do) and on ties keep
`a`, the earlier input, so the gradient of a tie goes to the first input holding it.
All work is element-wise: results are bitwise the same at any thread count.
"""
import numba
from numba import njit, prange

from . import FASTMATH as _FASTMATH

# NOTE: without `arcp`, so Average divides by n (as Keras does) instead of multiplying
# by a rounded 1/n. Nothing here reduces, so the other flags change nothing either.
FASTMATH = set(_FASTMATH) - {"arcp"}

if numba.config.DISABLE_JIT:  # NOTE: threads.py's intrinsics cannot run as Python
    def _few_threads(n):
        return 1

    def _restore_threads(old):
        pass
else:
    from .threads import few_threads as _few_threads, restore_threads as _restore_threads

ADD, SUBTRACT, MULTIPLY = 0, 1, 2

_CHUNK = 4096  # elements per parallel task (a constant, never the thread count)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def merge_forward(y, a, b, op, d):
    """a, b, y: (N,). y = op(a, b) / d, op one of ADD, SUBTRACT, MULTIPLY; with d = 1.0
    there is no division. y may be a or b (in place). d is rounded to y's dtype."""
    n = y.shape[0]
    old = _few_threads(3 * n)
    dd = y.dtype.type(d)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        # NOTE: chunk views indexed from 0 (not global indices) let LLVM vectorise.
        y_, a_, b_ = y[lo:hi], a[lo:hi], b[lo:hi]
        m = hi - lo
        if op == ADD and d == 1.0:  # the common cases get their own loops
            for i in range(m):
                y_[i] = a_[i] + b_[i]
        elif op == ADD:
            for i in range(m):
                y_[i] = (a_[i] + b_[i]) / dd
        elif op == SUBTRACT:
            for i in range(m):
                y_[i] = a_[i] - b_[i]
        else:
            for i in range(m):
                y_[i] = a_[i] * b_[i]
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def extreme_forward(y, idx, a, b, k, is_max):
    """a, b, y: (N,); idx: (N,) int16. y = max(a, b) if is_max else min(a, b), and
    idx = the index of the input that y is: b is input k; a is input 0 when k == 1 (the
    first call, idx is only written), else the input idx already names (a is the
    output so far). A tie keeps a; a NaN in either wins (NaN propagates). y may be a."""
    n = y.shape[0]
    old = _few_threads(3 * n)
    kk = idx.dtype.type(k)
    first = k == 1
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        y_, ix_, a_, b_ = y[lo:hi], idx[lo:hi], a[lo:hi], b[lo:hi]
        for i in range(hi - lo):
            av, bv = a_[i], b_[i]
            # b wins if strictly beyond a, or if b is NaN and a is not
            if is_max:
                take_b = (bv > av) | ((bv != bv) & (av == av))
            else:
                take_b = (bv < av) | ((bv != bv) & (av == av))
            j = idx.dtype.type(0) if first else ix_[i]
            y_[i] = bv if take_b else av
            ix_[i] = kk if take_b else j
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def sum_backward(dxs, dy, s0, s):
    """dy: (N,); dxs: (K, N), overwritten. dxs[0] = dy * s0, dxs[k] = dy * s for k > 0:
    the backward of y = s0 x_0 + s (x_1 + ... + x_{K-1}) (Add: 1, 1; Subtract with
    K = 2: 1, -1; Average: 1/K, 1/K). The scales are rounded to dy's dtype."""
    K, n = dxs.shape
    old = _few_threads((K + 1) * n)
    t0, t = dy.dtype.type(s0), dy.dtype.type(s)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        dy_ = dy[lo:hi]
        for k in range(K):
            dx_ = dxs[k, lo:hi]
            sk = t0 if k == 0 else t
            if sk == 1.0:
                for i in range(hi - lo):
                    dx_[i] = dy_[i]
            else:
                for i in range(hi - lo):
                    dx_[i] = dy_[i] * sk
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def multiply_backward(dxs, dy, a, b):
    """a, b, dy: (N,); dxs: (2, N), overwritten. Backward of y = a * b:
    dxs[0] = dy * b, dxs[1] = dy * a."""
    n = dy.shape[0]
    old = _few_threads(5 * n)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        da_, db_, dy_, a_, b_ = dxs[0, lo:hi], dxs[1, lo:hi], dy[lo:hi], a[lo:hi], b[lo:hi]
        for i in range(hi - lo):
            g = dy_[i]
            da_[i] = g * b_[i]
            db_[i] = g * a_[i]
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def extreme_backward(dxs, dy, idx):
    """dy: (N,); idx: (N,) int16 from extreme_forward; dxs: (K, N), overwritten.
    dxs[k] = dy where idx == k, else 0: the gradient goes to the input that won."""
    K, n = dxs.shape
    old = _few_threads((K + 1) * n)
    zero = dy.dtype.type(0.0)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        dy_, ix_ = dy[lo:hi], idx[lo:hi]
        for k in range(K):
            dx_ = dxs[k, lo:hi]
            for i in range(hi - lo):
                dx_[i] = dy_[i] if ix_[i] == k else zero
    _restore_threads(old)


@njit(cache=True, parallel=True)
def copy_cols(dst, d0, src, s0, w):
    """dst: (R, Wd), src: (R, Ws). dst[r, d0:d0+w] = src[r, s0:s0+w] for every row r.
    Concatenate forward (dst the output, s0 = 0) and backward (src = dy, d0 = 0), on
    arrays viewed as (outer, axis * inner). Tasks of about _CHUNK elements: blocks of
    short rows, or pieces of long ones."""
    R = dst.shape[0]
    old = _few_threads(2 * R * w)
    if w <= _CHUNK:
        rb = _CHUNK // max(w, 1)  # rows per task
        for t in prange((R + rb - 1) // rb):
            for r in range(t * rb, min(R, (t + 1) * rb)):
                d_, s_ = dst[r, d0:d0 + w], src[r, s0:s0 + w]
                for i in range(w):
                    d_[i] = s_[i]
    else:
        nc = (w + _CHUNK - 1) // _CHUNK  # pieces per row
        for t in prange(R * nc):
            r, c = t // nc, t % nc
            lo, hi = c * _CHUNK, min(w, (c + 1) * _CHUNK)
            d_, s_ = dst[r, d0 + lo:d0 + hi], src[r, s0 + lo:s0 + hi]
            for i in range(hi - lo):
                d_[i] = s_[i]
    _restore_threads(old)
