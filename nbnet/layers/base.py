"""The Layer life cycle (Keras 3 style) and the Weight it owns.

    build(input_shape)         create weights with add_weight (input_shape has None batch)
    forward(x, training)       compute the output, keep what backward needs
    backward(dy, need_dx)      return dL/dx (None when need_dx is False: nothing before
                               the layer needs it) and OVERWRITE each weight's .grad
    compute_output_shape(s)    shape bookkeeping without data
    compute_mask(x, mask)      the mask of the output (Keras 3 masking, below)
    get_config / from_config   serialisation (JSON-able dict)
    flops(input_shape)         forward floating-point operations for one sample

Gradient rule, one for the whole project: backward overwrites parameter gradients,
it never accumulates. forward may return an internal buffer that the next forward call
overwrites (no allocation per step); `layer(x)` returns a copy the caller owns.

Masking (Keras 3): a mask is a boolean array (batch, time), True where a step holds
data. A layer that makes one (Embedding(mask_zero=True), Masking) has produces_mask
True; a model with such a layer computes, after each layer call, the mask of its
output with compute_mask(x, mask) (default: the input's mask when supports_masking,
else None: a layer that does not support masking ends it, as in Keras). A layer that
reads the mask (recurrent layers, global pooling over time) has uses_mask True: the
model calls forward(x, training, mask=..., step=...) (mask None when there is none;
step as for `stepped` layers) and its backward uses the mask of that forward.
"""
import contextvars
import re

import numpy as np

from .. import config, initializers
from ..registry import Registry
from .node import call_symbolic, is_symbolic

_NAME_COUNTS = {}
# Set while nbnet.saving builds a model from a file: a callable(name, shape) that
# refuses weights the file's arrays cannot hold (nbnet.modelcheck.WeightBudget).
WEIGHT_BUDGET = contextvars.ContextVar("nbnet_weight_budget", default=None)


def _snake(name):
    """Keras' to_snake_case: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def get_layer_class(class_name):
    """The registered layer class of that name (nbnet.registry: exact class names)."""
    return LAYERS.lookup(class_name)


def serialize(layer):
    return LAYERS.serialize(layer)


def deserialize(spec):
    """{"class_name": "Dense", "config": {...}} -> a new, unbuilt layer."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"a layer spec needs 'class_name' and 'config', got {spec!r}")
    return LAYERS.deserialize(spec)


class Weight:
    """A named parameter. `value` and `grad` may be views into the model's flat buffers."""

    regularizer = constraint = None   # nbnet.regularizers / nbnet.constraints objects

    def __init__(self, name, value, trainable=True):
        self.name = name
        self.value = value
        self.grad = np.zeros_like(value) if trainable else None
        self.trainable = trainable
        self.path = name

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    size = property(lambda self: self.value.size)

    def numpy(self):
        return self.value.copy()

    def assign(self, value):
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(f"weight {self.path!r} has shape {self.value.shape}, got {value.shape}")
        self.value[...] = value

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Weight {self.path} shape={self.shape} dtype={self.dtype}>"


