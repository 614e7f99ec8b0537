"""Layer and group normalisation kernels (forward, backward), one sample at a time.

Layer norm: x is (M, D), one row per normalised slice (the layer moves the normalised
axes last and flattens them into D):

    mean    = sum_j x / D,  var = sum_j (x - mean)^2 / D        (per row, biased)
    inv_std = 1 / sqrt(var + eps)
    xhat    = (x - mean) * inv_std                              y = gamma * xhat + beta
    rms=True (Keras 3's deprecated rms_scaling): xhat = x * inv_std, y = gamma * xhat:
             the input is NOT centred but divided by its standard deviation (not its
             root mean square), and there is no beta.

Group norm: x is (N, S, C) (channels last, S = H * W or any spatial product), C split
into G groups of Cg = C / G channels; the statistics above are taken per (n, g) over
the S * Cg values of the group, and y = gamma[c] * xhat + beta[c] per channel.

Backward, with g = gamma * dy, means over the K values of a row / group:

    dx     = inv_std * (g - mean(g) - xc * mean(g * xhat))      xc = (x - mean) * inv_std
             (no mean(g) term when rms: nothing was subtracted)
    dgamma = sum_rows dy * xhat      dbeta = sum_rows dy

Statistics use shifted one-pass sums in float64 (shift: the first value of the row or
group), as kernels/norm.py. `mean` and `inv_std` are float64 whatever the dtype of x.
The layer-norm forward normalises in x's dtype (twice the SIMD width in float32;
measured 1.3-1.8x faster), the mean split in two values so nothing is lost to its
rounding; everything else computes in float64.
dgamma / dbeta (and the group sums) are reduced over fixed chunks of rows whose size
depends on nothing but these constants, combined serially in chunk order: results are
bitwise identical at any thread count.
"""
import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH
from .threads import few_threads as _few_threads, restore_threads as _restore_threads

FASTMATH = set(_FASTMATH)  # numba wants a set

_ROWS = 64    # layer norm: rows per chunk of the dgamma / dbeta partial sums
_SROWS = 64   # group norm: spatial positions per chunk of the partial sums


