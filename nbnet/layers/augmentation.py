"""Random image augmentation layers (Keras 3), NHWC: RandomFlip, RandomRotation,
RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, RandomCrop.

At inference (training=False) each is the identity and returns its input itself,
except RandomCrop, which crops to the target aspect ratio and resizes (Keras' rule).
In training, image n of a call gets its own parameters from uniforms u[n, k] =
splitmix64(seed', n*K + k), seed' a function of the layer seed and the step (the
optimizer's iteration, passed by the model; a layer called alone counts its own
training calls): the same images at any thread count, and a resumed fit draws the
same ones. An unseeded layer draws its seed once from nb.utils.set_random_seed and
keeps it in its config. Parameter ranges are Keras 3's:

    RandomFlip          flip if u <= 0.5; "horizontal_and_vertical" flips both axes
                        together with the one draw (Keras 3 does the same)
    RandomRotation      angle = 360 deg * U(lower, upper), counter-clockwise for > 0,
                        about the centre ((W-1)/2, (H-1)/2)
    RandomZoom          zoom = 1 + U(lower, upper) per axis (< 1: zoom in); width
                        follows height when width_factor is None
    RandomTranslation   shift = U(lower, upper) * size per axis
    RandomContrast      f = U(1 - lower, 1 + upper); y = clip((x - mean) f + mean, range)
                        (a float factor gives lower = 0, as Keras 3's _set_factor does)
    RandomBrightness    y = clip(x + U(lower, upper) * (range[1] - range[0]), range)
    RandomCrop          a uniform window offset per image when the image is larger
                        than the target along both axes

The geometric ones warp through kernels/image.py affine_forward (Keras' sampling
matrix, its fill modes reflect / wrap / constant / nearest); their backward is the
transposed sampling (affine_backward). backward returns None when need_dx is False.
"""
import math
import numbers

import numpy as np

from .. import random as nbrandom
from ..kernels import image as KI
from .base import Layer
from .conv import check_4d, check_data_format
from .preprocessing import (INTERPOLATIONS, _number, _positive_int, check_interpolation,
                            crop_box, resize_images)

FILL_MODES = {"constant": KI.CONSTANT, "nearest": KI.NEAREST_FILL, "wrap": KI.WRAP,
              "reflect": KI.REFLECT}


def _factor_pair(factor, name, lo_bound, hi_bound, strict_low=False):
    """Keras' factor rule: a number f -> (-|f|, |f|) (clamped at lo_bound when that is
    0), a pair -> sorted; every value within [lo_bound, hi_bound] ((lo, hi] if
    strict_low)."""
    def bad():
        low = "(" if strict_low else "["
        return ValueError(f"{name} must be a number or a pair of numbers in "
                          f"{low}{lo_bound}, {hi_bound}], got {factor!r}")

    def ok(v):
        return (v > lo_bound if strict_low else v >= lo_bound) and v <= hi_bound

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                       for v in factor):
            raise bad()
        if not (ok(factor[0]) and ok(factor[1])):
            raise bad()
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not ok(factor):
        raise bad()
    f = abs(float(factor))
    return max(-f, lo_bound), f


def _base_factor(factor, name, bounds):
    """Keras' BaseImagePreprocessingLayer._set_factor: a pair must overlap the bounds
    (factor[0] <= hi and factor[1] >= lo), a number must lie within them."""
    lo_b, hi_b = bounds
    msg = (f"{name} must be a number or a pair of numbers in [{lo_b}, {hi_b}], "
           f"got {factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                       for v in factor):
            raise ValueError(msg)
        if factor[0] > hi_b or factor[1] < lo_b:
            raise ValueError(msg)
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real):
        raise ValueError(msg)
    if factor < lo_b or factor > hi_b:
        raise ValueError(msg)
    f = abs(float(factor))
    return max(-f, lo_b), f


def _value_range(value_range, name, sort):
    if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or
            not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value_range)):
        raise ValueError(f"{name} value_range must be a pair of numbers, got {value_range!r}")
    v = [float(value_range[0]), float(value_range[1])]
    return sorted(v) if sort else v


