"""Optimizer updates over the model's flat parameter buffer (torch.optim formulas).

Every kernel updates, element by element, a flat parameter vector w (N,) and its state
vectors (N,) in place from the gradient g (N,), which is only read: weight decay is
added to a local copy of each g_i. The work is split into fixed-size chunks run in
parallel; there is no reduction, so the result does not depend on the thread count.
Arithmetic is done in float64 and rounded once when stored, for float32 and float64
buffers alike. State vectors an option does not use may be passed empty (size 0).
Hyper-parameters are Python floats / bools, so each kernel compiles once per dtype.
"""
import math

from numba import njit, prange

from . import FASTMATH

_CHUNK = 8192  # elements per parallel task (a constant: never from the thread count)


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
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            d = g[i] + weight_decay * w[i]
            if momentum != 0.0:
                b = d if first else momentum * buf[i] + (1.0 - dampening) * d
                buf[i] = b
                d = d + momentum * b if nesterov else b
            w[i] = w[i] - lr * d


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def adagrad_step(w, state_sum, g, clr, weight_decay, eps):
    """w, state_sum, g: (N,). Adagrad (torch.optim.Adagrad); updates w, state_sum.
    clr = lr / (1 + (t - 1) * lr_decay) is computed by the caller.

        d = g + weight_decay * w
        state_sum = state_sum + d^2
        w = w - clr * d / (sqrt(state_sum) + eps)
    """
    n = w.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            d = g[i] + weight_decay * w[i]
            s = state_sum[i] + d * d
            state_sum[i] = s
            w[i] = w[i] - clr * d / (math.sqrt(s) + eps)


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
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            d = g[i] + weight_decay * w[i]
            sq = alpha * square_avg[i] + (1.0 - alpha) * d * d
            square_avg[i] = sq
            v = sq
            if centered:
                ga = alpha * grad_avg[i] + (1.0 - alpha) * d
                grad_avg[i] = ga
                v = sq - ga * ga
            step = d / (math.sqrt(v) + eps)
            if momentum > 0.0:
                b = momentum * buf[i] + step
                buf[i] = b
                step = b
            w[i] = w[i] - lr * step


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
    step_size = lr / bias_correction1
    bc2_sqrt = math.sqrt(bias_correction2)
    decay = 1.0 - lr * weight_decay
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            wi = w[i] + 0.0  # float64 from here on
            if decoupled:
                wi = wi * decay
                d = g[i] + 0.0
            else:
                d = g[i] + weight_decay * wi
            mi = beta1 * m[i] + (1.0 - beta1) * d
            vi = beta2 * v[i] + (1.0 - beta2) * d * d
            m[i] = mi
            v[i] = vi
            if amsgrad:
                vi = max(vmax[i], vi)
                vmax[i] = vi
            w[i] = wi - step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)
