"""IMDB movie reviews (sentiment), as keras.datasets.imdb: reviews as lists of word
indices ranked by frequency, labels 0 / 1."""
import json
import warnings

import numpy as np

from ..download import get_file
from ..errors import DataError
from ._formats import (TF_KERAS_DATASETS, check_sequence_args, drop_long, encode_sequences,
                       load_npz, object_array)

ORIGIN = TF_KERAS_DATASETS + "imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_ORIGIN = TF_KERAS_DATASETS + "imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"          # md5, as Keras


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """((x_train, y_train), (x_test, y_test)), Keras semantics:

    - each split is shuffled with RandomState(seed) (train first, then test, one stream);
    - every word index w becomes w + index_from, and start_char (if not None) is put in
      front of each review;
    - with maxlen, only reviews strictly shorter than maxlen (start_char included) stay;
    - words outside [skip_top, num_words) become oov_char (or are dropped when oov_char
      is None); num_words=None keeps all (see _formats.encode_sequences for the one
      Keras quirk there).
    x: 1-D object arrays of lists of int; y: int arrays of 0 / 1."""
    if kwargs:
        warnings.warn(f"imdb.load_data ignores unknown arguments {sorted(kwargs)}",
                      stacklevel=2)
    check_sequence_args(num_words=num_words, skip_top=skip_top, maxlen=maxlen,
                        index_from=index_from)
    if index_from is None:
        raise ValueError("index_from must be a non-negative integer; got None")
    path = get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH)
    f = load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    x_train, labels_train = f["x_train"], f["y_train"]
    x_test, labels_test = f["x_test"], f["y_test"]
    for x, y, name in ((x_train, labels_train, "train"), (x_test, labels_test, "test")):
        if len(x) != len(y):
            raise DataError(f"{path}: {len(x)} {name} reviews for {len(y)} labels")

    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]

    head = [] if start_char is None else [start_char]
    x_train = [head + [w + index_from for w in x] for x in x_train]
    x_test = [head + [w + index_from for w in x] for x in x_test]
    if maxlen:
        x_train, labels_train = drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, "
                             "no sequence was kept. Increase maxlen.")
    xs = encode_sequences(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(labels_train), np.asarray(labels_test)])
    n = len(x_train)
    return (object_array(xs[:n]), labels[:n]), (object_array(xs[n:]), labels[n:])


def get_word_index(path="imdb_word_index.json"):
    """dict word -> rank (1 = most frequent); the data's index is rank + index_from."""
    path = get_file(fname=path, origin=WORD_INDEX_ORIGIN, file_hash=WORD_INDEX_HASH)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a JSON word index ({e})") from None