class Layer:
    """Base of every layer. Subclasses override build / forward / backward / get_config.

    A layer with multi_input = True (the merge layers) takes a list of arrays: build
    and compute_output_shape get a list of shapes, forward(xs, training) a list of
    arrays, and backward(dy) returns a list of gradients, one per input. Called on
    symbolic tensors (nb.Input), a layer records a Node instead of computing.

    Every subclass is registered under its class name (model files and specs name it),
    except private ones (a leading "_") and abstract bases (`_abstract = True` in the
    class body); a second class of a taken name is refused (nbnet.registry)."""
    multi_input = False
    activity_regularizer = None   # nbnet.regularizers object: see nbnet.plan
    supports_masking = False      # passes its input's mask on unchanged (Keras 3)
    uses_mask = False             # forward takes mask= and step= (see the module doc)
    produces_mask = False         # compute_mask may make a mask from none

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_") and not cls.__dict__.get("_abstract"):
            LAYERS.add(cls)

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = config.standardize_dtype(dtype)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._weights = []
        self._buffers = {}
        self._inbound_nodes = []   # one per call on symbolic tensors

    # ---------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="zeros", trainable=True, regularizer=None,
                   constraint=None):
        """A new weight (Keras' add_weight); its regularizer's penalty joins the loss and
        its constraint is applied after every optimizer step (the trainer does both)."""
        budget = WEIGHT_BUDGET.get()
        if budget is not None:   # building from a model file: refused before allocating
            budget(f"{self.name}/{name}", shape)
        init = initializers.get(initializer)
        value = np.ascontiguousarray(init(tuple(shape), self.dtype), dtype=self.dtype)
        w = Weight(name, value, trainable=trainable)
        w.path = f"{self.name}/{name}"
        w.regularizer, w.constraint = regularizer, constraint
        self._weights.append(w)
        return w

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    @property
    def weights(self):
        return list(self._weights)

    @property
    def trainable_weights(self):
        return [w for w in self._weights if w.trainable and self._trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self._weights if not (w.trainable and self._trainable)]

    def get_weights(self):
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(f"layer {self.name!r} has {len(self._weights)} weights, "
                             f"got a list of {len(weights)}")
        for w, v in zip(self._weights, weights):
            w.assign(v)

    def count_params(self):
        return int(sum(w.size for w in self._weights))

    # ---------------------------------------------------------------- life cycle
    def build(self, input_shape):
        self.built = True

    def _maybe_build(self, input_shape):
        if not self.built:
            if self.multi_input:
                input_shape = [(None,) + tuple(s[1:]) for s in input_shape]
            else:
                input_shape = (None,) + tuple(input_shape[1:])
            self.input_shape = input_shape
            self.build(input_shape)
            self.built = True
            self.output_shape = self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, x, mask):
        """The mask of the output for input x with mask `mask` (None: no mask)."""
        return mask if self.supports_masking else None

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy, need_dx=True):
        raise NotImplementedError

    def flops(self, input_shape):
        """Forward floating-point operations for ONE sample of `input_shape` (with batch)."""
        return 0

    def __call__(self, x, training=False, mask=None):
        """On arrays: the output (a copy the caller owns). On symbolic tensors: the
        symbolic output, recorded as a node of the graph. mask: for a layer that reads
        one (uses_mask), a boolean (batch, time) array."""
        if is_symbolic(x):
            return call_symbolic(self, x, self.multi_input)
        if self.multi_input:
            if not isinstance(x, (list, tuple)) or len(x) < 2:
                raise ValueError(f"layer {self.name!r} takes a list of at least 2 inputs")
            xs = [np.ascontiguousarray(a, dtype=self.dtype) for a in x]
            self._maybe_build([a.shape for a in xs])
            return np.array(self.forward(xs, training=training), copy=True)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        self._maybe_build(x.shape)
        if self.uses_mask:
            if mask is not None:
                mask = np.ascontiguousarray(mask, dtype=bool)
                if mask.shape != x.shape[:2]:
                    raise ValueError(f"layer {self.name!r}: the mask must have shape "
                                     f"{x.shape[:2]} (batch, time), got {mask.shape}")
            return _owned(self.forward(x, training=training, mask=mask))
        return _owned(self.forward(x, training=training))

    @property
    def output(self):
        """The symbolic output of the layer's call on symbolic tensors (its only call,
        as Keras requires)."""
        outs = self._only_node("output").outputs
        return outs if len(outs) > 1 else outs[0]

    @property
    def input(self):
        node = self._only_node("input")
        return node.inputs if node.multi_input else node.inputs[0]

    def _only_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} has never been called on symbolic "
                                 f"tensors, so it has no {what}")
        if len(self._inbound_nodes) > 1:
            raise AttributeError(f"layer {self.name!r} has been called {len(self._inbound_nodes)} "
                                 f"times, so its {what} is ambiguous")
        return self._inbound_nodes[0]

    # ---------------------------------------------------------------- buffers
    def buffer(self, key, shape, dtype=None):
        """A preallocated array reused across calls with the same shape (no per-step
        allocation). Two shapes per key are kept, so a last partial batch does not
        evict the full-batch buffers."""
        slot = self._buffers.get(key)
        if slot is not None and type(shape) is tuple:  # the per-step path: found
            arr = slot.get(shape)
            if arr is not None and arr.dtype == (self.dtype if dtype is None else dtype):
                return arr
        shape = tuple(int(s) for s in shape)
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        slot = self._buffers.setdefault(key, {})
        arr = slot.get(shape)
        if arr is None or arr.dtype != dtype:
            if len(slot) >= 2:
                slot.clear()
            arr = slot[shape] = np.empty(shape, dtype=dtype)
        return arr

    # ---------------------------------------------------------------- config
    def get_config(self):
        cfg = {"name": self.name, "trainable": self._trainable, "dtype": self.dtype.name}
        if self._input_shape_arg is not None:
            cfg["input_shape"] = list(self._input_shape_arg)
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _owned(y):
    """A copy of a forward's output that the caller owns (a list for several outputs)."""
    if isinstance(y, list):
        return [np.array(a, copy=True) for a in y]
    return np.array(y, copy=True)


LAYERS = Registry("layer", Layer)
