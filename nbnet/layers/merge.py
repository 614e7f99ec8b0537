"""Merge layers (Keras 3): Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, and their function forms add(inputs, **kwargs) ... concatenate(inputs,
axis=-1, **kwargs), each `Layer(**kwargs)(inputs)` (arrays or symbolic tensors).

Each takes a list of at least 2 inputs (Subtract exactly 2) of one shape (Concatenate:
one shape except on `axis`); None dimensions match anything. Unlike Keras, no dimension
of size 1 broadcasts. On inputs x_0 ... x_{n-1} (kernels/merge.py):

    Add        y = x_0 + ... + x_{n-1}           dx_k = dy
    Subtract   y = x_0 - x_1                     dx_0 = dy, dx_1 = -dy
    Multiply   y = x_0 * ... * x_{n-1}           dx_k = dy * prod_{j != k} x_j
    Average    y = (x_0 + ... + x_{n-1}) / n     dx_k = dy / n
    Maximum    y = max_k x_k  (Minimum: min)     dx_k = dy where x_k gave y, else 0
    Concatenate  y = the inputs side by side on `axis`; dx_k = dy's slice of x_k

Maximum / Minimum: on a tie the gradient goes to the FIRST input holding the maximum
(minimum), so the gradients of the inputs always sum to dy; a NaN wins (propagates).
backward returns a list of gradients, one per input, views of one layer-owned buffer
(distinct arrays, overwritten by the next backward call); a list of None when
backward is called with need_dx=False (a layer that reads only the model's inputs).
"""
import math

import numpy as np

from ..kernels import merge as K
from .base import Layer

_MAX_INPUTS_EXTREME = np.iinfo(np.int16).max  # extreme_forward's idx is int16


def _shape_list(layer, input_shapes):
    """The list of input shapes, checked to be a list of at least 2 (exactly 2 for
    Subtract) shapes of one rank."""
    ok = isinstance(input_shapes, (list, tuple)) and all(
        isinstance(s, (list, tuple)) for s in input_shapes)
    if not ok:
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) takes a list of "
                         f"inputs, got input shape {input_shapes!r}")
    shapes = [tuple(s) for s in input_shapes]
    n = len(shapes)
    lo, hi = layer._n_inputs
    if not lo <= n <= hi:
        want = f"exactly {lo}" if lo == hi else f"at least {lo}" if n < lo else f"at most {hi}"
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) takes {want} "
                         f"inputs, got {n}: shapes {shapes}")
    return shapes


def _mismatch(layer, shapes, what):
    return ValueError(f"layer {layer.name!r} ({type(layer).__name__}) needs {what}, "
                      f"got shapes {shapes}")


def _merged_dims(dims):
    """One dimension of several shapes: the known size (None if none is known), or
    False if two known sizes differ."""
    known = {d for d in dims if d is not None}
    if len(known) > 1:
        return False
    return known.pop() if known else None


def merged_mask(masks):
    """Keras 3's merge of the inputs' masks: True where every input that has a mask has
    data (None when no input has one)."""
    masks = [m for m in (masks or []) if m is not None]
    if not masks:
        return None
    out = masks[0].copy()
    for m in masks[1:]:
        out &= m
    return out


