"""Batch normalisation kernels (forward in training and inference, backward).

Layout: x is (N, F) for Dense activations or (M, C) = NHWC viewed as (N*H*W, C).

    mean    = sum(x) / N                      (per feature)
    var     = sum((x - mean)^2) / N           (biased batch variance)
    inv_std = 1 / sqrt(var + eps)             (eps inside the square root)
    xhat    = (x - mean) * inv_std
    y       = gamma * xhat + beta             (y = max(y, 0) when relu=True)

Statistics use shifted one-pass sums in float64: with the shift s = x[0] (the first
row), var = sum((x - s)^2)/N - (sum(x - s)/N)^2 loses nothing when the mean is large
compared with the spread (a feature of mean 1e4 and std 1e-2 is tested).
`mean` and `inv_std` are always float64 (F,), whatever the dtype of x.

Two variants of the training kernels, each deterministic at any thread count:
  _2d    parallel over blocks of _FB features; each feature is summed serially over N.
  _tall  parallel over fixed chunks of _ROWS rows giving float64 partial sums
         (nchunks, C), combined serially in chunk order; the normalisation passes are
         parallel over rows.
NOTE: measured on 2 cores, _tall is 2-4x faster than _2d on every shape tried, wide
Dense ones included (it streams whole rows; _2d reads 64-feature strips), so the
BatchNormalization layer uses _tall; _2d is kept (and tested) for comparison.
"""
import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH
from .threads import few_threads as _few_threads, restore_threads as _restore_threads

# NOTE: numba wants a set (a frozenset is rejected), so copy the project's flags.
FASTMATH = set(_FASTMATH)

_FB = 64      # features per parallel block in the _2d kernels
_ROWS = 128   # rows per chunk in the _tall kernels (fixed: never the thread count)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def bn_normalize(y, x, mean, inv_std, gamma, beta, relu):
    """y = (x - mean) * (inv_std * gamma) + beta (max(., 0) if relu); x, y (M, C)."""
    M, C = x.shape
    old = _few_threads(M * C)
    for i in prange(M):
        for c in range(C):
            v = (np.float64(x[i, c]) - mean[c]) * (inv_std[c] * gamma[c]) + beta[c]
            if relu and v < 0.0:
                v = 0.0
            y[i, c] = v
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def batchnorm_forward_train_2d(y, mean, inv_std, x, gamma, beta, eps, relu):
    """x, y: (N, F); gamma, beta: (F,); mean, inv_std: (F,) float64 (overwritten).
    Batch statistics per feature, then y = gamma * (x - mean) * inv_std + beta
    (and y = max(y, 0) if relu)."""
    N, F = x.shape
    old = _few_threads(2 * N * F)  # small: one thread (see kernels/threads.py)
    nblocks = (F + _FB - 1) // _FB
    for b in prange(nblocks):
        f0 = b * _FB
        nf = min(F, f0 + _FB) - f0
        # NOTE: block-local arrays (not the outputs) so LLVM knows they alias nothing
        # and vectorises the loops over features.
        x0 = np.empty(nf)
        s1 = np.zeros(nf)   # sum(x - x0)
        s2 = np.zeros(nf)   # sum((x - x0)^2)
        for j in range(nf):
            x0[j] = x[0, f0 + j]
        for n in range(N):
            for j in range(nf):
                d = np.float64(x[n, f0 + j]) - x0[j]
                s1[j] += d
                s2[j] += d * d
        mu = np.empty(nf)
        a = np.empty(nf)    # gamma * inv_std
        for j in range(nf):
            m1 = s1[j] / N
            var = s2[j] / N - m1 * m1
            if var < 0.0:  # rounding only; NaN passes through
                var = 0.0
            mu[j] = x0[j] + m1
            istd = 1.0 / np.sqrt(var + eps)
            mean[f0 + j] = mu[j]
            inv_std[f0 + j] = istd
            a[j] = istd * gamma[f0 + j]
            s1[j] = beta[f0 + j]
        for n in range(N):
            for j in range(nf):
                v = (np.float64(x[n, f0 + j]) - mu[j]) * a[j] + s1[j]
                if relu and v < 0.0:
                    v = 0.0
                y[n, f0 + j] = v
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def batchnorm_forward_train_tall(y, mean, inv_std, x, gamma, beta, eps, relu):
    """x, y: (M, C); gamma, beta: (C,); mean, inv_std: (C,) float64 (overwritten).
    Same maths as batchnorm_forward_train_2d, reduced over fixed row chunks."""
    M, C = x.shape
    old = _few_threads(2 * M * C)  # small: one thread (see kernels/threads.py)
    nch = (M + _ROWS - 1) // _ROWS
    p1 = np.zeros((nch, C))  # partial sum(x - x0) per chunk
    p2 = np.zeros((nch, C))  # partial sum((x - x0)^2) per chunk
    for k in prange(nch):
        for i in range(k * _ROWS, min(M, (k + 1) * _ROWS)):
            for c in range(C):
                d = np.float64(x[i, c]) - np.float64(x[0, c])
                p1[k, c] += d
                p2[k, c] += d * d
    for c in range(C):  # combine the chunks serially, in order
        s1 = 0.0
        s2 = 0.0
        for k in range(nch):
            s1 += p1[k, c]
            s2 += p2[k, c]
        m1 = s1 / M
        var = s2 / M - m1 * m1
        if var < 0.0:
            var = 0.0
        mean[c] = np.float64(x[0, c]) + m1
        inv_std[c] = 1.0 / np.sqrt(var + eps)
    bn_normalize(y, x, mean, inv_std, gamma, beta, relu)
    _restore_threads(old)