# NOTE: (x - mu_hi) - mu_lo must not be re-associated, so this helper says
# fastmath=False explicitly: a jitted callee that does not set it inherits the flags of
# the fastmath kernel that calls it (Numba's inherited flags; measured: the split then
# vanished, an error of 0.04 on a row of mean 1e4 and spread 1e-2).
@njit(cache=True, fastmath=False)
def _normalize_row(yi, xi, mu_hi, mu_lo, a, gamma, beta, rms):
    """yi = ((xi - mu_hi) - mu_lo) * a * gamma + beta (xi * a * gamma when rms), in the
    dtype of x: mu = mu_hi + mu_lo split into two values of that dtype, so that x - mu
    loses nothing to the rounding of mu when the mean is large against the spread."""
    if rms:
        for j in range(xi.shape[0]):
            yi[j] = xi[j] * a * gamma[j]
    else:
        for j in range(xi.shape[0]):
            yi[j] = ((xi[j] - mu_hi) - mu_lo) * a * gamma[j] + beta[j]


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def layernorm_forward(y, mean, inv_std, x, gamma, beta, eps, rms):
    """x, y: (M, D); gamma, beta: (D,); mean, inv_std: (M,) float64 (overwritten).
    y = gamma * (x - mean) * inv_std + beta, or gamma * x * inv_std when rms (beta
    unused). One pass to the row's statistics (float64 sums), one to normalise (the row
    is in cache) in x's dtype, with the mean split in two (see _normalize_row)."""
    M, D = x.shape
    t = x.dtype.type
    old = _few_threads(2 * M * D)
    for i in prange(M):
        xi = x[i]
        x0 = np.float64(xi[0])
        s1 = 0.0   # sum(x - x0)
        s2 = 0.0   # sum((x - x0)^2)
        for j in range(D):
            d = np.float64(xi[j]) - x0
            s1 += d
            s2 += d * d
        m1 = s1 / D
        var = s2 / D - m1 * m1
        if var < 0.0:  # rounding only; NaN passes through
            var = 0.0
        mu = x0 + m1
        r = 1.0 / np.sqrt(var + eps)
        mean[i] = mu
        inv_std[i] = r
        mu_hi = t(mu)
        _normalize_row(y[i], xi, mu_hi, t(mu - np.float64(mu_hi)), t(r), gamma, beta, rms)
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def layernorm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, rms):
    """dy, x, dx: (M, D); gamma, dgamma, dbeta: (D,); mean, inv_std: (M,) float64 from
    layernorm_forward. OVERWRITES dx, dgamma, dbeta (dbeta is sum(dy) also when rms).
    One kernel: each fixed chunk of _ROWS rows computes its rows' sums and float64
    partial dgamma / dbeta (one pass), then their dx (a second pass over the row, in
    cache); the partials are added in chunk order."""
    M, D = x.shape
    old = _few_threads(3 * M * D)
    nch = (M + _ROWS - 1) // _ROWS
    pg = np.zeros((nch, D))  # partial sum(dy * xhat) per chunk
    pb = np.zeros((nch, D))  # partial sum(dy) per chunk
    for k in prange(nch):
        pgk = pg[k]
        pbk = pb[k]
        for i in range(k * _ROWS, min(M, (k + 1) * _ROWS)):
            xi = x[i]
            dyi = dy[i]
            mu = mean[i]
            r = inv_std[i]
            c = 0.0 if rms else mu
            sg = 0.0    # sum(g)
            sgx = 0.0   # sum(g * xhat)
            for j in range(D):
                xh = (np.float64(xi[j]) - c) * r
                d = np.float64(dyi[j])
                g = gamma[j] * d
                sg += g
                sgx += g * xh
                pgk[j] += d * xh
                pbk[j] += d
            mg = 0.0 if rms else sg / D
            mgx = sgx / D
            dxi = dx[i]
            # NOTE: in float64, unlike the forward's normalisation: dx is a difference of
            # terms that can nearly cancel (a row of 2 features), and float32 terms would
            # leave an error relative to the terms, not to dx.
            for j in range(D):
                xc = (np.float64(xi[j]) - mu) * r
                dxi[j] = r * (gamma[j] * np.float64(dyi[j]) - mg - xc * mgx)
    for k in range(1, nch):  # combine the chunks serially, in order
        for j in range(D):
            pg[0, j] += pg[k, j]
            pb[0, j] += pb[k, j]
    for j in range(D):
        dgamma[j] = pg[0, j]
        dbeta[j] = pb[0, j]
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def groupnorm_forward(y, mean, inv_std, x, gamma, beta, groups, eps):
    """x, y: (N, S, C); gamma, beta: (C,); mean, inv_std: (N, G) float64 (overwritten),
    G = groups dividing C. Per (n, g): statistics over x[n, :, g*Cg:(g+1)*Cg], then
    y = gamma[c] * (x - mean) * inv_std + beta[c]."""
    N, S, C = x.shape
    G = groups
    Cg = C // G
    old = _few_threads(2 * N * S * C)
    nch = (S + _SROWS - 1) // _SROWS
    shift = np.empty((N, C))        # x[n, 0, first channel of c's group]
    for n in range(N):
        for c in range(C):
            shift[n, c] = x[n, 0, (c // Cg) * Cg]
    p1 = np.zeros((N * nch, C))     # partial sum(x - shift) per channel
    p2 = np.zeros((N * nch, C))     # partial sum((x - shift)^2) per channel
    for t in prange(N * nch):
        n = t // nch
        k = t - n * nch
        p1t = p1[t]
        p2t = p2[t]
        sh = shift[n]
        for s in range(k * _SROWS, min(S, (k + 1) * _SROWS)):
            xs = x[n, s]
            for c in range(C):
                d = np.float64(xs[c]) - sh[c]
                p1t[c] += d
                p2t[c] += d * d
    cnt = S * Cg
    m = np.empty((N, C))            # the group's mean and inv_std, per channel
    a = np.empty((N, C))            # inv_std * gamma
    for n in range(N):              # combine serially: chunks in order, then channels
        for g in range(G):
            s1 = 0.0
            s2 = 0.0
            for k in range(nch):
                for c in range(g * Cg, (g + 1) * Cg):
                    s1 += p1[n * nch + k, c]
                    s2 += p2[n * nch + k, c]
            m1 = s1 / cnt
            var = s2 / cnt - m1 * m1
            if var < 0.0:
                var = 0.0
            mu = shift[n, g * Cg] + m1
            r = 1.0 / np.sqrt(var + eps)
            mean[n, g] = mu
            inv_std[n, g] = r
            for c in range(g * Cg, (g + 1) * Cg):
                m[n, c] = mu
                a[n, c] = r * gamma[c]
    for q in prange(N * S):
        n = q // S
        s = q - n * S
        xs = x[n, s]
        ys = y[n, s]
        mn = m[n]
        an = a[n]
        for c in range(C):
            ys[c] = (np.float64(xs[c]) - mn[c]) * an[c] + beta[c]
    _restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def groupnorm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, groups):
    """dy, x, dx: (N, S, C); gamma, dgamma, dbeta: (C,); mean, inv_std: (N, G) float64
    from groupnorm_forward. OVERWRITES dx, dgamma, dbeta. Pass 1: per chunk and channel,
    float64 partial sum(dy) and sum(dy * xhat); combined in order they give dbeta,
    dgamma and the group sums sum(g) = sum_c gamma_c sum(dy), sum(g * xhat). Pass 2: dx."""
    N, S, C = x.shape
    G = groups
    Cg = C // G
    old = _few_threads(3 * N * S * C)
    nch = (S + _SROWS - 1) // _SROWS
    m = np.empty((N, C))
    r = np.empty((N, C))
    for n in range(N):
        for c in range(C):
            m[n, c] = mean[n, c // Cg]
            r[n, c] = inv_std[n, c // Cg]
    q1 = np.zeros((N * nch, C))     # partial sum(dy)
    q2 = np.zeros((N * nch, C))     # partial sum(dy * xhat)
    for t in prange(N * nch):
        n = t // nch
        k = t - n * nch
        q1t = q1[t]
        q2t = q2[t]
        mn = m[n]
        rn = r[n]
        for s in range(k * _SROWS, min(S, (k + 1) * _SROWS)):
            xs = x[n, s]
            ds = dy[n, s]
            for c in range(C):
                d = np.float64(ds[c])
                q1t[c] += d
                q2t[c] += d * ((np.float64(xs[c]) - mn[c]) * rn[c])
    cnt = S * Cg
    sb = np.zeros(C)                # sum over n of sum(dy)
    sgm = np.zeros(C)               # sum over n of sum(dy * xhat)
    u = np.empty((N, C))            # mean over the group of g
    v = np.empty((N, C))            # mean over the group of g * xhat
    t1 = np.empty(C)
    t2 = np.empty(C)
    for n in range(N):              # combine serially, in order
        for c in range(C):
            t1[c] = 0.0
            t2[c] = 0.0
        for k in range(nch):
            for c in range(C):
                t1[c] += q1[n * nch + k, c]
                t2[c] += q2[n * nch + k, c]
        for c in range(C):
            sb[c] += t1[c]
            sgm[c] += t2[c]
        for g in range(G):
            a1 = 0.0
            a2 = 0.0
            for c in range(g * Cg, (g + 1) * Cg):
                a1 += gamma[c] * t1[c]
                a2 += gamma[c] * t2[c]
            for c in range(g * Cg, (g + 1) * Cg):
                u[n, c] = a1 / cnt
                v[n, c] = a2 / cnt
    for c in range(C):
        dbeta[c] = sb[c]
        dgamma[c] = sgm[c]
    for q in prange(N * S):
        n = q // S
        s = q - n * S
        xs = x[n, s]
        ds = dy[n, s]
        dxs = dx[n, s]
        mn = m[n]
        rn = r[n]
        un = u[n]
        vn = v[n]
        for c in range(C):
            xh = (np.float64(xs[c]) - mn[c]) * rn[c]
            dxs[c] = rn[c] * (gamma[c] * np.float64(ds[c]) - un[c] - xh * vn[c])
    _restore_threads(old)
