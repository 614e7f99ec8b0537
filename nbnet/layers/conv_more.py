"""DepthwiseConv2D, SeparableConv2D and Conv2DTranspose (Keras 3), NHWC.

DepthwiseConv2D, kernel Wd (KH, KW, C, M) (M = depth_multiplier), bias (C*M,):
    z[..., c*M + m] = conv of channel c with Wd[:, :, c, m]     kernels/conv_more.py
    y = f(z + b)                                                 bias_act_forward
SeparableConv2D: the same depthwise step t (no bias), then a 1x1 convolution with the
pointwise kernel Wp (1, 1, C*M, F): z = t @ Wp (one BLAS product), y = f(z + b).
Conv2DTranspose, kernel W (KH, KW, F, C) (Keras: (kh, kw, out, in)), bias (F,): the
adjoint of the Conv2D that maps y's space (F channels) to x's (C channels):
    dcols = x.reshape(N*H*W, C) @ W.reshape(KH*KW*F, C).T       one BLAS product
    z = col2im(dcols) (crop PT / PL), y = f(z + b)               kernels/conv.py
    backward: g = im2col(dz); dx = g @ Wm; dW = g.T @ x (chunks added in order)
Output size and crop (Keras 3, the JAX convention every backend follows): the natural
output of length (H-1)*S + K is cut by crop = (K-1) - left_pad at the start and padded or
cut at the end to the Keras length (transpose_geometry below).

All three share Conv2D's fused activation (KernelLayer): `activation="softmax"` is over
the channels, forward(x, training, logits=True) returns z and backward then takes dL/dz.
Backward overwrites weight gradients; frozen layers (trainable False) leave them alone.
dilation_rate other than 1 and data_format="channels_first" raise NotImplementedError.
"""
import numpy as np

from .. import constraints, initializers, regularizers
from ..kernels import activations as KA
from ..kernels import conv as KC
from ..kernels import conv_more as KM
from ..kernels.gemm import matmul
from .conv import (_init_config, check_4d, check_data_format, check_padding, conv_geometry,
                   output_size, pair)
from .core import KernelLayer

_COLS_BYTES = 16 << 20   # the most memory one Conv2DTranspose cols chunk may take
_DW_ROWS = 4096          # output pixels per chunk of the depthwise kernel gradient


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _no_dilation(layer, dilation_rate):
    if pair(dilation_rate, f"{layer} dilation_rate") != (1, 1):
        raise NotImplementedError(f"{layer}(dilation_rate={dilation_rate!r}): only "
                                  f"dilation_rate=1 is supported")


