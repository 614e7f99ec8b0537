"""Activation layers (Keras 3): ReLU, LeakyReLU, ELU, Softmax, and their shared base,
which the Activation layer of core.py also uses.

Element-wise: y = f(x) over the flattened input, dx = dy * f'(x).
Softmax over the last axis: y = softmax(x) row by row, dx = y * (dy - sum(dy * y)).

Fused output: forward(x, training, logits=True) (the model's "logits" unit: a softmax /
sigmoid output followed by the matching cross-entropy, computed stably from logits)
returns its input unchanged, and backward passes dL/d(input) straight through.
"""
import numpy as np

from .. import initializers
from ..kernels import activations as K
from .base import Layer


class ActivationBase(Layer):
    """Applies the activation given by `_code` / `_alpha` / `_act_name` (set by the
    subclass). No weights."""
    supports_masking = True   # passes a mask on (Keras 3)
    _abstract = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._act_name, self._code, self._alpha = "linear", K.LINEAR, 0.0
        self._logits = False   # whether the last forward returned its input (logits)

    @property
    def final_activation(self):
        return self._act_name

    def forward(self, x, training=False, logits=False):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        self._x = x
        self._logits = bool(logits)
        if logits or self._code == K.LINEAR:
            self._y = x
            return x
        y = self.buffer("y", x.shape)
        if self._code >= 0:
            K.act_forward(y.reshape(-1), x.reshape(-1), self._code, float(self._alpha))
        else:
            k = x.shape[-1]
            rowwise = K.softmax_forward if self._code == K.SOFTMAX else K.log_softmax_forward
            rowwise(y.reshape(-1, k), x.reshape(-1, k))
        self._y = y
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=self.dtype)
        if self._logits or self._code == K.LINEAR:
            return dy
        x, y = self._x, self._y
        dx = self.buffer("dx", x.shape)
        if self._code >= 0:
            K.act_backward(dx.reshape(-1), dy.reshape(-1), x.reshape(-1), y.reshape(-1),
                           self._code, float(self._alpha))
        else:
            k = x.shape[-1]
            rowwise = K.softmax_backward if self._code == K.SOFTMAX else K.log_softmax_backward
            rowwise(dx.reshape(-1, k), dy.reshape(-1, k), y.reshape(-1, k))
        return dx

    def flops(self, input_shape):
        # a handful of operations per element; count one per element (0 for linear)
        n = int(np.prod(input_shape[1:]))
        return 0 if self._code == K.LINEAR else n


