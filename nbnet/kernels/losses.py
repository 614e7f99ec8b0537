"""Loss kernels: each returns the batch-mean loss (a float, summed in float64) and
OVERWRITES `grad` with the gradient of that mean w.r.t. the predictions, in one pass.

All arrays are 2-D (N, K), C-contiguous, of one float dtype (labels: int64 (N,)).
Determinism: per-row losses (cross-entropies) or per-chunk partial sums over fixed
_CHUNK-element chunks (pointwise losses) are written to a float64 array inside the
parallel loop and added serially in order afterwards.

Label smoothing (cross-entropies on logits): target t = (1 - s) * onehot + s / K.
"""
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from . import FASTMATH as _FASTMATH
from .threads import few_threads as _few_threads, restore_threads as _restore_threads

# NOTE: numba wants a set (a frozenset is rejected), so copy the project's flags.
FASTMATH = set(_FASTMATH)

_CHUNK = 4096  # elements per partial sum in the pointwise losses (fixed)

# pointwise loss kinds for _pointwise / _pointwise_mean
_MSE, _MAE, _HUBER, _SMOOTH_L1, _BCE_PROBS, _BCE_LOGITS = 0, 1, 2, 3, 4, 5


_SMALL_K = 64    # fewer classes than this: rows share one shift per block (see below)
_BLOCK = 1024    # logits per parallel task in the softmax cross-entropies (fixed)
_TINY = 1e-20    # a row whose sum of exp(z - block max) is below this gets its own max


