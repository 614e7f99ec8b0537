"""CategoryEncoding, StringLookup, IntegerLookup, Discretization (nbnet/layers/lookup.py).

Expected values are worked out by hand in the comments; the optional parity tests run
Keras 3 on the same inputs (StringLookup / IntegerLookup need TensorFlow there)."""
import json
import math
import os

import numpy as np
import pytest

import nbnet as nb
from nbnet.errors import DataError
from nbnet.layers.lookup import CategoryEncoding, Discretization, IntegerLookup, StringLookup


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _roundtrip(layer):
    cfg = layer.get_config()
    json.dumps(cfg)                      # configs must be JSON
    return type(layer).from_config(json.loads(json.dumps(cfg)))


# ------------------------------------------------------------------ CategoryEncoding
def test_category_encoding_modes():
    one = CategoryEncoding(num_tokens=4, output_mode="one_hot")
    y = one(np.array([3, 2, 0, 1]))
    np.testing.assert_array_equal(y, np.eye(4)[[3, 2, 0, 1]])
    assert y.dtype == np.float32
    assert one(np.array([[1], [0]])).shape == (2, 4)          # trailing 1 is replaced
    assert one(np.array([[1, 2]])).shape == (1, 2, 4)

    multi = CategoryEncoding(num_tokens=4)                      # default multi_hot
    x = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    np.testing.assert_array_equal(multi(x), [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0],
                                             [0, 1, 0, 1]])
    np.testing.assert_array_equal(multi(np.array([2, 2, 0])), [1, 0, 1, 0])  # 1-D: one sample

    count = CategoryEncoding(num_tokens=4, output_mode="count")
    np.testing.assert_array_equal(count(x), [[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 1, 0],
                                             [0, 1, 0, 1]])
    w = np.array([[.1, .2], [.1, .1], [.2, .3], [.4, .2]])
    np.testing.assert_allclose(count(x, count_weights=w),
                               [[.1, .2, 0, 0], [.2, 0, 0, 0], [0, .2, .3, 0], [0, .2, 0, .4]],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="count_weights"):
        multi(x, count_weights=w)
    assert count.compute_output_shape((None, 2)) == (None, 4)
    assert one.compute_output_shape((None, 1)) == (None, 4)
    assert one.compute_output_shape((None, 3)) == (None, 3, 4)


def test_category_encoding_errors_gradient_config():
    with pytest.raises(ValueError, match="num_tokens"):
        CategoryEncoding()
    with pytest.raises(ValueError, match="num_tokens"):
        CategoryEncoding(num_tokens=0)
    with pytest.raises(ValueError, match="output_mode"):
        CategoryEncoding(num_tokens=3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="sparse"):
        CategoryEncoding(num_tokens=3, sparse=True)
    layer = CategoryEncoding(num_tokens=3, output_mode="binary")   # Keras' old name
    assert layer.output_mode == "multi_hot"
    with pytest.raises(DataError, match="num_tokens"):
        layer(np.array([[0, 3]]))
    with pytest.raises(DataError, match="integers"):
        layer(np.array([[0.5]]))
    x = np.array([[0, 2]])
    y = layer(x)
    assert layer.backward(np.ones_like(y), need_dx=False) is None
    with pytest.raises(NotImplementedError, match="gradient"):
        layer.backward(np.ones_like(y))
    clone = _roundtrip(layer)
    np.testing.assert_array_equal(clone(x), y)


def test_category_encoding_keras_parity():
    keras = _keras()
    x = np.array([[0, 1, 1], [3, 3, 2]])
    for mode in ("multi_hot", "count"):
        ref = keras.layers.CategoryEncoding(num_tokens=5, output_mode=mode)(x)
        np.testing.assert_array_equal(CategoryEncoding(num_tokens=5, output_mode=mode)(x),
                                      keras.ops.convert_to_numpy(ref))
    ref = keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(np.array([3, 0, 1]))
    np.testing.assert_array_equal(CategoryEncoding(4, "one_hot")(np.array([3, 0, 1])),
                                  keras.ops.convert_to_numpy(ref))


