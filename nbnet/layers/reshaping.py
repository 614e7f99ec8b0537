"""Reshaping layers (Keras 3): ZeroPadding2D, Cropping2D, UpSampling2D, Permute,
RepeatVector, Identity.

    ZeroPadding2D   y = x with zero rows / columns added ((top, bottom), (left, right))
                    backward: dx = the window of dy where x went        (kernels/reshape.py)
    Cropping2D      y = x without its border rows / columns; backward: dy padded with 0
    UpSampling2D    nearest: each cell repeated size[0] x size[1] times, dx = the block
                    sums of dy; bilinear: half-pixel resize (Keras' image.resize)
    Permute         y = transpose(x, (0, *dims)) (dims 1-based); dx = the inverse transpose
    RepeatVector    (N, F) -> (N, n, F); dx = sum of dy over the n copies
    Identity        y = x, dx = dy

The 2-D layers take data_format "channels_last" (default) or "channels_first": a
(N, C, H, W) input is handled as N*C one-channel NHWC images (a view, no copy).
"""
import numpy as np

from ..kernels import reshape as K
from .base import Layer


def _data_format(data_format):
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f'data_format must be "channels_last" or "channels_first", '
                         f"got {data_format!r}")
    return data_format


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"{what} must hold integers, got {v!r}")
    return int(v)


def _pairs(value, arg):
    """int p -> ((p, p), (p, p)); (h, w) -> ((h, h), (w, w)); ((t, b), (l, r)) as is;
    every entry a non-negative integer."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = ((value, value), (value, value))
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{arg} must be an int, a tuple of 2 ints or a tuple of 2 tuples "
                         f"of 2 ints ((top, bottom), (left, right)), got {value!r}")
    out = []
    for entry in value:
        if isinstance(entry, (tuple, list)):
            if len(entry) != 2:
                raise ValueError(f"{arg}: each entry must be an int or 2 ints, got {value!r}")
            pair = tuple(_int(v, arg) for v in entry)
        else:
            v = _int(entry, arg)
            pair = (v, v)
        if min(pair) < 0:
            raise ValueError(f"{arg} must not be negative, got {value!r}")
        out.append(pair)
    return tuple(out)


class _Spatial2D(Layer):
    """A 4-D layer: NHWC (or NCHW seen as N*C one-channel NHWC images)."""

    def _check_4d(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.name}: expects 4-D input (batch, rows, cols, channels), "
                             f"got shape {tuple(shape)}")

    def _hw_axes(self):
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def _as_nhwc(self, a):
        """a as an NHWC array (a view of the same memory)."""
        a = np.ascontiguousarray(a, dtype=self.dtype)
        if self.data_format == "channels_first":
            N, C, H, W = a.shape
            return a.reshape(N * C, H, W, 1)
        return a

    def _from_nhwc(self, a, shape4):
        return a.reshape(shape4)

    def build(self, input_shape):
        self._check_4d(input_shape)
        self.compute_output_shape(input_shape)  # refuses impossible shapes early
        self.built = True

    def _out_shape(self, x_shape):
        out = self.compute_output_shape((None,) + tuple(x_shape[1:]))
        return (x_shape[0],) + tuple(out[1:])


class ZeroPadding2D(_Spatial2D):
    """Zero rows at the top / bottom and zero columns at the left / right of images."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, "padding")
        self.data_format = _data_format(data_format)

    def compute_output_shape(self, input_shape):
        self._check_4d(input_shape)
        out = list(input_shape)
        for k, axis in enumerate(self._hw_axes()):
            if out[axis] is not None:
                out[axis] += self.padding[k][0] + self.padding[k][1]
        return tuple(out)

    def forward(self, x, training=False):
        self._check_4d(x.shape)
        out_shape = self._out_shape(x.shape)
        y = self.buffer("y", out_shape)
        K.pad2d(self._as_nhwc(y), self._as_nhwc(x), self.padding[0][0], self.padding[1][0])
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        K.crop2d(self._as_nhwc(dx), self._as_nhwc(dy), self.padding[0][0], self.padding[1][0])
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(padding=[list(p) for p in self.padding], data_format=self.data_format)
        return cfg