class _RandomImageLayer(Layer):
    """What the augmentation layers share: the seed, the per-image draws, 4-D input."""
    stepped = True   # a model passes forward(..., step=) (nbnet.plan)

    def _init_seed(self, seed, data_format=None):
        check_data_format(data_format)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"{type(self).__name__} seed must be a non-negative integer or "
                             f"None, got {seed!r}")
        self.seed = int(nbrandom.generator().integers(2**62)) if seed is None else int(seed)
        self._calls = 0

    def _draws(self, n, k, step):
        """u (n, k) in [0, 1) for this call (one row per image)."""
        step = self._calls if step is None else int(step)
        self._calls += 1
        seed = (self.seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) % (2**63)
        u = np.empty((n, k), dtype=np.float64)
        KI.uniform_draws(u, seed)
        return u

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg["seed"] = self.seed
        return cfg


# ------------------------------------------------------------------ flip
class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2: left-right ("horizontal"), upside down
    ("vertical"), or both at once ("horizontal_and_vertical", Keras 3's one draw)."""
    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"RandomFlip mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self._init_seed(seed, data_format)
        self._flips = None

    def forward(self, x, training=False, step=None):
        if not training:
            self._flips = None
            return x
        check_4d(self, x.shape)
        x = np.ascontiguousarray(x)
        flip = (self._draws(x.shape[0], 1, step)[:, 0] <= 0.5).astype(np.int64)
        zero = np.zeros_like(flip)
        fh = flip if self.mode != "vertical" else zero
        fv = flip if self.mode != "horizontal" else zero
        self._flips = (fh, fv)
        y = self.buffer("y", x.shape)
        KI.flip_forward(y, x, fh, fv)
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._flips is None:
            return dy
        dx = self.buffer("dx", dy.shape)
        KI.flip_forward(dx, np.ascontiguousarray(dy), *self._flips)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg["mode"] = self.mode
        return cfg


# ------------------------------------------------------------------ affine warps
class _AffineLayer(_RandomImageLayer):
    """A random affine warp per image (subclasses give the matrices)."""

    def _init_warp(self, fill_mode, interpolation, fill_value):
        name = type(self).__name__
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{name} fill_mode must be one of {sorted(FILL_MODES)}, "
                             f"got {fill_mode!r}")
        self.fill_mode = fill_mode
        self.interpolation = check_interpolation(interpolation, name, keras_only=())
        self.fill_value = _number(fill_value, f"{name} fill_value")
        self._M = None

    def _matrices(self, u, H, W):
        raise NotImplementedError

    def forward(self, x, training=False, step=None):
        if not training:
            self._M = None
            return x
        check_4d(self, x.shape)
        x = np.ascontiguousarray(x)
        N, H, W, _ = x.shape
        M = np.ascontiguousarray(self._matrices(self._draws(N, self._n_draws, step), H, W),
                                 dtype=np.float64)
        y = self.buffer("y", x.shape)
        axis = not (M[:, 1].any() or M[:, 3].any())     # no rotation or shear: separable taps
        (KI.affine_axis_forward if axis else KI.affine_forward)(
            y, x, M, INTERPOLATIONS[self.interpolation], FILL_MODES[self.fill_mode],
            self.fill_value)
        self._M = M
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._M is None:
            return dy
        dx = self.buffer("dx", dy.shape)
        KI.affine_backward(dx, np.ascontiguousarray(dy), self._M,
                           INTERPOLATIONS[self.interpolation], FILL_MODES[self.fill_mode])
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(fill_mode=self.fill_mode, interpolation=self.interpolation,
                   fill_value=self.fill_value)
        return cfg


def rotation_matrices(angle_deg, H, W):
    """Keras' _compute_affine_matrix for a rotation by angle_deg (N,) about the centre:
    rows (a0 a1 a2 b0 b1 b2), output (x, y) -> input (a0 x + a1 y + a2, b0 x + b1 y + b2)."""
    t = np.asarray(angle_deg, dtype=np.float64) * (math.pi / 180.0)
    cx, cy = 0.5 * (W - 1), 0.5 * (H - 1)
    c, s = np.cos(t), np.sin(t)
    a0, a1, b0, b1 = c, -s, s, c
    return np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1], axis=1)