# ------------------------------------------------------------------ StringLookup
def test_string_lookup_adapt_order_and_int_mode():
    layer = StringLookup()
    # counts: c 3, b 2, a 1, d 1; ties high to low (d before a); OOV "[UNK]" at 0
    layer.adapt(["a", "b", "b", "c", "c", "c", "d"])
    assert layer.get_vocabulary() == ["[UNK]", "c", "b", "d", "a"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["c", "b", "d", "a"]
    assert layer.vocabulary_size() == 5
    y = layer(np.array([["a", "z"], ["c", "d"]]))
    np.testing.assert_array_equal(y, [[4, 0], [1, 3]])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(layer(np.array([b"c", b"b"])), [1, 2])   # bytes decoded
    assert layer.backward(None, need_dx=False) is None
    with pytest.raises(DataError, match="strings"):
        layer(np.array([1, 2]))

    capped = StringLookup(max_tokens=3)
    capped.adapt(np.array([["a", "b"], ["b", "c"], ["c", "c"]]))  # c 3, b 2, a 1 -> cut a
    assert capped.get_vocabulary() == ["[UNK]", "c", "b"]
    np.testing.assert_array_equal(capped(["a", "b"]), [0, 2])


def test_string_lookup_mask_oov_invert():
    masked = StringLookup(mask_token="", vocabulary=["a", "b"])
    assert masked.get_vocabulary() == ["", "[UNK]", "a", "b"]
    np.testing.assert_array_equal(masked(np.array(["a", "", "z", "b"])), [2, 0, 1, 3])
    # other modes: no mask slot, mask tokens dropped
    hot = StringLookup(mask_token="", vocabulary=["a", "b"], output_mode="multi_hot")
    assert hot.get_vocabulary() == ["[UNK]", "a", "b"]
    np.testing.assert_array_equal(hot(np.array([["a", "", "a"], ["", "", "q"]])),
                                  [[0, 1, 0], [1, 0, 0]])
    count = StringLookup(vocabulary=["a", "b"], output_mode="count")
    np.testing.assert_array_equal(count(np.array([["a", "x", "a", "y"]])), [[2, 2, 0]])
    one = StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    np.testing.assert_array_equal(one(np.array([["b"], ["q"]])), [[0, 0, 1], [1, 0, 0]])
    padded = StringLookup(vocabulary=["a", "b"], output_mode="multi_hot", max_tokens=5,
                          pad_to_max_tokens=True)
    np.testing.assert_array_equal(padded(np.array([["b"]])), [[0, 0, 1, 0, 0]])

    strict = StringLookup(vocabulary=["a", "b"], num_oov_indices=0)
    np.testing.assert_array_equal(strict(["b", "a"]), [1, 0])
    with pytest.raises(DataError, match="num_oov_indices"):
        strict(["b", "zz"])

    inv = StringLookup(vocabulary=["a", "b"], invert=True)
    np.testing.assert_array_equal(inv(np.array([[1, 2], [0, 7]])), [["a", "b"], ["[UNK]", "[UNK]"]])
    inv_mask = StringLookup(vocabulary=["a", "b"], mask_token="[M]", invert=True)
    np.testing.assert_array_equal(inv_mask(np.array([0, 1, 2, 3])), ["[M]", "[UNK]", "a", "b"])
    # a round trip: tokens -> ids -> tokens
    fwd = StringLookup(vocabulary=["x", "y", "z"])
    back = StringLookup(vocabulary=["x", "y", "z"], invert=True)
    np.testing.assert_array_equal(back(fwd(np.array(["z", "x", "q"]))), ["z", "x", "[UNK]"])


def test_string_lookup_tf_idf():
    given = StringLookup(vocabulary=["a", "b"], idf_weights=[0.5, 0.25], output_mode="tf_idf")
    # OOV slot: the mean weight 0.375; ["a", "a", "x"]: a twice, one OOV
    np.testing.assert_allclose(given(np.array([["a", "a", "x"]])), [[0.375, 1.0, 0.0]])
    learned = StringLookup(output_mode="tf_idf")
    learned.adapt([["a", "b"], ["a", "a"], ["c", "a"]])
    # counts a 4, c 1, b 1 -> [UNK], a, c, b; documents: a in 3 of 3, c and b in 1
    assert learned.get_vocabulary() == ["[UNK]", "a", "c", "b"]
    wa, wc = math.log(1 + 3 / 4), math.log(1 + 3 / 2)
    w_oov = (wa + 2 * wc) / 3
    np.testing.assert_allclose(learned(np.array([["a", "b", "b", "zz"]])),
                               [[w_oov, wa, 0, 2 * wc]], rtol=1e-6)
    clone = _roundtrip(learned)
    np.testing.assert_array_equal(clone(np.array([["a", "b", "q"]])),
                                  learned(np.array([["a", "b", "q"]])))
    with pytest.raises(ValueError, match="idf_weights"):
        StringLookup(vocabulary=["a"], output_mode="tf_idf")
    with pytest.raises(ValueError, match="idf_weights"):
        StringLookup(vocabulary=["a"], idf_weights=[1.0])
    with pytest.raises(ValueError, match="idf_weights"):
        StringLookup(vocabulary=["a", "b"], idf_weights=[1.0], output_mode="tf_idf")


def test_string_lookup_set_vocabulary_and_errors(tmp_path):
    layer = StringLookup(mask_token="")
    layer.set_vocabulary(["", "[UNK]", "x", "y"])          # leading special tokens accepted
    assert layer.get_vocabulary() == ["", "[UNK]", "x", "y"]
    np.testing.assert_array_equal(layer(["y", "x"]), [3, 2])
    layer.adapt(["q", "q", "r"])                             # adapt replaces it
    assert layer.get_vocabulary() == ["", "[UNK]", "q", "r"]
    path = tmp_path / "vocab.txt"
    path.write_text("dog\ncat\n", encoding="utf-8")
    from_file = StringLookup(vocabulary=str(path))
    np.testing.assert_array_equal(from_file(["cat", "dog", "eel"]), [2, 1, 0])
    with pytest.raises(ValueError, match="repeated"):
        StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="mask token"):
        StringLookup(vocabulary=["a", "[M]"], mask_token="[M]")
    with pytest.raises(ValueError, match="max_tokens"):
        StringLookup(vocabulary=["a", "b", "c"], max_tokens=3)
    with pytest.raises(ValueError, match="max_tokens"):
        StringLookup(max_tokens=1)
    with pytest.raises(ValueError, match="pad_to_max_tokens"):
        StringLookup(pad_to_max_tokens=True)
    with pytest.raises(ValueError, match="invert"):
        StringLookup(invert=True, output_mode="multi_hot")
    with pytest.raises(ValueError, match="output_mode"):
        StringLookup(output_mode="bag")
    with pytest.raises(ValueError, match="num_oov_indices"):
        StringLookup(num_oov_indices=-1)
    with pytest.raises(ValueError, match="empty"):
        StringLookup(vocabulary=[])
    with pytest.raises(ValueError, match="adapt"):
        StringLookup(vocabulary=["a"]).adapt(["a"])
    with pytest.raises(RuntimeError, match="vocabulary"):
        StringLookup(output_mode="multi_hot")(np.array([["a"]]))


