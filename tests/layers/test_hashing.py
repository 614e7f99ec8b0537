"""Hashing, and hashed OOV buckets of StringLookup / IntegerLookup (num_oov_indices > 1).

Expected values are the ones printed in Keras 3's and TensorFlow's documentation:
keras.layers.Hashing's docstring examples (FarmHash64, with a mask value, SipHash64 with
salt [133, 137] and 133), IntegerLookup's "uniform OOV distribution with FarmHash" example,
and tf.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3) = [0, 2, 2]."""
import json

import numpy as np
import pytest

import nbnet as nb
from nbnet.errors import DataError
from nbnet.layers.lookup import Hashing, IntegerLookup, StringLookup

ABCDE = [["A"], ["B"], ["C"], ["D"], ["E"]]


def _roundtrip(layer):
    return type(layer).from_config(json.loads(json.dumps(layer.get_config())))


@pytest.mark.parametrize("kwargs, x, expected", [
    (dict(num_bins=3), ABCDE, [1, 0, 1, 1, 2]),
    (dict(num_bins=3, mask_value=""), [["A"], ["B"], [""], ["C"], ["D"]], [1, 1, 0, 2, 2]),
    (dict(num_bins=3, salt=[133, 137]), ABCDE, [1, 2, 1, 0, 2]),
    (dict(num_bins=3, salt=133), ABCDE, [0, 0, 2, 1, 0]),
])
def test_hashing_keras_doc_examples(kwargs, x, expected):
    layer = Hashing(**kwargs)
    y = layer(np.array(x, dtype=object))
    assert y.dtype == np.int64 and y.shape == (5, 1)
    np.testing.assert_array_equal(y.ravel(), expected)
    np.testing.assert_array_equal(_roundtrip(layer)(np.array(x)), y)   # str arrays too


def test_hashing_numbers_hash_their_decimal_text_and_encodings():
    ints = Hashing(num_bins=7)
    strings = ints(np.array([["12"], ["-3"], ["1000000"]]))
    np.testing.assert_array_equal(ints(np.array([[12], [-3], [1000000]])), strings)
    np.testing.assert_array_equal(ints(np.array([[12.7], [-3.2], [1e6]])), strings)  # truncated
    with pytest.raises(DataError, match="NaN"):
        ints(np.array([[np.nan]]))
    with pytest.raises(DataError, match="strings or numbers"):
        ints(np.array([[{"a": 1}]], dtype=object))
    bins = ints(np.array([["a"], ["b"], ["c"]])).ravel()
    hot = Hashing(num_bins=7, output_mode="one_hot")
    np.testing.assert_array_equal(hot(np.array([["a"], ["b"], ["c"]])), np.eye(7)[bins])
    assert hot.compute_output_shape((None, 1)) == (None, 7)
    count = Hashing(num_bins=7, output_mode="count")
    y = count(np.array([["a", "a", "b"]]))
    assert y.shape == (1, 7) and y[0, bins[0]] == 2 and y.sum() == 3
    multi = Hashing(num_bins=7, output_mode="multi_hot")
    assert multi(np.array([["a", "a", "b"]])).sum() == (1 if bins[0] == bins[1] else 2)


def test_hashing_arguments():
    with pytest.raises(ValueError, match="num_bins"):
        Hashing(num_bins=None)
    with pytest.raises(ValueError, match="num_bins"):
        Hashing(num_bins=0)
    with pytest.raises(ValueError, match="output_mode"):
        Hashing(num_bins=3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="sparse"):
        Hashing(num_bins=3, sparse=True)
    with pytest.raises(ValueError, match="salt"):
        Hashing(num_bins=3, salt=[1, 2, 3])
    with pytest.raises(ValueError, match="salt"):
        Hashing(num_bins=3, salt=2 ** 63)
    with pytest.raises(ValueError, match="salt"):
        Hashing(num_bins=3, salt=1.5)
    assert Hashing(num_bins=3, salt=5).get_config()["salt"] == [5, 5]   # as Keras


def test_hashing_in_a_functional_model_saved_and_loaded(tmp_path):
    inp = nb.Input(shape=(1,), dtype="string")
    out = Hashing(num_bins=3, output_mode="one_hot")(inp)
    model = nb.Model(inp, out)
    x = np.array(ABCDE, dtype=object)
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.eye(3)[[1, 0, 1, 1, 2]])
    path = tmp_path / "hash.keras"
    model.save(path)
    again = nb.models.load_model(path)
    np.testing.assert_array_equal(again.predict(x, verbose=0), np.eye(3)[[1, 0, 1, 1, 2]])