class Merge(Layer):
    """Base of the element-wise merge layers (Keras' Merge)."""
    _abstract = True
    multi_input = True
    supports_masking = True
    _n_inputs = (2, math.inf)

    def compute_mask(self, x, mask):
        return merged_mask(mask)

    def build(self, input_shapes):
        self.compute_output_shape(input_shapes)  # validates (Keras checks in build)
        self.built = True

    def compute_output_shape(self, input_shapes):
        shapes = _shape_list(self, input_shapes)
        if len({len(s) for s in shapes}) > 1:
            raise _mismatch(self, shapes, "inputs of one shape")
        out = tuple(_merged_dims(dims) for dims in zip(*shapes))
        if any(d is False for d in out):
            raise _mismatch(self, shapes, "inputs of one shape")
        return out

    def _inputs(self, xs):
        """The inputs as 1-D arrays of the layer's dtype, shapes checked at run time."""
        xs = [np.ascontiguousarray(x, dtype=self.dtype) for x in xs]
        shape = xs[0].shape
        if len(xs) < self._n_inputs[0] or len(xs) > self._n_inputs[1] or any(
                x.shape != shape for x in xs):
            self.compute_output_shape([x.shape for x in xs])  # raises
        self._shape, self._n = shape, len(xs)
        return [x.reshape(-1) for x in xs]

    def _fold(self, flat, op, d_last=1.0):
        """y = op(...op(op(x_0, x_1), x_2)..., x_{n-1}), the last step divided by d_last."""
        y = self.buffer("y", self._shape)
        yf = y.reshape(-1)
        a, n = flat[0], len(flat)
        for k in range(1, n):
            K.merge_forward(yf, a, flat[k], op, float(d_last) if k == n - 1 else 1.0)
            a = yf
        return y

    def _grads(self, dy, need_dx):
        """(dy as (N,), the (n, N) gradient buffer), or (None, None) when no input
        gradient is needed."""
        if not need_dx:
            return None, None
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(-1)
        dxs = self.buffer("dx", (self._n,) + self._shape)
        return dy, dxs

    def _sum_backward(self, dy, s0, s, need_dx):
        dy, dxs = self._grads(dy, need_dx)
        if dxs is None:
            return [None] * self._n
        K.sum_backward(dxs.reshape(self._n, -1), dy, float(s0), float(s))
        return list(dxs)

    def flops(self, input_shape):
        return math.prod(input_shape[0][1:]) * (len(input_shape) - 1)


class Add(Merge):
    """y = x_0 + x_1 + ... (summed left to right)."""

    def forward(self, xs, training=False):
        return self._fold(self._inputs(xs), K.ADD)

    def backward(self, dy, need_dx=True):
        return self._sum_backward(dy, 1.0, 1.0, need_dx)


class Subtract(Merge):
    """y = x_0 - x_1 (exactly 2 inputs)."""
    _n_inputs = (2, 2)

    def forward(self, xs, training=False):
        return self._fold(self._inputs(xs), K.SUBTRACT)

    def backward(self, dy, need_dx=True):
        return self._sum_backward(dy, 1.0, -1.0, need_dx)


class Average(Merge):
    """y = (x_0 + x_1 + ...) / n, as Keras: the sum left to right, then one division."""

    def forward(self, xs, training=False):
        flat = self._inputs(xs)
        return self._fold(flat, K.ADD, d_last=len(flat))

    def backward(self, dy, need_dx=True):
        return self._sum_backward(dy, 1.0 / self._n, 1.0 / self._n, need_dx)

    def flops(self, input_shape):
        return math.prod(input_shape[0][1:]) * len(input_shape)


class Multiply(Merge):
    """y = x_0 * x_1 * ... (left to right); backward needs the inputs, kept by reference."""

    def forward(self, xs, training=False):
        flat = self._inputs(xs)
        self._xs = flat
        return self._fold(flat, K.MULTIPLY)

    def backward(self, dy, need_dx=True):
        dy, dxs = self._grads(dy, need_dx)
        if dxs is None:
            return [None] * self._n
        x, n = self._xs, self._n
        d = dxs.reshape(n, -1)
        if n == 2:
            K.multiply_backward(d, dy, x[0], x[1])
            return list(dxs)
        # dx_k = dy * (x_0 ... x_{k-1}) * (x_{k+1} ... x_{n-1}), no division (zeros):
        # prefix products left to right into d[k], then suffix products right to left.
        MUL = K.MULTIPLY
        d[0] = dy
        for k in range(1, n):
            K.merge_forward(d[k], d[k - 1], x[k - 1], MUL, 1.0)
        s = self.buffer("suffix", dy.shape)
        K.merge_forward(d[n - 2], d[n - 2], x[n - 1], MUL, 1.0)
        K.merge_forward(s, x[n - 1], x[n - 2], MUL, 1.0)        # s = x_{n-2} x_{n-1}
        for k in range(n - 3, -1, -1):
            K.merge_forward(d[k], d[k], s, MUL, 1.0)
            if k > 0:
                K.merge_forward(s, s, x[k], MUL, 1.0)
        return list(dxs)


