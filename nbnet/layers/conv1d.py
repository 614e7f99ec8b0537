"""1-D layers over time (Keras 3), input (batch, steps, channels): Conv1D, MaxPooling1D,
AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, UpSampling1D,
ZeroPadding1D, Cropping1D (and Keras' aliases Convolution1D, MaxPool1D, AvgPool1D,
GlobalAvgPool1D, GlobalMaxPool1D).

Conv1D, kernel W (K, C, F), bias b (F,), stride S, dilation D (kernels/conv1d.py):
    forward   cols = im2col1d(x) (N*OT, K*C); z = cols @ W.reshape(-1, F); z += b; y = f(z)
    backward  dz = dy * f'(z); db = sum dz; dW = cols.T @ dz; dx = col2im1d(dz @ W.T)
padding "valid" (none), "same" (Keras: ceil(T / S) outputs, the odd zero at the end) or
"causal" (D*(K-1) zeros before the first step only: y[t] never reads x[t+1:]). As
Conv2D (layers/conv.py): with numpy's OpenBLAS the im2col, product, bias and activation
run chunk by chunk of sequences, each chunk on one thread in cache; otherwise the cols of
at most _COLS_BYTES of sequences are built at a time and multiplied with np.dot; chunk
sizes depend on the shapes only. K = S = 1 skips im2col (x is the cols matrix).
Fused output (forward(x, training, logits=True)): forward returns z, backward gets dL/dz.

The pooling and reshaping layers view (N, T, C) as NHWC images (N, 1, T, C) or
(N, T, 1, C) and run the 2-D kernels (kernels/pool.py, kernels/reshape.py).
GlobalAveragePooling1D reads the mask (Keras 3): y = sum of the unmasked steps / their
count (kernels/conv1d.py masked_mean_forward), and the mask ends there.
"""
import numba
import numpy as np

from ..kernels import activations as KA
from ..kernels import conv1d as K1
from ..kernels import dense as KD
from ..kernels import pool as KP
from ..kernels import reshape as KR
from ..kernels.gemm import blas_lock, cblas, matmul
from .base import LAYERS, Layer
from .conv import _init_config, conv_geometry
from .core import KernelLayer

_COLS_BYTES = 64 << 20  # the most memory one im2col buffer may take (np.dot path)
_CHUNK_ROWS = 1024      # per-thread chunks, as Conv2D (layers/conv.py)
_CHUNK_BYTES = 1 << 20


def single(value, what, minimum=1):
    """An int or a tuple / list of one int (>= minimum) -> that int."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum} or a tuple of one, "
                         f"got {value!r}")
    return int(value)


def int_pair(value, what):
    """An int p -> (p, p); a pair of ints as is; both non-negative (Keras'
    standardize_tuple(value, 2, allow_zero=True))."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
                  for v in value))
    if not ok:
        raise ValueError(f"{what} must be a non-negative integer or a pair of them, "
                         f"got {value!r}")
    return int(value[0]), int(value[1])


def check_padding(padding, allow_causal=False):
    p = str(padding).lower()
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if p not in allowed:
        raise ValueError(f"padding must be one of {', '.join(map(repr, allowed))}, "
                         f"got {padding!r}")
    return p


def check_data_format(layer, data_format):
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f'{layer}: only data_format="channels_last" (batch, steps, '
                                  f"channels) is supported, got {data_format!r}")


def check_3d(layer, shape):
    if len(shape) != 3:
        raise ValueError(f"{layer.name}: expected input of shape (batch, steps, channels), "
                         f"got shape {tuple(shape)}")


