"""Preprocessing layers (Keras 3): Rescaling, Normalization, Resizing, CenterCrop.

    Rescaling       y = x * scale + offset                      dx = dy * scale
    Normalization   y = (x - mean) / max(sqrt(var), 1e-7)       dx = dy / max(...)
                    (invert=True: y = mean + x * max(sqrt(var), 1e-7))
    Resizing        (N, H, W, C) -> (N, height, width, C): bilinear with half-pixel
                    centres, nearest ("nearest-exact") or bicubic (a = -0.75); with
                    antialias, bilinear / bicubic average over the scaled filter
                    (PIL's, as torch); as Keras on the torch backend; optionally crop /
                    pad to the target aspect ratio. Backward: the transposed taps.
    CenterCrop      the central (height, width) window; where the image is smaller
                    than the target along an axis, Keras' smart_resize: crop to the
                    target aspect ratio, then bilinear resize

They run at inference and in training alike. The image maths is in kernels/image.py.
"""
import numbers

import numpy as np

from ..kernels import image as KI
from .base import Layer, Weight
from .conv import check_4d, check_data_format

EPSILON = 1e-7   # keras.config.epsilon()


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _scalar_or_list(value, name):
    """A float, or a nested list of floats (a per-channel scale)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=np.float64)
        return arr.tolist()
    return _number(value, name)


# ------------------------------------------------------------------ Rescaling
class Rescaling(Layer):
    """y = x * scale + offset (scale and offset: numbers, or arrays that broadcast
    against the last axes, as a per-channel scale). Same at inference and training."""
    supports_masking = True   # passes a mask on (Keras 3)

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _scalar_or_list(scale, "Rescaling scale")
        self.offset = _scalar_or_list(offset, "Rescaling offset")
        self._scale = np.asarray(self.scale, dtype=self.dtype)
        self._offset = np.asarray(self.offset, dtype=self.dtype)

    def forward(self, x, training=False):
        y = self.buffer("y", np.broadcast_shapes(x.shape, self._scale.shape, self._offset.shape))
        np.multiply(x, self._scale, out=y)   # two roundings, as Keras: (x * s) + o
        np.add(y, self._offset, out=y)
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", dy.shape)
        np.multiply(dy, self._scale, out=dx)
        return dx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape):
        return 2 * int(np.prod(input_shape[1:]))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(scale=self.scale, offset=self.offset)
        return cfg


# ------------------------------------------------------------------ Normalization
def _axis_tuple(axis):
    if axis is None:
        return ()
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return (int(axis),)
    try:
        axes = tuple(axis)
    except TypeError:
        raise TypeError(f"Normalization axis must be an int, a tuple of ints or None, "
                        f"got {axis!r}") from None
    if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"Normalization axis must be an int, a tuple of ints or None, got {axis!r}")
    return tuple(int(a) for a in axes)


class Normalization(Layer):
    """Feature-wise standardisation, Keras 3: statistics per index of `axis` (the kept
    axes), over all the others. Given `mean` and `variance` (broadcast onto the kept
    axes from the right), the layer has no weights; otherwise its weights are Keras'
    non-trainable [mean, variance, count] (zeros, ones, 0), set by adapt(data)."""
    supports_masking = True   # passes a mask on (Keras 3)

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_tuple(axis)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: set both mean and variance, or neither; got "
                             f"mean={mean!r}, variance={variance!r}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Normalization: mean and variance must have the same shape, "
                                 f"got {np.shape(mean)} and {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"Normalization: mean has rank {np.ndim(mean)}, more than the "
                                 f"number of axes {self.axis}")
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        self.invert = bool(invert)
        self.adapt_mean = self.adapt_variance = self.count = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"Normalization axis {self.axis} out of range for inputs of "
                             f"rank {ndim}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        for d in self._keep:
            if input_shape[d] is None:
                raise ValueError(f"Normalization axis {d} must have a known size, got input "
                                 f"shape {tuple(input_shape)}")
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._bshape = tuple(input_shape[d] if d in self._keep else 1 for d in range(ndim))
        shape = tuple(input_shape[d] for d in self._keep)
        self._stat_shape = shape
        if self.input_mean is None:
            # NOTE: made here, not by add_weight, which turns shape () (axis=None) into (1,)
            self.adapt_mean = self._stat_weight("mean", np.zeros(shape, dtype=self.dtype))
            self.adapt_variance = self._stat_weight("variance", np.ones(shape, dtype=self.dtype))
            # Keras keeps an int "count" weight for old saved models; so does nbnet
            self.count = self._stat_weight("count", np.zeros((), dtype=np.int64))
        else:
            expanded = [1] * ndim
            mshape = self.input_mean.shape
            for i in range(1, len(mshape) + 1):   # kept axes aligned from the right
                expanded[self._keep[-i]] = mshape[-i]
            try:
                self._mean_b = np.broadcast_to(self.input_mean.reshape(expanded), self._bshape)
                self._var_b = np.broadcast_to(self.input_variance.reshape(expanded), self._bshape)
            except ValueError:
                raise ValueError(f"Normalization: mean of shape {mshape} does not broadcast "
                                 f"onto the kept axes of shape {shape}") from None
        self.built = True

    def _stat_weight(self, name, value):
        w = Weight(name, value, trainable=False)
        w.path = f"{self.name}/{name}"
        self._weights.append(w)
        return w

    def _stats(self):
        """mean and the divisor max(sqrt(var), eps), in the layer dtype, broadcastable."""
        if self.input_mean is None:
            mean = self.adapt_mean.value.reshape(self._bshape)
            var = self.adapt_variance.value.reshape(self._bshape)
        else:
            mean, var = self._mean_b, self._var_b
        mean = np.asarray(mean, dtype=self.dtype)
        std = np.maximum(np.sqrt(np.asarray(var, dtype=self.dtype)), self.dtype.type(EPSILON))
        return mean, std

    def adapt(self, data):
        """Set mean and variance from `data`: an array (N, ...), or an iterable of such
        batches (combined as Keras does). Builds the layer if needed."""
        if self.input_mean is not None:
            raise ValueError("Normalization: adapt() is for a layer built without mean and "
                             "variance")
        if isinstance(data, np.ndarray) or hasattr(data, "__array__"):
            batches = [np.asarray(data, dtype=np.float64)]
        elif hasattr(data, "__iter__"):
            batches = (np.asarray(b, dtype=np.float64) for b in data)
        else:
            raise TypeError(f"Normalization.adapt: data must be an array or an iterable of "
                            f"arrays, got {type(data).__name__}")
        total_mean = total_var = None
        total = 0
        for b in batches:
            if b.ndim == 0:
                raise ValueError("Normalization.adapt: data must have a batch axis")
            if not self.built:
                shape = (None,) + b.shape[1:]
                self.input_shape = shape
                self.build(shape)
                self.output_shape = self.compute_output_shape(shape)
            if len(b.shape) != len(self._bshape) or any(b.shape[d] != self._bshape[d]
                                                        for d in self._keep):
                raise ValueError(f"Normalization.adapt: data of shape {b.shape} does not "
                                 f"match the layer's input shape {self.input_shape}")
            bm = b.mean(axis=self._reduce)
            bv = b.var(axis=self._reduce)
            cnt = int(np.prod([b.shape[d] for d in self._reduce])) if self._reduce else 1
            if total_mean is None:
                total_mean, total_var, total = bm, bv, cnt
                continue
            total += cnt
            wb = cnt / total
            we = 1.0 - wb
            new_mean = total_mean * we + bm * wb
            # lack-of-fit sum of squares: the pooled variance about the new mean
            total_var = ((total_var + (total_mean - new_mean) ** 2) * we
                         + (bv + (bm - new_mean) ** 2) * wb)
            total_mean = new_mean
        if total_mean is None:
            raise ValueError("Normalization.adapt: got no data (an empty iterable)")
        self.adapt_mean.assign(np.reshape(total_mean, self._stat_shape))
        self.adapt_variance.assign(np.reshape(total_var, self._stat_shape))

    def forward(self, x, training=False):
        mean, std = self._stats()
        y = self.buffer("y", x.shape)
        if self.invert:
            np.multiply(x, std, out=y)
            np.add(mean, y, out=y)
        else:
            np.subtract(x, mean, out=y)
            np.divide(y, std, out=y)
        self._std = std
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", dy.shape)
        if self.invert:
            np.multiply(dy, self._std, out=dx)
        else:
            np.divide(dy, self._std, out=dx)
        return dx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape):
        return 2 * int(np.prod(input_shape[1:]))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, invert=self.invert,
                   mean=None if self.input_mean is None else self.input_mean.tolist(),
                   variance=None if self.input_variance is None else self.input_variance.tolist())
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["axis"] = tuple(config["axis"]) if isinstance(config.get("axis"), list) else config.get("axis", -1)
        return cls(**config)


# ------------------------------------------------------------------ resizing
INTERPOLATIONS = {"nearest": KI.NEAREST, "bilinear": KI.BILINEAR}
_KERAS_ONLY_INTERPOLATIONS = ("bicubic", "lanczos3", "lanczos5", "area")


RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


def check_interpolation(value, owner, keras_only=_KERAS_ONLY_INTERPOLATIONS):
    if value in INTERPOLATIONS:
        return value
    if value in keras_only:
        raise NotImplementedError(f"{owner} interpolation={value!r} is not implemented "
                                  f"(nbnet has {sorted(INTERPOLATIONS)})")
    raise ValueError(f"{owner} interpolation must be one of {sorted(INTERPOLATIONS)}, "
                     f"got {value!r}")


def crop_box(H, W, th, tw):
    """Keras' crop to the target aspect ratio: (h0, w0, crop_h, crop_w)."""
    ch = max(min(H, int(float(W * th) / tw)), 1)
    cw = max(min(W, int(float(H * tw) / th)), 1)
    return int(float(H - ch) / 2), int(float(W - cw) / 2), ch, cw


