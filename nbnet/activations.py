"""Activation functions (`nb.activations`): Keras 3 names, arguments and defaults.

Each function takes an array and returns a new one, computed by the numba kernels of
nbnet.kernels.activations (float32 and float64 keep their dtype; other input is
converted to nb.config.floatx()).

Layers do not call these functions: they ask `spec(identifier)` for the kernel code
and parameter and call the kernels on their own buffers.
"""
import numpy as np

from . import config
from .kernels import activations as K
from .registry import Registry


def _as_float(x):
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(config.floatx())
    return np.ascontiguousarray(x, dtype=dtype)


def _elementwise(x, code, alpha=0.0):
    x = _as_float(x)
    y = np.empty_like(x)
    K.act_forward(y.reshape(-1), x.reshape(-1), int(code), float(alpha))
    return y


def _rowwise(kernel, x, axis):
    x = _as_float(x)
    if x.ndim == 0:
        raise ValueError("softmax needs an array with at least one axis")
    xm = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    y = np.empty_like(xm)
    k = xm.shape[-1] if xm.size else 1
    kernel(y.reshape(-1, k), xm.reshape(-1, k))
    return np.moveaxis(y, -1, axis)


def linear(x):
    return _as_float(x).copy()


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0); Keras 3's general form: x if x >= threshold (capped at max_value),
    else negative_slope * (x - threshold)."""
    if max_value is None and threshold == 0.0:
        if negative_slope == 0.0:
            return _elementwise(x, K.RELU)
        return _elementwise(x, K.LEAKY_RELU, negative_slope)
    if max_value == 6.0 and negative_slope == 0.0 and threshold == 0.0:
        return _elementwise(x, K.RELU6)
    x = _as_float(x)  # the general form, rarely used: plain NumPy
    y = np.where(x >= threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        y = np.minimum(y, max_value)
    return y.astype(x.dtype)


def leaky_relu(x, negative_slope=0.2):
    return _elementwise(x, K.LEAKY_RELU, negative_slope)


def relu6(x):
    return _elementwise(x, K.RELU6)


def sigmoid(x):
    return _elementwise(x, K.SIGMOID)


def tanh(x):
    return _elementwise(x, K.TANH)


def elu(x, alpha=1.0):
    return _elementwise(x, K.ELU, alpha)


def selu(x):
    return _elementwise(x, K.SELU)


def gelu(x, approximate=False):
    """x * Phi(x) (exact, erf); approximate=True: the tanh form."""
    return _elementwise(x, K.GELU_TANH if approximate else K.GELU)


def softplus(x):
    return _elementwise(x, K.SOFTPLUS)


def softsign(x):
    return _elementwise(x, K.SOFTSIGN)


def silu(x):
    """x * sigmoid(x), also called swish."""
    return _elementwise(x, K.SWISH)


swish = silu


def hard_sigmoid(x):
    """relu6(x + 3) / 6 (Keras 3 definition)."""
    return _elementwise(x, K.HARD_SIGMOID)


def softmax(x, axis=-1):
    return _rowwise(K.softmax_forward, x, axis)


def log_softmax(x, axis=-1):
    return _rowwise(K.log_softmax_forward, x, axis)


# name -> (function, kernel code, default parameter)
_SPECS = {
    "linear": (linear, K.LINEAR, 0.0),
    "relu": (relu, K.RELU, 0.0),
    "leaky_relu": (leaky_relu, K.LEAKY_RELU, 0.2),
    "relu6": (relu6, K.RELU6, 0.0),
    "sigmoid": (sigmoid, K.SIGMOID, 0.0),
    "tanh": (tanh, K.TANH, 0.0),
    "elu": (elu, K.ELU, 1.0),
    "selu": (selu, K.SELU, 0.0),
    "gelu": (gelu, K.GELU, 0.0),
    "softplus": (softplus, K.SOFTPLUS, 0.0),
    "softsign": (softsign, K.SOFTSIGN, 0.0),
    "silu": (silu, K.SWISH, 0.0),
    "swish": (swish, K.SWISH, 0.0),
    "hard_sigmoid": (hard_sigmoid, K.HARD_SIGMOID, 0.0),
    "softmax": (softmax, K.SOFTMAX, 0.0),
    "log_softmax": (log_softmax, K.LOG_SOFTMAX, 0.0),
}
_NAME_OF = {}
ACTIVATIONS = Registry("activation")
for _name, (_fn, _, _) in _SPECS.items():
    _NAME_OF.setdefault(_fn, _name)  # swish is silu: "silu"
    ACTIVATIONS.add(_fn, name=_name)


def serialize(activation):
    """The name of an activation: a name, None ("linear") or one of these functions."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        ACTIVATIONS.lookup(activation)   # an unknown name raises, listing the known ones
        return activation
    try:
        return _NAME_OF[activation]
    except (KeyError, TypeError):
        raise ValueError(f"activation {activation!r} is not one of nb.activations' "
                         f"functions; pass one of: {', '.join(sorted(_SPECS))}") from None


def get(identifier):
    """A string, None (linear) or one of these functions -> the function."""
    return _SPECS[serialize(identifier)][0]


def spec(identifier):
    """(name, kernel code, parameter) for the layers' kernels. Codes >= 0 are
    element-wise; K.SOFTMAX and K.LOG_SOFTMAX (< 0) go to the row-wise kernels."""
    name = serialize(identifier)
    _, code, alpha = _SPECS[name]
    return name, code, alpha