def test_string_lookup_config_roundtrip():
    layer = StringLookup(mask_token="", max_tokens=10)
    layer.adapt(np.array(["b", "a", "b", "", "c"]))
    clone = _roundtrip(layer)
    x = np.array([["a", "b", "", "zz"]])
    np.testing.assert_array_equal(clone(x), layer(x))
    assert clone.get_vocabulary() == layer.get_vocabulary() == ["", "[UNK]", "b", "c", "a"]
    assert clone.get_config() == layer.get_config()


def test_string_lookup_keras_parity():
    keras = _keras()
    pytest.importorskip("tensorflow")
    data = np.array([["b", "a", "c"], ["c", "c", "e"], ["d", "e", "b"]])
    ref = keras.layers.StringLookup(mask_token="")
    ref.adapt(data)
    ours = StringLookup(mask_token="")
    ours.adapt(data)
    assert ours.get_vocabulary() == ref.get_vocabulary()
    x = np.array([["a", "", "zz"], ["e", "c", "d"]])
    np.testing.assert_array_equal(ours(x), keras.ops.convert_to_numpy(ref(x)))


# ------------------------------------------------------------------ IntegerLookup
def test_integer_lookup_modes():
    layer = IntegerLookup()
    layer.adapt(np.array([5, 5, 7, 9, 9, 9]))                # 9 x3, 5 x2, 7 x1; OOV -1
    assert layer.get_vocabulary() == [-1, 9, 5, 7]
    y = layer(np.array([[5, 100], [9, 7]]))
    np.testing.assert_array_equal(y, [[2, 0], [1, 3]])
    assert y.dtype == np.int64
    ties = IntegerLookup()
    ties.adapt([3, 1, 2, 10])                                # all once: high to low
    assert ties.get_vocabulary() == [-1, 10, 3, 2, 1]

    two = IntegerLookup(vocabulary=[12, 36], num_oov_indices=2)
    # OOV v -> v mod 2: 1000 -> 0, 1001 -> 1; 12 -> 2, 36 -> 3
    np.testing.assert_array_equal(two(np.array([12, 1000, 1001, 36])), [2, 0, 1, 3])
    masked = IntegerLookup(vocabulary=[12, 36], mask_token=0)
    assert masked.get_vocabulary() == [0, -1, 12, 36]
    np.testing.assert_array_equal(masked(np.array([0, 36, 5])), [0, 3, 1])
    hot = IntegerLookup(vocabulary=[12, 36], output_mode="multi_hot", mask_token=0)
    np.testing.assert_array_equal(hot(np.array([[0, 36, 36], [5, 0, 0]])), [[0, 0, 1], [1, 0, 0]])
    inv = IntegerLookup(vocabulary=[12, 36], invert=True)
    np.testing.assert_array_equal(inv(np.array([2, 1, 0, 9])), [36, 12, -1, -1])
    with pytest.raises(ValueError, match="vocabulary_dtype"):
        IntegerLookup(vocabulary_dtype="int32")
    with pytest.raises(DataError, match="integers"):
        IntegerLookup(vocabulary=[1])(np.array([1.5]))
    np.testing.assert_array_equal(IntegerLookup(vocabulary=[7])(np.array([7.0])), [1])