class ReLU(ActivationBase):
    """max(x, 0) (Keras 3 arguments). Supported: the defaults; negative_slope > 0
    (leaky); max_value=6 (relu6). Other max_value / threshold values raise
    NotImplementedError."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"max_value must be >= 0 or None, got {max_value!r}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope!r}")
        if threshold is None:
            raise ValueError("threshold must be a number, got None")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)
        if self.threshold != 0.0:
            raise NotImplementedError("ReLU(threshold != 0) is not supported")
        if self.max_value is None:
            if self.negative_slope == 0.0:
                self._act_name, self._code = "relu", K.RELU
            else:
                self._act_name, self._code = "leaky_relu", K.LEAKY_RELU
                self._alpha = self.negative_slope
        elif self.max_value == 6.0 and self.negative_slope == 0.0:
            self._act_name, self._code = "relu6", K.RELU6
        else:
            raise NotImplementedError("ReLU supports max_value=None or max_value=6 with "
                                      f"negative_slope=0, got max_value={max_value!r}, "
                                      f"negative_slope={negative_slope!r}")

    def get_config(self):
        cfg = super().get_config()
        cfg.update(max_value=self.max_value, negative_slope=self.negative_slope,
                   threshold=self.threshold)
        return cfg


class LeakyReLU(ActivationBase):
    """x if x > 0 else negative_slope * x (Keras 3 default slope 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self._act_name, self._code, self._alpha = "leaky_relu", K.LEAKY_RELU, self.negative_slope

    def get_config(self):
        cfg = super().get_config()
        cfg.update(negative_slope=self.negative_slope)
        return cfg


class ELU(ActivationBase):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self._act_name, self._code, self._alpha = "elu", K.ELU, self.alpha

    def get_config(self):
        cfg = super().get_config()
        cfg.update(alpha=self.alpha)
        return cfg


class Softmax(ActivationBase):
    """Softmax over the last axis (other axes raise ValueError)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"Softmax supports one integer axis, got {axis!r}")
        self.axis = axis
        self._act_name, self._code = "softmax", K.SOFTMAX

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape) - 1):
            raise ValueError(f"{self.name}: Softmax supports only the last axis, got "
                             f"axis={self.axis} for input shape {tuple(input_shape)}")
        self.built = True

    def flops(self, input_shape):
        # exp, sum, divide per element (+ the max): count 3 per element
        return 3 * int(np.prod(input_shape[1:]))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis)
        return cfg


# ---------------------------------------------------------------------------- PReLU


class PReLU(Layer):
    """Parametric ReLU (Keras 3): y = max(0, x) + alpha * min(0, x), with a trainable
    "alpha" of the input's shape without the batch axis, size 1 along `shared_axes`
    (1-based axes, e.g. shared_axes=[1, 2] for one alpha per channel of NHWC images).

    backward: dx = dy where x > 0, alpha * dy where x < 0 (0 at x == 0, as Keras' relu
    derivative gives); dalpha = sum of dy * min(0, x) over the batch and the shared
    axes, in float64 by NumPy (no threads: the same order at any thread count)."""
    supports_masking = True   # passes a mask on (Keras 3)

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        if alpha_regularizer is not None:
            raise NotImplementedError("PReLU(alpha_regularizer=...) is not supported yet")
        if alpha_constraint is not None:
            raise NotImplementedError("PReLU(alpha_constraint=...) is not supported yet")
        initializers.get(alpha_initializer)  # fail early on an unknown name
        self.alpha_initializer = alpha_initializer
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) or a < 1
                   for a in axes):
                raise ValueError(f"shared_axes must be positive integers (1-based axes, "
                                 f"the batch axis excluded), got {shared_axes!r}")
            self.shared_axes = [int(a) for a in axes]
        self.alpha = None

    def build(self, input_shape):
        rank = len(input_shape)
        shared = self.shared_axes or []
        if any(a >= rank for a in shared):
            raise ValueError(f"{self.name}: shared_axes {self.shared_axes} out of range for "
                             f"input shape {tuple(input_shape)}")
        shape = [1 if i + 1 in shared else d for i, d in enumerate(input_shape[1:])]
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: the non-shared axes of the input must be known, "
                             f"got input shape {tuple(input_shape)}")
        self.alpha = self.add_weight("alpha", tuple(int(d) for d in shape),
                                     self.alpha_initializer)
        self._sum_axes = (0,) + tuple(sorted(set(shared)))
        self.built = True

    def forward(self, x, training=False):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        alpha = self.alpha.value
        if x.ndim != alpha.ndim + 1 or any(a not in (1, d)
                                           for a, d in zip(alpha.shape, x.shape[1:])):
            raise ValueError(f"{self.name}: built for alpha of shape {alpha.shape}, got "
                             f"input of shape {x.shape}")
        neg = self.buffer("neg", x.shape)
        np.minimum(x, 0.0, out=neg)
        y = self.buffer("y", x.shape)
        tmp = self.buffer("tmp", x.shape)
        np.multiply(neg, alpha, out=tmp)
        np.maximum(x, 0.0, out=y)
        y += tmp                      # max(0, x) + alpha * min(0, x)
        self._x, self._neg = x, neg
        return y

    def backward(self, dy, need_dx=True):
        x, neg = self._x, self._neg
        dy = np.ascontiguousarray(dy, dtype=self.dtype)
        alpha = self.alpha.value
        if self.alpha.trainable and self.trainable:
            t = self.buffer("tmp", x.shape)
            np.multiply(dy, neg, out=t)
            g = np.sum(t, axis=self._sum_axes, dtype=np.float64, keepdims=True)
            self.alpha.grad[...] = g.reshape(alpha.shape)
        if not need_dx:
            return None
        dx = self.buffer("dx", x.shape)
        np.multiply(dy, alpha, out=dx)
        np.copyto(dx, 0.0, where=neg == 0.0)   # x >= 0 (and x == 0 gives 0)
        np.copyto(dx, dy, where=x > 0.0)
        return dx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape):
        return 2 * int(np.prod(input_shape[1:]))   # a multiply and an add per element

    def get_config(self):
        cfg = super().get_config()
        init = self.alpha_initializer
        init = init if isinstance(init, dict) else initializers.serialize(init)
        cfg.update(alpha_initializer=init,
                   alpha_regularizer=None, alpha_constraint=None,
                   shared_axes=None if self.shared_axes is None else list(self.shared_axes))
        return cfg
