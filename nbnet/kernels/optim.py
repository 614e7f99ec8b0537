"""Optimizer updates over the model's flat parameter buffer (torch.optim formulas).

Every kernel updates, element by element, a flat parameter vector w (N,) and its state
vectors (N,) in place from the gradient g (N,), which is only read: weight decay is
added to a local copy of each g_i. The work is split into fixed-size chunks run in
parallel; there is no reduction, so the result does not depend on the thread count.
Arithmetic is done in the buffers' dtype, as torch.optim does (float64 arithmetic on
float32 buffers measured 1.7x slower: the updates are bound by sqrt and division,
not by memory). Hyper-parameters arrive as Python floats / bools, so each kernel
compiles once per dtype, and are cast to the buffers' dtype once per call. State
vectors an option does not use may be passed empty (size 0).
"""
import math

from numba import njit, prange

from . import FASTMATH

_CHUNK = 8192  # elements per parallel task (a constant: never from the thread count)
# NOTE: each task works on views of its chunk (w[lo:hi]) indexed from 0, not on the
# whole arrays with global indices: only then does LLVM vectorise the loop (measured
# 8x: Adam over 535K float32 parameters 1.63 ms -> 0.20 ms at 1 thread).


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def sgd_step(w, buf, g, lr, momentum, dampening, nesterov, weight_decay, first):
    """w, buf, g: (N,). SGD with momentum (torch.optim.SGD); updates w and buf in place.
    buf is used only when momentum != 0; `first` is True on the first step (t = 1).

        d = g + weight_decay * w
        buf = d                                   if first
            = momentum * buf + (1 - dampening) * d otherwise
        d = d + momentum * buf   if nesterov,  else d = buf        (momentum != 0)
        w = w - lr * d
    """
    n = w.shape[0]
    f = w.dtype.type  # hyper-parameters in the buffers' dtype
    lr_, mu, damp, wd = f(lr), f(momentum), f(1.0 - dampening), f(weight_decay)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        w_, buf_, g_ = w[lo:hi], buf[lo:hi], g[lo:hi]  # chunk views: see NOTE at the top
        for i in range(hi - lo):
            d = g_[i] + wd * w_[i]
            if momentum != 0.0:
                b = d if first else mu * buf_[i] + damp * d
                buf_[i] = b
                d = d + mu * b if nesterov else b
            w_[i] = w_[i] - lr_ * d


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def adagrad_step(w, state_sum, g, clr, weight_decay, eps):
    """w, state_sum, g: (N,). Adagrad (torch.optim.Adagrad); updates w, state_sum.
    clr = lr / (1 + (t - 1) * lr_decay) is computed by the caller.

        d = g + weight_decay * w
        state_sum = state_sum + d^2
        w = w - clr * d / (sqrt(state_sum) + eps)
    """
    n = w.shape[0]
    f = w.dtype.type
    clr_, wd, eps_ = f(clr), f(weight_decay), f(eps)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        w_, state_sum_, g_ = w[lo:hi], state_sum[lo:hi], g[lo:hi]  # chunk views: see NOTE at the top
        for i in range(hi - lo):
            d = g_[i] + wd * w_[i]
            s = state_sum_[i] + d * d
            state_sum_[i] = s
            w_[i] = w_[i] - clr_ * d / (math.sqrt(s) + eps_)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def rmsprop_step(w, square_avg, grad_avg, buf, g, lr, alpha, eps, weight_decay,
                 momentum, centered):
    """w, square_avg, g: (N,); grad_avg (N,) if centered; buf (N,) if momentum != 0.
    RMSprop (torch.optim.RMSprop); updates w and the state vectors in place.

        d = g + weight_decay * w
        square_avg = alpha * square_avg + (1 - alpha) * d^2
        grad_avg = alpha * grad_avg + (1 - alpha) * d          (centered)
        v = square_avg - grad_avg^2  if centered, else v = square_avg
        buf = momentum * buf + d / (sqrt(v) + eps);  w = w - lr * buf   (momentum != 0)
        w = w - lr * d / (sqrt(v) + eps)                                (momentum == 0)
    """
    n = w.shape[0]
    f = w.dtype.type
    lr_, a, a1, eps_, wd, mu = f(lr), f(alpha), f(1.0 - alpha), f(eps), f(weight_decay), f(momentum)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        w_, square_avg_, grad_avg_, buf_, g_ = w[lo:hi], square_avg[lo:hi], grad_avg[lo:hi], buf[lo:hi], g[lo:hi]  # chunk views: see NOTE at the top
        for i in range(hi - lo):
            d = g_[i] + wd * w_[i]
            sq = a * square_avg_[i] + a1 * d * d
            square_avg_[i] = sq
            v = sq
            if centered:
                ga = a * grad_avg_[i] + a1 * d
                grad_avg_[i] = ga
                v = sq - ga * ga
            step = d / (math.sqrt(v) + eps_)
            if momentum > 0.0:
                b = mu * buf_[i] + step
                buf_[i] = b
                step = b
            w_[i] = w_[i] - lr_ * step


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def adam_step(w, m, v, vmax, g, lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled,
              bias_correction1, bias_correction2):
    """w, m, v, g: (N,); vmax (N,) if amsgrad. Adam / AdamW (torch.optim.Adam, AdamW);
    updates w and the state vectors in place. bias_correction1 = 1 - beta1^t and
    bias_correction2 = 1 - beta2^t (t = 1, 2, ...) are computed by the caller.

        decoupled (AdamW): w = w * (1 - lr * weight_decay);  d = g
        otherwise (Adam):  d = g + weight_decay * w
        m = beta1 * m + (1 - beta1) * d
        v = beta2 * v + (1 - beta2) * d^2
        vmax = max(vmax, v)  and use vmax in place of v          (amsgrad)
        w = w - lr / bias_correction1 * m / (sqrt(v) / sqrt(bias_correction2) + eps)
    """
    n = w.shape[0]
    f = w.dtype.type
    step_size = f(lr / bias_correction1)
    inv_bc2_sqrt = f(1.0 / math.sqrt(bias_correction2))
    decay, wd, eps_ = f(1.0 - lr * weight_decay), f(weight_decay), f(eps)
    b1, b1c, b2, b2c = f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        w_, m_, v_, vmax_, g_ = w[lo:hi], m[lo:hi], v[lo:hi], vmax[lo:hi], g[lo:hi]  # chunk views: see NOTE at the top
        for i in range(hi - lo):
            wi = w_[i]
            if decoupled:
                wi = wi * decay
                d = g_[i]
            else:
                d = g_[i] + wd * wi
            mi = b1 * m_[i] + b1c * d
            vi = b2 * v_[i] + b2c * d * d
            m_[i] = mi
            v_[i] = vi
            if amsgrad:
                vi = max(vmax_[i], vi)
                vmax_[i] = vi
            w_[i] = wi - step_size * mi / (math.sqrt(vi) * inv_bc2_sqrt + eps_)


