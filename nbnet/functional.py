"""The functional API: nb.Model(inputs, outputs) over the graph that calling layers on
nb.Input tensors recorded (Keras 3 semantics).

The graph is run as a list of steps in topological order, one per node (layer call).
Forward keeps each tensor's value; backward walks the steps in reverse, and a tensor
read by several steps (fan-out) sums their gradients into one buffer, in step order, so
results are bitwise repeatable. A layer called more than once (a shared layer) runs its
later calls on a shadow: a shallow copy with its own buffers and gradient arrays over
the same weight values; after backward the shadows' gradients are added to the layer's
(in call order). Training, evaluation, saving and the fusion of batch norm + ReLU and of
softmax + cross-entropy come from Sequential, through its structure hooks.
"""
import copy
from time import perf_counter

import numpy as np

from .layers.base import Weight, deserialize, serialize, unique_name
from .layers.input import InputLayer
from .errors import DataError
from .layers.node import SymbolicTensor, call_symbolic, is_symbolic
from .model import MODEL_CLASSES, Sequential
from .trainer import by_position_or_name
from .training import check_raw_x, check_x


class _Step:
    """One node to run: runner (the layer or its shadow), input and output tensor ids;
    need_dx: whether its dL/dx is needed whatever the caller wants (False for a step
    that reads only the model's inputs, whose gradient only a model using this one as
    a layer asks for)."""
    __slots__ = ("node", "runner", "ins", "out", "outs", "multi", "need_dx")

    def __init__(self, node, runner, need_dx):
        self.node, self.runner, self.need_dx = node, runner, need_dx
        self.ins = [t.id for t in node.inputs]
        self.outs = [t.id for t in node.outputs]   # several: a recurrent layer's states
        self.out = self.outs[0] if len(self.outs) == 1 else None
        self.multi = node.multi_input


def _as_list(x, what):
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    for t in items:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model {what} must be symbolic tensors (from nb.Input and layer "
                            f"calls), got {type(t).__name__}")
    return items


