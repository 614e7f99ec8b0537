"""Input: declares the shape of a Sequential model's input (Keras `keras.Input`)."""
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
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.shape = shape
        self.batch_size = batch_size

    def output_tensor(self):
        """This input's symbolic tensor (made once: the layer's only node)."""
        if not self._inbound_nodes:
            out = SymbolicTensor((None,) + self.shape, self.dtype, name=self.name)
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
        return {"shape": list(self.shape), "batch_size": self.batch_size,
                "dtype": self.dtype.name, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None):
    """keras.Input: a symbolic tensor of shape (None, *shape), the input of a functional
    Model (nb.Model(inputs, outputs)) or the first entry of a Sequential."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
    return layer.output_tensor()
