"""nb.utils.pad_sequences, normalize and split_dataset: hand-made expectations (the
examples of Keras' documentation among them) and, where Keras is installed, Keras."""
import os
import random

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import nbnet as nb
from nbnet.errors import DataError
from nbnet.utils import normalize, pad_sequences, split_dataset

SEQ = [[1], [2, 3], [4, 5, 6]]


# --------------------------------------------------------------------------- pad_sequences
def test_pad_sequences_keras_doc_examples():
    out = pad_sequences(SEQ)
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    assert pad_sequences(SEQ, value=-1).tolist() == [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    assert pad_sequences(SEQ, padding="post").tolist() == [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    assert pad_sequences(SEQ, maxlen=2).tolist() == [[0, 1], [2, 3], [5, 6]]


def test_pad_sequences_truncating_padding_and_dtype():
    assert pad_sequences(SEQ, maxlen=2, truncating="post").tolist() == [[0, 1], [2, 3], [4, 5]]
    assert pad_sequences(SEQ, maxlen=2, truncating="post", padding="post").tolist() == \
        [[1, 0], [2, 3], [4, 5]]
    assert pad_sequences(SEQ, maxlen=4).tolist() == [[0, 0, 0, 1], [0, 0, 2, 3], [0, 4, 5, 6]]
    out = pad_sequences([[0.5], [1.5, 2.5]], dtype="float32", value=9.0)
    assert out.dtype == np.float32 and out.tolist() == [[9.0, 0.5], [1.5, 2.5]]
    # the int32 default truncates floats, as Keras (numpy's cast)
    assert pad_sequences([[1.7, 2.2]]).tolist() == [[1, 2]]
    # empty sequences are all padding; an empty list gives (0, 0)
    assert pad_sequences([[], [7]]).tolist() == [[0], [7]]
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences(SEQ, maxlen=0).shape == (3, 0)


def test_pad_sequences_multidimensional_samples_and_strings():
    seqs = [np.ones((1, 2)), np.array([[1, 2], [3, 4]])]
    out = pad_sequences(seqs, padding="post")
    assert out.shape == (2, 2, 2)
    assert out.tolist() == [[[1, 1], [0, 0]], [[1, 2], [3, 4]]]
    words = pad_sequences([["a"], ["b", "c"]], dtype=object, value="<pad>")
    assert words.tolist() == [["<pad>", "a"], ["b", "c"]]


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(SEQ, padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences(SEQ, truncating="middle")
    with pytest.raises(ValueError, match="iterable"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="iterable"):
        pad_sequences(5)
    with pytest.raises(ValueError, match="dtype"):
        pad_sequences(SEQ, value="x")
    with pytest.raises(ValueError, match="position 1"):
        pad_sequences([np.ones((1, 2)), np.ones((1, 3))])
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences(SEQ, maxlen=-1)


def test_pad_sequences_matches_keras(rng):
    keras = pytest.importorskip("keras")
    seqs = [rng.integers(1, 50, size=n).tolist() for n in (0, 3, 7, 1, 12)]
    for kwargs in ({}, {"maxlen": 5}, {"maxlen": 5, "padding": "post", "truncating": "post"},
                   {"maxlen": 20, "value": -3}, {"dtype": "float64", "truncating": "post",
                                                 "maxlen": 4}):
        ours = pad_sequences(seqs, **kwargs)
        theirs = keras.utils.pad_sequences(seqs, **kwargs)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), kwargs


# --------------------------------------------------------------------------- normalize
def test_normalize_by_hand():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0, 0], [2**-0.5, -(2**-0.5)]])
    np.testing.assert_allclose(normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0], [0.5, -0.5]])
    # along axis 0: each column divided by its own norm
    col = np.array([[3.0, 1.0, 0.0], [4.0, 0.0, 0.0]])
    np.testing.assert_allclose(normalize(col, axis=0), [[0.6, 1, 0], [0.8, 0, 0]])
    np.testing.assert_allclose(normalize(np.array([0.0, 2.0])), [0.0, 1.0])
    out = normalize(x.astype(np.float32))
    assert out.dtype == np.float32
    with pytest.raises(TypeError, match="axis"):
        normalize(x, axis=None)


