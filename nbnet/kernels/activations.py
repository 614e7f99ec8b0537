"""Activation kernels: element-wise f(x) and f'(x), row-wise softmax / log_softmax,
and the bias + activation kernels that follow a Dense / Conv2D matrix product.

Element-wise kernels take 1-D C-contiguous arrays (callers ravel) and an integer code:

    LINEAR       x                        RELU        max(x, 0)
    SIGMOID      1 / (1 + exp(-x))        TANH        tanh(x)
    LEAKY_RELU   x if x > 0 else alpha*x  ELU         x if x > 0 else alpha*(exp(x)-1)
    SELU         scale * elu(x, a)  with the fixed Klambauer et al. constants
    GELU         x * Phi(x) = x/2 * (1 + erf(x / sqrt(2)))               (exact)
    GELU_TANH    x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))      (approximate)
    SOFTPLUS     log(1 + exp(x)) = log1p(exp(-|x|)) + max(x, 0)          (stable)
    SOFTSIGN     x / (1 + |x|)            SWISH       x * sigmoid(x)     (= silu)
    HARD_SIGMOID relu6(x + 3) / 6         RELU6       min(max(x, 0), 6)

Scalar maths runs in float64 whatever the array dtype (one rounding, on the store).
Derivatives use the output y where that is cheaper (sigmoid, tanh, elu, selu).

NOTE: bias_act_forward / bias_act_backward (re-exported by kernels/dense.py) live here
because they inline _act / _dact; their row helpers bias_act_rows / dact_rows are also
inlined by the convolution kernels (kernels/conv.py). Numba's cache only watches the
file that defines a kernel: kernels/__init__.py drops the cache of every kernel when
any kernel file changes.
"""
import math

import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH

FASTMATH = set(_FASTMATH)  # numba wants a set

LINEAR, RELU, SIGMOID, TANH, LEAKY_RELU, ELU, SELU = 0, 1, 2, 3, 4, 5, 6
GELU, GELU_TANH, SOFTPLUS, SOFTSIGN, SWISH, HARD_SIGMOID, RELU6 = 7, 8, 9, 10, 11, 12, 13
# Row-wise activations: the layers branch to softmax_* / log_softmax_* for these.
SOFTMAX, LOG_SOFTMAX = -1, -2

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_PI = 0.79788456080286535587989211986876    # sqrt(2 / pi), GELU tanh form
_INV_SQRT_2 = 0.70710678118654752440084436210485   # 1 / sqrt(2), exact GELU
_INV_SQRT_2PI = 0.39894228040143267793994605993438  # 1 / sqrt(2 pi), normal pdf
_GELU_C = 0.044715

_CHUNK = 4096  # elements per parallel task in the 1-D kernels (a constant)


@njit(inline="always")
def _sigmoid(v):
    # exp of a non-positive number only: no overflow for large |v|
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(inline="always")
def _act(x, act, alpha):
    """f(x) for one value, computed in float64."""
    v = np.float64(x)
    # NOTE: written as `... if v < 0 else v` so that a NaN passes through unchanged.
    if act == RELU:
        return 0.0 if v < 0.0 else v
    if act == SIGMOID:
        return _sigmoid(v)
    if act == TANH:
        return math.tanh(v)
    if act == LEAKY_RELU:
        return alpha * v if v < 0.0 else v
    if act == ELU:
        return alpha * math.expm1(v) if v < 0.0 else v
    if act == SELU:
        return SELU_SCALE * SELU_ALPHA * math.expm1(v) if v < 0.0 else SELU_SCALE * v
    if act == GELU:
        return 0.5 * v * (1.0 + math.erf(v * _INV_SQRT_2))
    if act == GELU_TANH:
        return 0.5 * v * (1.0 + math.tanh(_SQRT_2_PI * (v + _GELU_C * v * v * v)))
    if act == SOFTPLUS:
        return math.log1p(math.exp(-abs(v))) + max(v, 0.0)
    if act == SOFTSIGN:
        return v / (1.0 + abs(v))
    if act == SWISH:
        return v * _sigmoid(v)
    if act == HARD_SIGMOID:
        return 0.0 if v < -3.0 else (1.0 if v > 3.0 else (v + 3.0) / 6.0)
    if act == RELU6:
        return 0.0 if v < 0.0 else (6.0 if v > 6.0 else v)
    return v  # LINEAR


