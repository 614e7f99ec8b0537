"""keras.models: Sequential, Model, load_model, clone_model (so that `from keras.models
import Sequential` ports as `from nbnet.models import Sequential`)."""
from .functional import Model
from .model import Sequential
from .saving import read_model


def load_model(filepath, compile=True):
    """A Sequential or functional model from a file written by model.save: architecture,
    weights, compile settings and optimizer state; never runs code from the file."""
    return read_model(filepath, model_from_config, compile=compile)


def model_from_config(config):
    """A model's get_config() -> a new Sequential or functional Model."""
    if isinstance(config, dict) and "input_layers" in config:
        return Model.from_config(config)
    return Sequential.from_config(config)


def clone_model(model):
    """A new model of the same architecture with new, freshly initialised layers (as
    keras.models.clone_model): no weights, optimizer or compile settings are shared."""
    if isinstance(model, Model):   # (a Model is also a Sequential: test it first)
        return Model.from_config(model.get_config())
    if isinstance(model, Sequential):
        return Sequential.from_config(model.get_config())
    raise TypeError(f"clone_model expects a Sequential or a Model, got {type(model).__name__}")


__all__ = ["Sequential", "Model", "load_model", "clone_model", "model_from_config"]
