"""The two error types nbnet raises for bad input."""


class DataError(ValueError):
    """Bad data given to nbnet: wrong shape, NaN, labels out of range, unreadable file."""


class ModelFileError(OSError):
    """A model file that is missing, truncated, corrupt or not an nbnet model."""
