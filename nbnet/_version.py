"""The version of nbnet (one place; the package and the model files read it)."""
__version__ = "0.1.0"
