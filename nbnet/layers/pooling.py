"""Pooling layers (Keras 3), NHWC: MaxPooling2D, AveragePooling2D (aliases MaxPool2D,
AvgPool2D), GlobalAveragePooling2D, GlobalMaxPooling2D. The maths is in
kernels/pool.py; window geometry and padding are those of Conv2D (layers/conv.py).
"""
import numpy as np

from ..kernels import pool as KP
from .base import LAYERS, Layer
from .conv import check_4d, check_data_format, check_padding, conv_geometry, output_size, pair


class _Pooling2D(Layer):
    """Shared by max and average pooling: pool_size, strides (default pool_size), padding."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.pool_size = pair(pool_size, f"{name} pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, f"{name} strides")
        self.padding = check_padding(padding)
        check_data_format(data_format)

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        return (input_shape[0], output_size(self, input_shape[1], ph, sh, self.padding),
                output_size(self, input_shape[2], pw, sw, self.padding), input_shape[3])

    def _geometry(self, x):
        check_4d(self, x.shape)
        N, H, W, C = x.shape
        _, OH, OW, _ = self.compute_output_shape(x.shape)
        pt = conv_geometry(H, self.pool_size[0], self.strides[0], self.padding)[1]
        pl = conv_geometry(W, self.pool_size[1], self.strides[1], self.padding)[1]
        return (N, OH, OW, C), pt, pl

    def flops(self, input_shape):
        _, OH, OW, C = self.compute_output_shape((None,) + tuple(input_shape[1:]))
        return OH * OW * C * self.pool_size[0] * self.pool_size[1]  # one op per cell

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=list(self.pool_size), strides=list(self.strides),
                   padding=self.padding, data_format="channels_last")
        return cfg


class MaxPooling2D(_Pooling2D):
    """y = max of each window (padding cells never win); dx gets dy at the argmax."""

    def forward(self, x, training=False):
        out_shape, pt, pl = self._geometry(x)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = self.buffer("y", out_shape)
        argmax = self.buffer("argmax", out_shape, np.int32)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        KP.max_pool_forward(y, argmax, x, ph, pw, sh, sw, pt, pl)
        self._argmax, self._in_shape = argmax, x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(self._argmax.shape)
        dx = self.buffer("dx", self._in_shape)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        KP.max_pool_backward(dx, dy, self._argmax, sh < ph or sw < pw)
        return dx


class AveragePooling2D(_Pooling2D):
    """y = mean of the valid cells of each window (Keras: padding cells not counted)."""

    def forward(self, x, training=False):
        out_shape, pt, pl = self._geometry(x)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = self.buffer("y", out_shape)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        KP.avg_pool_forward(y, x, ph, pw, sh, sw, pt, pl)
        self._pads, self._in_shape, self._out_shape = (pt, pl), x.shape, out_shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(self._out_shape)
        dx = self.buffer("dx", self._in_shape)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        KP.avg_pool_backward(dx, dy, ph, pw, sh, sw, *self._pads)
        return dx


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
# Hand-written specs may use the alias names; get_config always writes the canonical one.
LAYERS.add(MaxPooling2D, name="MaxPool2D")
LAYERS.add(AveragePooling2D, name="AvgPool2D")


class _GlobalPooling2D(Layer):
    """(N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims=True."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        n, c = input_shape[0], input_shape[3]
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def _prepare(self, x):
        check_4d(self, x.shape)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        self._in_shape = x.shape
        return x, self.buffer("y", (x.shape[0], x.shape[3]))

    def _output(self, y):
        return y.reshape(y.shape[0], 1, 1, y.shape[1]) if self.keepdims else y

    def _dy(self, dy):
        return np.ascontiguousarray(dy, dtype=self.dtype).reshape(self._in_shape[0],
                                                                  self._in_shape[3])

    def flops(self, input_shape):
        return int(np.prod(input_shape[1:]))  # one op per input value

    def get_config(self):
        cfg = super().get_config()
        cfg.update(data_format="channels_last", keepdims=self.keepdims)
        return cfg


class GlobalAveragePooling2D(_GlobalPooling2D):
    """y[n, c] = mean over h, w of x[n, h, w, c]; dx = dy / (H*W) everywhere."""

    def forward(self, x, training=False):
        x, y = self._prepare(x)
        KP.global_avg_pool_forward(y, x)
        return self._output(y)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        KP.global_avg_pool_backward(dx, self._dy(dy))
        return dx


class GlobalMaxPooling2D(_GlobalPooling2D):
    """y[n, c] = max over h, w of x[n, h, w, c]; dx = dy at the argmax, 0 elsewhere."""

    def forward(self, x, training=False):
        x, y = self._prepare(x)
        argmax = self.buffer("argmax", y.shape, np.int32)
        KP.global_max_pool_forward(y, argmax, x)
        self._argmax = argmax
        return self._output(y)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        KP.global_max_pool_backward(dx, self._dy(dy), self._argmax)
        return dx