class Cropping2D(_Spatial2D):
    """Removes rows at the top / bottom and columns at the left / right of images."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, "cropping")
        self.data_format = _data_format(data_format)

    def compute_output_shape(self, input_shape):
        self._check_4d(input_shape)
        out = list(input_shape)
        for k, axis in enumerate(self._hw_axes()):
            if out[axis] is not None:
                if sum(self.cropping[k]) >= out[axis]:
                    raise ValueError(f"{self.name}: cropping {self.cropping} must be smaller "
                                     f"than the input's spatial size; input shape "
                                     f"{tuple(input_shape)}")
                out[axis] -= self.cropping[k][0] + self.cropping[k][1]
        return tuple(out)

    def forward(self, x, training=False):
        self._check_4d(x.shape)
        y = self.buffer("y", self._out_shape(x.shape))
        K.crop2d(self._as_nhwc(y), self._as_nhwc(x), self.cropping[0][0], self.cropping[1][0])
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        K.pad2d(self._as_nhwc(dx), self._as_nhwc(dy), self.cropping[0][0], self.cropping[1][0])
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(cropping=[list(p) for p in self.cropping], data_format=self.data_format)
        return cfg


_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")


class UpSampling2D(_Spatial2D):
    """Repeats rows size[0] times and columns size[1] times ("nearest"), or resizes by
    those factors with bilinear interpolation (half-pixel centres, as Keras)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            size = (size, size)
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise ValueError(f"size must be an int or a tuple of 2 ints, got {size!r}")
        self.size = tuple(_int(s, "size") for s in size)
        if min(self.size) < 1:
            raise ValueError(f"size must hold positive integers, got {size!r}")
        self.data_format = _data_format(data_format)
        if not isinstance(interpolation, str) or interpolation.lower() not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation.lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(f'UpSampling2D supports interpolation "nearest" and '
                                      f'"bilinear", got {interpolation!r}')

    def compute_output_shape(self, input_shape):
        self._check_4d(input_shape)
        out = list(input_shape)
        for k, axis in enumerate(self._hw_axes()):
            if out[axis] is not None:
                out[axis] *= self.size[k]
        return tuple(out)

    def forward(self, x, training=False):
        self._check_4d(x.shape)
        y = self.buffer("y", self._out_shape(x.shape))
        run = (K.upsample_nearest_forward if self.interpolation == "nearest"
               else K.upsample_bilinear_forward)
        run(self._as_nhwc(y), self._as_nhwc(x), self.size[0], self.size[1])
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        run = (K.upsample_nearest_backward if self.interpolation == "nearest"
               else K.upsample_bilinear_backward)
        run(self._as_nhwc(dx), self._as_nhwc(dy), self.size[0], self.size[1])
        return dx

    def flops(self, input_shape):
        if self.interpolation == "nearest":
            return 0
        # per output value: 6 multiplies and 3 adds of the blend (the weights are shared)
        return 9 * int(np.prod(self.compute_output_shape(tuple(input_shape))[1:]))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(size=list(self.size), data_format=self.data_format,
                   interpolation=self.interpolation)
        return cfg


class Permute(Layer):
    """Permutes the non-batch axes: dims is a permutation of 1..rank-1 (1-based, as
    Keras); y = transpose(x, (0, *dims)), copied to a contiguous array."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
        except TypeError:
            raise ValueError(f"Permute dims must be a tuple of integers, got {dims!r}") from None
        if (any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in dims)
                or sorted(dims) != list(range(1, len(dims) + 1))):
            raise ValueError(f"Permute dims must be a permutation of 1..{len(dims)} "
                             f"(consecutive, starting at 1), got {dims!r}")
        self.dims = tuple(int(d) for d in dims)
        self._perm = (0,) + self.dims
        self._inverse = tuple(int(i) for i in np.argsort(self._perm))

    def _check(self, shape):
        if len(shape) != len(self.dims) + 1:
            raise ValueError(f"{self.name}: dims {self.dims} need {len(self.dims) + 1}-D "
                             f"input, got shape {tuple(shape)}")

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x, training=False):
        self._check(x.shape)
        xt = np.transpose(x, self._perm)
        y = self.buffer("y", xt.shape)
        np.copyto(y, xt)
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        np.copyto(dx, np.transpose(dy, self._inverse))
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(dims=list(self.dims))
        return cfg


class RepeatVector(Layer):
    """(N, F) -> (N, n, F): the input vector repeated n times; dx = sum over the copies."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"RepeatVector n must be an integer, got {type(n).__name__} {n!r}")
        if n <= 0:
            raise ValueError(f"RepeatVector n must be a positive integer, got {n!r}")
        self.n = int(n)

    def _check(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self.name}: expects 2-D input (batch, features), got shape "
                             f"{tuple(shape)}")

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False):
        self._check(x.shape)
        y = self.buffer("y", (x.shape[0], self.n, x.shape[1]))
        y[...] = x[:, None, :]
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=self.dtype)
        dx = self.buffer("dx", (dy.shape[0], dy.shape[2]))
        # the copies added one after another (numpy, no threads): a fixed order
        np.sum(dy, axis=1, out=dx)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(n=self.n)
        return cfg


class Identity(Layer):
    """y = x; dx = dy."""
    supports_masking = True   # passes a mask on (Keras 3)

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy if need_dx else None
