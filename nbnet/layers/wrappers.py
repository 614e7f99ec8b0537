"""Layer wrappers (Keras 3): Bidirectional and TimeDistributed.

Bidirectional(layer, merge_mode) runs two copies of a recurrent layer over the same
sequence: `forward_<name>` as given and `backward_<name>` with go_backwards flipped
(Keras 3 clones both from the layer's config). With return_sequences the backward
layer's outputs, which come in reversed time order, are flipped back so that step t of
both halves saw the same x_t. Then, per step,

    concat  y = [y_f, y_b]      sum  y = y_f + y_b      ave  y = (y_f + y_b) / 2
    mul     y = y_f * y_b       None [y_f, y_b]  (two outputs)

and backward splits dy the same way (mul: dy_f = dy * y_b, dy_b = dy * y_f), flips dy_b
back in time, runs each layer's backward and adds the two dL/dx. The weights are the
forward layer's, then the backward layer's (Keras' order). With return_state the
outputs are [y, states of the forward layer..., states of the backward layer...].

TimeDistributed(layer) applies `layer` to every time step: x (N, T, ...) is viewed as
(N*T, ...), one call of the layer on all steps at once, the result viewed as (N, T, ...).
"""
import numpy as np

from .base import Layer, deserialize, serialize
from .node import is_shape_list

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _flip_time(a):
    return a[:, ::-1]


class _Wrapper(Layer):
    """What the wrappers share: the wrapped layers (`_wrapped`) take the model's step
    when they draw dropout masks, and freezing the wrapper freezes them."""

    def _wrapped(self):
        raise NotImplementedError

    @property
    def stepped(self):
        return getattr(self._wrapped()[0], "stepped", False)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._wrapped():
            layer.trainable = value