# ---------------------------------------------------------------------------------
# Gradient clipping and the optimizers added with it.
#
# Kernels below walk a table of work items, items (K, 3) int64 rows (lo, hi, s): the
# flat buffer cut into the model's variables (segments s = 0 .. S-1) and each variable
# into chunks of at most _CHUNK elements, so that an item never straddles two
# variables. The table depends only on the variable sizes, never on the thread count,
# so per-item partial sums combined in item order are bitwise reproducible.
# scale (S,) float64 multiplies each variable's gradient (1.0: unclipped; see
# clip_scales); clipvalue > 0 then clips each element to [-clipvalue, clipvalue].


@njit(cache=True, inline="always")
def _clip(x, scale, clipvalue):
    """One element of the clipped gradient: x * scale, clipped to [-clipvalue,
    clipvalue] when clipvalue > 0 (a NaN stays NaN)."""
    d = x * scale
    if clipvalue > 0:
        if d > clipvalue:
            d = clipvalue
        elif d < -clipvalue:
            d = -clipvalue
    return d


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def clip_scales(scale, partial, g, items, clipnorm, global_clipnorm):
    """scale (S,) float64 out, partial (K,) float64 scratch; g (N,); items (K, 3).
    Keras' norm clipping as per-variable factors, from one pass over g:

        sumsq_s = sum of g_i^2 over variable s  (per item in float64, items in order)
        clipnorm > 0:         scale_s = clipnorm / max(||g_s||, clipnorm)
        global_clipnorm > 0:  scale_s = global_clipnorm / max(||g||, global_clipnorm)
                              for every s, NaN when ||g|| is not finite (as Keras)
    """
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        g_ = g[lo:hi]
        acc = 0.0
        for i in range(hi - lo):
            x = float(g_[i])
            acc += x * x
        partial[k] = acc
    for s in range(scale.shape[0]):
        scale[s] = 0.0
    for k in range(items.shape[0]):  # fixed order: bitwise at any thread count
        scale[items[k, 2]] += partial[k]
    if global_clipnorm > 0:
        total = 0.0
        for s in range(scale.shape[0]):
            total += scale[s]
        norm = math.sqrt(total)
        c = 1.0 if norm <= global_clipnorm else global_clipnorm / norm
        if not math.isfinite(norm):
            c = math.nan
        for s in range(scale.shape[0]):
            scale[s] = c
    else:
        for s in range(scale.shape[0]):
            norm = math.sqrt(scale[s])
            scale[s] = 1.0 if norm <= clipnorm else clipnorm / norm  # NaN norm: NaN


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def sgd_step_clip(w, buf, g, items, scale, clipvalue, lr, momentum, dampening, nesterov,
                  weight_decay, first):
    """sgd_step with the clipped gradient d = _clip(g, scale_s, clipvalue) in place of
    g (the weight decay term is added after clipping, as clip_grad_norm_ then step)."""
    f = w.dtype.type
    lr_, mu, damp, wd, cv = f(lr), f(momentum), f(1.0 - dampening), f(weight_decay), f(clipvalue)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, buf_, g_ = w[lo:hi], buf[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            d = _clip(g_[i], sc, cv) + wd * w_[i]
            if momentum != 0.0:
                b = d if first else mu * buf_[i] + damp * d
                buf_[i] = b
                d = d + mu * b if nesterov else b
            w_[i] = w_[i] - lr_ * d


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def adagrad_step_clip(w, state_sum, g, items, scale, clipvalue, clr, weight_decay, eps):
    """adagrad_step with the clipped gradient (see sgd_step_clip)."""
    f = w.dtype.type
    clr_, wd, eps_, cv = f(clr), f(weight_decay), f(eps), f(clipvalue)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, state_sum_, g_ = w[lo:hi], state_sum[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            d = _clip(g_[i], sc, cv) + wd * w_[i]
            s = state_sum_[i] + d * d
            state_sum_[i] = s
            w_[i] = w_[i] - clr_ * d / (math.sqrt(s) + eps_)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def rmsprop_step_clip(w, square_avg, grad_avg, buf, g, items, scale, clipvalue, lr, alpha,
                      eps, weight_decay, momentum, centered):
    """rmsprop_step with the clipped gradient (see sgd_step_clip)."""
    f = w.dtype.type
    lr_, a, a1, eps_, wd, mu = f(lr), f(alpha), f(1.0 - alpha), f(eps), f(weight_decay), f(momentum)
    cv = f(clipvalue)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, square_avg_, grad_avg_, buf_, g_ = w[lo:hi], square_avg[lo:hi], grad_avg[lo:hi], buf[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            d = _clip(g_[i], sc, cv) + wd * w_[i]
            sq = a * square_avg_[i] + a1 * d * d
            square_avg_[i] = sq
            v = sq
            if centered:
                ga = a * grad_avg_[i] + a1 * d
                grad_avg_[i] = ga
                v = sq - ga * ga
            step = d / (math.sqrt(v) + eps_)
            if momentum > 0.0:
                b = mu * buf_[i] + step
                buf_[i] = b
                step = b
            w_[i] = w_[i] - lr_ * step


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def adam_step_clip(w, m, v, vmax, g, items, scale, clipvalue, lr, beta1, beta2, eps,
                   weight_decay, amsgrad, decoupled, bias_correction1, bias_correction2):
    """adam_step with the clipped gradient (see sgd_step_clip)."""
    f = w.dtype.type
    step_size = f(lr / bias_correction1)
    inv_bc2_sqrt = f(1.0 / math.sqrt(bias_correction2))
    decay, wd, eps_, cv = f(1.0 - lr * weight_decay), f(weight_decay), f(eps), f(clipvalue)
    b1, b1c, b2, b2c = f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, m_, v_, vmax_, g_ = w[lo:hi], m[lo:hi], v[lo:hi], vmax[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            wi = w_[i]
            d = _clip(g_[i], sc, cv)
            if decoupled:
                wi = wi * decay
            else:
                d = d + wd * wi
            mi = b1 * m_[i] + b1c * d
            vi = b2 * v_[i] + b2c * d * d
            m_[i] = mi
            v_[i] = vi
            if amsgrad:
                vi = max(vmax_[i], vi)
                vmax_[i] = vi
            w_[i] = wi - step_size * mi / (math.sqrt(vi) * inv_bc2_sqrt + eps_)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def nadam_step(w, m, v, g, items, scale, clipvalue, beta1, beta2, eps, weight_decay,
               decay, coef_g, coef_m, bias_correction2):
    """w, m, v, g: (N,). NAdam (torch.optim.NAdam); updates w, m, v in place. The caller
    computes, in float64, mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)),
    mu_product_t = mu_1 ... mu_t, and passes coef_g = lr * (1 - mu_t) / (1 -
    mu_product_t), coef_m = lr * mu_{t+1} / (1 - mu_product_t * mu_{t+1}),
    bias_correction2 = 1 - beta2^t and decay = 1 - lr * weight_decay (decoupled) or 1.

        d = clipped g (+ weight_decay * w unless decoupled);  w = w * decay
        m = beta1 * m + (1 - beta1) * d;  v = beta2 * v + (1 - beta2) * d^2
        denom = sqrt(v / bias_correction2) + eps
        w = w - coef_g * d / denom - coef_m * m / denom
    """
    f = w.dtype.type
    b1, b1c, b2, b2c = f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2)
    eps_, wd, dec, cv = f(eps), f(weight_decay), f(decay), f(clipvalue)
    cg, cm, inv_bc2 = f(coef_g), f(coef_m), f(1.0 / bias_correction2)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, m_, v_, g_ = w[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            wi = w_[i]
            d = _clip(g_[i], sc, cv) + wd * wi
            wi = wi * dec
            mi = b1 * m_[i] + b1c * d
            vi = b2 * v_[i] + b2c * d * d
            m_[i] = mi
            v_[i] = vi
            denom = math.sqrt(vi * inv_bc2) + eps_
            w_[i] = wi - cg * d / denom - cm * mi / denom


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def adamax_step(w, m, u, g, items, scale, clipvalue, lr, beta1, beta2, eps, weight_decay,
                bias_correction1):
    """w, m, u, g: (N,). Adamax (torch.optim.Adamax); updates w, m, u in place.

        d = clipped g + weight_decay * w
        m = beta1 * m + (1 - beta1) * d
        u = max(beta2 * u, |d| + eps)
        w = w - lr / bias_correction1 * m / u        (bias_correction1 = 1 - beta1^t)
    """
    f = w.dtype.type
    b1, b1c, b2 = f(beta1), f(1.0 - beta1), f(beta2)
    eps_, wd, cv, clr = f(eps), f(weight_decay), f(clipvalue), f(lr / bias_correction1)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, m_, u_, g_ = w[lo:hi], m[lo:hi], u[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            wi = w_[i]
            d = _clip(g_[i], sc, cv) + wd * wi
            mi = b1 * m_[i] + b1c * d
            a, b = b2 * u_[i], abs(d) + eps_
            ui = a if a > b else b  # a NaN in d propagates
            m_[i] = mi
            u_[i] = ui
            w_[i] = wi - clr * mi / ui


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def adadelta_step(w, square_avg, acc_delta, g, items, scale, clipvalue, lr, rho, eps,
                  weight_decay):
    """w, square_avg, acc_delta, g: (N,). Adadelta (torch.optim.Adadelta).

        d = clipped g + weight_decay * w
        square_avg = rho * square_avg + (1 - rho) * d^2
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * d
        acc_delta = rho * acc_delta + (1 - rho) * delta^2
        w = w - lr * delta
    """
    f = w.dtype.type
    lr_, r, r1, eps_, wd, cv = f(lr), f(rho), f(1.0 - rho), f(eps), f(weight_decay), f(clipvalue)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, sq_, acc_, g_ = w[lo:hi], square_avg[lo:hi], acc_delta[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            wi = w_[i]
            d = _clip(g_[i], sc, cv) + wd * wi
            sq = r * sq_[i] + r1 * d * d
            sq_[i] = sq
            delta = math.sqrt(acc_[i] + eps_) / math.sqrt(sq + eps_) * d
            acc_[i] = r * acc_[i] + r1 * delta * delta
            w_[i] = wi - lr_ * delta


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def lion_step(w, m, g, items, scale, clipvalue, lr, beta1, beta2, weight_decay):
    """w, m, g: (N,). Lion (Chen et al. 2023, as Keras 3's Lion), decoupled weight decay:

        d = clipped g;  w = w - w * weight_decay * lr
        w = w - lr * sign(beta1 * m + (1 - beta1) * d)     (sign(NaN) = NaN)
        m = beta2 * m + (1 - beta2) * d
    """
    f = w.dtype.type
    lr_, wdlr, cv = f(lr), f(weight_decay * lr), f(clipvalue)
    b1, b1c, b2, b2c = f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2)
    one, zero = f(1.0), f(0.0)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, m_, g_ = w[lo:hi], m[lo:hi], g[lo:hi]
        for i in range(hi - lo):
            wi = w_[i]
            wi = wi - wi * wdlr
            d = _clip(g_[i], sc, cv)
            c = b1 * m_[i] + b1c * d
            s = one if c > zero else (-one if c < zero else (zero if c == zero else c))
            w_[i] = wi - lr_ * s
            m_[i] = b2 * m_[i] + b2c * d


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def lamb_step(w, m, v, ratio, norms, partial, g, items, scale, clipvalue, lr, beta1, beta2,
              eps, weight_decay, bias_correction1, bias_correction2):
    """w, m, v, g: (N,); ratio (S,), norms (S, 2), partial (K, 2) float64 outputs.
    LAMB (You et al. 2020, as Keras 3's Lamb): Adam's direction scaled per variable s by
    the trust ratio ||w_s|| / ||r_s||, decoupled weight decay. Two passes over the
    items: moments and the partial sums of squares, then the update.

        d = clipped g;  w = w - w * weight_decay * lr
        m = beta1 * m + (1 - beta1) * d;  v = beta2 * v + (1 - beta2) * d^2
        r = (m / bias_correction1) / (sqrt(v / bias_correction2) + eps)
        ratio_s = ||w_s|| / ||r_s|| if both > 0 else 1
        w = w - ratio_s * lr * r
    """
    f = w.dtype.type
    b1, b1c, b2, b2c = f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2)
    eps_, wdlr, cv = f(eps), f(weight_decay * lr), f(clipvalue)
    inv_bc1, inv_bc2 = f(1.0 / bias_correction1), f(1.0 / bias_correction2)
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        sc = f(scale[items[k, 2]])
        w_, m_, v_, g_ = w[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi]
        sw, sr = 0.0, 0.0
        for i in range(hi - lo):
            wi = w_[i]
            wi = wi - wi * wdlr
            w_[i] = wi
            d = _clip(g_[i], sc, cv)
            mi = b1 * m_[i] + b1c * d
            vi = b2 * v_[i] + b2c * d * d
            m_[i] = mi
            v_[i] = vi
            r = (mi * inv_bc1) / (math.sqrt(vi * inv_bc2) + eps_)
            sw += float(wi) * float(wi)
            sr += float(r) * float(r)
        partial[k, 0] = sw
        partial[k, 1] = sr
    for s in range(ratio.shape[0]):
        norms[s, 0] = 0.0
        norms[s, 1] = 0.0
    for k in range(items.shape[0]):  # fixed order: bitwise at any thread count
        norms[items[k, 2], 0] += partial[k, 0]
        norms[items[k, 2], 1] += partial[k, 1]
    for s in range(ratio.shape[0]):
        wn, rn = math.sqrt(norms[s, 0]), math.sqrt(norms[s, 1])
        ratio[s] = wn / rn if wn > 0 and rn > 0 else 1.0
    for k in prange(items.shape[0]):
        lo, hi = items[k, 0], items[k, 1]
        step = f(ratio[items[k, 2]] * lr)
        w_, m_, v_ = w[lo:hi], m[lo:hi], v[lo:hi]
        for i in range(hi - lo):
            r = (m_[i] * inv_bc1) / (math.sqrt(v_[i] * inv_bc2) + eps_)
            w_[i] = w_[i] - step * r


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def ema_update(average, w, momentum, first):
    """average, w: (N,). Keras' moving average of the weights after a step:
    average = w on the first step, else momentum * average + (1 - momentum) * w."""
    n = w.shape[0]
    f = w.dtype.type
    mu, mu1 = f(momentum), f(1.0 - momentum)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        a_, w_ = average[lo:hi], w[lo:hi]
        for i in range(hi - lo):
            a_[i] = w_[i] if first else mu * a_[i] + mu1 * w_[i]
