"""Core layers (Keras 3): Dense, Activation, Dropout, Flatten, Reshape.

Dense on x (N, I) (any leading axes are flattened into N), kernel W (I, F), bias b (F,):
    forward   z = x @ W (BLAS); z += b; y = f(z)             (kernels/dense.py)
    backward  dz = dy * f'(z); db = sum_n dz; dW = x.T @ dz; dx = dz @ W.T
Fused output (forward(x, training, logits=True), the model's "logits" unit): forward
returns z, and backward receives dL/dz directly (the loss took the softmax / sigmoid).
"""
import math

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .. import random as nbrandom
from ..kernels import activations as KA
from ..kernels import dense as K
from ..kernels import dropout as KD
from ..kernels.gemm import matmul
from .activations import ActivationBase
from .base import Layer


def _init_config(init):
    return init if isinstance(init, dict) else initializers.serialize(init)


class KernelLayer(Layer):
    """What Dense and Conv2D share: a kernel, an optional bias, a fused activation."""
    _abstract = True

    def _init_kernel_layer(self, activation, use_bias, kernel_initializer, bias_initializer,
                           kernel_regularizer=None, bias_regularizer=None,
                           activity_regularizer=None, kernel_constraint=None,
                           bias_constraint=None):
        self.activation = activations.get(activation)
        self._act_name, self._code, self._alpha = activations.spec(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        initializers.get(kernel_initializer)  # fail early on an unknown name
        initializers.get(bias_initializer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = self.bias = None
        self._logits = False   # whether the last forward returned the logits

    @property
    def final_activation(self):
        return self._act_name

    def _add_kernel_and_bias(self, kernel_shape, bias_shape):
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", bias_shape, self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def _regularizer_config(self):
        """The regularizer / constraint entries of get_config (only those that are set)."""
        out = {}
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if getattr(self, key) is not None:
                out[key] = regularizers.serialize(getattr(self, key))
        for key in ("kernel_constraint", "bias_constraint"):
            if getattr(self, key) is not None:
                out[key] = constraints.serialize(getattr(self, key))
        return out


class Dense(KernelLayer):
    supports_masking = True   # passes a mask on (Keras 3)
    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}")
        self.units = int(units)
        self._init_kernel_layer(activation, use_bias, kernel_initializer, bias_initializer,
                                kernel_regularizer, bias_regularizer, activity_regularizer,
                                kernel_constraint, bias_constraint)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the last axis of the input must be known")
        n_in = int(input_shape[-1])
        self._add_kernel_and_bias((n_in, self.units), (self.units,))
        self._no_bias = np.zeros(self.units, self.dtype)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False, logits=False):
        """logits=True: return z = x @ W + b without the activation (a loss that applies
        it takes the logits); backward then expects dL/dz."""
        W = self.kernel.value
        if x.shape[-1] != W.shape[0]:
            raise ValueError(f"{self.name}: expected {W.shape[0]} input features, got "
                             f"input of shape {x.shape}")
        x2 = np.ascontiguousarray(x, dtype=self.dtype).reshape(-1, W.shape[0])
        F = self.units
        z = self.buffer("z", (x2.shape[0], F))
        matmul(z, x2, W)
        b = self.bias.value if self.use_bias else self._no_bias
        code = self._code
        self._logits = bool(logits)
        if logits or code == KA.LINEAR:
            K.bias_act_forward(z, z, b, self.use_bias, KA.LINEAR, 0.0)
            y = z
        elif code >= 0:
            y = self.buffer("y", z.shape)
            K.bias_act_forward(z, y, b, self.use_bias, code, float(self._alpha))
        else:  # softmax / log_softmax: bias first, then the row-wise kernel
            K.bias_act_forward(z, z, b, self.use_bias, KA.LINEAR, 0.0)
            y = self.buffer("y", z.shape)
            (KA.softmax_forward if code == KA.SOFTMAX else KA.log_softmax_forward)(y, z)
        self._x2, self._z, self._y, self._in_shape = x2, z, y, x.shape
        return y.reshape(x.shape[:-1] + (F,))

    def backward(self, dy, need_dx=True):
        x2, z, y = self._x2, self._z, self._y
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(z.shape)
        train = self.trainable
        has_bias = self.use_bias and train
        db = self.bias.grad if has_bias else self._no_bias
        code = self._code
        if self._logits or code == KA.LINEAR:
            dz = dy  # dz = dy: only the bias sum is needed (done in place)
            K.bias_act_backward(dz, db, dy, z, z, has_bias, KA.LINEAR, 0.0)
        elif code >= 0:
            dz = self.buffer("dz", z.shape)
            K.bias_act_backward(dz, db, dy, z, y, has_bias, code, float(self._alpha))
        else:
            dz = self.buffer("dz", z.shape)
            (KA.softmax_backward if code == KA.SOFTMAX else KA.log_softmax_backward)(dz, dy, y)
            K.bias_act_backward(dz, db, dz, z, z, has_bias, KA.LINEAR, 0.0)
        W = self.kernel.value
        if train:
            matmul(self.kernel.grad, x2.T, dz)  # dW = x.T @ dz (overwrites)
        if not need_dx:
            return None
        dx = self.buffer("dx", x2.shape)
        matmul(dx, dz, W.T)
        return dx.reshape(self._in_shape)

    def flops(self, input_shape):
        n_in = int(input_shape[-1])
        rows = int(np.prod(input_shape[1:-1]))  # 1 for 2-D input
        per_row = 2 * n_in * self.units + (self.units if self.use_bias else 0)
        if self._code != KA.LINEAR:
            per_row += self.units
        return rows * per_row

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, activation=self._act_name, use_bias=self.use_bias,
                   kernel_initializer=_init_config(self.kernel_initializer),
                   bias_initializer=_init_config(self.bias_initializer),
                   **self._regularizer_config())
        return cfg


