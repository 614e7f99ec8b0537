"""Conv2D (Keras 3), NHWC, kernel W (KH, KW, C, F), bias b (F,), dilation_rate (DH, DW)
(taps DH rows / DW columns apart; Keras refuses it with strides > 1, and so does nbnet).

    forward   cols = im2col(x)                 (N*OH*OW, KH*KW*C)    kernels/conv.py
              z = cols @ W.reshape(-1, F)       one BLAS product (per chunk of images)
              z += b; y = f(z)                  bias_act_forward      kernels/dense.py
    backward  dz = dy * f'(z); db = sum dz      bias_act_backward
              dW = cols.T @ dz                  (overwrites; chunks added in order)
              dx = col2im(dz @ W.T)

With numpy's OpenBLAS (nbnet.kernels.gemm.cblas), im2col and the products run chunk by
chunk of images, each chunk on one thread with its cols in a small per-thread scratch
that stays in cache (kernels/conv.py conv_forward / conv_backward): a chunk is at most
_CHUNK_ROWS rows of cols and _CHUNK_BYTES, and at least one image; backward rebuilds
each chunk's cols and sums dW over the chunks in order. Otherwise (any other BLAS) the
cols of at most _COLS_BYTES of images are built at a time and multiplied with np.dot.
Either way the chunk size depends on the shapes only, never on the thread count. A
1x1 stride-1 convolution skips im2col: x viewed as (N*H*W, C) is already the cols
matrix, one product.
Fused output (emit_logits = True, set by the model): forward returns z and backward
receives dL/dz, as for Dense.
"""
import numba
import numpy as np

from .. import initializers
from ..kernels import activations as KA
from ..kernels import conv as KC
from ..kernels import dense as KD
from ..kernels.gemm import blas_lock, cblas, matmul
from .core import KernelLayer

_COLS_BYTES = 64 << 20  # the most memory one im2col buffer may take (np.dot path)
# Per-thread chunks (measured, 1 thread, the benchmarks' CNN at batch 128, whose second
# convolution unrolls 18 MB of cols: one 18 MB product 43.9 ms per step, 1 MB chunks
# 40.3, 0.5 MB 38.8; at 2 threads the chunks must stay large enough to use both).
_CHUNK_ROWS = 1024
_CHUNK_BYTES = 1 << 20