class _Extreme(Merge):
    """Maximum / Minimum: the winner's index per element (int16) is kept for backward;
    a tie goes to the first input holding the extreme."""
    _n_inputs = (2, _MAX_INPUTS_EXTREME)
    _is_max = True

    def forward(self, xs, training=False):
        flat = self._inputs(xs)
        y = self.buffer("y", self._shape)
        idx = self.buffer("idx", self._shape, np.int16)
        yf, ixf = y.reshape(-1), idx.reshape(-1)
        a = flat[0]
        for k in range(1, len(flat)):
            K.extreme_forward(yf, ixf, a, flat[k], k, self._is_max)
            a = yf
        self._idx = ixf
        return y

    def backward(self, dy, need_dx=True):
        dy, dxs = self._grads(dy, need_dx)
        if dxs is None:
            return [None] * self._n
        K.extreme_backward(dxs.reshape(self._n, -1), dy, self._idx)
        return list(dxs)


class Maximum(_Extreme):
    """y = max(x_0, x_1, ...) element-wise; the gradient goes to the first maximal input."""
    _is_max = True


class Minimum(_Extreme):
    """y = min(x_0, x_1, ...) element-wise; the gradient goes to the first minimal input."""
    _is_max = False


class Concatenate(Layer):
    """The inputs side by side on `axis` (default -1, the last); all other dimensions
    equal. Viewed as (outer, axis * inner) matrices, input k fills a block of columns."""
    multi_input = True
    supports_masking = True
    _n_inputs = (2, math.inf)

    def compute_mask(self, x, mask):
        """(The time axis is not the one concatenated: the masks' AND, as Keras gives.)"""
        return merged_mask(mask)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Concatenate axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def _axis(self, shapes):
        rank = len(shapes[0])
        if len({len(s) for s in shapes}) > 1:
            raise _mismatch(self, shapes, f"inputs of one rank, equal except on axis "
                                          f"{self.axis}")
        ax = self.axis + rank if self.axis < 0 else self.axis
        if not 0 <= ax < rank:
            raise ValueError(f"layer {self.name!r} (Concatenate): axis {self.axis} is out "
                             f"of range for inputs of rank {rank}, got shapes {shapes}")
        return ax

    def build(self, input_shapes):
        self.compute_output_shape(input_shapes)
        self.built = True

    def compute_output_shape(self, input_shapes):
        shapes = _shape_list(self, input_shapes)
        ax = self._axis(shapes)
        out = [_merged_dims(dims) for dims in zip(*shapes)]
        if any(d is False for i, d in enumerate(out) if i != ax):
            raise _mismatch(self, shapes, f"inputs with the same shape except on axis "
                                          f"{self.axis}")
        sizes = [s[ax] for s in shapes]
        out[ax] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def forward(self, xs, training=False):
        xs = [np.ascontiguousarray(x, dtype=self.dtype) for x in xs]
        shapes = [x.shape for x in xs]
        ax = self._axis(shapes)
        rest = shapes[0][:ax] + shapes[0][ax + 1:]
        if len(xs) < 2 or any(s[:ax] + s[ax + 1:] != rest for s in shapes):
            self.compute_output_shape(shapes)  # raises
        outer = math.prod(shapes[0][:ax])
        widths = [x.size // outer if outer else math.prod(x.shape[ax:]) for x in xs]
        total = sum(widths)
        y = self.buffer("y", shapes[0][:ax] + (sum(s[ax] for s in shapes),) + shapes[0][ax + 1:])
        y2 = y.reshape(outer, total)
        off = 0
        for x, w in zip(xs, widths):
            K.copy_cols(y2, off, x.reshape(outer, w), 0, w)
            off += w
        self._split = (shapes, outer, widths, total)
        return y

    def backward(self, dy, need_dx=True):
        shapes, outer, widths, total = self._split
        if not need_dx:
            return [None] * len(shapes)
        dy2 = np.ascontiguousarray(dy, dtype=self.dtype).reshape(outer, total)
        flat = self.buffer("dx", (outer * total,))
        grads, pos, off = [], 0, 0
        for shape, w in zip(shapes, widths):
            dx = flat[pos:pos + outer * w].reshape(outer, w)
            K.copy_cols(dx, 0, dy2, off, w)
            grads.append(dx.reshape(shape))
            pos, off = pos + outer * w, off + w
        return grads

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis)
        return cfg


def add(inputs, **kwargs):
    """Functional form of Add: `Add(**kwargs)(inputs)`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of Subtract: `Subtract(**kwargs)(inputs)`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of Multiply: `Multiply(**kwargs)(inputs)`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of Average: `Average(**kwargs)(inputs)`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of Maximum: `Maximum(**kwargs)(inputs)`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of Minimum: `Minimum(**kwargs)(inputs)`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of Concatenate: `Concatenate(axis=axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)
