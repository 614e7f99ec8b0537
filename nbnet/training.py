"""Helpers of the training loop: input validation (DataError with a clear message),
choice of the fused output path, batch boundaries."""
import numpy as np

from .errors import DataError
from .kernels.checks import all_finite


def _first_bad(arr):
    bad = ~np.isfinite(arr)
    if bad.ndim > 1:
        bad = bad.reshape(len(arr), -1).any(axis=1)
    return int(np.argmax(bad))


def raw_input(model, i=0):
    """(dtype, reader) for a model's input i declared raw (Input(dtype="string" /
    "int64"), or a Sequential without an Input whose first layer reads strings): the
    NumPy dtype (object for strings) and the layer that reads it; (None, None) for a
    float input."""
    steps = getattr(model, "_steps", None)
    if steps is None:                                   # Sequential
        layer = getattr(model, "_input_layer", None)
        first = model.layers[0] if model.layers else None
        if layer is not None:
            raw = layer.input_dtype
        else:
            raw = np.dtype(object) if getattr(first, "raw_input_dtype", None) == "string" else None
        return (raw, first) if raw is not None else (None, None)
    t = model._inputs[i]
    raw = t.node.layer.input_dtype
    if raw is None:
        return None, None
    return raw, next((st.node.layer for st in steps if t.id in st.ins), None)


def check_raw_x(x, input_shape, dtype, what):
    """x for an input declared "string" or "int32" / "int64" (read by preprocessing
    layers): an object array of str, or integers; shape checked as for floats."""
    if x is None:
        raise DataError(f"{what}: x is missing")
    arr = np.asarray(x)
    if input_shape[-1] == 1 and arr.ndim == len(input_shape) - 1:
        arr = arr[..., None]
    if arr.ndim < 1 or len(arr) == 0:
        raise DataError(f"{what}: x is empty (0 samples)")
    if tuple(arr.shape[1:]) != tuple(input_shape[1:]) and None not in input_shape[1:]:
        raise DataError(f"{what}: the model expects inputs of shape {tuple(input_shape)}, "
                        f"got x of shape {arr.shape}")
    if dtype == np.dtype(object):
        if arr.dtype.kind not in "OUS":
            raise DataError(f"{what}: this input takes strings, got an array of dtype {arr.dtype}")
        if arr.dtype.kind == "S":
            arr = np.char.decode(arr, "utf-8")
        return arr.astype(object)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)):
        return arr.astype(dtype)
    if arr.dtype.kind not in "biu":
        raise DataError(f"{what}: this input takes integers, got an array of dtype {arr.dtype}")
    return arr.astype(dtype)


