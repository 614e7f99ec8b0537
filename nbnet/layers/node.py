"""Symbolic tensors and nodes: what calling a layer on `nb.Input` tensors records.

`nb.Input(shape)` returns a SymbolicTensor made by an InputLayer. Calling a layer (or a
model) on symbolic tensors builds the layer for their shapes and returns new symbolic
tensors; each call is one Node (layer, input tensors, output tensors) appended to the
layer's `_inbound_nodes`, so a layer called twice (a shared layer) has two nodes. A
functional Model walks these nodes back from its outputs to its inputs (Keras 3's
functional API). No data flows here: shapes only.
"""
import itertools

import numpy as np

_ids = itertools.count()


class SymbolicTensor:
    """A placeholder for a batch of data: shape (None, ...), dtype, and the node (layer
    call) that produces it (node None: made by nb.Input)."""

    def __init__(self, shape, dtype, node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.node, self.index = node, index
        self.name = name
        self.id = next(_ids)

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        made = self.node.layer.name if self.node is not None else "?"
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name} from {made!r}>"

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a symbolic tensor (from nb.Input) holds no data; build a Model "
                        "with nb.Model(inputs, outputs) and call it on arrays")


class Node:
    """One call of `layer` on `inputs` (symbolic tensors) giving `outputs`."""

    def __init__(self, layer, inputs, outputs, multi_input):
        self.layer, self.inputs, self.outputs = layer, list(inputs), list(outputs)
        self.multi_input = multi_input

    def __repr__(self):
        return f"<Node {self.layer.name} {[t.shape for t in self.inputs]} -> " \
               f"{[t.shape for t in self.outputs]}>"


def is_symbolic(x):
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(
        isinstance(t, SymbolicTensor) for t in x)


def is_shape_list(shape):
    """Whether compute_output_shape gave several outputs' shapes (a list of shapes:
    a recurrent layer with return_state) rather than one shape."""
    return isinstance(shape, list) and len(shape) > 0 and all(
        isinstance(s, (tuple, list)) for s in shape)


def call_symbolic(layer, inputs, multi_input):
    """Record layer(inputs) on symbolic tensors -> the output SymbolicTensor (a list of
    them for a layer with several outputs, whose compute_output_shape gives a list)."""
    tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if multi_input != isinstance(inputs, (list, tuple)):
        want = "a list of tensors" if multi_input else "one tensor"
        raise TypeError(f"layer {layer.name!r} takes {want}, got "
                        f"{type(inputs).__name__} of {len(tensors)}")
    shapes = [t.shape for t in tensors]
    shape_in = shapes if multi_input else shapes[0]
    layer._maybe_build(shape_in)
    out_shape = layer.compute_output_shape(shape_in)
    shapes = [tuple(s) for s in out_shape] if is_shape_list(out_shape) else [tuple(out_shape)]
    outs = [SymbolicTensor(s, layer.dtype, index=k, name=layer.name) for k, s in enumerate(shapes)]
    node = Node(layer, tensors, outs, multi_input)
    for out in outs:
        out.node = node
    layer._inbound_nodes.append(node)
    return outs if len(outs) > 1 else outs[0]