def resize_tables(in_size, out_size, interpolation, antialias, dtype):
    """(idx (out, K) int64, wt (out, K) float64): the taps of one axis of a resize, as
    resize_images computes it (antialias: PyTorch's, for bilinear and bicubic)."""
    if interpolation == "nearest":
        idx = np.empty((out_size, 1), dtype=np.int64)
        KI.resize_table_nearest(idx[:, 0], in_size, out_size)
        return idx, np.ones((out_size, 1))
    cubic = interpolation == "bicubic"
    if antialias:
        scale = in_size / out_size
        support = max(scale, 1.0) * (2.0 if cubic else 1.0)
        K = int(np.ceil(support)) * 2 + 1
        idx, wt = np.empty((out_size, K), dtype=np.int64), np.empty((out_size, K))
        KI.resize_table_antialias(idx, wt, in_size, out_size, cubic)
        return idx, wt
    if cubic:
        idx, wt = np.empty((out_size, 4), dtype=np.int64), np.empty((out_size, 4))
        KI.resize_table_cubic(idx, wt, in_size, out_size)
        return idx, wt
    i0, i1 = np.empty(out_size, dtype=np.int64), np.empty(out_size, dtype=np.int64)
    lam = np.empty(out_size, dtype=dtype)
    KI.resize_table_linear(i0, i1, lam, in_size, out_size)
    lam = lam.astype(np.float64)
    return np.stack([i0, i1], axis=1), np.stack([1.0 - lam, lam], axis=1)


