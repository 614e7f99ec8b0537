"""keras.models: Sequential, Model, load_model, clone_model (so that `from keras.models
import Sequential` ports as `from nbnet.models import Sequential`)."""
from .functional import Model
from .model import Sequential
from .saving import load_model


def clone_model(model):
    """A new model of the same architecture with new, freshly initialised layers (as
    keras.models.clone_model): no weights, optimizer or compile settings are shared."""
    if isinstance(model, Model):   # (a Model is also a Sequential: test it first)
        return Model.from_config(model.get_config())
    if isinstance(model, Sequential):
        return Sequential.from_config(model.get_config())
    raise TypeError(f"clone_model expects a Sequential or a Model, got {type(model).__name__}")


__all__ = ["Sequential", "Model", "load_model", "clone_model"]