@njit(inline="always")
def _dact(x, y, act, alpha):
    """f'(x) for one value, given x and y = f(x); float64."""
    v = np.float64(x)
    w = np.float64(y)
    if act == RELU:
        return 1.0 if v > 0.0 else 0.0
    if act == SIGMOID:
        return w * (1.0 - w)                       # s' = s (1 - s)
    if act == TANH:
        return 1.0 - w * w                         # tanh' = 1 - tanh^2
    if act == LEAKY_RELU:
        return 1.0 if v > 0.0 else alpha
    if act == ELU:
        return 1.0 if v > 0.0 else w + alpha       # alpha e^x = y + alpha
    if act == SELU:
        return SELU_SCALE if v > 0.0 else w + SELU_SCALE * SELU_ALPHA
    if act == GELU:
        # Phi(x) + x phi(x)
        return 0.5 * (1.0 + math.erf(v * _INV_SQRT_2)) + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v)
    if act == GELU_TANH:
        t = math.tanh(_SQRT_2_PI * (v + _GELU_C * v * v * v))
        du = _SQRT_2_PI * (1.0 + 3.0 * _GELU_C * v * v)
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du
    if act == SOFTPLUS:
        return _sigmoid(v)
    if act == SOFTSIGN:
        d = 1.0 + abs(v)
        return 1.0 / (d * d)
    if act == SWISH:
        s = _sigmoid(v)
        return s * (1.0 + v * (1.0 - s))           # s + x s (1 - s)
    if act == HARD_SIGMOID:
        return 1.0 / 6.0 if -3.0 < v < 3.0 else 0.0
    if act == RELU6:
        return 1.0 if 0.0 < v < 6.0 else 0.0
    return 1.0  # LINEAR


# ---------------------------------------------------------------- element-wise
@njit(cache=True, parallel=True, fastmath=FASTMATH)
def act_forward(y, x, act, alpha):
    """x, y: (N,). y = f(x); y may be x (in place)."""
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        # NOTE: chunk views indexed from 0 (not global indices) let LLVM vectorise.
        x_, y_ = x[lo:hi], y[lo:hi]
        if act == RELU:  # the common cases get their own vectorisable loops
            for i in range(hi - lo):
                v = x_[i]
                y_[i] = 0.0 if v < 0.0 else v
        elif act == LINEAR:
            for i in range(hi - lo):
                y_[i] = x_[i]
        else:
            for i in range(hi - lo):
                y_[i] = _act(x_[i], act, alpha)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def act_backward(dx, dy, x, y, act, alpha):
    """dy, x, y, dx: (N,). dx = dy * f'(x) (overwrites dx; dx may be dy)."""
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        dx_, dy_, x_, y_ = dx[lo:hi], dy[lo:hi], x[lo:hi], y[lo:hi]
        if act == RELU:
            for i in range(hi - lo):
                dx_[i] = dy_[i] if x_[i] > 0.0 else 0.0
        elif act == LINEAR:
            for i in range(hi - lo):
                dx_[i] = dy_[i]
        else:
            for i in range(hi - lo):
                dx_[i] = dy_[i] * _dact(x_[i], y_[i], act, alpha)


# ---------------------------------------------------------------- row-wise
@njit(cache=True, parallel=True, fastmath=FASTMATH)
def softmax_forward(y, x):
    """x, y: (N, K). y[n] = exp(x[n] - max x[n]) / sum(exp(x[n] - max x[n]))."""
    N, K = x.shape
    for n in prange(N):
        m = np.float64(x[n, 0])
        for k in range(1, K):
            m = max(m, np.float64(x[n, k]))
        s = 0.0
        for k in range(K):
            e = math.exp(np.float64(x[n, k]) - m)
            y[n, k] = e
            s += e
        inv = 1.0 / s
        for k in range(K):
            y[n, k] = y[n, k] * inv


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def softmax_backward(dx, dy, y):
    """dy, y, dx: (N, K). dx = y * (dy - sum_k(dy * y)) per row (overwrites dx)."""
    N, K = y.shape
    for n in prange(N):
        s = 0.0
        for k in range(K):
            s += np.float64(dy[n, k]) * np.float64(y[n, k])
        for k in range(K):
            dx[n, k] = y[n, k] * (np.float64(dy[n, k]) - s)