@intrinsic
def _f32_from_bits(typingctx, x):
    """The float32 whose IEEE bits are the int32 x (a register move, no memory)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _bits_from_f32(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_neg_f32(d):
    """exp(-d) for a float32 d, in float32 arithmetic and without a libm call, so that
    loops around it vectorise: Cephes' expf (range reduction by ln 2 split in two
    parts, degree-6 polynomial, 2^-n built from its exponent bits); relative error
    ~1e-7. 0 for d >= 87 (below float32's normal range); NaN stays NaN."""
    dd = d if d < np.float32(87.0) else np.float32(87.0)
    # n = round(d / ln 2); d >= 0, so truncation is floor (and vectorises)
    ni = np.int32(dd * np.float32(1.44269504088896341) + np.float32(0.5))
    nf = np.float32(ni)
    x = nf * np.float32(0.693359375) - dd + nf * np.float32(-2.12194440e-4)
    y = ((((np.float32(1.9875691500e-4) * x + np.float32(1.3981999507e-3)) * x
           + np.float32(8.3334519073e-3)) * x + np.float32(4.1665795894e-2)) * x
         + np.float32(1.6666665459e-1)) * x + np.float32(5.0000001201e-1)
    y = (y * (x * x) + x + np.float32(1.0)) * _f32_from_bits((np.int32(127) - ni) << 23)
    return y if d < np.float32(87.0) else (np.float32(0.0) if d >= np.float32(87.0) else d)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _log_f32(s):
    """log(s) in float64 for a float64 s in [1e-30, 1e30], without a libm
    call: Cephes' logf on the mantissa (absolute error ~3e-8), the exponent's e*ln 2
    added in float64, so the error does not grow with |log s|."""
    bits = _bits_from_f32(np.float32(s))
    e = ((bits >> 23) & 0xff) - 126
    m = _f32_from_bits((bits & 0x007fffff) | 0x3f000000)  # [0.5, 1)
    small = m < np.float32(0.707106781186547524)
    e = e - 1 if small else e
    m = (m + m - np.float32(1.0)) if small else (m - np.float32(1.0))
    z = m * m
    y = ((((((((np.float32(7.0376836292e-2) * m - np.float32(1.1514610310e-1)) * m
              + np.float32(1.1676998740e-1)) * m - np.float32(1.2420140846e-1)) * m
            + np.float32(1.4249322787e-1)) * m - np.float32(1.6668057665e-1)) * m
          + np.float32(2.0000714765e-1)) * m - np.float32(2.4999993993e-1)) * m
         + np.float32(3.3333331174e-1)) * m * z
    r = np.float64(e) * 0.6931471805599453 + np.float64(m + (y - np.float32(0.5) * z))
    return r if s <= 1e30 else s  # NaN stays NaN (a softmax sum is at most K)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _max_f32(z, lanes):
    """max of the 1-D z (NaNs skipped) in 16 lanes, so that it vectorises; lanes:
    float32 scratch (16,)."""
    n = z.shape[0]
    n16 = n - n % 16
    m = z[0]
    if n16 > 0:
        for j in range(16):
            lanes[j] = z[j]
        for k in range(16, n16, 16):
            for j in range(16):
                v = z[k + j]
                lanes[j] = v if v > lanes[j] else lanes[j]
        for j in range(16):
            m = max(m, lanes[j])
    for k in range(n16, n):
        m = max(m, z[k])
    return m


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_shifted_f32(g, z, m):
    """g = exp(z - m) over 1-D views (indexed from 0, so LLVM vectorises); returns the
    float64 sum."""
    for i in range(z.shape[0]):
        g[i] = _exp_neg_f32(m - z[i])
    acc = 0.0
    for i in range(z.shape[0]):
        acc += g[i]
    return acc


@njit(cache=True, fastmath=FASTMATH)
def _softmax_rows(g, m, s, z, K, lanes):
    """For the rows of a block, flat (R*K,) views g and z and per-row m, s (R,):
    g = exp(z - m_n) (unnormalised), m[n] = the shift, s[n] = sum_k g (float64).
    float64 rows: the row max and np.exp (exact to the last bit the tests ask for).
    float32 rows with few classes: one shift for the whole block, its max, so that the
    loops run over the block's contiguous logits and vectorise; a row far below that
    max (its sum under _TINY, which also catches NaN) is redone with its own max."""
    R = m.shape[0]
    if z.itemsize == 4:  # a compile-time constant: one branch is folded away
        if K < _SMALL_K:
            M = _max_f32(z, lanes)
            for i in range(R * K):
                g[i] = _exp_neg_f32(M - z[i])
            for n in range(R):
                acc = 0.0
                gn = g[n * K:n * K + K]
                for i in range(K):
                    acc += gn[i]
                m[n] = M
                s[n] = acc
        for n in range(R):
            if K < _SMALL_K and s[n] >= _TINY:
                continue
            zn, gn = z[n * K:n * K + K], g[n * K:n * K + K]
            m[n] = _max_f32(zn, lanes)
            s[n] = _exp_shifted_f32(gn, zn, m[n])
    else:
        for n in range(R):
            zn, gn = z[n * K:n * K + K], g[n * K:n * K + K]
            mn = zn[0]
            for i in range(1, K):
                mn = max(mn, zn[i])
            acc = 0.0
            for i in range(K):
                e = np.exp(zn[i] - mn)
                gn[i] = e
                acc += e
            m[n] = mn
            s[n] = acc


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _logs(out, s, f32):
    """out = log(s) over 1-D views: vectorised for float32 work, np.log for float64."""
    if f32:
        for n in range(s.shape[0]):
            out[n] = _log_f32(s[n])
    else:
        for n in range(s.shape[0]):
            out[n] = np.log(s[n])


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def softmax_ce_sparse(grad, logits, labels, smoothing):
    """logits, grad: (N, K); labels: int64 (N,) in [0, K). Returns
    mean_n sum_k t_k * (lse_n - z_nk), lse = log sum exp z (shifted);
    grad = (softmax(z) - t) / N (overwritten)."""
    N, K = logits.shape
    old = _few_threads(8 * N * K)
    z, g = logits.reshape(N * K), grad.reshape(N * K)
    R = max(1, _BLOCK // K)  # rows per block
    nblk = (N + R - 1) // R
    m = np.empty(N, logits.dtype)
    s = np.empty(N)
    rows = np.empty(N)
    lanes = np.empty((nblk, 16), logits.dtype)
    on = 1.0 - smoothing
    off = smoothing / K
    inv_n = 1.0 / N
    b = grad.dtype.type(off * inv_n)
    for blk in prange(nblk):
        lo, hi = blk * R, min(N, blk * R + R)
        zb, gb, mb, sb, rb, lb = z[lo * K:hi * K], g[lo * K:hi * K], m[lo:hi], s[lo:hi], rows[lo:hi], labels[lo:hi]
        _softmax_rows(gb, mb, sb, zb, K, lanes[blk])
        _logs(rb, sb, logits.itemsize == 4)
        for n in range(hi - lo):
            # sum_k t_k (lse - z_k) = sum_k t_k (m - z_k) + log(s): no cancellation
            rb[n] += on * (np.float64(mb[n]) - np.float64(zb[n * K + lb[n]]))
        if off != 0.0:
            for n in range(hi - lo):
                gap = 0.0  # sum_k (m - z_k)
                zn = zb[n * K:n * K + K]
                for i in range(K):
                    gap += np.float64(mb[n]) - np.float64(zn[i])
                rb[n] += off * gap
        for n in range(hi - lo):
            a = grad.dtype.type(inv_n / sb[n])
            gn = gb[n * K:n * K + K]
            for i in range(K):
                gn[i] = gn[i] * a - b
            gn[lb[n]] -= grad.dtype.type(on * inv_n)
    total = 0.0
    for n in range(N):
        total += rows[n]
    _restore_threads(old)
    return total / N


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def softmax_ce_dense(grad, logits, targets, smoothing):
    """logits, targets, grad: (N, K); targets one-hot or soft. With t = (1-s)*targets
    + s/K and T = sum_k t_k: returns mean_n sum_k t_k (lse_n - z_nk);
    grad = (softmax(z) * T - t) / N (= (p - t)/N when rows of t sum to 1)."""
    N, K = logits.shape
    old = _few_threads(8 * N * K)
    z, g, t = logits.reshape(N * K), grad.reshape(N * K), targets.reshape(N * K)
    R = max(1, _BLOCK // K)
    nblk = (N + R - 1) // R
    m = np.empty(N, logits.dtype)
    s = np.empty(N)
    rows = np.empty(N)
    lanes = np.empty((nblk, 16), logits.dtype)
    on = 1.0 - smoothing
    off = smoothing / K
    inv_n = 1.0 / N
    for blk in prange(nblk):
        lo, hi = blk * R, min(N, blk * R + R)
        zb, gb, mb, sb, rb = z[lo * K:hi * K], g[lo * K:hi * K], m[lo:hi], s[lo:hi], rows[lo:hi]
        _softmax_rows(gb, mb, sb, zb, K, lanes[blk])
        _logs(rb, sb, logits.itemsize == 4)
        for n in range(hi - lo):
            zn, gn, tn = zb[n * K:n * K + K], gb[n * K:n * K + K], t[(lo + n) * K:(lo + n) * K + K]
            tsum = 0.0
            acc = 0.0  # sum_k t_k (m - z_k)
            for i in range(K):
                tk = on * np.float64(tn[i]) + off
                tsum += tk
                acc += tk * (np.float64(mb[n]) - np.float64(zn[i]))
            rb[n] = acc + tsum * rb[n]
            r = tsum / sb[n]
            for i in range(K):
                gn[i] = (gn[i] * r - (on * np.float64(tn[i]) + off)) * inv_n
    total = 0.0
    for n in range(N):
        total += rows[n]
    _restore_threads(old)
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


# ---------------------------------------------------------------- more losses (issue 14)
# Elementwise kinds for _elementwise_sum (independent of the _pointwise kinds above).
_POISSON, _LOG_COSH, _HINGE, _SQ_HINGE, _MSLE, _MAPE, _KLD = 0, 1, 2, 3, 4, 5, 6


@njit(cache=True, fastmath=FASTMATH)
def _elementwise(p, t, kind, eps):
    """(loss, dloss/dp) of one element, float64; p prediction, t target. Keras 3's
    definitions; where a clip or max is active the gradient is 0 (as autodiff gives)."""
    if kind == _POISSON:  # p - t log(p + eps)
        return p - t * np.log(p + eps), 1.0 - t / (p + eps)
    if kind == _LOG_COSH:  # x + softplus(-2x) - log 2, x = p - t; derivative tanh(x)
        x = p - t
        z = -2.0 * x
        sp = max(z, 0.0) + np.log1p(np.exp(-abs(z)))
        return x + sp - 0.6931471805599453, np.tanh(x)
    if kind == _HINGE:  # max(1 - t p, 0), t in {-1, 1}
        m = 1.0 - t * p
        if m > 0.0:
            return m, -t
        return 0.0, 0.0
    if kind == _SQ_HINGE:  # max(1 - t p, 0)^2
        m = 1.0 - t * p
        if m > 0.0:
            return m * m, -2.0 * t * m
        return 0.0, 0.0
    if kind == _MSLE:  # (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2
        pc = p if p > eps else eps
        tc = t if t > eps else eps
        d = np.log(pc + 1.0) - np.log(tc + 1.0)
        if p > eps:
            return d * d, 2.0 * d / (p + 1.0)
        return d * d, 0.0
    if kind == _MAPE:  # 100 |t - p| / max(|t|, eps)
        den = abs(t)
        if den < eps:
            den = eps
        return 100.0 * abs(t - p) / den, 100.0 * np.sign(p - t) / den
    # _KLD: tc log(tc / pc), tc = clip(t, eps, 1), pc = clip(p, eps, 1)
    tc = min(max(t, eps), 1.0)
    pc = min(max(p, eps), 1.0)
    if p >= eps and p <= 1.0:
        return tc * np.log(tc / pc), -tc / pc
    return tc * np.log(tc / pc), 0.0


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _elementwise_sum(grad, pred, target, kind, eps, scale):
    """scale * sum over all elements of an elementwise loss; grad = dloss/dpred * scale
    (overwritten). Partial sums over fixed _CHUNK-element chunks, added in order."""
    size = pred.size
    g = grad.reshape(size)
    p = pred.reshape(size)
    t = target.reshape(size)
    nch = (size + _CHUNK - 1) // _CHUNK
    part = np.empty(nch)
    for c in prange(nch):
        acc = 0.0
        for i in range(c * _CHUNK, min(size, (c + 1) * _CHUNK)):
            loss, d = _elementwise(np.float64(p[i]), np.float64(t[i]), kind, eps)
            acc += loss
            g[i] = d * scale
        part[c] = acc
    total = 0.0
    for c in range(nch):
        total += part[c]
    return total * scale


@njit(cache=True)
def poisson(grad, pred, target, eps):
    """(N, K): mean of p - t log(p + eps); grad (1 - t / (p + eps)) / count."""
    return _elementwise_sum(grad, pred, target, _POISSON, eps, 1.0 / pred.size)


@njit(cache=True)
def log_cosh(grad, pred, target):
    """(N, K): mean of log cosh(p - t) (stable form); grad tanh(p - t) / count."""
    return _elementwise_sum(grad, pred, target, _LOG_COSH, 0.0, 1.0 / pred.size)


@njit(cache=True)
def hinge(grad, pred, target):
    """(N, K), target in {-1, 1}: mean of max(1 - t p, 0); grad -t / count where the
    margin is positive, else 0."""
    return _elementwise_sum(grad, pred, target, _HINGE, 0.0, 1.0 / pred.size)


@njit(cache=True)
def squared_hinge(grad, pred, target):
    """(N, K), target in {-1, 1}: mean of max(1 - t p, 0)^2; grad -2 t max(.) / count."""
    return _elementwise_sum(grad, pred, target, _SQ_HINGE, 0.0, 1.0 / pred.size)


@njit(cache=True)
def msle(grad, pred, target, eps):
    """(N, K): mean of (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2."""
    return _elementwise_sum(grad, pred, target, _MSLE, eps, 1.0 / pred.size)


@njit(cache=True)
def mape(grad, pred, target, eps):
    """(N, K): mean of 100 |t - p| / max(|t|, eps); grad 100 sign(p - t) / max(|t|, eps) / count."""
    return _elementwise_sum(grad, pred, target, _MAPE, eps, 1.0 / pred.size)


@njit(cache=True)
def kl_divergence(grad, pred, target, eps):
    """(R, K) rows: mean over rows of sum_k tc log(tc / pc), tc, pc clipped to [eps, 1];
    grad -tc / pc / R where p is inside [eps, 1], else 0."""
    return _elementwise_sum(grad, pred, target, _KLD, eps, 1.0 / pred.shape[0])


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def categorical_hinge(grad, pred, target):
    """(N, K): mean over rows of max(neg - pos + 1, 0), pos = sum_k t_k p_k,
    neg = max_k (1 - t_k) p_k; grad (overwritten) (-t + (1 - t_j) e_j) / N where the
    loss is positive (j the first argmax of neg), else 0."""
    N, K = pred.shape
    rows = np.empty(N)
    for n in prange(N):
        pos = 0.0
        j = 0
        neg = (1.0 - np.float64(target[n, 0])) * np.float64(pred[n, 0])
        for k in range(K):
            t = np.float64(target[n, k])
            pos += t * np.float64(pred[n, k])
            v = (1.0 - t) * np.float64(pred[n, k])
            if v > neg:
                neg = v
                j = k
        m = neg - pos + 1.0
        if m > 0.0:
            rows[n] = m
            for k in range(K):
                grad[n, k] = -np.float64(target[n, k]) / N
            grad[n, j] += (1.0 - np.float64(target[n, j])) / N
        else:
            rows[n] = 0.0
            for k in range(K):
                grad[n, k] = 0.0
    total = 0.0
    for n in range(N):
        total += rows[n]
    return total / N


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def cosine_similarity(grad, pred, target, eps):
    """(R, K) rows: mean over rows of -sum_k u_k v_k, u = p / max(|p|, eps),
    v = t / max(|t|, eps) (Keras' normalize). grad (overwritten), with a = max(|p|, eps):
    -(v - (u.v) u) / a / R where |p| > eps, else -v / eps / R."""
    R, K = pred.shape
    rows = np.empty(R)
    for n in prange(R):
        pp = 0.0
        tt = 0.0
        pt = 0.0
        for k in range(K):
            p = np.float64(pred[n, k])
            t = np.float64(target[n, k])
            pp += p * p
            tt += t * t
            pt += p * t
        a = max(np.sqrt(pp), eps)
        b = max(np.sqrt(tt), eps)
        cos = pt / (a * b)
        rows[n] = -cos
        free = np.sqrt(pp) > eps
        for k in range(K):
            v = np.float64(target[n, k]) / b
            if free:
                u = np.float64(pred[n, k]) / a
                grad[n, k] = -(v - cos * u) / a / R
            else:
                grad[n, k] = -v / eps / R
    total = 0.0
    for n in range(R):
        total += rows[n]
    return total / R


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def categorical_focal(grad, pred, target, alpha, gamma, from_logits, eps):
    """(N, K) rows, alpha (K,). Keras' categorical focal cross-entropy: q = softmax(z)
    (from_logits) or p / sum_k p_k, c = clip(q, eps, 1 - eps), loss = mean over rows of
    sum_k -alpha_k (1 - c_k)^gamma t_k log c_k. With u_k = dloss/dc_k where q_k is
    unclipped (else 0) and s = sum_k u_k q_k, grad (overwritten) is (u_j - s) / S / N
    for probabilities (S = sum_k p_k) and q_j (u_j - s) / N for logits."""
    N, K = pred.shape
    rows = np.empty(N)
    qs = np.empty((N, K))   # q, then u, per element (float64 scratch)
    us = np.empty((N, K))
    hi = 1.0 - eps
    for n in prange(N):
        S = 0.0
        if from_logits:
            m = np.float64(pred[n, 0])
            for k in range(K):
                m = max(m, np.float64(pred[n, k]))
            for k in range(K):
                e = np.exp(np.float64(pred[n, k]) - m)
                qs[n, k] = e
                S += e
        else:
            for k in range(K):
                qs[n, k] = np.float64(pred[n, k])
                S += qs[n, k]
        loss = 0.0
        s = 0.0
        for k in range(K):
            q = qs[n, k] / S
            qs[n, k] = q
            t = np.float64(target[n, k])
            c = min(max(q, eps), hi)
            w = 1.0 - c
            f = w ** gamma
            lc = np.log(c)
            loss -= alpha[k] * f * t * lc
            u = 0.0
            if q >= eps and q <= hi:
                fp = gamma * w ** (gamma - 1.0) if gamma != 0.0 else 0.0
                u = alpha[k] * t * (fp * lc - f / c)
            us[n, k] = u
            s += u * q
        rows[n] = loss
        for k in range(K):
            if from_logits:
                grad[n, k] = qs[n, k] * (us[n, k] - s) / N
            else:
                grad[n, k] = (us[n, k] - s) / S / N
    total = 0.0
    for n in range(N):
        total += rows[n]
    return total / N


@njit(cache=True, fastmath=FASTMATH)
def _binary_focal(p, t, alpha, gamma, balance, from_logits, eps):
    """(loss, dloss/dinput) of one element of Keras' binary focal cross-entropy:
    p = sigmoid(z) (from_logits) or the probability, c = clip(p, eps, 1 - eps),
    bce = -(t log c + (1 - t) log(1 - c)), 1 - p_t = t + p - 2 t p (unclipped p),
    loss = w (1 - p_t)^gamma bce, w = t alpha + (1 - t)(1 - alpha) when balancing."""
    if from_logits:
        z = p
        if z >= 0.0:
            p = 1.0 / (1.0 + np.exp(-z))
        else:
            e = np.exp(z)
            p = e / (1.0 + e)
    c = min(max(p, eps), 1.0 - eps)
    bce = -(t * np.log(c) + (1.0 - t) * np.log(1.0 - c))
    b = t + p - 2.0 * t * p
    f = b ** gamma
    w = t * alpha + (1.0 - t) * (1.0 - alpha) if balance else 1.0
    if gamma == 0.0:
        fp = 0.0
    elif b > 0.0:
        fp = gamma * b ** (gamma - 1.0)
    else:
        fp = 1.0 if gamma == 1.0 else 0.0
    dbce = (c - t) / (c * (1.0 - c)) if c == p else 0.0
    d = w * (fp * (1.0 - 2.0 * t) * bce + f * dbce)
    if from_logits:
        d *= p * (1.0 - p)
    return w * f * bce, d


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def binary_focal(grad, pred, target, alpha, gamma, balance, from_logits, eps):
    """(N, K): mean over all elements of _binary_focal; grad (overwritten) its
    derivative / count. Fixed _CHUNK-element partial sums, added in order."""
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
            loss, d = _binary_focal(np.float64(p[i]), np.float64(t[i]), alpha, gamma,
                                    balance, from_logits, eps)
            acc += loss
            g[i] = d * scale
        part[c] = acc
    total = 0.0
    for c in range(nch):
        total += part[c]
    return total * scale


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def overlap(grad, pred, target, alpha, beta, dice, eps):
    """(G, M): G groups (a sample each, or the whole batch as one) of M elements.
    Per group, I = sum t p, A = sum (1 - p) t, B = sum p (1 - t), St = sum t, Sp = sum p;
    dice: loss 1 - 2 I / D, D = St + Sp + eps; else Tversky (Keras): loss 1 - I / D,
    D = I + alpha A + beta B + eps. Returns the mean over groups; grad (overwritten)
    d(mean)/dp: dice -2 (t D - I) / D^2 / G, Tversky -(t D - I (t - alpha t +
    beta (1 - t))) / D^2 / G. Sums over fixed _CHUNK-element chunks, added in order."""
    G, M = pred.shape
    nch = (M + _CHUNK - 1) // _CHUNK
    part = np.empty((G * nch, 5))
    for job in prange(G * nch):
        r = job // nch
        c = job % nch
        i_, a_, b_, st, sp = 0.0, 0.0, 0.0, 0.0, 0.0
        for i in range(c * _CHUNK, min(M, (c + 1) * _CHUNK)):
            p = np.float64(pred[r, i])
            t = np.float64(target[r, i])
            i_ += t * p
            a_ += (1.0 - p) * t
            b_ += p * (1.0 - t)
            st += t
            sp += p
        part[job, 0] = i_
        part[job, 1] = a_
        part[job, 2] = b_
        part[job, 3] = st
        part[job, 4] = sp
    sums = np.zeros((G, 5))
    for job in range(G * nch):
        for j in range(5):
            sums[job // nch, j] += part[job, j]
    rows = np.empty(G)
    den = np.empty(G)
    for r in range(G):
        if dice:
            den[r] = sums[r, 3] + sums[r, 4] + eps
            rows[r] = 1.0 - 2.0 * sums[r, 0] / den[r]
        else:
            den[r] = sums[r, 0] + alpha * sums[r, 1] + beta * sums[r, 2] + eps
            rows[r] = 1.0 - sums[r, 0] / den[r]
    for job in prange(G * nch):
        r = job // nch
        c = job % nch
        D = den[r]
        I = sums[r, 0]
        for i in range(c * _CHUNK, min(M, (c + 1) * _CHUNK)):
            t = np.float64(target[r, i])
            if dice:
                grad[r, i] = -2.0 * (t * D - I) / (D * D) / G
            else:
                grad[r, i] = -(t * D - I * (t - alpha * t + beta * (1.0 - t))) / (D * D) / G
    total = 0.0
    for r in range(G):
        total += rows[r]
    return total / G