class RandomRotation(_AffineLayer):
    """Rotates each image by 360 * U(lower, upper) degrees (counter-clockwise for
    positive angles); factor f -> (-|f|, |f|), or a (lower, upper) pair."""
    _n_draws = 1

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = _base_factor(factor, "RandomRotation factor", (-1.0, 1.0))
        self._init_warp(fill_mode, interpolation, fill_value)
        self._init_seed(seed, data_format)

    def _matrices(self, u, H, W):
        lo, hi = self.factor[0] * 360.0, self.factor[1] * 360.0
        return rotation_matrices(lo + (hi - lo) * u[:, 0], H, W)

    def get_config(self):
        cfg = super().get_config()
        cfg["factor"] = list(self.factor)
        return cfg


class RandomZoom(_AffineLayer):
    """Zooms each image by z = 1 + U(lower, upper) per axis about the centre (z < 1,
    a negative factor, zooms in); factors in (-1, 1]."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _factor_pair(
            height_factor, "RandomZoom height_factor", -1.0, 1.0, strict_low=True)
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor_pair(
                width_factor, "RandomZoom width_factor", -1.0, 1.0, strict_low=True)
        self._n_draws = 1 if width_factor is None else 2
        self._init_warp(fill_mode, interpolation, fill_value)
        self._init_seed(seed, data_format)

    def _matrices(self, u, H, W):
        zy = 1.0 + self.height_lower + (self.height_upper - self.height_lower) * u[:, 0]
        if self.width_factor is None:
            zx = zy
        else:
            zx = 1.0 + self.width_lower + (self.width_upper - self.width_lower) * u[:, 1]
        z = np.zeros_like(zx)
        return np.stack([zx, z, (W - 1) / 2.0 * (1.0 - zx), z, zy, (H - 1) / 2.0 * (1.0 - zy)],
                        axis=1)

    def get_config(self):
        cfg = super().get_config()
        f = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731 (JSON lists)
        cfg.update(height_factor=f(self.height_factor), width_factor=f(self.width_factor))
        return cfg


class RandomTranslation(_AffineLayer):
    """Shifts each image by U(lower, upper) * height rows and U(lower, upper) * width
    columns (positive: down / right); factors in [-1, 1]."""
    _n_draws = 2

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = _factor_pair(
            height_factor, "RandomTranslation height_factor", -1.0, 1.0)
        self.width_lower, self.width_upper = _factor_pair(
            width_factor, "RandomTranslation width_factor", -1.0, 1.0)
        self._init_warp(fill_mode, interpolation, fill_value)
        self._init_seed(seed, data_format)

    def _matrices(self, u, H, W):
        ty = (self.height_lower + (self.height_upper - self.height_lower) * u[:, 0]) * H
        tx = (self.width_lower + (self.width_upper - self.width_lower) * u[:, 1]) * W
        one, z = np.ones_like(tx), np.zeros_like(tx)
        return np.stack([one, z, -tx, z, one, -ty], axis=1)

    def get_config(self):
        cfg = super().get_config()
        f = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
        cfg.update(height_factor=f(self.height_factor), width_factor=f(self.width_factor))
        return cfg


# ------------------------------------------------------------------ colour
class RandomContrast(_RandomImageLayer):
    """Per image f = U(1 - lower, 1 + upper); per channel y = clip((x - mean) * f +
    mean, value_range) with the mean over height and width. factor in [0, 1]."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = _base_factor(factor, "RandomContrast factor", (0.0, 1.0))
        self.value_range = _value_range(value_range, "RandomContrast", sort=False)
        self._init_seed(seed)
        self._f = None

    def forward(self, x, training=False, step=None):
        if not training:
            self._f = None
            return x
        check_4d(self, x.shape)
        x = np.ascontiguousarray(x)
        u = self._draws(x.shape[0], 1, step)[:, 0]
        lo, hi = 1.0 - self.factor[0], 1.0 + self.factor[1]
        # Keras draws the factor in the layer dtype
        f = (lo + (hi - lo) * u).astype(self.dtype).astype(np.float64)
        y = self.buffer("y", x.shape)
        KI.contrast_forward(y, x, f, *self.value_range)
        self._f, self._x = f, x
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._f is None:
            return dy
        dx = self.buffer("dx", dy.shape)
        KI.contrast_backward(dx, np.ascontiguousarray(dy), self._x, self._f, *self.value_range)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(factor=list(self.factor), value_range=list(self.value_range))
        return cfg


