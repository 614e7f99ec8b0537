"""Reuters newswire topics, as keras.datasets.reuters: 11,228 newswires as lists of word
indices ranked by frequency, labelled over 46 topics."""
import json

import numpy as np

from ..download import get_file
from ..errors import DataError
from ._formats import (TF_KERAS_DATASETS, check_sequence_args, check_test_split, drop_long,
                       encode_sequences, load_npz, object_array)

ORIGIN = TF_KERAS_DATASETS + "reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_ORIGIN = TF_KERAS_DATASETS + "reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"          # md5, as Keras
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing",
    "money-supply", "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass",
    "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum",
    "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi",
    "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
    "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """((x_train, y_train), (x_test, y_test)), Keras semantics: one shuffle of all
    newswires with RandomState(seed); index shift, start_char, maxlen and vocabulary
    cut as in imdb.load_data; then the first int(N * (1 - test_split)) train."""
    check_sequence_args(num_words=num_words, skip_top=skip_top, maxlen=maxlen,
                        index_from=index_from)
    if index_from is None:
        raise ValueError("index_from must be a non-negative integer; got None")
    check_test_split(test_split)
    path = get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH)
    f = load_npz(path, ["x", "y"])
    xs, labels = f["x"], f["y"]
    if len(xs) != len(labels):
        raise DataError(f"{path}: {len(xs)} newswires for {len(labels)} labels")
    indices = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(indices)
    xs, labels = xs[indices], labels[indices]
    head = [] if start_char is None else [start_char]
    xs = [head + [w + index_from for w in x] for x in xs]
    if maxlen:
        xs, labels = drop_long(maxlen, xs, labels)
    xs = encode_sequences(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    labels = np.asarray(labels)
    return ((object_array(xs[:cut]), np.array(labels[:cut])),
            (object_array(xs[cut:]), np.array(labels[cut:])))


def get_word_index(path="reuters_word_index.json"):
    """dict word -> rank (1 = most frequent); the data's index is rank + index_from."""
    path = get_file(path, origin=WORD_INDEX_ORIGIN, file_hash=WORD_INDEX_HASH)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a JSON word index ({e})") from None


def get_label_names():
    """The 46 topic names, indexed as the labels."""
    return LABEL_NAMES