def pair(value, what):
    """An int or a pair of ints -> a tuple of two positive ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = value
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                 for v in (a, b))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{what} must be a positive integer or a pair of them, got {value!r}")
    return int(a), int(b)


def check_padding(padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f'padding must be "valid" or "same", got {padding!r}')
    return p


def check_data_format(data_format):
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f'only data_format="channels_last" (NHWC) is supported, '
                                  f"got {data_format!r}")


def check_4d(layer, shape):
    if len(shape) != 4:
        raise ValueError(f"{layer.name}: expected input of shape (batch, height, width, "
                         f"channels), got shape {tuple(shape)}")


def conv_geometry(size, k, s, padding):
    """(out, pad_before) along one axis. "valid": out = (size - k) // s + 1, no padding;
    "same" (Keras): out = ceil(size / s), total = max((out - 1)*s + k - size, 0) zeros,
    total // 2 before and the rest (one more when odd) after."""
    if padding == "same":
        out = -(-size // s)
        return out, max((out - 1) * s + k - size, 0) // 2
    return (size - k) // s + 1, 0


def output_size(layer, size, k, s, padding):
    if size is None:
        return None
    out = conv_geometry(size, k, s, padding)[0]
    if out < 1:
        raise ValueError(f"{layer.name}: input size {size} is smaller than the window "
                         f"{k} with padding='valid'")
    return out


def _init_config(init):
    return init if isinstance(init, dict) else initializers.serialize(init)


class Conv2D(KernelLayer):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"Conv2D filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "Conv2D kernel_size")
        self.strides = pair(strides, "Conv2D strides")
        self.padding = check_padding(padding)
        check_data_format(data_format)
        self.dilation_rate = pair(dilation_rate, "Conv2D dilation_rate")
        if self.dilation_rate != (1, 1) and self.strides != (1, 1):  # as Keras
            raise ValueError("Conv2D: strides > 1 is not supported together with "
                             f"dilation_rate > 1, got strides={strides!r}, "
                             f"dilation_rate={dilation_rate!r}")
        if groups != 1:
            raise NotImplementedError("Conv2D groups other than 1 is not supported")
        self._init_kernel_layer(activation, use_bias, kernel_initializer, bias_initializer,
                                kernel_regularizer, bias_regularizer, activity_regularizer,
                                kernel_constraint, bias_constraint)

    def build(self, input_shape):
        check_4d(self, input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known")
        kh, kw = self.kernel_size
        c = int(input_shape[-1])
        self._add_kernel_and_bias((kh, kw, c, self.filters), (self.filters,))
        self._no_bias = np.zeros(self.filters, self.dtype)
        self.built = True

    def _extent(self):
        """The window's height and width in the input: (k - 1) * dilation + 1."""
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation_rate
        return (kh - 1) * dh + 1, (kw - 1) * dw + 1

    def compute_output_shape(self, input_shape):
        check_4d(self, input_shape)
        (eh, ew), (sh, sw) = self._extent(), self.strides
        return (input_shape[0], output_size(self, input_shape[1], eh, sh, self.padding),
                output_size(self, input_shape[2], ew, sw, self.padding), self.filters)

    # ------------------------------------------------------------ helpers
    def _plan(self, x_shape):
        """Geometry of one call: (OH, OW, pad_top, pad_left, images per chunk, direct,
        batched = the per-thread chunk kernels run it)."""
        N, H, W, C = x_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        (eh, ew) = self._extent()
        OH, pt = conv_geometry(H, eh, sh, self.padding)
        OW, pl = conv_geometry(W, ew, sw, self.padding)
        if OH < 1 or OW < 1:
            raise ValueError(f"{self.name}: input {tuple(x_shape)} is smaller than the "
                             f"kernel {(eh, ew)} with padding='valid'")
        direct = (kh, kw, sh, sw) == (1, 1, 1, 1)  # cols = x, no im2col
        batched = not direct and cblas() is not None
        per_image = OH * OW * kh * kw * C * self.dtype.itemsize
        if direct:
            chunk = N
        elif batched:
            chunk = max(1, min(N, _CHUNK_ROWS // (OH * OW), _CHUNK_BYTES // per_image))
        else:
            chunk = max(1, min(N, _COLS_BYTES // per_image))
        return OH, OW, pt, pl, chunk, direct, batched

    def _im2col(self, x, n0, n1, OH, OW, pt, pl):
        """cols (rows, KH*KW*C) of images n0:n1, in the reused "cols" buffer."""
        (kh, kw), (sh, sw), C = self.kernel_size, self.strides, x.shape[-1]
        cols = self.buffer("cols", (n1 - n0, OH, OW, kh * kw * C))
        KC.im2col(cols, x[n0:n1], kh, kw, sh, sw, pt, pl, *self.dilation_rate)
        return cols.reshape(-1, kh * kw * C)

    # ------------------------------------------------------------ forward / backward
    def _act_code(self):
        """(code, alpha) of the activation the kernels apply: linear when the last
        forward handed its logits to the loss (logits=True)."""
        return (KA.LINEAR, 0.0) if self._logits else (self._code, float(self._alpha))

    def forward(self, x, training=False, logits=False):
        """logits=True: without the activation (see Dense.forward)."""
        check_4d(self, x.shape)
        self._logits = bool(logits)
        W = self.kernel.value
        if x.shape[-1] != W.shape[2]:
            raise ValueError(f"{self.name}: expected {W.shape[2]} input channels, got "
                             f"input of shape {x.shape}")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        N, F = x.shape[0], self.filters
        OH, OW, pt, pl, chunk, direct, batched = plan = self._plan(x.shape)
        Wm = W.reshape(-1, F)
        z = self.buffer("z", (N * OH * OW, F))
        rows = OH * OW
        b = self.bias.value if self.use_bias else self._no_bias
        code, alpha = self._act_code()
        y = z if code == KA.LINEAR else self.buffer("y", z.shape)
        cols = None
        if batched:  # im2col, product, bias and activation chunk by chunk, in cache
            (kh, kw), (sh, sw) = self.kernel_size, self.strides
            fns, ilp64 = cblas()
            fused = code >= 0  # softmax / log_softmax over the channels: afterwards
            with blas_lock:
                KC.conv_forward(z, y if fused else z, x, Wm, b, self.use_bias,
                                code if fused else KA.LINEAR, alpha, kh, kw, sh, sw, pt, pl,
                                *self.dilation_rate, OH, OW, chunk,
                                self._scratch(chunk * rows * Wm.shape[0]), fns, ilp64)
        else:
            for n0 in range(0, N, chunk):  # z = cols @ W, one product per chunk of images
                n1 = min(N, n0 + chunk)
                cols = x.reshape(-1, x.shape[-1]) if direct else self._im2col(x, n0, n1, OH, OW, pt, pl)
                matmul(z[n0 * rows:n1 * rows], cols, Wm)
            KD.bias_act_forward(z, y, b, self.use_bias, max(code, KA.LINEAR), alpha)
        if code < 0:
            (KA.softmax_forward if code == KA.SOFTMAX else KA.log_softmax_forward)(y, z)
        # cols of the whole batch stay valid for backward only when there was one chunk
        self._x, self._z, self._y, self._plan_ = x, z, y, plan
        self._cols = cols if chunk >= N else None
        return y.reshape(N, OH, OW, F)

    def _scratch(self, per_thread):
        """Per-thread cols of the chunk kernels: one row per thread of Numba's pool."""
        return self.buffer("scratch", (numba.config.NUMBA_NUM_THREADS, per_thread))

    def backward(self, dy, need_dx=True):
        x, z, y = self._x, self._z, self._y
        OH, OW, pt, pl, chunk, direct, batched = self._plan_
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
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        N, C, F = x.shape[0], x.shape[-1], self.filters
        Wm = W.reshape(-1, F)
        dWm = self.kernel.grad.reshape(-1, F) if train else None
        dx = self.buffer("dx", x.shape) if need_dx else None
        rows = OH * OW
        if batched:  # dz, db, dW and dx chunk by chunk, in cache
            KK, dt = kh * kw * C, self.dtype
            n_chunks = (N + chunk - 1) // chunk
            fns, ilp64 = cblas()
            with blas_lock:
                KC.conv_backward(dWm if train else np.empty((0, 0), dt),
                                 self.buffer("parts", (n_chunks, KK, F)) if train else np.empty((0, 0, 0), dt),
                                 db, self.buffer("db_parts", (n_chunks, F), np.float64),
                                 dx if dx is not None else np.empty((0, 0, 0, 0), dt),
                                 dz, dy, z, y, has_bias, code, alpha, x, Wm, kh, kw, sh, sw, pt, pl,
                                 *self.dilation_rate, OH, OW, chunk,
                                 self._scratch(chunk * rows * KK), fns, ilp64, train,
                                 dx is not None)
            return dx
        KD.bias_act_backward(dz, db, dy, z, y, has_bias, code, alpha)
        for n0 in range(0, N, chunk):
            n1 = min(N, n0 + chunk)
            dz_c = dz[n0 * rows:n1 * rows]
            if direct:
                cols = x.reshape(-1, C)
            elif self._cols is not None:
                cols = self._cols
            else:
                cols = self._im2col(x, n0, n1, OH, OW, pt, pl)
            if train:  # dW = cols.T @ dz (overwrites; later chunks are added in order)
                matmul(dWm, cols.T, dz_c, beta=0.0 if n0 == 0 else 1.0)
            if dx is None:
                continue
            if direct:  # dx = dz @ W.T straight into dx
                matmul(dx.reshape(-1, C), dz_c, Wm.T)
                continue
            dcols = self.buffer("dcols", (n1 - n0, OH, OW, kh * kw * C))
            matmul(dcols.reshape(-1, kh * kw * C), dz_c, Wm.T)
            KC.col2im(dx[n0:n1], dcols, kh, kw, sh, sw, pt, pl, *self.dilation_rate)
        return dx

    def flops(self, input_shape):
        _, OH, OW, F = self.compute_output_shape((None,) + tuple(input_shape[1:]))
        kh, kw = self.kernel_size
        per_pixel = 2 * kh * kw * int(input_shape[-1]) * F + (F if self.use_bias else 0)
        if self._code != KA.LINEAR:
            per_pixel += F
        return OH * OW * per_pixel

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=list(self.kernel_size),
                   strides=list(self.strides), padding=self.padding,
                   data_format="channels_last", dilation_rate=list(self.dilation_rate),
                   groups=1,
                   activation=self._act_name, use_bias=self.use_bias,
                   kernel_initializer=_init_config(self.kernel_initializer),
                   bias_initializer=_init_config(self.bias_initializer),
                   **self._regularizer_config())
        return cfg
