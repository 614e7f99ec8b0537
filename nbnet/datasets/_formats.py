"""Readers for the Keras dataset file formats, shared by the keras-style loaders.

Only what the formats need is unpickled: the IMDB / Reuters .npz files hold ragged
sequences as object arrays, and the CIFAR "python" batches are pickled dicts; both are
read with an unpickler that accepts nothing but NumPy's array-rebuilding globals, so a
tampered file cannot run code (the files are also hash-checked by get_file).
"""
import io
import pickle
import zipfile

import numpy as np

from ..errors import DataError

TF_KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# The globals a pickled ndarray needs (numpy < 2 and numpy >= 2 spellings), nothing else.
_ARRAY_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
})


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: a dataset file "
                                     "holds only arrays, lists and numbers")


def unpickle(fileobj, encoding="ASCII"):
    """pickle.load restricted to NumPy arrays and plain Python data."""
    return _ArrayUnpickler(fileobj, encoding=encoding).load()


def _read_npy(buffer):
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except ValueError:
        # an object array: skip the .npy header, then unpickle with the restricted loader
        buffer.seek(0)
        major, _ = np.lib.format.read_magic(buffer)
        if major == 1:
            np.lib.format.read_array_header_1_0(buffer)
        elif major in (2, 3):      # 3.0 only differs in the header's text encoding
            np.lib.format.read_array_header_2_0(buffer)
        else:
            raise ValueError(f"unsupported .npy version {major}")
        return unpickle(buffer)


def load_npz(path, keys):
    """{key: array} for `keys` of the .npz file at `path`; object arrays are allowed
    (restricted unpickling). A missing key or an unreadable file raises DataError."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            out = {}
            for key in keys:
                if f"{key}.npy" not in names:
                    raise DataError(f"{path}: no array {key!r} in the .npz file (it has "
                                    f"{sorted(n[:-4] for n in names if n.endswith('.npy'))})")
                with archive.open(f"{key}.npy") as raw:
                    out[key] = _read_npy(io.BytesIO(raw.read()))
            return out
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise DataError(f"{path}: not a readable .npz dataset file ({e})") from None


def load_cifar_batch(path, label_key="labels"):
    """One CIFAR "python version" batch -> (data (N, 3, 32, 32) uint8, labels list).

    NOTE: the batches are Python pickles. They are read only from the hash-checked
    official archive that get_file downloaded, and with the restricted unpickler."""
    try:
        with open(path, "rb") as f:
            raw = unpickle(f, encoding="bytes")
        d = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in raw.items()}
        data, labels = np.asarray(d["data"]), d[label_key]
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
            raise ValueError(f"data of shape {data.shape} with {len(labels)} labels")
    except (OSError, ValueError, EOFError, KeyError, AttributeError, TypeError,
            pickle.UnpicklingError) as e:
        raise DataError(f"{path}: not a CIFAR python batch ({type(e).__name__}: {e})") from None
    return data.reshape(len(data), 3, 32, 32), labels


def check_test_split(test_split):
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float, np.number)) \
            or not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split!r}. It must be between "
                         "0 and 1 (exclusive of 1).")


def shuffled_split(x, y, test_split, seed):
    """Keras' regression split: permute with RandomState(seed), then the first
    int(N * (1 - test_split)) samples train, the rest test."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def encode_sequences(xs, num_words, skip_top, oov_char):
    """Keras' vocabulary cut: words outside [skip_top, num_words) become oov_char, or are
    dropped when oov_char is None. num_words falsy means the largest index seen.

    NOTE: as in Keras, with num_words=None the bound is the largest index itself and
    the test is `w < num_words`, so that one word also turns into oov_char."""
    if not num_words:
        num_words = max(max(x) for x in xs if len(x)) if any(len(x) for x in xs) else 0
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def drop_long(maxlen, xs, labels):
    """Keep the sequences strictly shorter than maxlen (Keras' remove_long_seq)."""
    kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def object_array(seqs):
    """A 1-D object array of lists (never a 2-D array, even when the lengths agree)."""
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def check_sequence_args(**kwargs):
    for name, v in kwargs.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                              or v < 0):
            raise ValueError(f"{name} must be a non-negative integer or None; got {v!r}")
