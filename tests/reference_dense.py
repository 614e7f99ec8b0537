"""Slow, obvious NumPy references for the activation, dense and softmax kernels.

Written independently of nbnet's kernels: each activation from its textbook
definition, each derivative from the textbook formula in x (not via the output).
Everything is computed in float64.
"""
import math

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erf = np.vectorize(math.erf)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _phi(x):  # standard normal pdf
    return np.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _Phi(x):  # standard normal cdf
    return 0.5 * (1 + _erf(x / math.sqrt(2)))


def _gelu_tanh_u(x):
    return math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)


# name -> (f(x, alpha), f'(x, alpha)); kinks at 0 (and -3, 3, 6) are avoided by tests
ACTIVATIONS = {
    "linear": (lambda x, a: x, lambda x, a: np.ones_like(x)),
    "relu": (lambda x, a: np.where(x > 0, x, 0.0), lambda x, a: (x > 0) * 1.0),
    "sigmoid": (lambda x, a: _sig(x), lambda x, a: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (lambda x, a: np.tanh(x), lambda x, a: 1 / np.cosh(x) ** 2),
    "leaky_relu": (lambda x, a: np.where(x > 0, x, a * x),
                   lambda x, a: np.where(x > 0, 1.0, a)),
    "elu": (lambda x, a: np.where(x > 0, x, a * (np.exp(x) - 1)),
            lambda x, a: np.where(x > 0, 1.0, a * np.exp(x))),
    "selu": (lambda x, a: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
             lambda x, a: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(x))),
    "gelu": (lambda x, a: x * _Phi(x), lambda x, a: _Phi(x) + x * _phi(x)),
    "gelu_tanh": (
        lambda x, a: 0.5 * x * (1 + np.tanh(_gelu_tanh_u(x))),
        lambda x, a: (0.5 * (1 + np.tanh(_gelu_tanh_u(x)))
                      + 0.5 * x / np.cosh(_gelu_tanh_u(x)) ** 2
                      * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x ** 2))),
    "softplus": (lambda x, a: np.log(1 + np.exp(x)), lambda x, a: _sig(x)),
    "softsign": (lambda x, a: x / (1 + np.abs(x)), lambda x, a: 1 / (1 + np.abs(x)) ** 2),
    "swish": (lambda x, a: x * _sig(x), lambda x, a: _sig(x) + x * _sig(x) * (1 - _sig(x))),
    "hard_sigmoid": (lambda x, a: np.clip(x / 6 + 0.5, 0, 1),
                     lambda x, a: ((x > -3) & (x < 3)) / 6.0),
    "relu6": (lambda x, a: np.clip(x, 0, 6), lambda x, a: ((x > 0) & (x < 6)) * 1.0),
}


def act(name, x, alpha=0.0):
    return ACTIVATIONS[name][0](np.asarray(x, np.float64), alpha)


def dact(name, x, alpha=0.0):
    return ACTIVATIONS[name][1](np.asarray(x, np.float64), alpha)


def softmax(x):
    """Row by row with plain loops: exp(x - max) / sum."""
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        e = np.exp(x[n] - x[n].max())
        y[n] = e / e.sum()
    return y


def softmax_backward(dy, x):
    """dx = J^T dy with the full Jacobian J[i, j] = s_i (delta_ij - s_j), per row."""
    s = softmax(x)
    dx = np.empty_like(s)
    for n in range(s.shape[0]):
        J = np.diag(s[n]) - np.outer(s[n], s[n])
        dx[n] = J.T @ dy[n]
    return dx


def log_softmax(x):
    return np.log(softmax(x))


def log_softmax_backward(dy, x):
    """Jacobian of log_softmax: J[i, j] = delta_ij - s_j."""
    s = softmax(x)
    dx = np.empty_like(s)
    for n in range(s.shape[0]):
        J = np.eye(s.shape[1]) - s[n][None, :]
        dx[n] = J.T @ dy[n]
    return dx


def dense_forward(x, W, b, name, alpha=0.0):
    """z = x W + b (b may be None); y = f(z)."""
    z = np.asarray(x, np.float64) @ np.asarray(W, np.float64)
    if b is not None:
        z = z + b
    return z, act(name, z, alpha)


def dense_backward(dy, x, W, z, name, alpha=0.0):
    """dz = dy * f'(z); (dx, dW, db) = (dz W^T, x^T dz, sum_n dz)."""
    dz = np.asarray(dy, np.float64) * dact(name, z, alpha)
    return dz @ np.asarray(W, np.float64).T, np.asarray(x, np.float64).T @ dz, dz.sum(axis=0)


# ---------------------------------------------------------------- test helpers
KINKS = (0.0, -3.0, 3.0, 6.0)  # where some activation is not differentiable
# float32: rtol 1e-5 on values; also atol 1e-6, since derivatives taken from the
# rounded float32 output (s(1 - s), 1 - tanh^2) lose digits where they are small.
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}


def away_from_kinks(x, gap=0.05):
    """Move values within `gap` of a kink to kink +- gap."""
    for k in KINKS:
        near = np.abs(x - k) < gap
        x = np.where(near, k + np.where(x >= k, gap, -gap), x)
    return x