class Bidirectional(_Wrapper):
    uses_mask = True   # the wrapped layers read the mask (forward(..., mask=, step=))
    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        if isinstance(layer, dict):
            layer = deserialize(layer)
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(f"Bidirectional needs a recurrent layer (SimpleRNN, LSTM, GRU), "
                             f"got {layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional merge_mode must be one of {_MERGE_MODES}, "
                             f"got {merge_mode!r}")
        kwargs.setdefault("dtype", layer.dtype.name)
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        cfg = layer.get_config()
        cfg["name"] = "forward_" + layer.name
        self.forward_layer = type(layer).from_config(cfg)
        if backward_layer is None:
            cfg = layer.get_config()
            cfg["name"] = "backward_" + layer.name
            cfg["go_backwards"] = not layer.go_backwards
            if cfg.get("seed") is not None:   # its own dropout masks
                cfg["seed"] = (int(cfg["seed"]) + 1) % (2**62)
            self.backward_layer = type(layer).from_config(cfg)
        else:
            if isinstance(backward_layer, dict):
                backward_layer = deserialize(backward_layer)
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError("Bidirectional: backward_layer must have go_backwards "
                                 "opposite to the forward layer's")
            for key in ("return_sequences", "return_state"):
                if getattr(backward_layer, key) != getattr(layer, key):
                    raise ValueError(f"Bidirectional: backward_layer's {key} must equal the "
                                     f"forward layer's")
            self.backward_layer = backward_layer
        self.return_sequences = bool(layer.return_sequences)
        self.return_state = bool(layer.return_state)
        self._initial_weights = weights

    # ------------------------------------------------------------ structure
    def _wrapped(self):
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shape):
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        self._weights = self.forward_layer._weights + self.backward_layer._weights
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        b = self.backward_layer.compute_output_shape(input_shape)
        fs, bs = (list(f), list(b)) if is_shape_list(f) else ([f], [b])
        yf, yb = tuple(fs[0]), tuple(bs[0])
        if self.merge_mode == "concat":
            outs = [yf[:-1] + (yf[-1] + yb[-1],)]
        elif self.merge_mode is None:
            outs = [yf, yb]
        else:
            outs = [yf]
        if self.return_state:
            outs += [tuple(s) for s in fs[1:]] + [tuple(s) for s in bs[1:]]
        return outs if len(outs) > 1 else outs[0]

    def compute_mask(self, x, mask):
        return mask if self.return_sequences and self.merge_mode is not None else None

    def reset_state(self):
        """Zero both directions' held states (stateful=True layers)."""
        for layer in self._wrapped():
            layer.reset_state()

    reset_states = reset_state   # Keras' alias

    # ------------------------------------------------------------ forward / backward
    def _split(self, out):
        return (list(out[:1]), list(out[1:])) if self.return_state else ([out], [])

    def forward(self, x, training=False, mask=None, step=None):
        f, b = self.forward_layer, self.backward_layer
        yf, sf = self._split(f.forward(x, training, mask=mask, step=step))
        yb, sb = self._split(b.forward(x, training, mask=mask, step=step))
        yf, yb = yf[0], yb[0]
        if self.return_sequences:
            yb = _flip_time(yb)
        self._yf, self._yb, self._nstates = yf, yb, len(sf)
        if self.merge_mode == "concat":
            y = self.buffer("y", yf.shape[:-1] + (yf.shape[-1] + yb.shape[-1],))
            u = yf.shape[-1]
            y[..., :u] = yf
            y[..., u:] = yb
            outs = [y]
        elif self.merge_mode is None:
            outs = [yf, np.ascontiguousarray(yb)]
        else:
            y = self.buffer("y", yf.shape)
            if self.merge_mode == "mul":
                np.multiply(yf, yb, out=y)
            else:
                np.add(yf, yb, out=y)
                if self.merge_mode == "ave":
                    y *= y.dtype.type(0.5)
            outs = [y]
        outs += sf + sb
        return outs if len(outs) > 1 else outs[0]

    def backward(self, dy, need_dx=True):
        f, b = self.forward_layer, self.backward_layer
        dys = list(dy) if isinstance(dy, (list, tuple)) else [dy]
        n_out = 2 if self.merge_mode is None else 1
        d_out, d_states = dys[:n_out], dys[n_out:]
        yf, yb = self._yf, self._yb
        zeros = None
        if any(d is None for d in d_out):   # an output not read by the loss
            zeros = np.zeros(yf.shape[:-1] + (yf.shape[-1] * (2 if self.merge_mode == "concat"
                                                               else 1),), dtype=self.dtype)
        d_out = [zeros if d is None else np.ascontiguousarray(d, dtype=self.dtype) for d in d_out]
        if self.merge_mode == "concat":
            u = yf.shape[-1]
            dyf, dyb = d_out[0][..., :u], d_out[0][..., u:]
        elif self.merge_mode is None:
            dyf, dyb = d_out[0][..., :yf.shape[-1]], d_out[1][..., :yb.shape[-1]]
        elif self.merge_mode == "mul":
            dyf, dyb = d_out[0] * yb, d_out[0] * yf
        elif self.merge_mode == "ave":
            dyf = dyb = d_out[0] * self.dtype.type(0.5)
        else:
            dyf = dyb = d_out[0]
        if self.return_sequences:
            dyb = _flip_time(dyb)
        dyf, dyb = np.ascontiguousarray(dyf), np.ascontiguousarray(dyb)
        k = self._nstates
        if self.return_state:
            dyf = [dyf] + list(d_states[:k])
            dyb = [dyb] + list(d_states[k:])
        dxf = f.backward(dyf, need_dx)
        if need_dx:   # the forward layer's dL/dx is a buffer that b's backward keeps
            dxf = np.array(dxf, copy=True)
        dxb = b.backward(dyb, need_dx)
        if not need_dx:
            return None
        dxf += dxb
        return dxf

    def flops(self, input_shape):
        return self.forward_layer.flops(input_shape) + self.backward_layer.flops(input_shape)

    # ------------------------------------------------------------ config
    def get_config(self):
        cfg = super().get_config()
        cfg.pop("dtype", None)
        cfg.update(layer=serialize(self.forward_layer), merge_mode=self.merge_mode,
                   backward_layer=serialize(self.backward_layer))
        cfg["layer"]["config"]["name"] = self.forward_layer.name[len("forward_"):] \
            if self.forward_layer.name.startswith("forward_") else self.forward_layer.name
        return cfg


class TimeDistributed(_Wrapper):
    supports_masking = True

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed needs a layer, got {layer!r}")
        if layer.multi_input:
            raise ValueError("TimeDistributed needs a layer with one input")
        kwargs.setdefault("dtype", layer.dtype.name)
        super().__init__(**kwargs)
        self.layer = layer

    def _wrapped(self):
        return [self.layer]

    def _check(self, shape):
        if len(shape) < 3:
            raise ValueError(f"{self.name}: TimeDistributed needs an input of rank >= 3 "
                             f"(batch, time, ...), got shape {tuple(shape)}")

    def build(self, input_shape):
        self._check(input_shape)
        self.layer._maybe_build((None,) + tuple(input_shape[2:]))
        self._weights = self.layer._weights
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def forward(self, x, training=False, step=None):
        self._check(x.shape)
        n, t = x.shape[:2]
        xi = np.ascontiguousarray(x).reshape((n * t,) + x.shape[2:])
        if getattr(self.layer, "stepped", False):
            y = self.layer.forward(xi, training, step=step)
        else:
            y = self.layer.forward(xi, training)
        self._in_shape = x.shape
        return y.reshape((n, t) + y.shape[1:])

    def backward(self, dy, need_dx=True):
        n, t = dy.shape[:2]
        dyi = np.ascontiguousarray(dy).reshape((n * t,) + dy.shape[2:])
        dx = self.layer.backward(dyi, need_dx)
        return None if dx is None else dx.reshape(self._in_shape)

    def flops(self, input_shape):
        return int(input_shape[1]) * self.layer.flops((None,) + tuple(input_shape[2:]))

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("dtype", None)
        cfg["layer"] = serialize(self.layer)
        return cfg
