"""Small public helpers: to_categorical and set_random_seed."""
import numpy as np

from .errors import DataError
from .random import set_random_seed  # noqa: F401  (public: nb.utils.set_random_seed)


def to_categorical(x, num_classes=None):
    """Integer class vector (N,) -> one-hot matrix (N, num_classes), as Keras."""
    y = np.asarray(x)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and (not np.all(np.isfinite(y)) or np.any(y != np.floor(y))):
        raise DataError("to_categorical needs integer class labels")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise DataError(f"to_categorical: negative label {y.min()}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise DataError(f"to_categorical: label {y.max()} out of range for {num_classes} classes")
    out = np.zeros(y.shape + (num_classes,), dtype="float32")
    np.put_along_axis(out, y[..., None], 1.0, axis=-1)
    return out