def resize_backward(layer, dy, in_shape, interpolation="bilinear", antialias=False,
                    key="resize_dx"):
    """The gradient of resize_images: dy (N, height, width, C) -> dx of in_shape."""
    N, H, W, C = in_shape
    iy, wy = resize_tables(H, dy.shape[1], interpolation, antialias, dy.dtype)
    ix, wx = resize_tables(W, dy.shape[2], interpolation, antialias, dy.dtype)
    dx = layer.buffer(key, tuple(in_shape))
    KI.resize_filter_backward(dx, np.ascontiguousarray(dy), iy, wy, ix, wx)
    return dx


def resize_images(layer, x, height, width, interpolation="bilinear", key="resize",
                  antialias=False):
    """x (N, H, W, C) -> (N, height, width, C) in a buffer of `layer` (nearest,
    bilinear with half-pixel centres, or bicubic; antialias for bilinear / bicubic: as
    torch's F.interpolate)."""
    N, H, W, C = x.shape
    y = layer.buffer(key, (N, height, width, C))
    if interpolation == "bicubic" or (antialias and interpolation != "nearest"):
        iy, wy = resize_tables(H, height, interpolation, antialias, x.dtype)
        ix, wx = resize_tables(W, width, interpolation, antialias, x.dtype)
        KI.resize_filter(y, x, iy, wy, ix, wx)
        return y
    if interpolation == "nearest":
        iy = np.empty(height, dtype=np.int64)
        ix = np.empty(width, dtype=np.int64)
        KI.resize_table_nearest(iy, H, height)
        KI.resize_table_nearest(ix, W, width)
        KI.resize_nearest(y, x, iy, ix)
        return y
    tabs = []
    for size, out in ((H, height), (W, width)):
        i0, i1 = np.empty(out, dtype=np.int64), np.empty(out, dtype=np.int64)
        lam = np.empty(out, dtype=x.dtype)
        KI.resize_table_linear(i0, i1, lam, size, out)
        tabs += [i0, i1, lam]
    KI.resize_linear(y, x, *tabs)
    return y