def test_integer_lookup_and_encoding_in_a_model():
    look = IntegerLookup(output_mode="one_hot")
    look.adapt(np.array([5, 5, 7, 9, 9, 9]))                  # [-1, 9, 5, 7]
    model = nb.Sequential([nb.Input(shape=(1,)), look])
    x = np.array([[5.0], [9.0], [42.0]])
    expected = [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]]
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    config = json.loads(json.dumps(model.get_config()))
    again = nb.models.model_from_config(config)
    np.testing.assert_array_equal(again.predict(x, verbose=0), expected)

    inp = nb.Input(shape=(2,))
    ids = IntegerLookup(vocabulary=[3, 4])(inp)               # 3 -> 1, 4 -> 2, else 0
    out = CategoryEncoding(num_tokens=3, output_mode="count")(ids)
    graph = nb.Model(inp, out)
    x2 = np.array([[3.0, 3.0], [4.0, 8.0]])
    np.testing.assert_array_equal(graph.predict(x2, verbose=0), [[0, 2, 0], [1, 0, 1]])
    again = nb.models.model_from_config(json.loads(json.dumps(graph.get_config())))
    np.testing.assert_array_equal(again.predict(x2, verbose=0), [[0, 2, 0], [1, 0, 1]])


def test_integer_lookup_keras_parity():
    keras = _keras()
    pytest.importorskip("tensorflow")
    data = np.array([[12, 1138, 42], [42, 1000, 36], [12, 42, 1138]])
    ref = keras.layers.IntegerLookup()
    ref.adapt(data)
    ours = IntegerLookup()
    ours.adapt(data)
    assert [int(v) for v in ref.get_vocabulary()] == ours.get_vocabulary()
    x = np.array([[12, 7], [1000, 42]])
    np.testing.assert_array_equal(ours(x), keras.ops.convert_to_numpy(ref(x)))