def test_normalize_matches_keras(rng):
    keras = pytest.importorskip("keras")
    x = rng.normal(size=(4, 3, 5))
    for kwargs in ({}, {"order": 1}, {"axis": 1}, {"order": 3, "axis": -1}):
        np.testing.assert_allclose(normalize(x, **kwargs), keras.utils.normalize(x, **kwargs),
                                   rtol=1e-12)


# --------------------------------------------------------------------------- split_dataset
def test_split_array_sizes():
    a = np.arange(10)
    left, right = split_dataset(a, left_size=0.8)
    assert left.tolist() == list(range(8)) and right.tolist() == [8, 9]
    left, right = split_dataset(a, left_size=3)
    assert left.tolist() == [0, 1, 2] and right.tolist() == list(range(3, 10))
    # a float is rounded as Python's round does: 0.25 * 10 = 2.5 -> 2
    left, right = split_dataset(a, right_size=0.25)
    assert len(left) == 8 and right.tolist() == [8, 9]
    # sizes that leave samples over drop the ones in the middle
    left, right = split_dataset(a, left_size=3, right_size=4)
    assert left.tolist() == [0, 1, 2] and right.tolist() == [6, 7, 8, 9]
    left, right = split_dataset(a, left_size=0.2, right_size=3)
    assert left.tolist() == [0, 1] and right.tolist() == [7, 8, 9]


def test_split_tuple_keeps_pairs_together():
    x = np.arange(12).reshape(6, 2)
    y = np.array([10, 11, 12, 13, 14, 15])
    (xl, yl), (xr, yr) = split_dataset((x, y), left_size=4)
    assert xl.tolist() == x[:4].tolist() and yl.tolist() == [10, 11, 12, 13]
    assert xr.tolist() == x[4:].tolist() and yr.tolist() == [14, 15]
    left, right = split_dataset([x, y], left_size=0.5, shuffle=True, seed=5)
    assert isinstance(left, tuple) and len(left) == 2
    # the pairing survives the shuffle: y - 10 is the row number, x[row] = (2 row, 2 row + 1)
    for xs, ys in (left, right):
        assert xs.tolist() == [[2 * (v - 10), 2 * (v - 10) + 1] for v in ys]


def test_split_shuffle_is_keras_permutation():
    a = np.arange(20) * 10
    left, right = split_dataset(a, left_size=0.7, shuffle=True, seed=42)
    # Keras: random.seed(seed); random.shuffle(list of samples)
    order = list(range(20))
    random.seed(42)
    random.shuffle(order)
    assert left.tolist() == [10 * i for i in order[:14]]
    assert right.tolist() == [10 * i for i in order[14:]]
    # seed=None: reproducible after nb.utils.set_random_seed
    nb.utils.set_random_seed(3)
    first = split_dataset(a, left_size=0.5, shuffle=True)[0]
    nb.utils.set_random_seed(3)
    again, rest = split_dataset(a, left_size=0.5, shuffle=True)
    assert np.array_equal(again, first)
    assert sorted(again.tolist() + rest.tolist()) == a.tolist()     # a partition
    assert again.tolist() != a[:10].tolist()                        # and shuffled


@pytest.mark.parametrize("kwargs, error, word", [
    ({}, ValueError, "left_size"),
    ({"left_size": 0}, ValueError, "left_size"),
    ({"left_size": 10}, ValueError, "left_size"),
    ({"right_size": 1.0}, ValueError, "right_size"),
    ({"left_size": 1.5}, ValueError, "left_size"),
    ({"left_size": "half"}, TypeError, "left_size"),
    ({"left_size": True}, TypeError, "left_size"),
    ({"left_size": 0.6, "right_size": 0.5}, ValueError, "sum"),
    ({"left_size": 6, "right_size": 5}, ValueError, "sum"),
    ({"left_size": 0.01}, ValueError, "empty"),
])
def test_split_bad_sizes(kwargs, error, word):
    with pytest.raises(error, match=word):
        split_dataset(np.arange(10), **kwargs)


def test_split_bad_datasets():
    with pytest.raises(DataError, match="length"):
        split_dataset((np.arange(4), np.arange(5)), left_size=2)
    with pytest.raises(TypeError, match="dataset"):
        split_dataset(([1, 2, 3], np.arange(3)), left_size=1)
    with pytest.raises(TypeError, match="dataset"):
        split_dataset({"x": np.arange(3)}, left_size=1)
    with pytest.raises(ValueError, match="empty"):
        split_dataset((), left_size=1)