@njit(cache=True, fastmath=FASTMATH)
def batchnorm_update_moving(moving_mean, moving_var, mean, inv_std, momentum, eps):
    """moving = momentum * moving + (1 - momentum) * batch statistic, per channel, in
    float64 (overwrites moving_mean, moving_var: (C,)); the biased batch variance is
    recovered from inv_std = 1 / sqrt(var + eps) as max(1 / inv_std^2 - eps, 0)."""
    for c in range(mean.shape[0]):
        var = max(1.0 / (inv_std[c] * inv_std[c]) - eps, 0.0)
        moving_mean[c] = momentum * np.float64(moving_mean[c]) + (1.0 - momentum) * mean[c]
        moving_var[c] = momentum * np.float64(moving_var[c]) + (1.0 - momentum) * var


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def batchnorm_forward_infer(y, x, moving_mean, moving_var, gamma, beta, eps, relu):
    """x, y: (M, C) (any layout: elementwise); moving_mean, moving_var, gamma, beta: (C,).
    y = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta (max(., 0) if relu)."""
    M, C = x.shape
    old = _few_threads(2 * M * C)  # small: one thread (see kernels/threads.py)
    scale = np.empty(C)
    for c in range(C):
        scale[c] = gamma[c] / np.sqrt(np.float64(moving_var[c]) + eps)
    for i in prange(M):
        for c in range(C):
            v = (np.float64(x[i, c]) - moving_mean[c]) * scale[c] + beta[c]
            if relu and v < 0.0:
                v = 0.0
            y[i, c] = v
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def batchnorm_backward_2d(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, beta, relu):
    """dy, x, dx: (N, F); gamma, beta, dgamma, dbeta: (F,); mean, inv_std: (F,) float64
    from the training forward. OVERWRITES dx, dgamma, dbeta. With g = dy (masked by
    y > 0 when relu, y recomputed from x) and xhat = (x - mean) * inv_std:
        dbeta  = sum(g)      dgamma = sum(g * xhat)
        dx     = gamma * inv_std / N * (N * g - sum(g) - xhat * sum(g * xhat))"""
    N, F = x.shape
    old = _few_threads(2 * N * F)  # small: one thread (see kernels/threads.py)
    nblocks = (F + _FB - 1) // _FB
    for b in prange(nblocks):
        f0 = b * _FB
        nf = min(F, f0 + _FB) - f0
        # block-local copies (no aliasing: the feature loops vectorise)
        mu = np.empty(nf)
        istd = np.empty(nf)
        a = np.empty(nf)     # gamma * inv_std
        bt = np.empty(nf)
        sg = np.zeros(nf)    # sum(g), then sum(g) / N
        sgx = np.zeros(nf)   # sum(g * xhat), then / N
        for j in range(nf):
            mu[j] = mean[f0 + j]
            istd[j] = inv_std[f0 + j]
            a[j] = inv_std[f0 + j] * gamma[f0 + j]
            bt[j] = beta[f0 + j]
        for n in range(N):
            for j in range(nf):
                xc = np.float64(x[n, f0 + j]) - mu[j]
                g = np.float64(dy[n, f0 + j])
                if relu and xc * a[j] + bt[j] <= 0.0:
                    g = 0.0
                sg[j] += g
                sgx[j] += g * (xc * istd[j])
        for j in range(nf):
            dbeta[f0 + j] = sg[j]
            dgamma[f0 + j] = sgx[j]
            sg[j] /= N
            sgx[j] /= N
        for n in range(N):
            for j in range(nf):
                xc = np.float64(x[n, f0 + j]) - mu[j]
                g = np.float64(dy[n, f0 + j])
                if relu and xc * a[j] + bt[j] <= 0.0:
                    g = 0.0
                dx[n, f0 + j] = a[j] * (g - sg[j] - xc * istd[j] * sgx[j])
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def batchnorm_backward_tall(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, beta, relu):
    """dy, x, dx: (M, C); other arrays (C,). Same maths as batchnorm_backward_2d
    (OVERWRITES dx, dgamma, dbeta), sums reduced over fixed row chunks."""
    M, C = x.shape
    old = _few_threads(2 * M * C)  # small: one thread (see kernels/threads.py)
    nch = (M + _ROWS - 1) // _ROWS
    p1 = np.zeros((nch, C))  # partial sum(g)
    p2 = np.zeros((nch, C))  # partial sum(g * xhat)
    for k in prange(nch):
        for i in range(k * _ROWS, min(M, (k + 1) * _ROWS)):
            for c in range(C):
                xh = (np.float64(x[i, c]) - mean[c]) * inv_std[c]
                g = np.float64(dy[i, c])
                if relu and (np.float64(x[i, c]) - mean[c]) * (inv_std[c] * gamma[c]) + beta[c] <= 0.0:
                    g = 0.0
                p1[k, c] += g
                p2[k, c] += g * xh
    sg = np.empty(C)
    sgx = np.empty(C)
    for c in range(C):  # combine the chunks serially, in order
        s1 = 0.0
        s2 = 0.0
        for k in range(nch):
            s1 += p1[k, c]
            s2 += p2[k, c]
        dbeta[c] = s1
        dgamma[c] = s2
        sg[c] = s1 / M
        sgx[c] = s2 / M
    for i in prange(M):
        for c in range(C):
            xh = (np.float64(x[i, c]) - mean[c]) * inv_std[c]
            g = np.float64(dy[i, c])
            if relu and (np.float64(x[i, c]) - mean[c]) * (inv_std[c] * gamma[c]) + beta[c] <= 0.0:
                g = 0.0
            dx[i, c] = gamma[c] * inv_std[c] * (g - sg[c] - xh * sgx[c])
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def batchnorm_backward_infer(dx, dy, x, mean, inv_std, gamma, beta, relu):
    """dy, x, dx: (M, C); mean, inv_std: (C,) float64 FIXED statistics (inference mode:
    moving_mean and 1/sqrt(moving_var + eps)); gamma, beta: (C,). OVERWRITES dx:
    dx = g * gamma * inv_std, g = dy masked by y > 0 when relu."""
    M, C = x.shape
    old = _few_threads(2 * M * C)  # small: one thread (see kernels/threads.py)
    for i in prange(M):
        for c in range(C):
            g = np.float64(dy[i, c])
            if relu and (np.float64(x[i, c]) - mean[c]) * (inv_std[c] * gamma[c]) + beta[c] <= 0.0:
                g = 0.0
            dx[i, c] = g * gamma[c] * inv_std[c]
    _restore_threads(old)