class Resizing(Layer):
    """(N, H, W, C) -> (N, height, width, C), Keras 3 (torch backend) semantics.
    crop_to_aspect_ratio: first the largest central window of the target aspect ratio;
    pad_to_aspect_ratio: first pad with fill_value, the same amount on both sides
    (Keras' floor((target - size) / 2)), to the target aspect ratio."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format)
        self.height = _positive_int(height, "Resizing height")
        self.width = _positive_int(width, "Resizing width")
        if interpolation not in RESIZE_INTERPOLATIONS:
            if interpolation in ("lanczos3", "lanczos5", "area"):
                raise NotImplementedError(f"Resizing interpolation={interpolation!r} is not "
                                          f"implemented (nbnet has {RESIZE_INTERPOLATIONS}, "
                                          "as Keras on the torch backend)")
            raise ValueError(f"Resizing interpolation must be one of {RESIZE_INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("Resizing: only one of crop_to_aspect_ratio and "
                             "pad_to_aspect_ratio can be True")
        if fill_mode != "constant":
            raise ValueError(f'Resizing fill_mode must be "constant", got {fill_mode!r}')
        self.fill_mode = fill_mode
        self.fill_value = _number(fill_value, "Resizing fill_value")
        self.antialias = bool(antialias)

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, x, training=False):
        check_4d(self, x.shape)
        N, H, W, C = x.shape
        self._in_shape, self._crop, self._pad = x.shape, None, None
        if self.crop_to_aspect_ratio:
            h0, w0, ch, cw = crop_box(H, W, self.height, self.width)
            x = np.ascontiguousarray(x[:, h0:h0 + ch, w0:w0 + cw])
            self._crop = (h0, w0)
        elif self.pad_to_aspect_ratio:
            ph = max(H, int(float(W * self.height) / self.width))
            pw = max(W, int(float(H * self.width) / self.height))
            hs, ws = int(float(ph - H) / 2), int(float(pw - W) / 2)
            if hs > 0 or ws > 0:
                xp = np.full((N, H + 2 * hs, W + 2 * ws, C), self.fill_value, dtype=x.dtype)
                xp[:, hs:hs + H, ws:ws + W] = x
                x = xp
                self._pad = (hs, ws)
        self._resized_shape = x.shape
        return resize_images(self, np.ascontiguousarray(x), self.height, self.width,
                             self.interpolation, antialias=self.antialias)

    def backward(self, dy, need_dx=True):
        """The transpose of the resize (its taps), then of the crop (zeros outside the
        window) or of the padding (the gradient inside it)."""
        if not need_dx:
            return None
        d = resize_backward(self, dy, self._resized_shape, self.interpolation, self.antialias)
        N, H, W, C = self._in_shape
        if self._pad is not None:
            hs, ws = self._pad
            return np.ascontiguousarray(d[:, hs:hs + H, ws:ws + W])
        if self._crop is None:
            return d
        h0, w0 = self._crop
        dx = self.buffer("dx", self._in_shape)
        dx[...] = 0.0
        dx[:, h0:h0 + d.shape[1], w0:w0 + d.shape[2]] = d
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height=self.height, width=self.width, interpolation=self.interpolation,
                   crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                   pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
                   fill_value=self.fill_value, antialias=self.antialias)
        return cfg


def center_crop(layer, x, height, width, key="crop"):
    """Keras' CenterCrop rule on x (N, H, W, C): the central window when the image is
    at least the target along both axes, else smart_resize (crop to the aspect
    ratio, then bilinear resize). Returns (y, (h0, w0)) with (h0, w0) the window's
    corner, or (y, None) when it resized."""
    N, H, W, C = x.shape
    if H >= height and W >= width:
        h0, w0 = (H - height) // 2, (W - width) // 2
        y = layer.buffer(key, (N, height, width, C))
        KI.crop_forward(y, x, np.full(N, h0, dtype=np.int64), np.full(N, w0, dtype=np.int64))
        return y, (h0, w0)
    h0, w0, ch, cw = crop_box(H, W, height, width)
    xc = np.ascontiguousarray(x[:, h0:h0 + ch, w0:w0 + cw])
    return resize_images(layer, xc, height, width, "bilinear", key=key + "_resize"), None


class CenterCrop(Layer):
    """(N, H, W, C) -> (N, height, width, C): the central window, offsets
    (H - height) // 2 and (W - width) // 2; an image smaller than the target along an
    axis is cropped to the target aspect ratio and resized (bilinear), as Keras."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format)
        self.height = _positive_int(height, "CenterCrop height")
        self.width = _positive_int(width, "CenterCrop width")

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, x, training=False):
        check_4d(self, x.shape)
        self._in_shape = x.shape
        y, self._corner = center_crop(self, np.ascontiguousarray(x), self.height, self.width)
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._corner is None:   # it resized the window of the target aspect ratio
            N, H, W, C = self._in_shape
            h0, w0, ch, cw = crop_box(H, W, self.height, self.width)
            d = resize_backward(self, dy, (N, ch, cw, C))
            dx = self.buffer("dx", self._in_shape)
            dx[...] = 0.0
            dx[:, h0:h0 + ch, w0:w0 + cw] = d
            return dx
        N = dy.shape[0]
        dx = self.buffer("dx", self._in_shape)
        h0, w0 = self._corner
        KI.crop_backward(dx, np.ascontiguousarray(dy), np.full(N, h0, dtype=np.int64),
                         np.full(N, w0, dtype=np.int64))
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height=self.height, width=self.width)
        return cfg