class Activation(ActivationBase):
    """Applies an activation function (a name or an nb.activations function)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._act_name, self._code, self._alpha = activations.spec(activation)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(activation=self._act_name)
        return cfg


class Dropout(Layer):
    """Inverted dropout: in training, y = x * mask with mask = (u >= rate) / (1 - rate);
    identity otherwise. Each training call draws a kernel seed from the layer's own
    generator (from `seed`, else from nb.utils.set_random_seed)."""
    supports_masking = True   # passes a mask on (Keras 3)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise NotImplementedError("Dropout(noise_shape=...) is not supported")
        self.rate = float(rate)
        # NOTE: an unseeded layer draws its seed once, from nb.utils.set_random_seed, and
        # keeps it in its config, so a saved and reloaded model drops the same units.
        self.seed = int(nbrandom.generator().integers(2**62)) if seed is None else int(seed)
        # The mask of a training call is a function of (seed, step) only: a model passes
        # the optimizer's iteration count as `step`, so a resumed fit draws the same
        # masks; called alone, the layer counts its own training calls.
        self._calls = 0
        self._mask = None

    stepped = True   # a model passes forward(..., step=) (nbnet.plan)

    def forward(self, x, training=False, step=None):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = self.buffer("y", x.shape)
        mask = self.buffer("mask", x.shape)
        step = self._calls if step is None else step
        self._calls += 1
        seed = (self.seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) % (2**63)
        KD.dropout_forward(y.reshape(-1), mask.reshape(-1), x.reshape(-1), self.rate, seed)
        self._mask = mask
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._mask is None:  # identity forward
            return dy
        dy = np.ascontiguousarray(dy, dtype=self.dtype)
        dx = self.buffer("dx", dy.shape)
        KD.dropout_backward(dx.reshape(-1), dy.reshape(-1), self._mask.reshape(-1))
        return dx

    def flops(self, input_shape):
        return 0  # no work at inference

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


class ActivityRegularization(Layer):
    """y = x; in a model, l1 * sum|y| + l2 * sum y^2, divided by the batch size, joins
    the loss (Keras 3's activity regularizer)."""
    supports_masking = True   # passes a mask on (Keras 3)

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = float(l1), float(l2)
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy if need_dx else None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(l1=self.l1, l2=self.l2)
        return cfg


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...); a view, no copy."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], n)

    def forward(self, x, training=False):
        self._in_shape = x.shape
        return np.ascontiguousarray(x).reshape(x.shape[0], -1)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return np.ascontiguousarray(dy).reshape(self._in_shape)


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one entry of target_shape may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(f"Reshape target_shape must be a tuple of integers, "
                             f"got {target_shape!r}") from None
        if sum(d == -1 for d in target) > 1 or any(d < -1 or d == 0 for d in target):
            raise ValueError(f"Reshape target_shape may hold positive sizes and one -1, "
                             f"got {target_shape!r}")
        self.target_shape = target

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        n = math.prod(rest)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if n % known:
                raise ValueError(f"{self.name}: cannot reshape {tuple(rest)} into "
                                 f"{self.target_shape}")
            return (input_shape[0],) + tuple(n // known if d == -1 else d
                                             for d in self.target_shape)
        if known != n:
            raise ValueError(f"{self.name}: cannot reshape {tuple(rest)} ({n} values) into "
                             f"{self.target_shape} ({known} values)")
        return (input_shape[0],) + self.target_shape

    def forward(self, x, training=False):
        self._in_shape = x.shape
        out = self.compute_output_shape(x.shape)
        return np.ascontiguousarray(x).reshape((x.shape[0],) + tuple(out[1:]))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return np.ascontiguousarray(dy).reshape(self._in_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(target_shape=list(self.target_shape))
        return cfg