def conv1d_geometry(size, k, s, d, padding):
    """(out, pad_before) of a 1-D window of k taps d apart, stride s, on `size` steps:
    "valid": out = (size - span) // s + 1 with span = d*(k-1) + 1, no padding; "same"
    (Keras): out = ceil(size / s), total = max((out - 1)*s + span - size, 0) zeros, half
    (rounded down) before; "causal": d*(k-1) zeros before, then "valid": out = ceil(size / s)."""
    span = d * (k - 1) + 1
    if padding == "causal":
        return (size - 1) // s + 1, d * (k - 1)
    if padding == "same":
        out = -(-size // s)
        return out, max((out - 1) * s + span - size, 0) // 2
    return (size - span) // s + 1, 0


def _out_len(layer, size, k, s, d, padding):
    if size is None:
        return None
    out = conv1d_geometry(size, k, s, d, padding)[0]
    if out < 1:
        raise ValueError(f"{layer.name}: input length {size} is shorter than the window "
                         f"({d * (k - 1) + 1} steps) with padding='valid'")
    return out


# ==================================================================== Conv1D
class Conv1D(KernelLayer):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"Conv1D filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self._k = single(kernel_size, "Conv1D kernel_size")
        self._s = single(strides, "Conv1D strides")
        self._d = single(dilation_rate, "Conv1D dilation_rate")
        # Keras' attributes are tuples of one
        self.kernel_size, self.strides, self.dilation_rate = (self._k,), (self._s,), (self._d,)
        self.padding = check_padding(padding, allow_causal=True)
        check_data_format("Conv1D", data_format)
        if self._s > 1 and self._d > 1:  # as Keras
            raise ValueError(f"Conv1D: strides > 1 is not supported together with "
                             f"dilation_rate > 1, got strides={strides!r}, "
                             f"dilation_rate={dilation_rate!r}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"Conv1D groups must be a positive integer, got {groups!r}")
        if groups != 1:
            raise NotImplementedError("Conv1D groups other than 1 is not supported")
        self._init_kernel_layer(activation, use_bias, kernel_initializer, bias_initializer,
                                kernel_regularizer, bias_regularizer, activity_regularizer,
                                kernel_constraint, bias_constraint)

    def build(self, input_shape):
        check_3d(self, input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known")
        c = int(input_shape[-1])
        self._add_kernel_and_bias((self._k, c, self.filters), (self.filters,))
        self._no_bias = np.zeros(self.filters, self.dtype)
        self.built = True

    def compute_output_shape(self, input_shape):
        check_3d(self, input_shape)
        return (input_shape[0], _out_len(self, input_shape[1], self._k, self._s, self._d,
                                         self.padding), self.filters)

    # ------------------------------------------------------------ helpers
    def _plan(self, x_shape):
        """Geometry of one call: (OT, pad, sequences per chunk, direct, batched = the
        per-thread chunk kernels run it)."""
        N, T, C = x_shape
        k, s, d = self._k, self._s, self._d
        OT, pad = conv1d_geometry(T, k, s, d, self.padding)
        if OT < 1:
            raise ValueError(f"{self.name}: input {tuple(x_shape)} is shorter than the "
                             f"window ({d * (k - 1) + 1} steps) with padding='valid'")
        direct = k == 1 and s == 1  # cols = x, no im2col (no padding either)
        batched = not direct and cblas() is not None
        per_seq = OT * k * C * self.dtype.itemsize
        if direct:
            chunk = N
        elif batched:
            chunk = max(1, min(N, _CHUNK_ROWS // OT, _CHUNK_BYTES // per_seq))
        else:
            chunk = max(1, min(N, _COLS_BYTES // per_seq))
        return OT, pad, chunk, direct, batched

    def _im2col(self, x, n0, n1, OT, pad):
        """cols (rows, K*C) of sequences n0:n1, in the reused "cols" buffer."""
        KC = self._k * x.shape[-1]
        cols = self.buffer("cols", (n1 - n0, OT, KC))
        K1.im2col1d(cols, x[n0:n1], self._s, self._d, pad)
        return cols.reshape(-1, KC)

    def _act_code(self):
        """(code, alpha) the kernels apply: linear when the last forward handed its
        logits to the loss (logits=True)."""
        return (KA.LINEAR, 0.0) if self._logits else (self._code, float(self._alpha))

    def _scratch(self, per_thread):
        """Per-thread cols of the chunk kernels: one row per thread of Numba's pool."""
        return self.buffer("scratch", (numba.config.NUMBA_NUM_THREADS, per_thread))

    # ------------------------------------------------------------ forward / backward
    def forward(self, x, training=False, logits=False):
        """logits=True: without the activation (see Dense.forward)."""
        check_3d(self, x.shape)
        self._logits = bool(logits)
        W = self.kernel.value
        if x.shape[-1] != W.shape[1]:
            raise ValueError(f"{self.name}: expected {W.shape[1]} input channels, got "
                             f"input of shape {x.shape}")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        N, F = x.shape[0], self.filters
        OT, pad, chunk, direct, batched = plan = self._plan(x.shape)
        Wm = W.reshape(-1, F)
        z = self.buffer("z", (N * OT, F))
        b = self.bias.value if self.use_bias else self._no_bias
        code, alpha = self._act_code()
        y = z if code == KA.LINEAR else self.buffer("y", z.shape)
        cols = None
        if batched:  # im2col, product, bias and activation chunk by chunk, in cache
            fns, ilp64 = cblas()
            fused = code >= 0  # softmax / log_softmax over the channels: afterwards
            with blas_lock:
                K1.conv1d_forward(z, y if fused else z, x, Wm, b, self.use_bias,
                                  code if fused else KA.LINEAR, alpha, self._s, self._d,
                                  pad, OT, chunk,
                                  self._scratch(chunk * OT * Wm.shape[0]), fns, ilp64)
        else:
            for n0 in range(0, N, chunk):  # z = cols @ W, one product per chunk
                n1 = min(N, n0 + chunk)
                cols = x.reshape(-1, x.shape[-1]) if direct else self._im2col(x, n0, n1, OT, pad)
                matmul(z[n0 * OT:n1 * OT], cols, Wm)
            KD.bias_act_forward(z, y, b, self.use_bias, max(code, KA.LINEAR), alpha)
        if code < 0:
            (KA.softmax_forward if code == KA.SOFTMAX else KA.log_softmax_forward)(y, z)
        self._x, self._z, self._y, self._plan_ = x, z, y, plan
        self._cols = cols if chunk >= N else None  # valid for backward with one chunk only
        return y.reshape(N, OT, F)

    def backward(self, dy, need_dx=True):
        x, z, y = self._x, self._z, self._y
        OT, pad, chunk, direct, batched = self._plan_
        train = self.trainable
        if not train and not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(z.shape)
        has_bias = self.use_bias and train
        db = self.bias.grad if has_bias else self._no_bias
        code, alpha = self._act_code()
        dz = dy if code == KA.LINEAR else self.buffer("dz", z.shape)  # linear: dz = dy
        if code < 0:  # softmax / log_softmax: its own backward first, then as linear
            (KA.softmax_backward if code == KA.SOFTMAX else KA.log_softmax_backward)(dz, dy, y)
            dy, code = dz, KA.LINEAR
        W = self.kernel.value
        N, C, F = x.shape[0], x.shape[-1], self.filters
        s, d = self._s, self._d
        Wm = W.reshape(-1, F)
        KC = Wm.shape[0]
        dWm = self.kernel.grad.reshape(-1, F) if train else None
        dx = self.buffer("dx", x.shape) if need_dx else None
        if batched:  # dz, db, dW and dx chunk by chunk, in cache
            dt = self.dtype
            n_chunks = (N + chunk - 1) // chunk
            fns, ilp64 = cblas()
            with blas_lock:
                K1.conv1d_backward(dWm if train else np.empty((0, 0), dt),
                                   self.buffer("parts", (n_chunks, KC, F)) if train
                                   else np.empty((0, 0, 0), dt),
                                   db, self.buffer("db_parts", (n_chunks, F), np.float64),
                                   dx if dx is not None else np.empty((0, 0, 0), dt),
                                   dz, dy, z, y, has_bias, code, alpha, x, Wm, s, d, pad, OT,
                                   chunk, self._scratch(chunk * OT * KC), fns, ilp64, train,
                                   dx is not None)
            return dx
        KD.bias_act_backward(dz, db, dy, z, y, has_bias, code, alpha)
        for n0 in range(0, N, chunk):
            n1 = min(N, n0 + chunk)
            dz_c = dz[n0 * OT:n1 * OT]
            if direct:
                cols = x.reshape(-1, C)
            elif self._cols is not None:
                cols = self._cols
            else:
                cols = self._im2col(x, n0, n1, OT, pad)
            if train:  # dW = cols.T @ dz (overwrites; later chunks are added in order)
                matmul(dWm, cols.T, dz_c, beta=0.0 if n0 == 0 else 1.0)
            if dx is None:
                continue
            if direct:  # dx = dz @ W.T straight into dx
                matmul(dx.reshape(-1, C), dz_c, Wm.T)
                continue
            dcols = self.buffer("dcols", (n1 - n0, OT, KC))
            matmul(dcols.reshape(-1, KC), dz_c, Wm.T)
            K1.col2im1d(dx[n0:n1], dcols, s, d, pad)
        return dx

    def flops(self, input_shape):
        _, OT, F = self.compute_output_shape((None,) + tuple(input_shape[1:]))
        per_step = 2 * self._k * int(input_shape[-1]) * F + (F if self.use_bias else 0)
        if self._code != KA.LINEAR:
            per_step += F
        return OT * per_step

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=[self._k], strides=[self._s],
                   padding=self.padding, data_format="channels_last", dilation_rate=[self._d],
                   groups=1, activation=self._act_name, use_bias=self.use_bias,
                   kernel_initializer=_init_config(self.kernel_initializer),
                   bias_initializer=_init_config(self.bias_initializer),
                   **self._regularizer_config())
        return cfg


# ==================================================================== pooling
class _Pooling1D(Layer):
    """Max / average pooling over windows of pool_size steps, strides (default
    pool_size), padding "valid" | "same": the 2-D kernels on (N, 1, T, C)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self._p = single(pool_size, f"{name} pool_size")
        self._s = self._p if strides is None else single(strides, f"{name} strides")
        self.pool_size, self.strides = (self._p,), (self._s,)  # Keras' tuples of one
        self.padding = check_padding(padding)
        check_data_format(name, data_format)

    def compute_output_shape(self, input_shape):
        check_3d(self, input_shape)
        T = input_shape[1]
        if T is not None:
            T = conv_geometry(T, self._p, self._s, self.padding)[0]
            if T < 1:
                raise ValueError(f"{self.name}: input length {input_shape[1]} is shorter "
                                 f"than the pool ({self._p}) with padding='valid'")
        return (input_shape[0], T, input_shape[2])

    def _geometry(self, x):
        """(x as (N, 1, T, C), output shape (N, 1, OT, C), pad before)."""
        check_3d(self, x.shape)
        N, T, C = x.shape
        OT, pad = conv_geometry(T, self._p, self._s, self.padding)
        self.compute_output_shape(x.shape)  # refuses a too short input
        x4 = np.ascontiguousarray(x, dtype=self.dtype).reshape(N, 1, T, C)
        return x4, (N, 1, OT, C), pad

    def flops(self, input_shape):
        _, OT, C = self.compute_output_shape((None,) + tuple(input_shape[1:]))
        return OT * C * self._p  # one op per cell

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=[self._p], strides=[self._s], padding=self.padding,
                   data_format="channels_last")
        return cfg


class MaxPooling1D(_Pooling1D):
    """y = max of each window (padding cells never win); dx gets dy at the argmax."""

    def forward(self, x, training=False):
        x4, out4, pad = self._geometry(x)
        y = self.buffer("y", out4)
        argmax = self.buffer("argmax", out4, np.int32)
        KP.max_pool_forward(y, argmax, x4, 1, self._p, 1, self._s, 0, pad)
        self._argmax, self._in_shape = argmax, x4.shape
        return y.reshape(out4[0], out4[2], out4[3])

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(self._argmax.shape)
        dx = self.buffer("dx", self._in_shape)
        KP.max_pool_backward(dx, dy, self._argmax, self._s < self._p)
        N, _, T, C = self._in_shape
        return dx.reshape(N, T, C)


class AveragePooling1D(_Pooling1D):
    """y = mean of the valid cells of each window (Keras: padding cells not counted)."""

    def forward(self, x, training=False):
        x4, out4, pad = self._geometry(x)
        y = self.buffer("y", out4)
        KP.avg_pool_forward(y, x4, 1, self._p, 1, self._s, 0, pad)
        self._pad, self._in_shape, self._out_shape = pad, x4.shape, out4
        return y.reshape(out4[0], out4[2], out4[3])

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(self._out_shape)
        dx = self.buffer("dx", self._in_shape)
        KP.avg_pool_backward(dx, dy, 1, self._p, 1, self._s, 0, self._pad)
        N, _, T, C = self._in_shape
        return dx.reshape(N, T, C)


class _GlobalPooling1D(Layer):
    """(N, T, C) -> (N, C), or (N, 1, C) with keepdims=True."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_data_format(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        check_3d(self, input_shape)
        n, c = input_shape[0], input_shape[2]
        return (n, 1, c) if self.keepdims else (n, c)

    def _prepare(self, x):
        check_3d(self, x.shape)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        self._in_shape = x.shape
        return x, self.buffer("y", (x.shape[0], x.shape[2]))

    def _output(self, y):
        return y.reshape(y.shape[0], 1, y.shape[1]) if self.keepdims else y

    def _dy(self, dy):
        N, _, C = self._in_shape
        return np.ascontiguousarray(dy, dtype=self.dtype).reshape(N, C)

    def flops(self, input_shape):
        return int(np.prod(input_shape[1:]))  # one op per input value

    def get_config(self):
        cfg = super().get_config()
        cfg.update(data_format="channels_last", keepdims=self.keepdims)
        return cfg


class GlobalAveragePooling1D(_GlobalPooling1D):
    """y[n, c] = mean over t of x[n, t, c]; with a mask (Keras 3) the mean of the
    unmasked steps only (a sequence with none gives NaN, as Keras' 0 / 0), and masked
    steps get zero gradient. The mask ends here (compute_mask: None)."""
    supports_masking = True
    uses_mask = True

    def compute_mask(self, x, mask):
        return None

    def forward(self, x, training=False, mask=None, step=None):
        x, y = self._prepare(x)
        if mask is not None:
            mask = np.ascontiguousarray(mask, dtype=bool)
            if mask.shape != x.shape[:2]:
                raise ValueError(f"{self.name}: the mask must have shape {x.shape[:2]} "
                                 f"(batch, steps), got {mask.shape}")
            kept = self.buffer("mask", mask.shape, bool)  # backward's copy of the mask
            kept[...] = mask
            mask = kept
            K1.masked_mean_forward(y, x, mask)
        else:
            N, T, C = x.shape
            KP.global_avg_pool_forward(y, x.reshape(N, 1, T, C))
        self._mask = mask
        return self._output(y)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        if self._mask is not None:
            K1.masked_mean_backward(dx, self._dy(dy), self._mask)
        else:
            N, T, C = self._in_shape
            KP.global_avg_pool_backward(dx.reshape(N, 1, T, C), self._dy(dy))
        return dx


class GlobalMaxPooling1D(_GlobalPooling1D):
    """y[n, c] = max over t of x[n, t, c]; dx = dy at the argmax, 0 elsewhere. As in
    Keras 3 it ignores (and ends) a mask."""

    def forward(self, x, training=False):
        x, y = self._prepare(x)
        N, T, C = x.shape
        argmax = self.buffer("argmax", y.shape, np.int32)
        KP.global_max_pool_forward(y, argmax, x.reshape(N, 1, T, C))
        self._argmax = argmax
        return self._output(y)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        N, T, C = self._in_shape
        dx = self.buffer("dx", self._in_shape)
        KP.global_max_pool_backward(dx.reshape(N, 1, T, C), self._dy(dy), self._argmax)
        return dx


# ==================================================================== reshaping
class _Temporal(Layer):
    """A 3-D (batch, steps, channels) layer run by a 2-D kernel on (N, T, 1, C)."""

    def build(self, input_shape):
        check_3d(self, input_shape)
        self.compute_output_shape(input_shape)  # refuses impossible shapes early
        self.built = True

    def _out_shape(self, x_shape):
        out = self.compute_output_shape((None,) + tuple(x_shape[1:]))
        return (x_shape[0],) + tuple(out[1:])

    def _nhwc(self, a):
        """(N, T, C) as (N, T, 1, C) (a view)."""
        a = np.ascontiguousarray(a, dtype=self.dtype)
        return a.reshape(a.shape[0], a.shape[1], 1, a.shape[2])


class UpSampling1D(_Temporal):
    """Each step repeated `size` times: y[n, t] = x[n, t // size]; dx = the sums of dy
    over each step's copies."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"UpSampling1D size must be an integer, got {size!r}")
        if size <= 0:
            raise ValueError(f"UpSampling1D size must be a positive integer, got {size!r}")
        self.size = int(size)

    def compute_output_shape(self, input_shape):
        check_3d(self, input_shape)
        T = input_shape[1]
        return (input_shape[0], None if T is None else T * self.size, input_shape[2])

    def forward(self, x, training=False):
        check_3d(self, x.shape)
        y = self.buffer("y", self._out_shape(x.shape))
        KR.upsample_nearest_forward(self._nhwc(y), self._nhwc(x), self.size, 1)
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        KR.upsample_nearest_backward(self._nhwc(dx), self._nhwc(dy), self.size, 1)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(size=self.size)
        return cfg


class ZeroPadding1D(_Temporal):
    """padding[0] zero steps before and padding[1] after; dx = the steps of dy where x
    went. data_format "channels_first" (N, C, T) pads the last axis."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = int_pair(padding, "ZeroPadding1D padding")
        if data_format is None:
            data_format = "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f'data_format must be "channels_last" or "channels_first", '
                             f"got {data_format!r}")
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        check_3d(self, input_shape)
        out = list(input_shape)
        axis = 2 if self.data_format == "channels_first" else 1
        if out[axis] is not None:
            out[axis] += self.padding[0] + self.padding[1]
        return tuple(out)

    def _view(self, a):
        """a as (N', steps, 1, C') NHWC: channels_first (N, C, T) is N*C one-channel rows."""
        if self.data_format == "channels_first":
            a = np.ascontiguousarray(a, dtype=self.dtype)
            return a.reshape(a.shape[0] * a.shape[1], a.shape[2], 1, 1)
        return self._nhwc(a)

    def forward(self, x, training=False):
        check_3d(self, x.shape)
        y = self.buffer("y", self._out_shape(x.shape))
        KR.pad2d(self._view(y), self._view(x), self.padding[0], 0)
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        KR.crop2d(self._view(dx), self._view(dy), self.padding[0], 0)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(padding=list(self.padding), data_format=self.data_format)
        return cfg


class Cropping1D(_Temporal):
    """Removes cropping[0] steps at the start and cropping[1] at the end; dx = dy padded
    with zeros."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = int_pair(cropping, "Cropping1D cropping")

    def compute_output_shape(self, input_shape):
        check_3d(self, input_shape)
        T = input_shape[1]
        if T is not None:
            if T - sum(self.cropping) <= 0:
                raise ValueError(f"{self.name}: cropping {self.cropping} must leave at least "
                                 f"one step; input shape {tuple(input_shape)}")
            T -= sum(self.cropping)
        return (input_shape[0], T, input_shape[2])

    def forward(self, x, training=False):
        check_3d(self, x.shape)
        y = self.buffer("y", self._out_shape(x.shape))
        KR.crop2d(self._nhwc(y), self._nhwc(x), self.cropping[0], 0)
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = self.buffer("dx", self._in_shape)
        KR.pad2d(self._nhwc(dx), self._nhwc(dy), self.cropping[0], 0)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(cropping=list(self.cropping))
        return cfg


# Keras 3's aliases; hand-written specs may use them, get_config writes the canonical name.
Convolution1D = Conv1D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
for _alias, _cls in (("Convolution1D", Conv1D), ("MaxPool1D", MaxPooling1D),
                     ("AvgPool1D", AveragePooling1D), ("GlobalAvgPool1D", GlobalAveragePooling1D),
                     ("GlobalMaxPool1D", GlobalMaxPooling1D)):
    LAYERS.add(_cls, name=_alias)
del _alias, _cls