# ---------------------------------------------------------------- distributed pieces
# Batch norm over the rows of several MPI ranks (nbnet/distributed.py): each rank sums
# its own rows, the sums are Allreduced, and the local rows are normalised with the
# global statistics. Exact two-pass: the squares are summed around the global mean.


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def bn_local_sums(out, x, center, square):
    """out[c] = sum_i d or sum_i d^2 (square) with d = x[i, c] - center[c]; float64
    (C,), fixed row chunks summed in order; x: (M, C), center: float64 (C,)."""
    M, C = x.shape
    old = _few_threads(M * C)
    nch = (M + _ROWS - 1) // _ROWS
    p = np.zeros((nch, C))
    for k in prange(nch):
        pk = p[k]
        for i in range(k * _ROWS, min(M, (k + 1) * _ROWS)):
            xi = x[i]
            for c in range(C):
                d = np.float64(xi[c]) - center[c]
                pk[c] += d * d if square else d
    for c in range(C):
        out[c] = 0.0
    for k in range(nch):
        for c in range(C):
            out[c] += p[k, c]
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def bn_local_grad_sums(out, dy, x, mean, inv_std, gamma, beta, relu):
    """out[:C] = sum_i g, out[C:] = sum_i g * xhat with xhat = (x - mean) * inv_std and
    g = dy masked by the forward's ReLU; float64 (2C,), fixed row chunks in order."""
    M, C = x.shape
    old = _few_threads(2 * M * C)
    nch = (M + _ROWS - 1) // _ROWS
    p = np.zeros((nch, 2 * C))
    for k in prange(nch):
        pk = p[k]
        for i in range(k * _ROWS, min(M, (k + 1) * _ROWS)):
            for c in range(C):
                xh = (np.float64(x[i, c]) - mean[c]) * inv_std[c]
                g = np.float64(dy[i, c])
                if relu and gamma[c] * xh + beta[c] <= 0.0:
                    g = 0.0
                pk[c] += g
                pk[C + c] += g * xh
    for c in range(2 * C):
        out[c] = 0.0
    for k in range(nch):
        for c in range(2 * C):
            out[c] += p[k, c]
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def bn_grad_input(dx, dy, x, mean, inv_std, gamma, beta, relu, tot, n):
    """dx = gamma * inv_std / n * (n * g - tot[:C] - xhat * tot[C:]) with the GLOBAL
    sums tot (2C,) and global row count n."""
    M, C = x.shape
    old = _few_threads(2 * M * C)
    for i in prange(M):
        for c in range(C):
            xh = (np.float64(x[i, c]) - mean[c]) * inv_std[c]
            g = np.float64(dy[i, c])
            if relu and gamma[c] * xh + beta[c] <= 0.0:
                g = 0.0
            dx[i, c] = (gamma[c] * inv_std[c] / n) * (n * g - tot[c] - xh * tot[C + c])
    _restore_threads(old)
