"""Sequential: the Keras model API over nbnet layers (the container; compile, fit,
evaluate and predict come from nbnet.trainer's Trainer).

All trainable parameters live as views into one flat buffer and their gradients in a
second one (`_flat_w`, `_flat_g`), trainable layers first, so an optimizer step is one
kernel call over `_flat_w[:_n_trainable]`. Activations and gradients are layer-owned
buffers reused from step to step. The layers run through the execution plan
(nbnet.plan), rebuilt when the layers, their trainable flags or the loss change.
"""
from time import perf_counter

import numpy as np

from . import saving
from .layers.base import Layer, deserialize, serialize, unique_name
from .layers.input import InputLayer
from .layers.node import SymbolicTensor
from .plan import StepContext, make_plan
from .trainer import Trainer
from .training import check_raw_x


class Sequential(Trainer):
    _multi_out = False   # a functional Model with several outputs sets these True
    _multi_in = False

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or unique_name("sequential")
        self._trainable = bool(trainable)
        self._layers = []
        self._input_layer = None
        self.built = False
        self.optimizer = self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.extra = {}
        self._packed = False
        self._layout = None
        self._shuffle_seed = None
        self._epoch = 0
        self._initial_epoch = None
        self._interrupted = False
        self._samples_seen = 0
        self._ctx = StepContext()
        self._plan = None
        self._masking = False      # a layer makes masks: the forward carries them
        self._output_masks = None  # the masks of the outputs of the last forward
        self._heads = None
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer, rebuild=True):
        if isinstance(layer, SymbolicTensor) and layer.node is not None and \
                isinstance(layer.node.layer, InputLayer):   # nb.Input(shape)
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("an Input must be the first thing added to a Sequential model")
            self._input_layer = layer
            self._build_from((None,) + tuple(layer.shape))
            return
        if not isinstance(layer, (Layer, Sequential)):
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}")
        if isinstance(layer, Sequential) and getattr(layer, "_multi_out", False):
            raise NotImplementedError(f"model {layer.name!r} has several outputs; a model "
                                      f"used as a layer needs one")
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"a layer named {layer.name!r} is already in the model; names must be unique")
        self._layers.append(layer)
        if not self._layers[:-1] and self._input_layer is None and layer._input_shape_arg is not None:
            self._input_layer = InputLayer(shape=layer._input_shape_arg, dtype=layer.dtype)
        if self._input_layer is not None and rebuild:
            self._build_from((None,) + tuple(self._input_layer.shape))

    def pop(self, rebuild=True):
        if not self._layers:
            raise IndexError("pop from an empty Sequential model")
        layer = self._layers.pop()
        self._packed = False
        if self.built and rebuild:
            self.built = bool(self._layers)
            if self._layers:
                self._ensure_packed()
        return layer

    def get_layer(self, name=None, index=None):
        """By name, or by index into model.layers (Keras)."""
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {[l.name for l in layers]}")

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError("build() needs an input shape (or an Input as first layer)")
            input_shape = (None,) + tuple(self._input_layer.shape)
        self._build_from(tuple(input_shape))

    def _prepare_x(self, x, what):
        first = self._layers[0] if self._layers else None
        if self._input_layer is None and getattr(first, "raw_input_dtype", None):
            # no Input, a first layer that reads strings (the TF text tutorial's export
            # model): the input is built from the data, as Keras does
            shape = tuple(np.shape(x)[1:])
            if first.built and first.input_shape is not None:   # (N,) and (N, 1) alike
                shape = tuple(first.input_shape[1:])
            self._input_layer = InputLayer(shape=shape, dtype=first.raw_input_dtype)
            self._build_from((None,) + tuple(shape))
        layer = self._input_layer
        if layer is not None and layer.input_dtype is not None:   # strings / integers
            if np.ndim(x) == len(layer.shape) and layer.shape[-1:] == (1,):
                x = np.expand_dims(x, -1)   # strings (N,) for an input (N, 1)
            return check_raw_x(x, self.input_shape, layer.input_dtype, what)
        return super()._prepare_x(x, what)

    def _build_from(self, input_shape):
        shape = (None,) + tuple(input_shape[1:])
        if self._input_layer is None:
            self._input_layer = InputLayer(shape=shape[1:], dtype=self._layers[0].dtype if self._layers else None)
        for layer in self._layers:
            if not layer.built:
                layer._maybe_build(shape)
            elif layer.input_shape is not None and tuple(layer.input_shape[1:]) != tuple(shape[1:]):
                raise ValueError(f"layer {layer.name!r} was built for input {layer.input_shape}, "
                                 f"but receives {shape}")
            shape = layer.compute_output_shape(shape)
        self.built = bool(self._layers)
        self._packed = False
        if self.built:
            self._ensure_packed()

    @property
    def input_shape(self):
        return None if self._input_layer is None else (None,) + tuple(self._input_layer.shape)

    @property
    def output_shape(self):
        shape = self.input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    @property
    def dtype(self):
        return self._layers[0].dtype if self._layers else np.dtype("float32")

    # ------------------------------------------------------------------ weights
    @property
    def weights(self):
        return [w for l in self._layers for w in l.weights]

    @property
    def trainable_weights(self):
        return [w for l in self._layers for w in l.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for l in self._layers for w in l.non_trainable_weights]

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def reset_states(self):
        """Keras 2's model.reset_states(): zero the held states of every stateful
        recurrent layer, nested models and Bidirectional included (Keras 3 calls
        layer.reset_state() on each)."""
        for layer in self.layers:
            if isinstance(layer, Sequential):
                layer.reset_states()
            elif getattr(layer, "stateful", False) or hasattr(layer, "backward_layer"):
                layer.reset_state()

    def set_weights(self, weights):
        weights = list(weights)
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"the model has {len(mine)} weights, got a list of {len(weights)}")
        for w, v in zip(mine, weights):
            w.assign(v)

    def count_params(self):
        return sum(l.count_params() for l in self._layers)

    def _current_layout(self):
        return tuple((id(w), w.trainable and l.trainable) for l in self._layers for w in l.weights
                     if w.trainable)

    def _ensure_packed(self):
        """(Re)pack parameters into the flat buffers when the layers or trainable flags
        changed. Trainable parameters come first; the optimizer sees only those."""
        layout = self._current_layout()
        if (self._packed and layout == self._layout and
                all(w.value.base is self._flat_w for w in self.weights if w.trainable)):
            return
        params = [w for l in self._layers for w in l.weights if w.trainable]
        order = ([w for w, (_, t) in zip(params, layout) if t] +
                 [w for w, (_, t) in zip(params, layout) if not t])
        n = sum(w.size for w in order)
        dtype = self.dtype
        flat_w = np.empty(n, dtype=dtype)
        flat_g = np.zeros(n, dtype=dtype)
        off = 0
        for w in order:
            k = w.size
            flat_w[off:off + k] = w.value.reshape(-1)
            w.value = flat_w[off:off + k].reshape(w.shape)
            w.grad = flat_g[off:off + k].reshape(w.shape)
            off += k
        self._flat_w, self._flat_g = flat_w, flat_g
        self._n_trainable = sum(w.size for w, (_, t) in zip(params, layout) if t)
        self._layout, self._packed = layout, True
        # Only layers from the first trainable one on need a backward pass; the first
        # of them need not compute dL/dx.
        self._first_trainable = next((i for i, l in enumerate(self._layers)
                                      if l.trainable and l.trainable_weights), len(self._layers))
        self._plan = None
        # one slice per trainable variable, for clipnorm and Lamb's trust ratio
        self._offsets = [0]
        for w, (_, t) in zip(params, layout):
            if t:
                self._offsets.append(self._offsets[-1] + w.size)
        if self.optimizer is not None:
            self.optimizer.build(self._n_trainable, dtype,
                                 offsets=self._offsets if len(self._offsets) > 1 else None)

    # ------------------------------------------------------------------ structure hooks
    # A functional Model (nbnet.functional) overrides these five; Sequential is a chain.
    def _runners(self):
        """The layer objects that run, in forward order (a shared layer of a graph runs
        once per call)."""
        return self._layers

    def _out_layer(self):
        """The runner whose output is the model's output."""
        return self._layers[-1]

    def _output_names(self):
        """One name per output (Keras' output_names: the output layers' names)."""
        return [self._layers[-1].name] if self._layers else ["output"]

    def _output_runners(self):
        """The runner producing each output."""
        return [self._layers[-1]]

    def _output_tensor_shapes(self):
        return [self.output_shape]

    def _sole_use(self, k):
        """Whether output k is read by nothing but the loss (so its layer may hand the
        loss its logits)."""
        return True

    def _fusion_pairs(self):
        """(producer, consumer) runner pairs where the consumer is the producer's only
        reader: candidates for batch norm + ReLU fusion."""
        return zip(self._layers, self._layers[1:])

    def _output_shapes(self):
        """The output shape of every runner, in forward order (None batch)."""
        shapes, shape = [], self.input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        return shapes

    def _input_shapes(self):
        """The input shape of every runner (a list of shapes for a merge layer)."""
        return [self.input_shape] + self._output_shapes()[:-1]

    def _backward_from(self):
        """Index of the first runner whose backward runs."""
        return self._first_trainable

    def _need_dx(self):
        """Per runner, whether its backward must return dL/dx: not for the first layer
        that trains, whose input gradient nobody reads."""
        return [i > self._first_trainable for i in range(len(self._layers))]

    def _backward(self, dy, hook=None, need_dx=False, ctx=None):
        """Backward through the layers from the first trainable one (dy: dL/d output);
        with need_dx (this model is a layer of another) through all of them, returning
        dL/d input. hook(phase, runner index, t_start, t_end), when given, times each
        call. ctx: as _forward."""
        plan, ctx = self._current_plan(), ctx or self._ctx
        stop = 0 if need_dx else self._first_trainable
        for i in range(len(plan) - 1, stop - 1, -1):
            t = perf_counter() if hook is not None else 0.0
            c = plan[i]
            dy = c.backward(c.layer, dy, c.need_dx or need_dx, ctx)
            if hook is not None:
                hook("backward", i, t, perf_counter())
            if dy is None and i > stop:   # (a layer before has no input gradient: ids)
                return None
        return dy

    # ------------------------------------------------------------------ a model as a layer
    # (Keras: a Sequential is a layer; a functional Model overrides these.)
    multi_input = False
    _input_shape_arg = None

    @property
    def trainable(self):
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    def forward(self, x, training=False):
        return self._forward(x, training)

    def backward(self, dy, need_dx=True):
        return self._backward(dy, need_dx=need_dx)

    def compute_output_shape(self, input_shape):
        self._maybe_build(input_shape)
        return self.output_shape

    def _maybe_build(self, input_shape):
        if not self.built:
            self._build_from((None,) + tuple(input_shape[1:]))
        elif tuple(self.input_shape[1:]) != tuple(input_shape[1:]):
            raise ValueError(f"model {self.name!r} takes inputs of shape {self.input_shape}, "
                             f"got {tuple(input_shape)}")

    def flops(self, input_shape):
        total, shape = 0, tuple(input_shape)
        for layer in self._layers:
            total += layer.flops(shape)
            shape = layer.compute_output_shape(shape)
        return total

    def buffer(self, key, shape, dtype=None):
        return self._layers[-1].buffer(("model", key), shape, dtype)

    # ------------------------------------------------------------------ the plan
    def _make_plan(self, emitting=()):
        """The plan (nbnet.plan) for the current runners: the batchnorm_relu fusions,
        `emitting` (runners handing their logits to the loss), dL/dx where needed."""
        self._plan = make_plan(self._runners(), self._need_dx(), self._fusion_pairs(), emitting)
        self._masking = self.produces_mask
        return self._plan

    def _current_plan(self):
        return self._plan if self._plan is not None else self._make_plan()

    # ------------------------------------------------------------------ masking
    # Keras 3 masking (nbnet.layers.base): only a model with a layer that makes masks
    # (Embedding(mask_zero=True), Masking) carries them; others run as before.
    supports_masking = False
    uses_mask = False

    @property
    def produces_mask(self):
        return any(getattr(r, "produces_mask", False) for r in self._runners())

    def compute_mask(self, x, mask):
        """A model used as a layer: the mask of its (first) output in its last forward."""
        return self._output_masks[0] if self._masking and self._output_masks else None

    @property
    def output_mask(self):
        """The mask of the output of the last forward (None: none); a list with several
        outputs."""
        ms = self._output_masks or [None]
        return ms if getattr(self, "_multi_out", False) else ms[0]

    # ------------------------------------------------------------------ forward/backward
    def _forward(self, x, training, hook=None, ctx=None):
        """Forward through the plan; ctx: the StepContext (the model's own unless a
        model using this one as a layer passes its)."""
        plan, ctx = self._current_plan(), ctx or self._ctx
        if self._masking:
            return self._forward_masked(plan, x, training, hook, ctx)
        for i, c in enumerate(plan):
            t = perf_counter() if hook is not None else 0.0
            x = c.forward(c.layer, x, training, ctx)
            if hook is not None:
                hook("forward", i, t, perf_counter())
        return x

    def _forward_masked(self, plan, x, training, hook, ctx):
        """_forward with masks: each call gets its input's mask in ctx.mask (read by the
        layers that use it) and gives its output's, compute_mask(x, mask)."""
        mask = None
        for i, c in enumerate(plan):
            t = perf_counter() if hook is not None else 0.0
            ctx.mask = mask
            y = c.forward(c.layer, x, training, ctx)
            mask = c.layer.compute_mask(x, mask)
            x = y
            if hook is not None:
                hook("forward", i, t, perf_counter())
        ctx.mask = None
        self._output_masks = [mask]
        return x

    # ------------------------------------------------------------------ config / saving
    def get_config(self):
        cfg = {"name": self.name, "layers": [_serialize_layer(l) for l in self._layers]}
        if self._input_layer is not None:
            cfg["input_shape"] = list(self._input_layer.shape)
            if self._input_layer.input_dtype is not None:
                cfg["input_dtype"] = self._input_layer.get_config()["dtype"]
        return cfg

    @classmethod
    def from_config(cls, config):
        if isinstance(config, list):
            config = {"layers": config}
        model = cls(name=config.get("name"))
        if config.get("input_shape") is not None:
            model.add(InputLayer(shape=tuple(config["input_shape"]),
                                 dtype=config.get("input_dtype") or
                                 _first_dtype(config.get("layers", []))))
        for spec in config.get("layers", []):
            model.add(_deserialize_layer(spec))
        return model

    def _training_state(self):
        """The epochs trained so far: this object's fits, or the file it was restored
        from when those are more (a resume that had no epoch left to run)."""
        trained = self._epoch + 1 if self.history else 0
        return {"shuffle_seed": self._shuffle_seed,
                "epoch": max(trained, getattr(self, "_restored_epoch", 0))}

    def _set_training_state(self, state):
        if state.get("shuffle_seed") is not None:
            self._shuffle_seed = int(state["shuffle_seed"])
        self._restored_epoch = int(state.get("epoch") or 0)

    def save(self, filepath, overwrite=True):
        saving.save_model(self, filepath)

    def save_weights(self, filepath, overwrite=True):
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        saving.load_weights(self, filepath)

    def summary(self, print_fn=None, line_length=None):
        from .summary import summary_text
        text = summary_text(self)
        (print_fn or print)(text)

    def __repr__(self):
        return f"<Sequential name={self.name}, {len(self._layers)} layers>"


def _serialize_layer(layer):
    """A layer's spec; a model used as a layer: {"class_name": "Sequential" or
    "Functional", "config": its get_config()} (Keras' names)."""
    if isinstance(layer, Sequential):
        kind = "Sequential" if type(layer) is Sequential else "Functional"
        return {"class_name": kind, "config": layer.get_config()}
    return serialize(layer)


# The model classes a model spec may nest by name: Sequential, and "Functional"
# (nbnet.functional registers its Model: it imports this module, not the reverse).
MODEL_CLASSES = {}


def _deserialize_layer(spec):
    if isinstance(spec, dict) and spec.get("class_name") in MODEL_CLASSES:
        return MODEL_CLASSES[spec["class_name"]].from_config(spec.get("config") or {})
    return deserialize(spec)


def _first_dtype(layer_specs):
    for spec in layer_specs:
        dt = spec.get("config", {}).get("dtype")
        if dt:
            return dt
    return None


MODEL_CLASSES["Sequential"] = Sequential