# NOTE: no `reassoc` here: it would turn (x - m) - log(s) into x - (m + log(s)), which
# loses the digits of log(s) when |m| is large.
@njit(cache=True, parallel=True, fastmath={"nsz", "arcp"})
def log_softmax_forward(y, x):
    """x, y: (N, K). y[n] = (x[n] - max x[n]) - log(sum(exp(x[n] - max x[n])))."""
    N, K = x.shape
    for n in prange(N):
        m = np.float64(x[n, 0])
        for k in range(1, K):
            m = max(m, np.float64(x[n, k]))
        s = 0.0
        for k in range(K):
            s += math.exp(np.float64(x[n, k]) - m)
        ls = math.log(s)
        for k in range(K):
            y[n, k] = (np.float64(x[n, k]) - m) - ls  # x - m is exact near the max


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def log_softmax_backward(dx, dy, y):
    """dy, y, dx: (N, K), y = log_softmax(x). dx = dy - exp(y) * sum_k(dy)
    (overwrites dx)."""
    N, K = y.shape
    for n in prange(N):
        s = 0.0
        for k in range(K):
            s += np.float64(dy[n, k])
        for k in range(K):
            dx[n, k] = np.float64(dy[n, k]) - math.exp(np.float64(y[n, k])) * s


# ---------------------------------------------------------------- bias + activation
_ROWS = 256  # rows per chunk in the bias-gradient reduction (a constant)


@njit(inline="always", fastmath=FASTMATH)
def bias_act_rows(z, y, b, has_bias, act, alpha, r0, r1):
    """bias_act_forward on rows r0:r1 (serial; for kernels that own their rows)."""
    F = z.shape[1]
    for n in range(r0, r1):
        if has_bias:
            for j in range(F):
                z[n, j] = z[n, j] + b[j]
        if act == RELU:
            for j in range(F):
                v = z[n, j]
                y[n, j] = 0.0 if v < 0.0 else v
        elif act != LINEAR:
            for j in range(F):
                y[n, j] = _act(z[n, j], act, alpha)
        elif y is not z:
            for j in range(F):
                y[n, j] = z[n, j]


@njit(inline="always", fastmath=FASTMATH)
def dact_rows(dz, part, dy, z, y, has_bias, act, alpha, r0, r1):
    """dz = dy * f'(z) on rows r0:r1, and part (F,) float64 += their column sums if
    has_bias (serial; for kernels that own their rows)."""
    F = dz.shape[1]
    for n in range(r0, r1):
        if act == RELU:
            for j in range(F):
                dz[n, j] = dy[n, j] if z[n, j] > 0 else 0.0
        elif act != LINEAR:
            for j in range(F):
                dz[n, j] = dy[n, j] * _dact(z[n, j], y[n, j], act, alpha)
        elif dz is not dy:
            for j in range(F):
                dz[n, j] = dy[n, j]
        if has_bias:
            for j in range(F):
                part[j] += dz[n, j]


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def bias_act_forward(z, y, b, has_bias, act, alpha):
    """z, y: (N, F); b: (F,). On entry z = x @ W. Then z += b (if has_bias) and
    y = f(z); y may be z itself (linear). z keeps the pre-activation for backward."""
    N = z.shape[0]
    for n in prange(N):
        bias_act_rows(z, y, b, has_bias, act, alpha, n, n + 1)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def bias_act_backward(dz, db, dy, z, y, has_bias, act, alpha):
    """dy, z, y, dz: (N, F); db: (F,). dz = dy * f'(z) (overwrites; dz may be dy).
    db = sum over rows of dz (overwrites; only if has_bias): float64 partial sums of
    fixed _ROWS-row chunks, added in chunk order (same bits at any thread count)."""
    N, F = dz.shape
    nchunks = (N + _ROWS - 1) // _ROWS
    part = np.zeros((nchunks, F))
    for c in prange(nchunks):
        dact_rows(dz, part[c], dy, z, y, has_bias, act, alpha, c * _ROWS, min(N, (c + 1) * _ROWS))
    if has_bias:
        for j in range(F):
            s = 0.0
            for c in range(nchunks):
                s += part[c, j]
            db[j] = s
