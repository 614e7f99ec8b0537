"""Noise layers (Keras 3): GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout2D.

Active only in training; otherwise forward returns its input itself and backward dy.
In training (z standard normal, u uniform, both from kernels/noise.py):

    GaussianNoise     y = x + stddev * z                              dx = dy
    GaussianDropout   y = x * (1 + s z),  s = sqrt(rate / (1 - rate))  dx = dy * (1 + s z)
    AlphaDropout      keep = u >= rate;  y = a * (keep ? x : alpha_p) + b, with the SELU
                      constants alpha_p = -alpha * scale, a = ((1 - rate)(1 + rate
                      alpha_p^2))^-1/2, b = -a alpha_p rate (mean and variance kept)
                                                                      dx = dy * a * keep
    SpatialDropout2D  one keep / drop per (image, channel), kept channels scaled by
                      1 / (1 - rate)                                  dx = dy * mask

As Dropout (layers/core.py), the noise of a training call is a function of (seed, step)
only: a model passes the optimizer's iteration count as `step` (nbnet.plan, `stepped`),
so a resumed fit draws the same noise; called alone, a layer counts its own training
calls. An unseeded layer draws its seed once, from nb.utils.set_random_seed, and keeps
it in its config.
"""
import math

import numpy as np

from .. import random as nbrandom
from ..kernels import noise as K
from .base import Layer

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _number(value, arg, lo, hi, hi_open):
    """A float in [lo, hi) (hi_open) or [lo, hi], else ValueError naming `arg`."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        value = float(value)
        ok = lo <= value and (value < hi if hi_open else value <= hi)
    if not ok:
        bound = f"[{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{arg} must be a number in {bound}, got {value!r}")
    return value


class _NoiseLayer(Layer):
    """Seed handling and the inference identity shared by the noise layers."""
    stepped = True   # a model passes forward(..., step=) (nbnet.plan)

    def _init_seed(self, seed):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = int(nbrandom.generator().integers(2**62)) if seed is None else int(seed)
        self._calls = 0
        self._active = False   # whether the last forward drew noise

    def _kernel_seed(self, step):
        """The kernel seed of this training call: a function of (seed, step) only."""
        step = self._calls if step is None else int(step)
        self._calls += 1
        return (self.seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) % (2**63)

    def _idle(self, training):
        """Whether this call is the identity (inference, or no noise at all)."""
        self._active = bool(training) and self._amount() > 0.0
        return not self._active

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if not self._active:
            return dy
        return self._backward(np.ascontiguousarray(dy, dtype=self.dtype))

    def flops(self, input_shape):
        return 0  # no work at inference


class GaussianNoise(_NoiseLayer):
    """Additive zero-centred Gaussian noise of standard deviation `stddev` (training)."""
    supports_masking = True   # passes a mask on (Keras 3)

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = _number(stddev, "stddev", 0.0, 1.0, hi_open=False)  # Keras' range
        self._init_seed(seed)

    def _amount(self):
        return self.stddev

    def forward(self, x, training=False, step=None):
        if self._idle(training):
            return x
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = self.buffer("y", x.shape)
        K.gaussian_noise_forward(y.reshape(-1), x.reshape(-1), self.stddev,
                                 self._kernel_seed(step))
        return y

    def _backward(self, dy):
        return dy   # y = x + noise: dL/dx = dL/dy

    def get_config(self):
        cfg = super().get_config()
        cfg.update(stddev=self.stddev, seed=self.seed)
        return cfg


class _FactorNoise(_NoiseLayer):
    """A layer whose training output is x * factor (+ a constant): dx = dy * factor."""
    supports_masking = True   # passes a mask on (Keras 3)

    def _backward(self, dy):
        dx = self.buffer("dx", dy.shape)
        factor = self._factor
        if factor.shape == dy.shape:
            K.scale_backward(dx.reshape(-1), dy.reshape(-1), factor.reshape(-1))
        else:  # a broadcast noise_shape (AlphaDropout)
            np.multiply(dy, factor, out=dx)
        return dx


class GaussianDropout(_FactorNoise):
    """Multiplicative 1-centred Gaussian noise of standard deviation
    sqrt(rate / (1 - rate)) (training)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _number(rate, "rate", 0.0, 1.0, hi_open=True)
        self._init_seed(seed)

    def _amount(self):
        return self.rate

    def forward(self, x, training=False, step=None):
        if self._idle(training):
            return x
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = self.buffer("y", x.shape)
        noise = self.buffer("noise", x.shape)
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        K.gaussian_dropout_forward(y.reshape(-1), noise.reshape(-1), x.reshape(-1), stddev,
                                   self._kernel_seed(step))
        self._factor = noise
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


