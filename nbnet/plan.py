"""The execution plan of a model: which function pair runs each layer call.

A model does not steer its layers through attributes. At compile time (and before
inference) it makes a plan: one Call per runner, in forward order, holding the forward
and backward functions that run it and whether its backward must return dL/dx. What
a training step needs beyond the data (the optimizer step for the dropout masks, the
communicator of a distributed fit) travels in a StepContext given to every function.
The fusions are named units, as llm.c names `crossentropy_softmax_backward`:

    batchnorm_relu     a BatchNormalization followed by a ReLU read by nothing else: the
                       normalisation kernel applies the ReLU (one pass less over the
                       data each way); the ReLU's call becomes `fused` (it passes data
                       and gradients through). Bit for bit the same numbers.
    logits             an output layer ending in softmax / sigmoid whose loss is the
                       matching cross-entropy: the layer hands the loss its logits, the
                       loss takes the activation itself (loss.with_logits(): stable and
                       exact); predict applies the activation to the logits.

Every function has the signature forward(layer, x, training, ctx) -> y and
backward(layer, dy, need_dx, ctx) -> dL/dx (None when need_dx is False). A layer
called alone computes what the same layer computes inside a model.

A layer with an activity_regularizer (Keras 3) runs its unit wrapped: the forward adds
regularizer(y) / batch size to ctx.activity, the backward adds that penalty's gradient
to dy before the layer's own backward.
"""
import numpy as np


class StepContext:
    """What a step passes to its layers: step (the optimizer's iteration count, for
    the dropout masks; None outside training), comm (the communicator of a
    distributed fit, for the batch statistics over all ranks; None otherwise), and
    activity, where the activity regularizers of a forward pass add their penalties
    (the trainer zeroes it before a forward and adds it to the loss after)."""
    __slots__ = ("step", "comm", "activity", "mask")

    def __init__(self, step=None, comm=None):
        self.step, self.comm, self.activity = step, comm, 0.0
        self.mask = None   # the mask of the input of the call being run (masked units)


class Call:
    """One runner of the plan: unit name, layer, forward and backward functions, and
    whether its backward must return dL/dx."""
    __slots__ = ("name", "layer", "forward", "backward", "need_dx", "_base", "_y")

    def __init__(self, name, layer, need_dx):
        self.name, self.layer, self.need_dx = name, layer, need_dx
        self.forward, self.backward = UNITS[name]
        if getattr(layer, "activity_regularizer", None) is not None:
            # Keras 3: the penalty reg(y) / batch size joins the loss; its gradient dy's
            self._base = (self.forward, self.backward)
            self.forward, self.backward = self._activity_forward, self._activity_backward

    def _activity_forward(self, layer, x, training, ctx):
        y = self._base[0](layer, x, training, ctx)
        n = max(1, len(y))
        ctx.activity += layer.activity_regularizer(y) / n
        self._y = y
        return y

    def _activity_backward(self, layer, dy, need_dx, ctx):
        g = np.zeros(self._y.shape, dtype=dy.dtype)
        layer.activity_regularizer.add_gradient(g, self._y)
        g /= g.dtype.type(max(1, len(self._y)))
        return self._base[1](layer, dy + g, need_dx, ctx)

    def __repr__(self):
        return f"<Call {self.name} {self.layer.name} need_dx={self.need_dx}>"


# ------------------------------------------------------------------ the units
def layer_forward(layer, x, training, ctx):
    return layer.forward(x, training)


def layer_backward(layer, dy, need_dx, ctx):
    return layer.backward(dy, need_dx)


def stepped_forward(layer, x, training, ctx):
    """A layer whose training forward depends on the step (Dropout's masks)."""
    return layer.forward(x, training, step=ctx.step)


def masked_forward(layer, x, training, ctx):
    """A layer that reads the mask of its input (uses_mask: recurrent layers, pooling
    over time); the model sets ctx.mask before the call."""
    return layer.forward(x, training, mask=ctx.mask, step=ctx.step)


def batchnorm_forward(layer, x, training, ctx):
    return layer.forward(x, training, comm=ctx.comm)


def batchnorm_backward(layer, dy, need_dx, ctx):
    return layer.backward(dy, need_dx, comm=ctx.comm)


def batchnorm_relu_forward(layer, x, training, ctx):
    return layer.forward(x, training, relu=True, comm=ctx.comm)


def fused_forward(layer, x, training, ctx):
    """The ReLU that the batch normalisation before it applied."""
    return x


def fused_backward(layer, dy, need_dx, ctx):
    return dy


def logits_forward(layer, x, training, ctx):
    """An output layer giving its logits to a loss that applies the activation."""
    return layer.forward(x, training, logits=True)


def model_forward(model, x, training, ctx):
    """A model used as a layer: its own plan, the outer step's context."""
    return model._forward(x, training, ctx=ctx)


def model_backward(model, dy, need_dx, ctx):
    return model._backward(dy, need_dx=need_dx, ctx=ctx)


UNITS = {
    "layer": (layer_forward, layer_backward),
    "stepped": (stepped_forward, layer_backward),
    "masked": (masked_forward, layer_backward),
    "batchnorm": (batchnorm_forward, batchnorm_backward),
    "batchnorm_relu": (batchnorm_relu_forward, batchnorm_backward),
    "fused": (fused_forward, fused_backward),
    "logits": (logits_forward, layer_backward),
    "model": (model_forward, model_backward),
}


def make_plan(runners, need_dx, fusion_pairs, emitting):
    """The plan for `runners` (forward order): need_dx[i] per runner; fusion_pairs
    (producer, consumer) where the consumer is the producer's only reader; emitting:
    the runners that hand their logits to the loss."""
    from .layers.activations import ActivationBase
    from .kernels.activations import RELU
    from .layers.normalization import BatchNormalization
    emit = {id(r) for r in emitting}
    names = {}
    for a, b in fusion_pairs:
        if (isinstance(a, BatchNormalization) and isinstance(b, ActivationBase)
                and b._code == RELU and id(b) not in emit):
            names[id(a)], names[id(b)] = "batchnorm_relu", "fused"
    plan = []
    for r, nd in zip(runners, need_dx):
        name = names.get(id(r))
        if name is None:
            if id(r) in emit:
                name = "logits"
            elif hasattr(r, "_make_plan"):      # a model used as a layer
                name = "model"
            elif isinstance(r, BatchNormalization):
                name = "batchnorm"
            elif getattr(r, "uses_mask", False):
                name = "masked"
            elif getattr(r, "stepped", False):
                name = "stepped"
            else:
                name = "layer"
        plan.append(Call(name, r, nd))
    return plan