def check_x(x, input_shape, dtype, what):
    if x is None:
        raise DataError(f"{what}: x is missing")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise DataError(f"{what}: x is not a rectangular numeric array ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what}: x must be numeric, got an array of dtype {arr.dtype}")
    if input_shape is not None and input_shape[-1] == 1 and arr.ndim == len(input_shape) - 1:
        arr = arr[..., None]   # (N,) where (N, 1) is expected, as Keras adjusts the rank
    if arr.ndim < 2:
        raise DataError(f"{what}: x must have a batch dimension and at least one feature "
                        f"dimension, got shape {arr.shape}")
    if len(arr) == 0:
        raise DataError(f"{what}: x is empty (0 samples)")
    if input_shape is not None and tuple(arr.shape[1:]) != tuple(input_shape[1:]):
        raise DataError(f"{what}: the model expects inputs of shape {tuple(input_shape)}, "
                        f"got x of shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not all_finite(arr.reshape(-1)):
        i = _first_bad(arr)
        raise DataError(f"{what}: x contains NaN or Inf (first in sample {i})")
    return arr


def check_y(y, n, loss, output_shape, dtype, what):
    if y is None:
        raise DataError(f"{what}: y is missing")
    try:
        arr = np.asarray(y)
    except (ValueError, TypeError) as e:
        raise DataError(f"{what}: y is not a rectangular numeric array ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what}: y must be numeric, got an array of dtype {arr.dtype}; "
                        f"encode class names as integers first")
    if arr.ndim == 0 or len(arr) != n:
        raise DataError(f"{what}: x and y have different lengths ({n} and "
                        f"{len(arr) if arr.ndim else 'a scalar'})")
    if not np.isfinite(arr).all():
        raise DataError(f"{what}: y contains NaN or Inf (first in sample {_first_bad(arr)})")
    out_dims = tuple(output_shape[1:])
    k = out_dims[-1] if out_dims else 1
    target = getattr(loss, "target", "regression")   # what the loss declares (nbnet.losses)
    if target == "sparse":   # one label per output row: (N,), or (N, T) for (N, T, k)
        lead = (n,) + tuple(out_dims[:-1])
        if arr.shape == lead + (1,):
            arr = arr.reshape(lead)
        if arr.shape != lead:
            want = "(N,)" if len(lead) == 1 else f"(N, {', '.join(map(str, lead[1:]))})"
            raise DataError(f"{what}: {loss.name} needs integer labels of shape {want}, got y "
                            f"of shape {arr.shape}")

        def sample_of(bad):
            return int(np.unravel_index(int(np.argmax(bad)), arr.shape)[0])
        if np.any(arr != np.floor(arr)):
            raise DataError(f"{what}: sparse labels must be integers (sample {sample_of(arr != np.floor(arr))})")
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi >= k:
            bad = (arr < 0) | (arr >= k)
            v = arr.reshape(-1)[int(np.argmax(bad))]
            raise DataError(f"{what}: label {v:g} in sample {sample_of(bad)} is out of range for "
                            f"{k} classes (labels must be 0..{k - 1})")
        return np.ascontiguousarray(arr, dtype=np.int64)
    if target == "categorical" and arr.ndim == 1 and k > 1:
        raise DataError(f"{what}: {loss.name} needs one-hot targets of shape "
                        f"(N, {k}), got labels of shape {arr.shape}; use "
                        f"nb.utils.to_categorical or sparse_categorical_crossentropy")
    if arr.ndim == 1 and out_dims == (1,):
        arr = arr[:, None]
    if tuple(arr.shape[1:]) != out_dims:
        raise DataError(f"{what}: the model outputs shape (None, {', '.join(map(str, out_dims))}), "
                        f"y has shape {arr.shape}")
    if target in ("binary", "categorical") and (arr.min() < 0 or arr.max() > 1):
        raise DataError(f"{what}: {loss.name} targets must lie in [0, 1]")
    return np.ascontiguousarray(arr, dtype=dtype)


def fused_loss_for(last_layer, loss):
    """(loss computed from logits, output activation) when the last layer ends in the
    activation the loss declares it can take the logits of (loss.logits_activation:
    softmax for the categorical cross-entropies, sigmoid for the binary one) and the
    loss is on probabilities; else (None, activation name). The fused path is exact and
    log-sum-exp stable."""
    act = getattr(last_layer, "final_activation", None)
    from_logits = getattr(loss, "from_logits", True)
    if not from_logits and act is not None and act == getattr(loss, "logits_activation", None):
        return loss.with_logits(), act
    return None, act


def apply_output_activation(act, logits):
    from . import activations
    if act == "softmax":
        return activations.softmax(logits)
    if act == "sigmoid":
        return activations.sigmoid(logits)
    raise ValueError(f"no fused output path for activation {act!r}")


def merge_tail(n, batch_size, merge_small, minimum=2):
    """Batch bounds [(start, end)]. With merge_small, a last batch of fewer than
    `minimum` samples (at least 2) is merged into the previous batch: one sample has no
    batch variance (batch normalisation), and a distributed fit needs a sample per rank."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if merge_small and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < max(2, minimum):
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


# Data of a model with several inputs or outputs is a list of arrays, one per input /
# output, all with the same number of rows; with one, a plain array. These helpers take
# either (the trainer, the distributed strategy and the profiler use them).
def nrows(data):
    return len(data[0]) if isinstance(data, list) else len(data)


def rows(data, s, e):
    return [d[s:e] for d in data] if isinstance(data, list) else data[s:e]


def copy_data(data):
    return [np.array(d, copy=True) for d in data] if isinstance(data, list) else np.array(data, copy=True)


def concat_data(parts):
    """Row-wise concatenation of parts, each an array or a list of arrays."""
    if isinstance(parts[0], list):
        return [np.concatenate(col) for col in zip(*parts)]
    return np.concatenate(parts)
