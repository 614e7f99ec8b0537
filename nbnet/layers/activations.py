"""Activation layers (Keras 3): ReLU, LeakyReLU, ELU, Softmax, and their shared base,
which the Activation layer of core.py also uses.

Element-wise: y = f(x) over the flattened input, dx = dy * f'(x).
Softmax over the last axis: y = softmax(x) row by row, dx = y * (dy - sum(dy * y)).

Fused output: forward(x, training, logits=True) (the model's "logits" unit: a softmax /
sigmoid output followed by the matching cross-entropy, computed stably from logits)
returns its input unchanged, and backward passes dL/d(input) straight through.
"""
import numpy as np

from ..kernels import activations as K
from .base import Layer


class ActivationBase(Layer):
    """Applies the activation given by `_code` / `_alpha` / `_act_name` (set by the
    subclass). No weights."""
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
