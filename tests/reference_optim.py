"""Plain NumPy optimizers, written line by line from the torch.optim pseudo-code
(docs of SGD, Adagrad, RMSprop, Adam, AdamW), whole-array and in float64.

Each `*_ref(w, g_of, steps, **hyper)` runs `steps` updates starting from w, where
g_of(t, w) gives the gradient at step t (1-based) and current weights; it returns the
final weights and the final state as a dict. Independent of nbnet's kernels.
"""
import numpy as np


def sgd_ref(w, g_of, steps, lr, momentum=0.0, dampening=0.0, nesterov=False,
            weight_decay=0.0):
    w = np.array(w, dtype=np.float64)
    b = None
    for t in range(1, steps + 1):
        g = np.array(g_of(t, w), dtype=np.float64)
        if weight_decay != 0:
            g = g + weight_decay * w
        if momentum != 0:
            if t > 1:
                b = momentum * b + (1 - dampening) * g
            else:
                b = g.copy()
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        w = w - lr * g
    return w, {"momentum_buffer": b}


def adagrad_ref(w, g_of, steps, lr, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10):
    w = np.array(w, dtype=np.float64)
    state_sum = np.full_like(w, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = np.array(g_of(t, w), dtype=np.float64)
        gamma = lr / (1 + (t - 1) * lr_decay)
        if weight_decay != 0:
            g = g + weight_decay * w
        state_sum = state_sum + g * g
        w = w - gamma * g / (np.sqrt(state_sum) + eps)
    return w, {"sum": state_sum}


def rmsprop_ref(w, g_of, steps, lr, alpha=0.99, eps=1e-8, weight_decay=0.0,
                momentum=0.0, centered=False):
    w = np.array(w, dtype=np.float64)
    v = np.zeros_like(w)
    g_ave = np.zeros_like(w)
    b = np.zeros_like(w)
    for t in range(1, steps + 1):
        g = np.array(g_of(t, w), dtype=np.float64)
        if weight_decay != 0:
            g = g + weight_decay * w
        v = alpha * v + (1 - alpha) * g ** 2
        v_tilde = v
        if centered:
            g_ave = g_ave * alpha + (1 - alpha) * g
            v_tilde = v_tilde - g_ave ** 2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            w = w - lr * b
        else:
            w = w - lr * g / (np.sqrt(v_tilde) + eps)
    return w, {"square_avg": v, "grad_avg": g_ave, "momentum_buffer": b}


def adam_ref(w, g_of, steps, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
             amsgrad=False, decoupled=False):
    """Adam; decoupled=True is AdamW (theta = theta - lr * lambda * theta first).
    AMSGrad keeps the running max of the raw v_t and bias-corrects it (PyTorch 2.x)."""
    w = np.array(w, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    v_max = np.zeros_like(w)
    for t in range(1, steps + 1):
        g = np.array(g_of(t, w), dtype=np.float64)
        if decoupled:
            w = w - lr * weight_decay * w
        elif weight_decay != 0:
            g = g + weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2 ** t)
        else:
            v_hat = v / (1 - beta2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w, {"m": m, "v": v, "v_max": v_max}