def _output_padding(value):
    """An int >= 0 or a pair of them -> a pair of ints."""
    def ok(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
    if ok(value):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(map(ok, value))):
        raise ValueError(f"Conv2DTranspose output_padding must be None, a non-negative "
                         f"integer or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def transpose_geometry(size, k, s, padding, output_padding):
    """(out, crop) of Conv2DTranspose along one axis (Keras 3): out the output length,
    crop the positions cut from the start of the natural output ((size-1)*s + k long).
    valid: out = (size-1)*s + k + op, op = max(k, s) - k when output_padding is None;
    same: out = size*s (None) or (size-1)*s + k%2 + op, crop from JAX's left padding."""
    op = output_padding
    if padding == "valid":
        op = max(k, s) - k if op is None else op
        return (size - 1) * s + k + op, 0
    pad_len = s + k - 2 if op is None else k + k % 2 - 2 + op
    left_pad = min(pad_len // 2 + pad_len % 2, k - 1)
    out = size * s if op is None else (size - 1) * s + k % 2 + op
    return out, k - 1 - left_pad


class _ConvMoreBase(KernelLayer):
    """Bias + activation epilogue on the (rows, channels) matrix z, shared by the three."""

    def _act_code(self):
        return (KA.LINEAR, 0.0) if self._logits else (self._code, float(self._alpha))

    def _bias_act(self, z, logits):
        """z (rows, F) holds the convolution; adds the bias, applies the activation;
        keeps z (pre-activation) and y for backward. Returns y (may be z)."""
        self._logits = bool(logits)
        code, alpha = self._act_code()
        b = self.bias.value if self.use_bias else self._no_bias
        if code >= 0:
            y = z if code == KA.LINEAR else self.buffer("y", z.shape)
            KA.bias_act_forward(z, y, b, self.use_bias, code, alpha)
        else:  # softmax / log_softmax over the channels, after the bias
            KA.bias_act_forward(z, z, b, self.use_bias, KA.LINEAR, 0.0)
            y = self.buffer("y", z.shape)
            (KA.softmax_forward if code == KA.SOFTMAX else KA.log_softmax_forward)(y, z)
        self._z, self._y = z, y
        return y

    def _bias_act_backward(self, dy):
        """dL/dz (rows, F) from dy; writes the bias gradient when trainable."""
        z, y = self._z, self._y
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(z.shape)
        has_bias = self.use_bias and self.trainable
        db = self.bias.grad if has_bias else self._no_bias
        code, alpha = self._act_code()
        if code < 0:
            dz = self.buffer("dz", z.shape)
            (KA.softmax_backward if code == KA.SOFTMAX else KA.log_softmax_backward)(dz, dy, y)
            KA.bias_act_backward(dz, db, dz, z, z, has_bias, KA.LINEAR, 0.0)
        else:
            dz = dy if code == KA.LINEAR else self.buffer("dz", z.shape)
            KA.bias_act_backward(dz, db, dy, z, y, has_bias, code, alpha)
        return dz

    def _epilogue_flops(self, channels):
        return (channels if self.use_bias else 0) + (channels if self._code != KA.LINEAR else 0)

    def _check_channels(self, x, c):
        check_4d(self, x.shape)
        if x.shape[-1] != c:
            raise ValueError(f"{self.name}: expected {c} input channels, got input of "
                             f"shape {x.shape}")

    def _depthwise_geometry(self, x_shape):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        OH, pt = conv_geometry(x_shape[1], kh, sh, self.padding)
        OW, pl = conv_geometry(x_shape[2], kw, sw, self.padding)
        if OH < 1 or OW < 1:
            raise ValueError(f"{self.name}: input {tuple(x_shape)} is smaller than the "
                             f"kernel {self.kernel_size} with padding='valid'")
        return OH, OW, pt, pl

    def _depthwise_backward(self, Wd, dWd, dt, need_dw, need_dx):
        """dWd (if need_dw) and dx (returned, if need_dx) of t = depthwise(x, Wd)."""
        x, (OH, OW, pt, pl) = self._x, self._geom
        (sh, sw), N = self.strides, x.shape[0]
        if need_dw:
            chunk = max(1, _DW_ROWS // (OH * OW))  # shapes only: not the thread count
            parts = self.buffer("dw_parts", ((N + chunk - 1) // chunk,) + Wd.shape, np.float64)
            KM.depthwise_backward_kernel(dWd, parts, dt, x, sh, sw, pt, pl, chunk)
        if not need_dx:
            return None
        dx = self.buffer("dx", x.shape)
        KM.depthwise_backward_input(dx, dt, Wd, sh, sw, pt, pl)
        return dx

    def _base_config(self):
        cfg = super().get_config()
        cfg.update(kernel_size=list(self.kernel_size), strides=list(self.strides),
                   padding=self.padding, data_format="channels_last",
                   dilation_rate=[1, 1], activation=self._act_name, use_bias=self.use_bias,
                   bias_initializer=_init_config(self.bias_initializer))
        return cfg

    def _named_reg_config(self, names):
        """Regularizer / constraint entries that are set, under the Keras names:
        names maps the Keras prefix ("depthwise") to (regularizer, constraint)."""
        out = {}
        for prefix, (reg, con) in names.items():
            if reg is not None:
                out[f"{prefix}_regularizer"] = regularizers.serialize(reg)
            if con is not None:
                out[f"{prefix}_constraint"] = constraints.serialize(con)
        if self.activity_regularizer is not None:
            out["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return out


class DepthwiseConv2D(_ConvMoreBase):
    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = pair(kernel_size, "DepthwiseConv2D kernel_size")
        self.strides = pair(strides, "DepthwiseConv2D strides")
        self.padding = check_padding(padding)
        self.depth_multiplier = _positive_int(depth_multiplier, "DepthwiseConv2D depth_multiplier")
        check_data_format(data_format)
        _no_dilation("DepthwiseConv2D", dilation_rate)
        self._init_kernel_layer(activation, use_bias, depthwise_initializer, bias_initializer,
                                depthwise_regularizer, bias_regularizer, activity_regularizer,
                                depthwise_constraint, bias_constraint)
        self.depthwise_initializer = depthwise_initializer

    @property
    def depthwise_kernel(self):
        return self.kernel

    def build(self, input_shape):
        check_4d(self, input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known")
        c, M = int(input_shape[-1]), self.depth_multiplier
        # Keras 3 names this weight "kernel"; shape (KH, KW, C, M)
        self._add_kernel_and_bias(self.kernel_size + (c, M), (c * M,))
        self._no_bias = np.zeros(c * M, self.dtype)
        self.built = True

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        c = None if input_shape[-1] is None else int(input_shape[-1]) * self.depth_multiplier
        return (input_shape[0], output_size(self, input_shape[1], kh, sh, self.padding),
                output_size(self, input_shape[2], kw, sw, self.padding), c)

    def forward(self, x, training=False, logits=False):
        Wd = self.kernel.value
        self._check_channels(x, Wd.shape[2])
        x = np.ascontiguousarray(x, dtype=self.dtype)
        OH, OW, pt, pl = self._geom = self._depthwise_geometry(x.shape)
        N, CM = x.shape[0], Wd.shape[2] * Wd.shape[3]
        z = self.buffer("z", (N, OH, OW, CM))
        KM.depthwise_forward(z, x, Wd, self.strides[0], self.strides[1], pt, pl)
        self._x = x
        y = self._bias_act(z.reshape(-1, CM), logits)
        return y.reshape(N, OH, OW, CM)

    def backward(self, dy, need_dx=True):
        train = self.trainable
        if not train and not need_dx:
            return None
        dz = self._bias_act_backward(dy)
        Wd = self.kernel.value
        dz4 = dz.reshape(self._x.shape[0], self._geom[0], self._geom[1], -1)
        return self._depthwise_backward(Wd, self.kernel.grad if train else None, dz4,
                                        train, need_dx)

    def flops(self, input_shape):
        _, OH, OW, CM = self.compute_output_shape((None,) + tuple(input_shape[1:]))
        kh, kw = self.kernel_size
        return OH * OW * (2 * kh * kw * CM + self._epilogue_flops(CM))

    def get_config(self):
        cfg = self._base_config()
        cfg.update(depth_multiplier=self.depth_multiplier,
                   depthwise_initializer=_init_config(self.depthwise_initializer),
                   **self._named_reg_config({
                       "depthwise": (self.kernel_regularizer, self.kernel_constraint),
                       "bias": (self.bias_regularizer, self.bias_constraint)}))
        return cfg


class SeparableConv2D(_ConvMoreBase):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int(filters, "SeparableConv2D filters")
        self.kernel_size = pair(kernel_size, "SeparableConv2D kernel_size")
        self.strides = pair(strides, "SeparableConv2D strides")
        self.padding = check_padding(padding)
        self.depth_multiplier = _positive_int(depth_multiplier, "SeparableConv2D depth_multiplier")
        check_data_format(data_format)
        _no_dilation("SeparableConv2D", dilation_rate)
        # the KernelLayer "kernel" slots hold the depthwise kernel's settings
        self._init_kernel_layer(activation, use_bias, depthwise_initializer, bias_initializer,
                                depthwise_regularizer, bias_regularizer, activity_regularizer,
                                depthwise_constraint, bias_constraint)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        initializers.get(pointwise_initializer)  # fail early on an unknown name
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        check_4d(self, input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known")
        c, M, F = int(input_shape[-1]), self.depth_multiplier, self.filters
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (c, M), self.depthwise_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, c * M, F), self.pointwise_initializer,
            regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (F,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self._no_bias = np.zeros(F, self.dtype)
        self.built = True

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (input_shape[0], output_size(self, input_shape[1], kh, sh, self.padding),
                output_size(self, input_shape[2], kw, sw, self.padding), self.filters)

    def forward(self, x, training=False, logits=False):
        Wd, Wp = self.depthwise_kernel.value, self.pointwise_kernel.value
        self._check_channels(x, Wd.shape[2])
        x = np.ascontiguousarray(x, dtype=self.dtype)
        OH, OW, pt, pl = self._geom = self._depthwise_geometry(x.shape)
        N, CM, F = x.shape[0], Wp.shape[2], self.filters
        t = self.buffer("t", (N, OH, OW, CM))  # the depthwise output
        KM.depthwise_forward(t, x, Wd, self.strides[0], self.strides[1], pt, pl)
        z = self.buffer("z", (N * OH * OW, F))
        matmul(z, t.reshape(-1, CM), Wp.reshape(CM, F))  # the 1x1 convolution
        self._x, self._t = x, t
        return self._bias_act(z, logits).reshape(N, OH, OW, F)

    def backward(self, dy, need_dx=True):
        train = self.trainable
        if not train and not need_dx:
            return None
        dz = self._bias_act_backward(dy)
        t, Wp = self._t, self.pointwise_kernel.value
        CM, F = Wp.shape[2], self.filters
        t2 = t.reshape(-1, CM)
        if train:  # dWp = t.T @ dz (overwrites)
            matmul(self.pointwise_kernel.grad.reshape(CM, F), t2.T, dz)
        dt = self.buffer("dt", t.shape)
        matmul(dt.reshape(-1, CM), dz, Wp.reshape(CM, F).T)
        return self._depthwise_backward(self.depthwise_kernel.value,
                                        self.depthwise_kernel.grad if train else None, dt,
                                        train, need_dx)

    def flops(self, input_shape):
        _, OH, OW, F = self.compute_output_shape((None,) + tuple(input_shape[1:]))
        kh, kw = self.kernel_size
        CM = int(input_shape[-1]) * self.depth_multiplier
        return OH * OW * (2 * kh * kw * CM + 2 * CM * F + self._epilogue_flops(F))

    def get_config(self):
        cfg = self._base_config()
        cfg.update(filters=self.filters, depth_multiplier=self.depth_multiplier,
                   depthwise_initializer=_init_config(self.depthwise_initializer),
                   pointwise_initializer=_init_config(self.pointwise_initializer),
                   **self._named_reg_config({
                       "depthwise": (self.kernel_regularizer, self.kernel_constraint),
                       "pointwise": (self.pointwise_regularizer, self.pointwise_constraint),
                       "bias": (self.bias_regularizer, self.bias_constraint)}))
        return cfg


class Conv2DTranspose(_ConvMoreBase):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int(filters, "Conv2DTranspose filters")
        self.kernel_size = pair(kernel_size, "Conv2DTranspose kernel_size")
        self.strides = pair(strides, "Conv2DTranspose strides")
        self.padding = check_padding(padding)
        check_data_format(data_format)
        _no_dilation("Conv2DTranspose", dilation_rate)
        if output_padding is not None:
            output_padding = _output_padding(output_padding)
            for i, (p, st) in enumerate(zip(output_padding, self.strides)):
                if p >= st:
                    raise ValueError(f"Conv2DTranspose output_padding must be strictly less "
                                     f"than strides: at dimension {i} output_padding is {p} "
                                     f"and strides is {st}")
        self.output_padding = output_padding
        self._init_kernel_layer(activation, use_bias, kernel_initializer, bias_initializer,
                                kernel_regularizer, bias_regularizer, activity_regularizer,
                                kernel_constraint, bias_constraint)

    def build(self, input_shape):
        check_4d(self, input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known")
        kh, kw = self.kernel_size
        # Keras layout (kh, kw, out, in)
        self._add_kernel_and_bias((kh, kw, self.filters, int(input_shape[-1])), (self.filters,))
        self._no_bias = np.zeros(self.filters, self.dtype)
        self.built = True

    def _axis(self, size, d):
        if size is None:
            return None, 0
        op = None if self.output_padding is None else self.output_padding[d]
        out, crop = transpose_geometry(int(size), self.kernel_size[d], self.strides[d],
                                       self.padding, op)
        if out < 1:
            raise ValueError(f"{self.name}: input size {size} gives an empty output")
        return out, crop

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        return (input_shape[0], self._axis(input_shape[1], 0)[0],
                self._axis(input_shape[2], 1)[0], self.filters)

    def _plan(self, x_shape):
        """(OH, OW, crop_top, crop_left, images per chunk, direct = 1x1 stride 1)."""
        N, H, W, C = x_shape
        (kh, kw), F = self.kernel_size, self.filters
        (OH, pt), (OW, pl) = self._axis(H, 0), self._axis(W, 1)
        direct = (kh, kw) == (1, 1) and self.strides == (1, 1)  # z = x @ W.T, no col2im
        per_image = H * W * kh * kw * F * self.dtype.itemsize
        chunk = N if direct else max(1, min(N, _COLS_BYTES // per_image))
        return OH, OW, pt, pl, chunk, direct

    def forward(self, x, training=False, logits=False):
        W = self.kernel.value
        self._check_channels(x, W.shape[3])
        x = np.ascontiguousarray(x, dtype=self.dtype)
        N, H, Wd, C = x.shape
        (kh, kw), (sh, sw), F = self.kernel_size, self.strides, self.filters
        OH, OW, pt, pl, chunk, direct = plan = self._plan(x.shape)
        Wm = W.reshape(kh * kw * F, C)
        z = self.buffer("z", (N * OH * OW, F))
        if direct:
            matmul(z, x.reshape(-1, C), Wm.T)
        else:
            z4 = z.reshape(N, OH, OW, F)
            for n0 in range(0, N, chunk):  # dcols = x @ Wm.T, then scattered by col2im
                n1 = min(N, n0 + chunk)
                dcols = self.buffer("cols", (n1 - n0, H, Wd, kh * kw * F))
                matmul(dcols.reshape(-1, kh * kw * F), x[n0:n1].reshape(-1, C), Wm.T)
                KC.col2im(z4[n0:n1], dcols, kh, kw, sh, sw, pt, pl, 1, 1)
        self._x, self._plan_ = x, plan
        return self._bias_act(z, logits).reshape(N, OH, OW, F)

    def backward(self, dy, need_dx=True):
        train = self.trainable
        if not train and not need_dx:
            return None
        dz = self._bias_act_backward(dy)
        x, W = self._x, self.kernel.value
        N, H, Wd, C = x.shape
        OH, OW, pt, pl, chunk, direct = self._plan_
        (kh, kw), (sh, sw), F = self.kernel_size, self.strides, self.filters
        KK = kh * kw * F
        Wm = W.reshape(KK, C)
        dWm = self.kernel.grad.reshape(KK, C) if train else None
        dx = self.buffer("dx", x.shape) if need_dx else None
        if direct:
            if train:
                matmul(dWm, dz.T, x.reshape(-1, C))
            if need_dx:
                matmul(dx.reshape(-1, C), dz, Wm)
            return dx
        dz4 = dz.reshape(N, OH, OW, F)
        for n0 in range(0, N, chunk):
            n1 = min(N, n0 + chunk)
            g = self.buffer("cols", (n1 - n0, H, Wd, KK))
            KC.im2col(g, dz4[n0:n1], kh, kw, sh, sw, pt, pl, 1, 1)
            g2 = g.reshape(-1, KK)
            if train:  # dW = g.T @ x (overwrites; later chunks are added in order)
                matmul(dWm, g2.T, x[n0:n1].reshape(-1, C), beta=0.0 if n0 == 0 else 1.0)
            if need_dx:
                matmul(dx[n0:n1].reshape(-1, C), g2, Wm)
        return dx

    def flops(self, input_shape):
        _, OH, OW, F = self.compute_output_shape((None,) + tuple(input_shape[1:]))
        kh, kw = self.kernel_size
        H, W, C = (int(v) for v in input_shape[1:])
        return H * W * 2 * kh * kw * C * F + OH * OW * self._epilogue_flops(F)

    def get_config(self):
        cfg = self._base_config()
        cfg.update(filters=self.filters,
                   output_padding=None if self.output_padding is None else list(self.output_padding),
                   kernel_initializer=_init_config(self.kernel_initializer),
                   **self._regularizer_config())
        return cfg