def test_string_lookup_hashes_oov_strings_into_its_oov_slots():
    layer = StringLookup(vocabulary=["a", "b"], num_oov_indices=3)
    # OOV slots 0-2 (TensorFlow's buckets for mod 3: Hello 0, TensorFlow 2, 2.x 2); a 3, b 4
    x = np.array([["a", "Hello", "TensorFlow", "2.x", "b"]])
    np.testing.assert_array_equal(layer(x), [[3, 0, 2, 2, 4]])
    assert layer.get_vocabulary() == ["[UNK]"] * 3 + ["a", "b"]
    masked = StringLookup(vocabulary=["a"], num_oov_indices=3, mask_token="")
    # mask 0, OOV slots 1-3, a 4
    np.testing.assert_array_equal(masked(np.array([["", "Hello", "2.x", "a"]])), [[0, 1, 3, 4]])
    hot = StringLookup(vocabulary=["a"], num_oov_indices=3, output_mode="multi_hot")
    np.testing.assert_array_equal(hot(np.array([["TensorFlow", "a"]])), [[0, 0, 1, 1]])
    clone = _roundtrip(layer)
    np.testing.assert_array_equal(clone(x), layer(x))
    b = np.array([[s.encode() for s in x[0]]], dtype=object)   # bytes hash the same
    np.testing.assert_array_equal(layer(b), layer(x))


def test_string_lookup_salted_oov_buckets():
    # Hashing's SipHash example, as OOV slots: A 1, B 2, C 1, D 0, E 2 with salt [133, 137]
    layer = StringLookup(vocabulary=["zz"], num_oov_indices=3, salt=[133, 137])
    np.testing.assert_array_equal(layer(np.array(ABCDE)).ravel(), [1, 2, 1, 0, 2])
    assert _roundtrip(layer).get_config()["salt"] == [133, 137]


def test_integer_lookup_farmhash_oov_method():
    vocab = [10, 20, 30]
    oov = np.array([100, 300, 700, 1100, 1700, 2000])
    floor = IntegerLookup(vocabulary=vocab, num_oov_indices=4, oov_method="floormod")
    farm = IntegerLookup(vocabulary=vocab, num_oov_indices=4, oov_method="farmhash")
    np.testing.assert_array_equal(floor(oov), [0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(farm(oov), [3, 3, 2, 2, 0, 1])        # Keras' docstring
    np.testing.assert_array_equal(farm(np.array([10, 30])), [4, 6])      # in vocabulary
    np.testing.assert_array_equal(_roundtrip(farm)(oov), [3, 3, 2, 2, 0, 1])
    salted = IntegerLookup(vocabulary=vocab, num_oov_indices=4, oov_method="farmhash", salt=7)
    assert salted.get_config()["salt"] == [7, 7]
    with pytest.raises(ValueError, match="salt"):
        IntegerLookup(vocabulary=vocab, salt=7)                          # floormod + salt


# ------------------------------------------------------------------ Keras 3 parity
def _keras_tf():
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")     # Keras' hashing and lookup layers run on TF
    return keras


def _words(n, seed):
    rng = np.random.default_rng(seed)
    alphabet = list("abcdefghij") + ["é", "ß", "日本", " ", "-"]
    return np.array(["".join(rng.choice(alphabet, rng.integers(0, 90)))
                     for _ in range(n)], dtype=object)


@pytest.mark.parametrize("kwargs", [dict(num_bins=7), dict(num_bins=1000003),
                                    dict(num_bins=5, mask_value=""),
                                    dict(num_bins=9, salt=[-5, 2 ** 62 + 12345]),
                                    dict(num_bins=6, output_mode="count")])
def test_hashing_matches_keras(kwargs):
    keras = _keras_tf()
    x = _words(400, 1).reshape(100, 4)
    x[0, 0] = ""
    ref = keras.ops.convert_to_numpy(keras.layers.Hashing(**kwargs)(x))
    np.testing.assert_array_equal(Hashing(**kwargs)(x), ref)
    if "mask_value" in kwargs:
        return                            # Keras compares integers with "" and fails
    ints = np.random.default_rng(2).integers(-10 ** 12, 10 ** 12, (50, 3))
    ref = keras.ops.convert_to_numpy(keras.layers.Hashing(**kwargs)(ints))
    np.testing.assert_array_equal(Hashing(**kwargs)(ints), ref)


def test_lookups_hash_oov_like_keras():
    keras = _keras_tf()
    vocab = ["abc", "d", "eee"]
    x = np.concatenate([_words(300, 3), np.array(vocab * 5, dtype=object)]).reshape(-1, 5)
    for kw in (dict(num_oov_indices=4), dict(num_oov_indices=3, mask_token=""),
               dict(num_oov_indices=5, salt=77), dict(num_oov_indices=3, output_mode="multi_hot")):
        ref = keras.layers.StringLookup(vocabulary=vocab, **kw)
        ours = StringLookup(vocabulary=vocab, **kw)
        np.testing.assert_array_equal(ours(x), keras.ops.convert_to_numpy(ref(x)), err_msg=str(kw))
    ints = np.random.default_rng(4).integers(0, 10 ** 6, (60, 4))
    for kw in (dict(oov_method="farmhash"), dict(oov_method="farmhash", salt=[3, 4]),
               dict(oov_method="floormod")):
        ref = keras.layers.IntegerLookup(vocabulary=[5, 10], num_oov_indices=6, **kw)
        ours = IntegerLookup(vocabulary=[5, 10], num_oov_indices=6, **kw)
        np.testing.assert_array_equal(ours(ints), keras.ops.convert_to_numpy(ref(ints)),
                                      err_msg=str(kw))