def alpha_dropout_constants(rate):
    """(alpha_p, a, b) of AlphaDropout at `rate` (Keras 3's formula, SELU constants)."""
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    return alpha_p, a, b


class AlphaDropout(_FactorNoise):
    """Dropout that keeps the mean and variance of SELU activations: dropped units are
    set to alpha_p, then y = a * x + b (training). noise_shape: the shape of the keep
    mask, broadcast over the input (None entries take the input's size)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _number(rate, "rate", 0.0, 1.0, hi_open=True)
        if noise_shape is not None:
            try:
                noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
            except (TypeError, ValueError):
                raise ValueError(f"noise_shape must be a tuple of integers or None, "
                                 f"got {noise_shape!r}") from None
            if any(d is not None and d < 1 for d in noise_shape):
                raise ValueError(f"noise_shape must hold positive sizes, got {noise_shape!r}")
        self.noise_shape = noise_shape
        self._init_seed(seed)

    def _amount(self):
        return self.rate

    def _concrete_noise_shape(self, shape):
        if self.noise_shape is None:
            return tuple(shape)
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"{self.name}: noise_shape {self.noise_shape} does not match "
                             f"the input's rank ({tuple(shape)})")
        out = tuple(s if d is None else d for d, s in zip(self.noise_shape, shape))
        if any(d not in (1, s) for d, s in zip(out, shape)):
            raise ValueError(f"{self.name}: noise_shape {self.noise_shape} cannot broadcast "
                             f"to the input shape {tuple(shape)}")
        return out

    def forward(self, x, training=False, step=None):
        if self._idle(training):
            return x
        x = np.ascontiguousarray(x, dtype=self.dtype)
        alpha_p, a, b = alpha_dropout_constants(self.rate)
        seed = self._kernel_seed(step)
        y = self.buffer("y", x.shape)
        nshape = self._concrete_noise_shape(x.shape)
        if nshape == x.shape:
            factor = self.buffer("factor", x.shape)
            K.alpha_dropout_forward(y.reshape(-1), factor.reshape(-1), x.reshape(-1),
                                    self.rate, a, b, alpha_p, seed)
        else:
            # the kernel on zeros of the noise shape gives the factor (a * keep) and the
            # offset (b, or a * alpha_p + b where dropped); numpy broadcasts them
            factor = self.buffer("factor", nshape)
            offset = self.buffer("offset", nshape)
            zeros = self.buffer("zeros", nshape)
            zeros[...] = 0.0
            K.alpha_dropout_forward(offset.reshape(-1), factor.reshape(-1), zeros.reshape(-1),
                                    self.rate, a, b, alpha_p, seed)
            np.multiply(x, factor, out=y)
            y += offset
        self._factor = factor
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed,
                   noise_shape=None if self.noise_shape is None else list(self.noise_shape))
        return cfg


class SpatialDropout2D(_NoiseLayer):
    """Drops whole feature maps: one keep / drop per (image, channel), kept channels
    scaled by 1 / (1 - rate) (training). data_format "channels_last" (default) or
    "channels_first"."""

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _number(rate, "rate", 0.0, 1.0, hi_open=True)
        if data_format is None:
            data_format = "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f'data_format must be "channels_last" or "channels_first", '
                             f"got {data_format!r}")
        self.data_format = data_format
        self._init_seed(seed)

    def _amount(self):
        return self.rate

    def _check(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.name}: expects 4-D input, got shape {tuple(shape)}")

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(input_shape)

    def _nsc(self, a):
        """a as (N, S, C) for the kernels; channels_first: (N*C, H*W, 1), a view."""
        N = a.shape[0]
        if self.data_format == "channels_first":
            return a.reshape(N * a.shape[1], -1, 1)
        return a.reshape(N, -1, a.shape[3])

    def forward(self, x, training=False, step=None):
        self._check(x.shape)
        if self._idle(training):
            return x
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = self.buffer("y", x.shape)
        x3, y3 = self._nsc(x), self._nsc(y)
        mask = self.buffer("mask", (x3.shape[0], x3.shape[2]))
        K.spatial_dropout_forward(y3, mask, x3, self.rate, self._kernel_seed(step))
        self._mask = mask
        return y

    def _backward(self, dy):
        dx = self.buffer("dx", dy.shape)
        K.spatial_dropout_backward(self._nsc(dx), self._nsc(dy), self._mask)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed, data_format=self.data_format)
        return cfg