class RandomBrightness(_RandomImageLayer):
    """Per image delta = U(lower, upper) * (value_range[1] - value_range[0]);
    y = clip(x + delta, value_range). factor in [-1, 1]."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = _base_factor(factor, "RandomBrightness factor", (-1.0, 1.0))
        self.value_range = _value_range(value_range, "RandomBrightness", sort=True)
        self._init_seed(seed)
        self._delta = None

    def forward(self, x, training=False, step=None):
        if not training:
            self._delta = None
            return x
        check_4d(self, x.shape)
        x = np.ascontiguousarray(x)
        u = self._draws(x.shape[0], 1, step)[:, 0]
        lo, hi = self.factor
        span = self.value_range[1] - self.value_range[0]
        # rounded to the layer dtype first, so that x + delta rounds as Keras' sum does
        delta = ((lo + (hi - lo) * u) * span).astype(self.dtype).astype(np.float64)
        y = self.buffer("y", x.shape)
        KI.brightness_forward(y, x, delta, *self.value_range)
        self._delta, self._x = delta, x
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._delta is None:
            return dy
        dx = self.buffer("dx", dy.shape)
        KI.brightness_backward(dx, np.ascontiguousarray(dy), self._x, self._delta,
                               *self.value_range)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(factor=list(self.factor), value_range=list(self.value_range))
        return cfg


# ------------------------------------------------------------------ crop
class RandomCrop(_RandomImageLayer):
    """(N, H, W, C) -> (N, height, width, C). Training, with the image larger than the
    target along both axes: a window at offsets U{0..H-height}, U{0..W-width} per
    image. Otherwise (inference, or a smaller image in training): the documented
    Keras rule, the largest central window of the target aspect ratio, resized
    (bilinear) to the target (a plain crop when the window is the target size)."""

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = _positive_int(height, "RandomCrop height")
        self.width = _positive_int(width, "RandomCrop width")
        self._init_seed(seed, data_format)
        self._corner = None

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, x, training=False, step=None):
        check_4d(self, x.shape)
        x = np.ascontiguousarray(x)
        N, H, W, C = x.shape
        self._in_shape = x.shape
        th, tw = self.height, self.width
        if training and H > th and W > tw:
            u = self._draws(N, 2, step)
            h0 = np.minimum((u[:, 0] * (H - th + 1)).astype(np.int64), H - th)
            w0 = np.minimum((u[:, 1] * (W - tw + 1)).astype(np.int64), W - tw)
            y = self.buffer("y", (N, th, tw, C))
            KI.crop_forward(y, x, h0, w0)
            self._corner = (h0, w0)
            return y
        hs, ws, ch, cw = crop_box(H, W, th, tw)
        if (ch, cw) == (th, tw):
            y = self.buffer("y", (N, th, tw, C))
            h0, w0 = np.full(N, hs, dtype=np.int64), np.full(N, ws, dtype=np.int64)
            KI.crop_forward(y, x, h0, w0)
            self._corner = (h0, w0)
            return y
        self._corner = None
        xc = np.ascontiguousarray(x[:, hs:hs + ch, ws:ws + cw])
        return resize_images(self, xc, th, tw, "bilinear")

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._corner is None:
            raise NotImplementedError(f"{self.name}: RandomCrop has no backward pass when it "
                                      "resizes (put it before the first trainable layer)")
        dx = self.buffer("dx", self._in_shape)
        KI.crop_backward(dx, np.ascontiguousarray(dy), *self._corner)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height=self.height, width=self.width)
        return cfg


__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
           "RandomContrast", "RandomBrightness", "RandomCrop"]
