"""Loss kernels: each returns the batch-mean loss (a float, summed in float64) and
OVERWRITES `grad` with the gradient of that mean w.r.t. the predictions, in one pass.

All arrays are 2-D (N, K), C-contiguous, of one float dtype (labels: int64 (N,)).
Determinism: per-row losses (cross-entropies) or per-chunk partial sums over fixed
_CHUNK-element chunks (pointwise losses) are written to a float64 array inside the
parallel loop and added serially in order afterwards.

Label smoothing (cross-entropies on logits): target t = (1 - s) * onehot + s / K.
"""
import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH

# NOTE: numba wants a set (a frozenset is rejected), so copy the project's flags.
FASTMATH = set(_FASTMATH)

_CHUNK = 4096  # elements per partial sum in the pointwise losses (fixed)

# pointwise loss kinds for _pointwise / _pointwise_mean
_MSE, _MAE, _HUBER, _SMOOTH_L1, _BCE_PROBS, _BCE_LOGITS = 0, 1, 2, 3, 4, 5


_ROWS = 16  # rows per parallel task in the softmax cross-entropies (fixed)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_neg_f32_parts(d):
    """exp(-d) = y * 2^-n for a float32 d >= 0, in float32 arithmetic and without a
    libm call, so that loops around it vectorise: Cephes' expf (range reduction by
    ln 2 split in two parts, degree-6 polynomial); relative error ~1e-7. Returns y
    and the IEEE exponent bits of 2^-n (the caller multiplies through a view)."""
    dd = min(d, np.float32(87.0))
    # n = round(d / ln 2); d >= 0, so truncation is floor (and vectorises)
    ni = np.int32(dd * np.float32(1.44269504088896341) + np.float32(0.5))
    nf = np.float32(ni)
    x = nf * np.float32(0.693359375) - dd + nf * np.float32(-2.12194440e-4)
    y = ((((np.float32(1.9875691500e-4) * x + np.float32(1.3981999507e-3)) * x
           + np.float32(8.3334519073e-3)) * x + np.float32(4.1665795894e-2)) * x
         + np.float32(1.6666665459e-1)) * x + np.float32(5.0000001201e-1)
    y = y * (x * x) + x + np.float32(1.0)
    return y, (np.int32(127) - ni) << 23


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _softmax_numerators(g, z, bits):
    """g[k] = exp(z[k] - max z) for one row; returns (max z, sum_k g[k]) in float64.
    bits: int32 scratch (K,). float32 rows use the vectorised polynomial exp, float64
    rows np.exp (exact to the last bit the tests ask for)."""
    K = z.shape[0]
    m = z[0]
    for k in range(1, K):
        m = max(m, z[k])
    s = 0.0
    if z.itemsize == 4:  # a compile-time constant: one branch is folded away
        scale = bits.view(np.float32)
        for k in range(K):
            y, b = _exp_neg_f32_parts(m - z[k])
            g[k] = y
            bits[k] = b
        for k in range(K):
            e = g[k] * scale[k]
            e = e if m - z[k] < np.float32(87.0) else np.float32(0.0)
            g[k] = e
            s += e
    else:
        for k in range(K):
            e = np.exp(np.float64(z[k]) - m)
            g[k] = e
            s += e
    return np.float64(m), s


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def softmax_ce_sparse(grad, logits, labels, smoothing):
    """logits, grad: (N, K); labels: int64 (N,) in [0, K). Returns
    mean_n sum_k t_k * (lse_n - z_nk), lse = log sum exp z (max-shifted);
    grad = (softmax(z) - t) / N (overwritten)."""
    N, K = logits.shape
    rows = np.empty(N)
    on = 1.0 - smoothing
    off = smoothing / K
    inv_n = 1.0 / N
    for blk in prange((N + _ROWS - 1) // _ROWS):
        bits = np.empty(K, np.int32)
        for n in range(blk * _ROWS, min(N, (blk + 1) * _ROWS)):
            z, g = logits[n], grad[n]
            m, s = _softmax_numerators(g, z, bits)
            lab = labels[n]
            # sum_k t_k (lse - z_k) = sum_k t_k (m - z_k) + log(s): no cancellation
            loss = on * (m - np.float64(z[lab])) + np.log(s)
            if off != 0.0:
                gap = 0.0  # sum_k (m - z_k)
                for k in range(K):
                    gap += m - np.float64(z[k])
                loss += off * gap
            rows[n] = loss
            a = g.dtype.type(inv_n / s)
            b = g.dtype.type(off * inv_n)
            for k in range(K):
                g[k] = g[k] * a - b
            g[lab] -= g.dtype.type(on * inv_n)
    total = 0.0
    for n in range(N):
        total += rows[n]
    return total / N


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def softmax_ce_dense(grad, logits, targets, smoothing):
    """logits, targets, grad: (N, K); targets one-hot or soft. With t = (1-s)*targets
    + s/K and T = sum_k t_k: returns mean_n sum_k t_k (lse_n - z_nk);
    grad = (softmax(z) * T - t) / N (= (p - t)/N when rows of t sum to 1)."""
    N, K = logits.shape
    rows = np.empty(N)
    on = 1.0 - smoothing
    off = smoothing / K
    inv_n = 1.0 / N
    for blk in prange((N + _ROWS - 1) // _ROWS):
        bits = np.empty(K, np.int32)
        for n in range(blk * _ROWS, min(N, (blk + 1) * _ROWS)):
            z, g, tn = logits[n], grad[n], targets[n]
            m, s = _softmax_numerators(g, z, bits)
            tsum = 0.0
            acc = 0.0  # sum_k t_k (m - z_k)
            for k in range(K):
                t = on * np.float64(tn[k]) + off
                tsum += t
                acc += t * (m - np.float64(z[k]))
            rows[n] = acc + tsum * np.log(s)
            r = tsum / s
            for k in range(K):
                g[k] = (g[k] * r - (on * np.float64(tn[k]) + off)) * inv_n
    total = 0.0
    for n in range(N):
        total += rows[n]
    return total / N


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def ce_from_probs(grad, probs, targets, eps):
    """probs, targets, grad: (N, K). Keras' non-logit categorical cross-entropy:
    q = p / sum_k p_k, r = clip(q, eps, 1 - eps), loss = mean_n -sum_k t_k log r_k.
    Gradient w.r.t. the UNnormalised p (overwritten), with S = sum_k p_k and
    u_k = -t_k / q_k where q_k is inside [eps, 1-eps], else 0:
        dL/dp_j = (u_j - sum_k u_k q_k) / S / N = (u_j + sum_{k unclipped} t_k) / S / N"""
    N, K = probs.shape
    rows = np.empty(N)
    hi = 1.0 - eps
    for n in prange(N):
        S = 0.0
        for k in range(K):
            S += np.float64(probs[n, k])
        loss = 0.0
        tin = 0.0  # sum of t_k over unclipped k
        for k in range(K):
            q = np.float64(probs[n, k]) / S
            t = np.float64(targets[n, k])
            if q < eps:
                loss -= t * np.log(eps)
            elif q > hi:
                loss -= t * np.log(hi)
            else:
                loss -= t * np.log(q)
                tin += t
        rows[n] = loss
        for k in range(K):
            q = np.float64(probs[n, k]) / S
            u = 0.0
            if not (q < eps or q > hi):
                u = -np.float64(targets[n, k]) / q
            grad[n, k] = (u + tin) / S / N
    total = 0.0
    for n in range(N):
        total += rows[n]
    return total / N


@njit(cache=True, fastmath=FASTMATH)
def _pointwise(p, t, kind, param):
    """(loss, dloss/dp) of one element; p prediction, t target (float64)."""
    if kind == _MSE:
        d = p - t
        return d * d, 2.0 * d
    if kind == _MAE:
        d = p - t
        return abs(d), np.sign(d)
    if kind == _HUBER:  # param = delta
        d = p - t
        a = abs(d)
        if a <= param:
            return 0.5 * d * d, d
        return param * (a - 0.5 * param), param * np.sign(d)
    if kind == _SMOOTH_L1:  # param = beta; beta = 0 gives L1
        d = p - t
        a = abs(d)
        if a < param:
            return 0.5 * d * d / param, d / param
        return a - 0.5 * param, np.sign(d)
    if kind == _BCE_PROBS:  # param = eps; zero gradient where clipped
        if p < param:
            q = param
        elif p > 1.0 - param:
            q = 1.0 - param
        else:
            q = p
        loss = -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
        if q != p:
            return loss, 0.0
        return loss, (q - t) / (q * (1.0 - q))  # d/dp of -(t log p + (1-t) log(1-p))
    # _BCE_LOGITS: max(z, 0) - z t + log1p(exp(-|z|)); gradient sigmoid(z) - t
    z = p
    if z >= 0.0:
        sig = 1.0 / (1.0 + np.exp(-z))
    else:
        e = np.exp(z)
        sig = e / (1.0 + e)
    return max(z, 0.0) - z * t + np.log1p(np.exp(-abs(z))), sig - t


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _pointwise_mean(grad, pred, target, kind, param):
    """Mean over all N*K elements of a pointwise loss; grad = dloss/dpred / (N*K)."""
    size = pred.size
    g = grad.reshape(size)
    p = pred.reshape(size)
    t = target.reshape(size)
    nch = (size + _CHUNK - 1) // _CHUNK
    part = np.empty(nch)
    scale = 1.0 / size
    for c in prange(nch):
        acc = 0.0
        for i in range(c * _CHUNK, min(size, (c + 1) * _CHUNK)):
            loss, d = _pointwise(np.float64(p[i]), np.float64(t[i]), kind, param)
            acc += loss
            g[i] = d * scale
        part[c] = acc
    total = 0.0
    for c in range(nch):
        total += part[c]
    return total * scale


@njit(cache=True)
def bce_from_probs(grad, p, y, eps):
    """p, y, grad: (N, K). Keras: q = clip(p, eps, 1-eps); mean of
    -(y log q + (1-y) log(1-q)); grad (y-free form) (q - y)/(q(1-q))/count, 0 if clipped."""
    return _pointwise_mean(grad, p, y, _BCE_PROBS, eps)


@njit(cache=True)
def bce_from_logits(grad, z, y):
    """z, y, grad: (N, K). mean of max(z,0) - z y + log1p(exp(-|z|));
    grad = (sigmoid(z) - y) / count."""
    return _pointwise_mean(grad, z, y, _BCE_LOGITS, 0.0)


@njit(cache=True)
def mse(grad, pred, target):
    """mean (pred - target)^2; grad = 2 (pred - target) / count."""
    return _pointwise_mean(grad, pred, target, _MSE, 0.0)


@njit(cache=True)
def mae(grad, pred, target):
    """mean |pred - target|; grad = sign(pred - target) / count (0 at equality)."""
    return _pointwise_mean(grad, pred, target, _MAE, 0.0)


@njit(cache=True)
def huber(grad, pred, target, delta):
    """d = pred - target: 0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta);
    grad d or delta sign(d), divided by count."""
    return _pointwise_mean(grad, pred, target, _HUBER, delta)


@njit(cache=True)
def smooth_l1(grad, pred, target, beta):
    """PyTorch SmoothL1Loss: 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta (beta = 0:
    L1); grad d / beta or sign(d), divided by count."""
    return _pointwise_mean(grad, pred, target, _SMOOTH_L1, beta)