# ------------------------------------------------------------------ Discretization
def test_discretization_boundaries_and_modes():
    layer = Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    x = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
    y = layer(x)   # bucket i: boundaries[i-1] <= x < boundaries[i]
    np.testing.assert_array_equal(y, [[0, 2, 3, 1], [1, 3, 2, 1]])
    assert y.dtype == np.int32                                 # Keras: int32
    hot = Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="multi_hot")
    np.testing.assert_array_equal(hot(x), [[1, 1, 1, 1], [0, 1, 1, 1]])
    cnt = Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="count")
    np.testing.assert_array_equal(cnt(x), [[1, 1, 1, 1], [0, 2, 1, 1]])
    one = Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot")
    np.testing.assert_array_equal(one(np.array([[-3.0], [0.5], [9.0]])), np.eye(3))
    assert one.compute_output_shape((None, 1)) == (None, 3)
    assert hot.compute_output_shape((None, 4)) == (None, 4)
    with pytest.raises(ValueError, match="num_bins"):
        Discretization()
    with pytest.raises(ValueError, match="num_bins"):
        Discretization(bin_boundaries=[1.0], num_bins=3)
    with pytest.raises(ValueError, match="output_mode"):
        Discretization(num_bins=2, output_mode="tf_idf")
    with pytest.raises(ValueError, match="adapt"):
        layer.adapt(x)
    with pytest.raises(ValueError, match="adapt"):
        Discretization(num_bins=3)(x)
    with pytest.raises(DataError, match="numeric"):
        layer(np.array(["a"]))


def test_discretization_adapt_quantiles():
    # 1..10, num_bins 4: cumulative fractions 0.1 .. 1.0 at the sorted values;
    # interpolating 0.25, 0.5, 0.75 gives 2.5, 5.0, 7.5 (the last quantile, 1.0, is dropped)
    layer = Discretization(num_bins=4)
    layer.adapt(np.arange(1.0, 11.0))
    np.testing.assert_allclose(layer.bin_boundaries, [2.5, 5.0, 7.5])
    np.testing.assert_array_equal(layer(np.array([[1.0, 2.5, 6.0, 7.5, 99.0]])), [[0, 1, 2, 3, 3]])
    # two batches of the same values give the same summary (merge, then compress)
    split = Discretization(num_bins=4)
    split.adapt([np.arange(6.0, 11.0), np.arange(1.0, 6.0)])
    np.testing.assert_allclose(split.bin_boundaries, [2.5, 5.0, 7.5])
    # 1..4, num_bins 2: fraction 0.5 falls on the 2nd sorted value
    half = Discretization(num_bins=2)
    half.adapt(np.array([[4.0, 1.0], [3.0, 2.0]]))
    np.testing.assert_allclose(half.bin_boundaries, [2.0])
    # adapted boundaries survive the config (and a model)
    clone = _roundtrip(layer)
    assert clone.bin_boundaries == layer.bin_boundaries and clone.num_bins == 4
    model = nb.Sequential([nb.Input(shape=(3,)), Discretization(num_bins=4, output_mode="count")])
    model.layers[0].adapt(np.arange(1.0, 11.0))
    x = np.array([[1.0, 6.0, 9.0], [3.0, 3.0, 3.0]])
    expected = [[1, 0, 1, 1], [0, 3, 0, 0]]
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    again = nb.models.model_from_config(json.loads(json.dumps(model.get_config())))
    np.testing.assert_array_equal(again.predict(x, verbose=0), expected)


def test_discretization_keras_parity():
    keras = _keras()
    data = np.random.default_rng(0).normal(size=(300, 2)).astype("float32")
    # Keras' adapt touches tf.data; its summary functions do not: run them directly
    from keras.src.layers.preprocessing import discretization as kd
    summary = np.array([[], []], dtype="float32")
    for batch in (data[:120], data[120:]):
        summary = kd.merge_summaries(kd.summarize(batch.astype("float32"), 0.01), summary, 0.01)
    ref = keras.layers.Discretization(
        bin_boundaries=kd.get_bin_boundaries(summary, 5).tolist())
    ours = Discretization(num_bins=5, epsilon=0.01)
    ours.adapt([data[:120], data[120:]])
    np.testing.assert_allclose(ours.bin_boundaries, ref.bin_boundaries, rtol=1e-6)
    x = data[:20]
    np.testing.assert_array_equal(ours(x), keras.ops.convert_to_numpy(ref(x)))
