"""Keras' dataset utilities over nbnet.data: image_dataset_from_directory and
text_dataset_from_directory (nb.utils.*), giving a PyDataset of batches that fit /
evaluate / predict take as they take Keras' tf.data datasets.

The files are indexed and decoded once (nbnet.data), into memory; the dataset then
hands out batches of them. With shuffle=True the files are shuffled once, by `seed`
(and fit shuffles the order of the batches every epoch, from its own seed).
"""
import os

import numpy as np

from .data import load_images
from .errors import DataError
from .pydataset import PyDataset


class ArrayBatches(PyDataset):
    """Batches of in-memory arrays: (x, y) (y None: x alone). `class_names` and
    `file_paths` as Keras' datasets carry them."""

    def __init__(self, x, y, batch_size, class_names=None, file_paths=None):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        self.class_names, self.file_paths = class_names, file_paths

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range for {len(self)} batches")
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s] if self.y is None else (self.x[s], self.y[s])

    def unbatch(self):
        """All samples: (x, y), or x without labels."""
        return self.x if self.y is None else (self.x, self.y)


def _labels(y, label_mode, class_names, directory):
    if label_mode is None:
        return None
    if label_mode == "int":
        return y.astype(np.int32)
    if label_mode == "categorical":
        return np.eye(len(class_names), dtype=np.float32)[y]
    if label_mode == "binary":
        if len(class_names) != 2:
            raise DataError(f"{directory}: label_mode='binary' needs exactly 2 classes, found "
                            f"{len(class_names)}: {class_names}")
        return y.astype(np.float32).reshape(-1, 1)
    raise ValueError(f"label_mode must be 'int', 'categorical', 'binary' or None, "
                     f"got {label_mode!r}")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None,
                                 interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                                 data_format=None, verbose=True):
    """Keras 3's image_dataset_from_directory: one subfolder per class (sorted names),
    images decoded to (image_size, channels) float32 pixel values 0-255, labels by
    label_mode ("int" int32, "categorical" one-hot float32, "binary" float32 (N, 1),
    None: images only), in batches of batch_size (an integer). validation_split with
    subset "training" / "validation" / "both" (a pair), as Keras, needs a seed.
    Supported: labels="inferred", interpolation="bilinear", color_mode "grayscale" /
    "rgb"."""
    if labels != "inferred":
        raise NotImplementedError("image_dataset_from_directory: labels other than "
                                  "'inferred' (one subfolder per class) are not supported")
    if class_names is not None:
        raise NotImplementedError("image_dataset_from_directory: class_names= is not "
                                  "supported; the classes are the sorted subfolders")
    if interpolation != "bilinear" or crop_to_aspect_ratio or pad_to_aspect_ratio:
        raise NotImplementedError("image_dataset_from_directory: only interpolation="
                                  "'bilinear' without crop / pad to aspect ratio is supported")
    if data_format not in (None, "channels_last"):
        raise NotImplementedError("image_dataset_from_directory: data_format must be "
                                  "'channels_last'")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if shuffle and seed is None:
        seed = int(np.random.default_rng().integers(1_000_000))
    loaded = load_images(directory, image_size=image_size, color_mode=color_mode,
                         validation_split=validation_split, subset=subset, seed=seed,
                         dtype="float32", scale=False)
    parts = loaded if isinstance(loaded, tuple) else (loaded,)
    out = []
    for k, ds in enumerate(parts):
        idx = np.arange(len(ds.x))
        if shuffle and not validation_split:
            np.random.RandomState(seed).shuffle(idx)
        y = _labels(np.asarray(ds.y)[idx], label_mode, list(ds.class_names), directory)
        files = [ds.file_paths[i] for i in idx] if ds.file_paths is not None else None
        out.append(ArrayBatches(ds.x[idx], y, batch_size, list(ds.class_names), files))
        if verbose:
            print(f"Found {len(ds.x)} files belonging to {len(ds.class_names)} classes."
                  + (f" Using {len(ds.x)} files for {('training', 'validation')[k] if subset == 'both' else subset}."
                     if validation_split else ""))
    return tuple(out) if len(out) > 1 else out[0]


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None,
                                shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """Keras 3's text_dataset_from_directory: one subfolder per class of .txt files;
    batches of (texts (N,) object array of str, labels) as label_mode says; max_length
    truncates each text to that many characters."""
    if labels != "inferred" or class_names is not None:
        raise NotImplementedError("text_dataset_from_directory: only labels='inferred' "
                                  "(one subfolder per class) is supported")
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: not a folder")
    classes = sorted(d for d in os.listdir(directory)
                     if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
    if not classes:
        raise DataError(f"{directory}: no class subfolders")
    files, ys = [], []
    for c, name in enumerate(classes):
        for root, _, names in sorted(os.walk(os.path.join(directory, name), followlinks=follow_links)):
            for f in sorted(names):
                if f.lower().endswith(".txt"):
                    files.append(os.path.join(root, f))
                    ys.append(c)
    if not files:
        raise DataError(f"{directory}: no .txt files in the class subfolders {classes}")
    ys = np.array(ys)
    order = np.arange(len(files))
    if shuffle or validation_split:
        if seed is None:
            if validation_split:
                raise ValueError("validation_split needs a seed, so that the training and "
                                 "validation subsets do not overlap")
            seed = int(np.random.default_rng().integers(1_000_000))
        np.random.RandomState(seed).shuffle(order)
    subsets = {"training": order, None: order}
    if validation_split:
        n_val = int(validation_split * len(files))
        subsets = {"training": order[:len(order) - n_val], "validation": order[len(order) - n_val:]}
    names = ("training", "validation") if subset == "both" else (subset,)

    def read(i):
        with open(files[i], encoding="utf-8", errors="replace") as f:
            text = f.read()
        return text[:max_length] if max_length else text

    out = []
    for name in names:
        idx = subsets[name]
        texts = np.array([read(i) for i in idx], dtype=object)
        out.append(ArrayBatches(texts, _labels(ys[idx], label_mode, classes, directory),
                                batch_size, classes, [files[i] for i in idx]))
    if verbose:
        print(f"Found {len(files)} files belonging to {len(classes)} classes.")
    return tuple(out) if len(out) > 1 else out[0]


def _index_arg(value, name, lo=0, hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or \
            (hi is not None and value > hi):
        bound = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise ValueError(f"timeseries_dataset_from_array: {name} must be {bound}, got {value!r}")
    return int(value)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Keras' timeseries_dataset_from_array: the windows of `data` (time first) as a
    PyDataset of batches. Window k starts at i_k = start_index + k * sequence_stride and
    holds data[i_k], data[i_k + sampling_rate], ... (sequence_length steps); its target
    is targets[i_k] (so targets = data[sequence_length:] makes the target the step after
    the window). Windows run while they end before end_index, and (with targets) while
    targets has an entry for them. shuffle: the windows in a random order from `seed`.
    batch_size None: one batch of all windows."""
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError("timeseries_dataset_from_array: data must be an array of time steps")
    n = len(data)
    sequence_length = _index_arg(sequence_length, "sequence_length", 1)
    sequence_stride = _index_arg(sequence_stride, "sequence_stride", 1)
    sampling_rate = _index_arg(sampling_rate, "sampling_rate", 1)
    start = 0 if start_index is None else _index_arg(start_index, "start_index", 0, n)
    end = n if end_index is None else _index_arg(end_index, "end_index", start, n)
    num = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num = min(num, len(targets) - start)
    if num <= 0:
        raise ValueError(f"timeseries_dataset_from_array: no window of {sequence_length} steps "
                         f"(sampling_rate {sampling_rate}) fits in data[{start}:{end}]")
    starts = start + np.arange(0, num, sequence_stride)
    if shuffle:
        np.random.default_rng(seed).shuffle(starts)
    idx = starts[:, None] + sampling_rate * np.arange(sequence_length)[None, :]
    x = data[idx]
    y = None if targets is None else targets[starts]
    bs = len(starts) if batch_size is None else _index_arg(batch_size, "batch_size", 1)
    return ArrayBatches(x, y, bs)


__all__ = ["image_dataset_from_directory", "text_dataset_from_directory",
           "timeseries_dataset_from_array", "ArrayBatches"]
