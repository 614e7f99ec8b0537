"""Global numeric settings: the default float type of new layers and data."""
import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx():
    """Name of the default float dtype, "float32" unless changed by set_floatx."""
    return _FLOATX


def set_floatx(value):
    """Set the default float dtype of layers built and data loaded from now on."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"floatx must be 'float32' or 'float64', got {value!r}")
    _FLOATX = value


def epsilon():
    """The fuzz factor Keras uses to clip probabilities (1e-7)."""
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def standardize_dtype(dtype):
    """np.float32 / "float64" / None -> np.dtype; None means floatx()."""
    dt = np.dtype(floatx() if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt
