"""Small public helpers, as keras.utils: to_categorical, set_random_seed, get_file,
pad_sequences, normalize, split_dataset, PyDataset (and its old name Sequence)."""
import random as _pyrandom

import numpy as np

from .download import get_file  # noqa: F401  (public: nb.utils.get_file)
from .pydataset import PyDataset, Sequence  # noqa: F401  (nb.utils.PyDataset / Sequence)
from .errors import DataError
from .random import generator
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


# --------------------------------------------------------------------------- sequences
def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """List of N sequences -> array (N, maxlen, *sample_shape), as Keras.

    maxlen defaults to the longest sequence. Shorter sequences are filled with `value`
    before ("pre") or after ("post") their items; longer ones lose their first ("pre")
    or last ("post") items. The sample shape is that of the first non-empty sequence."""
    if padding not in ("pre", "post"):
        raise ValueError(f'padding must be "pre" or "post"; got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'truncating must be "pre" or "post"; got {truncating!r}')
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer))
                               or maxlen < 0):
        raise ValueError(f"maxlen must be a non-negative integer or None; got {maxlen!r}")
    lengths, sample_shape = [], None
    for x in sequences:
        try:
            lengths.append(len(x))
        except TypeError:
            raise ValueError("`sequences` must be a list of iterables. "
                             f"Found non-iterable: {x!r}") from None
        if sample_shape is None and len(x):
            sample_shape = np.asarray(x).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    is_text = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}; "
                         "use dtype=object for variable length strings.")
    out = np.full((len(sequences), maxlen) + tuple(sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(f"Shape of sample {kept.shape[1:]} of sequence at position {i} "
                             f"is different from expected shape {tuple(sample_shape)}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out


def normalize(x, axis=-1, order=2):
    """x divided by its `order`-norm along `axis` (a zero norm divides by 1), as Keras.

    NOTE: the result always has x's shape. Keras' NumPy path (3.x) expands the norm
    back at axis -1 whatever `axis` was, which turns a 1-D input into shape (1, n) and
    is wrong for axis=0 on square inputs; its tensor path keeps the shape, as here."""
    x = np.asarray(x)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"axis must be an integer; got {axis!r}")
    if x.ndim == 0:
        raise ValueError("normalize needs an array with at least one dimension")
    norm = np.linalg.norm(x, order, axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm


# --------------------------------------------------------------------------- splitting
def _split_sizes(left_size, right_size, total):
    """Keras' rules: an int is a count in (0, total), a float a fraction in (0, 1)
    (rounded); None is the complement of the other. -> (left, right) ints."""
    def kind(v, name):
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, "
                            f"Received: type({name})={type(v)}")
        return int if isinstance(v, (int, np.integer)) else float

    lk, rk = kind(left_size, "left_size"), kind(right_size, "right_size")
    if lk is None and rk is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for v, k, name in ((left_size, lk, "left_size"), (right_size, rk, "right_size")):
        if (k is int and not 0 < v < total) or (k is float and not 0 < v < 1):
            raise ValueError(f"`{name}` should be either a positive integer smaller than "
                             f"{total}, or a float within the range `[0, 1]`. Received: "
                             f"{name}={v}")
    if lk is float and rk is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. "
                         "It must be less than or equal to 1.")
    left = None if lk is None else (round(left_size * total) if lk is float else int(left_size))
    right = None if rk is None else (round(right_size * total) if rk is float else int(right_size))
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total}. Received: left_size + right_size = {left + right}")
    for n, side in ((left, "left"), (right, "right")):
        if n == 0:
            raise ValueError(f"With `dataset` of length={total}, `left_size`={left} and "
                             f"`right_size`={right}, the {side} side split would be empty.")
    return int(left), int(right)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split an array, or a tuple / list of arrays of equal length, into a left part
    (the first `left_size` samples) and a right part (the last `right_size`), as Keras.

    Sizes: an int counts samples, a float is a fraction (rounded); None is the complement
    of the other. When the two do not add up to the total, the samples in the middle
    are dropped. shuffle=True permutes the samples first, with the permutation Keras
    draws for the same `seed` (Python's random.shuffle); with seed=None the seed comes
    from nbnet's generators (reproducible after set_random_seed). Returns two arrays for
    an array, two tuples of arrays for a tuple or list."""
    if isinstance(dataset, np.ndarray):
        arrays, single = [dataset], True
    elif isinstance(dataset, (tuple, list)):
        if not dataset:
            raise ValueError("`dataset` is empty: give a non-empty tuple of arrays")
        for i, a in enumerate(dataset):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"`dataset` must hold NumPy arrays; item {i} is {type(a).__name__}")
        arrays, single = list(dataset), False
    else:
        raise TypeError("The `dataset` argument must be a NumPy array or a tuple/list of "
                        f"NumPy arrays. Received: dataset of type {type(dataset).__name__}")
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise DataError(f"`dataset` item {i} is a scalar; arrays need a sample axis")
        if a.shape[0] != arrays[0].shape[0]:
            raise DataError(f"`dataset` arrays differ in length: item 0 has "
                            f"{arrays[0].shape[0]} samples, item {i} has {a.shape[0]}")
    total = arrays[0].shape[0]
    left, right = _split_sizes(left_size, right_size, total)
    order = np.arange(total)
    if shuffle:
        if seed is None:
            seed = int(generator().integers(0, 10**6))
        perm = list(range(total))
        _pyrandom.Random(seed).shuffle(perm)
        order = np.asarray(perm, dtype=np.int64)
    left_idx, right_idx = order[:left], order[total - right:]
    lefts = tuple(a[left_idx] for a in arrays)
    rights = tuple(a[right_idx] for a in arrays)
    if single:
        return lefts[0], rights[0]
    return lefts, rights