class Model(Sequential):
    """nb.Model(inputs, outputs, name=None): a graph of layers from nb.Input tensors to
    output tensors. With several inputs, x is a list in the order of `inputs` or a dict
    by input name; with several outputs, y is a list or a dict by output name (the
    output layers' names, `output_names`), predict returns a list, and compile takes a
    loss, loss weight and metrics per output."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True):
        if inputs is None or outputs is None:
            raise TypeError("nb.Model needs inputs and outputs: nb.Model(inputs, outputs); "
                            "for a stack of layers use nb.Sequential([...])")
        ins, outs = _as_list(inputs, "inputs"), _as_list(outputs, "outputs")
        for t in ins:
            if t.node is None or not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model inputs must come from nb.Input, got {t}")
        if len({t.id for t in ins}) != len(ins):
            raise ValueError("the same input tensor is given twice in Model inputs")
        if {t.id for t in outs} & {t.id for t in ins}:
            raise NotImplementedError("a model output that is also one of its inputs is not "
                                      "supported; pass it through a layer")
        super().__init__(name=name or unique_name("functional"))
        self._trainable = bool(trainable)
        self._inputs, self._outputs = ins, outs
        self._multi_in, self._multi_out = len(ins) > 1, len(outs) > 1
        self.multi_input = self._multi_in   # as a layer: takes a list of tensors
        self._input_names = [t.node.layer.name for t in ins]
        names = [t.node.layer.name for t in outs]
        if len(set(names)) != len(names):
            raise ValueError(f"the model's outputs need distinct layers to be named by; "
                             f"output layers: {names}")
        self._out_names = names
        self._nodes = _topological_nodes(ins, outs)
        self._input_layer = ins[0].node.layer
        layers, seen = [], set()
        for node in self._nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                layers.append(node.layer)
        names = [l.name for l in layers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"layer names must be unique in a model; repeated: {sorted(dup)}")
        for layer in layers:
            if isinstance(layer, Model) and len([n for n in self._nodes if n.layer is layer]) > 1:
                raise NotImplementedError(f"model {layer.name!r} is called twice in this graph; "
                                          f"a shared model is not supported yet (share its layers)")
        self._all_layers = layers
        self._layers = [l for l in layers if not isinstance(l, InputLayer)]
        consumers = {}
        for node in self._nodes:
            for t in node.inputs:
                consumers[t.id] = consumers.get(t.id, 0) + 1
        for t in outs:
            consumers[t.id] = consumers.get(t.id, 0) + 1
        self._consumers = consumers
        self._steps, self._shadow_of, self._runner_key = [], {}, None
        self.built = True
        self._ensure_packed()

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        """Every layer, InputLayers included, in the order of the graph (as Keras)."""
        return list(self._all_layers)

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs if self._multi_in else self._inputs[0]

    @property
    def output(self):
        return self._outputs if self._multi_out else self._outputs[0]

    @property
    def input_names(self):
        return list(self._input_names)

    @property
    def output_names(self):
        return list(self._out_names)

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes if self._multi_in else shapes[0]

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    def add(self, layer, rebuild=True):
        raise TypeError("a functional Model has no add(); build the graph with layer calls")

    def pop(self, rebuild=True):
        raise TypeError("a functional Model has no pop()")

    def build(self, input_shape=None):
        """Built at construction, from the input tensors: only checks input_shape."""
        if input_shape is not None:
            self._maybe_build(input_shape)

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes if self._multi_out else shapes[0]

    def _prepare_x(self, x, what):
        """x as the model takes it: an array (one input; a dict {input name: array} is
        accepted too) or a list of arrays in input order (from a list or a dict)."""
        names = self._input_names
        if not self._multi_in:
            if isinstance(x, dict):
                x = by_position_or_name(x, names, what, "x", "input")[0]
            return self._check_input(x, self._inputs[0], what)
        xs = by_position_or_name(x, names, what, "x", "input")
        xs = [self._check_input(a, t, f"{what} (input {n!r})")
              for a, t, n in zip(xs, self._inputs, names)]
        lengths = {n: len(a) for n, a in zip(names, xs)}
        if len(set(lengths.values())) > 1:
            raise DataError(f"{what}: the inputs have different numbers of samples {lengths}")
        return xs

    # ------------------------------------------------------------------ the runners
    def _ensure_packed(self):
        super()._ensure_packed()
        key = id(self._flat_w) if self._packed else None
        if key != self._runner_key:
            self._make_steps()
            self._runner_key = key

    def _make_steps(self):
        """One step per node (not InputLayers); later calls of a layer get shadows."""
        self._steps, self._shadow_of = [], {}
        seen = set()
        input_ids = {t.id for t in self._inputs}
        for node in self._nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            runner = layer
            if id(layer) in seen:
                runner = _shadow(layer)
                self._shadow_of.setdefault(id(layer), (layer, []))[1].append(runner)
            seen.add(id(layer))
            self._steps.append(_Step(node, runner, not all(t.id in input_ids for t in node.inputs)))

    def _runners(self):
        return [s.runner for s in self._steps]

    def _check_input(self, a, t, what):
        """One input's array: floats in the model's dtype, or, for an Input declared
        "string" / "int64", the strings / integers as they are."""
        if t.node.layer.input_dtype is not None:
            return check_raw_x(a, t.shape, t.node.layer.input_dtype, what)
        return check_x(a, t.shape, self.dtype, what)

    def _out_layer(self):
        return self._steps[-1].runner

    def _output_names(self):
        return list(self._out_names)

    def _output_runners(self):
        by_out = {o: s.runner for s in self._steps for o in s.outs}
        return [by_out[t.id] for t in self._outputs]

    def _output_tensor_shapes(self):
        return [t.shape for t in self._outputs]

    def _sole_use(self, k):
        return self._consumers[self._outputs[k].id] == 1

    def _fusion_pairs(self):
        """A step and the single step reading its output, when nothing else reads it."""
        by_input = {}
        for s in self._steps:
            for i in s.ins:
                by_input.setdefault(i, []).append(s)
        for s in self._steps:
            if s.out is None:   # several outputs: never fused
                continue
            readers = by_input.get(s.out, [])
            if len(readers) == 1 and self._consumers.get(s.out) == 1 and not readers[0].multi:
                yield s.runner, readers[0].runner

    def _output_shapes(self):
        return [s.node.outputs[0].shape for s in self._steps]

    def _input_shapes(self):
        return [[t.shape for t in s.node.inputs] if s.multi else s.node.inputs[0].shape
                for s in self._steps]

    def _backward_from(self):
        return 0

    def _need_dx(self):
        return [s.need_dx for s in self._steps]

    def _make_plan(self, emitting=()):
        for s in self._steps:
            if isinstance(s.runner, Model):   # nested: it computes its plain output
                s.runner._make_plan()
        return super()._make_plan(emitting)

    # ------------------------------------------------------------------ forward / backward
    def _forward(self, x, training, hook=None, ctx=None):
        """x: an array, or a list of arrays (several inputs) -> the output, or a list of
        outputs (several outputs). ctx: as Sequential._forward."""
        plan, ctx = self._current_plan(), ctx or self._ctx
        values = dict(zip((t.id for t in self._inputs), x if self._multi_in else [x]))
        masking, masks = self._masking, {}
        for k, (s, c) in enumerate(zip(self._steps, plan)):
            xs = [values[i] for i in s.ins]
            xk = xs if s.multi else xs[0]
            if masking:
                ms = [masks.get(i) for i in s.ins]
                ctx.mask = ms if s.multi else ms[0]
            t = perf_counter() if hook is not None else 0.0
            y = c.forward(c.layer, xk, training, ctx)
            if s.out is not None:
                values[s.out] = y
            else:
                values.update(zip(s.outs, y))
            if hook is not None:
                hook("forward", k, t, perf_counter())
            if masking:
                m = c.layer.compute_mask(xk, ctx.mask)
                for o in s.outs:   # (a layer's states carry no mask)
                    masks[o] = m if o == s.outs[0] else None
        if masking:
            ctx.mask = None
            self._output_masks = [masks.get(t.id) for t in self._outputs]
        outs = [values[t.id] for t in self._outputs]
        return outs if self._multi_out else outs[0]

    def _backward(self, dy, hook=None, need_dx=False, ctx=None):
        """dy: dL/d output (a list, one per output, for several) -> dL/d input (a list
        for several inputs), when need_dx (a model used as a layer), else None; the
        weights' gradients are written (overwritten, as every layer's backward does)."""
        plan, ctx = self._current_plan(), ctx or self._ctx
        grads = {}
        for t, g in zip(self._outputs, dy if self._multi_out else [dy]):
            grads[t.id] = g
        input_ids = {t.id for t in self._inputs}
        for k in range(len(self._steps) - 1, -1, -1):
            s = self._steps[k]
            if s.out is not None:
                g = grads.pop(s.out, None)
            else:   # several outputs: the gradients of those that lead to the loss
                g = [grads.pop(o, None) for o in s.outs]
                if all(gi is None for gi in g):
                    g = None
            if g is None:      # (cannot happen: every step leads to the output)
                continue
            t = perf_counter() if hook is not None else 0.0
            c = plan[k]
            dxs = c.backward(c.layer, g, c.need_dx or need_dx, ctx)
            if hook is not None:
                hook("backward", k, t, perf_counter())
            if not s.multi:
                dxs = [dxs]
            for i, dx in zip(s.ins, dxs):
                if dx is None or (i in input_ids and not need_dx):
                    continue
                if i not in grads:
                    if self._consumers[i] == 1:
                        grads[i] = dx
                    else:   # fan-out: the sum of the readers' gradients, in step order
                        acc = s.runner.buffer(("_fan_in", i), dx.shape)
                        np.copyto(acc, dx)
                        grads[i] = acc
                else:
                    np.add(grads[i], dx, out=grads[i])
        for layer, shadows in self._shadow_of.values():
            for sh in shadows:
                for w, ws in zip(layer._weights, sh._weights):
                    if w.grad is not None and ws.grad is not None:
                        w.grad += ws.grad
        dxs = [grads.get(t.id) for t in self._inputs]
        return dxs if self._multi_in else dxs[0]

    # ------------------------------------------------------------------ a model as a layer
    multi_input = False

    def forward(self, x, training=False):
        return self._forward(x, training)

    def backward(self, dy, need_dx=True):
        return self._backward(dy, need_dx=need_dx)

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def _maybe_build(self, input_shape):
        given = input_shape if self._multi_in else [input_shape]
        want = [t.shape for t in self._inputs]
        if len(given) != len(want) or any(tuple(g[1:]) != tuple(w[1:]) for g, w in zip(given, want)):
            raise ValueError(f"model {self.name!r} takes inputs of shape {self.input_shape}, "
                             f"got {input_shape}")

    def flops(self, input_shape):
        return sum(s.runner.flops(s.node.inputs[0].shape if not s.multi else
                                  [t.shape for t in s.node.inputs]) for s in self._steps)

    def buffer(self, key, shape, dtype=None):
        return self._steps[-1].runner.buffer(("model", key), shape, dtype)

    def __call__(self, x, training=False):
        if is_symbolic(x):
            if self._multi_out:
                raise NotImplementedError(f"model {self.name!r} has several outputs; using it as "
                                          f"a layer of another model is not supported yet")
            if not hasattr(self, "_inbound_nodes"):
                self._inbound_nodes = []
            return call_symbolic(self, x, self._multi_in)
        return super().__call__(x, training=training)

    # ------------------------------------------------------------------ config
    def get_config(self):
        """Keras' functional config: the layers with, for each, its inbound nodes as
        lists of [layer name, node index, tensor index]; input and output layers."""
        def ref(t):
            layer = t.node.layer
            return [layer.name, _node_index(layer, t.node), t.index]

        layers = []
        for layer in self._all_layers:
            nodes = [n for n in self._nodes if n.layer is layer]
            spec = serialize(layer) if not isinstance(layer, Model) else \
                {"class_name": "Functional", "config": layer.get_config()}
            spec["name"] = layer.name
            spec["inbound_nodes"] = [[ref(t) for t in n.inputs] for n in nodes]
            layers.append(spec)
        return {"name": self.name, "trainable": self._trainable, "layers": layers,
                "input_layers": [ref(t) for t in self._inputs],
                "output_layers": [ref(t) for t in self._outputs]}

    @classmethod
    def from_config(cls, config):
        """Rebuild the graph from get_config(): new layers, called in the recorded order."""
        if not isinstance(config, dict) or "layers" not in config or "input_layers" not in config:
            raise ValueError("a functional model config needs 'layers', 'input_layers' and "
                             "'output_layers'")
        made, tensors = {}, {}   # layer name -> layer; (name, node index) -> output tensor
        for spec in config["layers"]:
            name = spec.get("name") or spec.get("config", {}).get("name")
            if spec.get("class_name") == "Functional":
                made[name] = ("model", spec["config"])
            else:
                made[name] = deserialize(spec)
        pending = [(spec.get("name") or spec["config"]["name"], k, inbound)
                   for spec in config["layers"] for k, inbound in
                   enumerate(spec.get("inbound_nodes") or [[]])]
        while pending:
            progress = False
            for item in list(pending):
                name, k, inbound = item
                if any((r[0], r[1]) not in tensors for r in inbound):
                    continue
                layer = made[name]
                if isinstance(layer, tuple):   # a nested model, built on its first call
                    layer = made[name] = Model.from_config(layer[1])
                if isinstance(layer, InputLayer):
                    out = layer.output_tensor()
                else:
                    args = [_ref_tensor(tensors, r) for r in inbound]
                    if getattr(layer, "multi_input", False):
                        out = layer(args)
                    elif len(args) > 1:   # a recurrent layer called with initial_state
                        out = layer(args[0], initial_state=args[1:])
                    else:
                        out = layer(args[0])
                tensors[(name, k)] = out
                pending.remove(item)
                progress = True
            if not progress:
                raise ValueError(f"the model config's graph cannot be rebuilt: layers "
                                 f"{[p[0] for p in pending]} wait for inputs that never come")
        ins = [_ref_tensor(tensors, r) for r in config["input_layers"]]
        outs = [_ref_tensor(tensors, r) for r in config["output_layers"]]
        return cls(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0],
                   name=config.get("name"), trainable=config.get("trainable", True))

    def __repr__(self):
        return f"<Model name={self.name}, {len(self._layers)} layers, {len(self._steps)} calls>"


# ---------------------------------------------------------------------- helpers
def _ref_tensor(tensors, ref):
    """The tensor of a config reference [layer name, node index, tensor index]."""
    out = tensors[(ref[0], ref[1])]
    if isinstance(out, list):
        return out[int(ref[2]) if len(ref) > 2 else 0]
    return out


def _node_index(layer, node):
    return layer._inbound_nodes.index(node)


def _topological_nodes(inputs, outputs):
    """The nodes between inputs and outputs, each after the nodes it reads from."""
    input_ids = {t.id for t in inputs}
    order, state = [], {}

    def visit(t):
        node = t.node
        if t.id in input_ids:
            if id(node) not in state:
                state[id(node)] = "done"
                order.append(node)
            return
        if node is None or not node.inputs:
            raise ValueError(f"the graph is disconnected: {t} is not computed from the "
                             f"model's inputs {[i.name for i in inputs]}")
        mark = state.get(id(node))
        if mark == "done":
            return
        if mark == "visiting":
            raise ValueError("the graph has a cycle")
        state[id(node)] = "visiting"
        for parent in node.inputs:
            visit(parent)
        state[id(node)] = "done"
        order.append(node)

    for t in inputs:
        visit(t)
    for t in outputs:
        visit(t)
    return order


class _SharedWeight(Weight):
    """A shadow's weight: the value is always the shared layer's (even after the model
    repacks its flat buffer); the gradient is the shadow's own."""

    def __init__(self, main):   # noqa: super().__init__ would allocate a value
        self._main, self.name, self.path = main, main.name, main.path
        self.trainable = main.trainable
        self.grad = np.zeros_like(main.value) if main.grad is not None else None

    @property
    def value(self):
        return self._main.value

    @value.setter
    def value(self, v):
        self._main.value = v


def _shadow(layer):
    """A shallow copy of `layer` running with its own buffers and gradient arrays over
    the same weight values (views into the model's flat buffer)."""
    sh = copy.copy(layer)
    sh._buffers = {}
    mapping = {id(w): _SharedWeight(w) for w in layer._weights}
    sh._weights = [mapping[id(w)] for w in layer._weights]
    for k, v in list(vars(sh).items()):
        if isinstance(v, Weight) and id(v) in mapping:
            setattr(sh, k, mapping[id(v)])
    return sh


MODEL_CLASSES["Functional"] = Model

__all__ = ["Model"]
