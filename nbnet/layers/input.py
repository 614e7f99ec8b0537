"""Input: declares the shape of a Sequential model's input (Keras `keras.Input`)."""
from .base import Layer


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

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"shape": list(self.shape), "batch_size": self.batch_size,
                "dtype": self.dtype.name, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None):
    """keras.Input: the input of a Sequential model, e.g. Sequential([Input((784,)), ...])."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
