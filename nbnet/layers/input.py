"""Input: declares the shape of a Sequential model's input (Keras `keras.Input`).

dtype: float32 / float64 (None: floatx), or, for inputs that preprocessing layers read
(StringLookup, TextVectorization, IntegerLookup ...), "string" (object arrays of str)
or "int32" / "int64"; those are passed on as they are, never cast to floats.
"""
import numpy as np

from .base import Layer
from .node import Node, SymbolicTensor


class InputLayer(Layer):
    """Holds the input shape (without the batch dimension); passes data through."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, **kwargs):
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if shape is None:
            raise ValueError("Input needs a shape, e.g. Input(shape=(784,))")
        if isinstance(shape, int):
            shape = (shape,)
        shape = tuple(shape)
        if any((s is not None and (not isinstance(s, int) or s <= 0)) for s in shape):
            raise ValueError(f"Input shape must hold positive integers, got {shape}")
        raw = RAW_DTYPES.get(str(dtype)) if dtype is not None else None
        super().__init__(name=name, dtype=None if raw is not None else dtype, **kwargs)
        self.shape = shape
        self.batch_size = batch_size
        self.input_dtype = raw            # None: the layer's float dtype

    def output_tensor(self):
        """This input's symbolic tensor (made once: the layer's only node)."""
        if not self._inbound_nodes:
            out = SymbolicTensor((None,) + self.shape, self.input_dtype or self.dtype,
                                 name=self.name)
            out.node = Node(self, [], [out], False)
            self._inbound_nodes.append(out.node)
            self.built, self.input_shape = True, (None,) + self.shape
            self.output_shape = self.input_shape
        return self._inbound_nodes[0].outputs[0]

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy

    def get_config(self):
        dtype = self.dtype.name if self.input_dtype is None else _RAW_NAMES[self.input_dtype]
        return {"shape": list(self.shape), "batch_size": self.batch_size,
                "dtype": dtype, "name": self.name}


RAW_DTYPES = {"string": np.dtype(object), "str": np.dtype(object), "object": np.dtype(object),
              "int32": np.dtype(np.int32), "int64": np.dtype(np.int64)}
_RAW_NAMES = {np.dtype(object): "string", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64"}


def Input(shape=None, batch_size=None, dtype=None, name=None):
    """keras.Input: a symbolic tensor of shape (None, *shape), the input of a functional
    Model (nb.Model(inputs, outputs)) or the first entry of a Sequential."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
    return layer.output_tensor()
