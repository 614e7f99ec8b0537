"""TextVectorization (nbnet/layers/text.py): expectations by hand; Keras parity optional
(Keras' TextVectorization needs TensorFlow)."""
import json
import math
import os
import re

import numpy as np
import pytest

from nbnet.errors import DataError
from nbnet.layers.text import TextVectorization

SENTENCES = ["The cat sat.", "The dog, the CAT!", "a bird"]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_adapt_order_and_int_output():
    layer = TextVectorization(output_sequence_length=6)
    layer.adapt(SENTENCES)
    # lower + strip: the x3, cat x2, then sat / dog / bird / a once each: ties high to low
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "cat", "sat", "dog", "bird", "a"]
    assert layer.vocabulary_size() == 8
    y = layer(np.array(["the cat flew", "a dog and a bird sat there x y"]))
    # flew / and -> 1 (OOV); the second is cut to 6 tokens; the first padded with 0
    np.testing.assert_array_equal(y, [[2, 3, 1, 0, 0, 0], [7, 5, 1, 7, 6, 4]])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(layer(np.array([["The DOG"]])), [[2, 5, 0, 0, 0, 0]])
    free = TextVectorization(vocabulary=["the", "cat"])        # pads to the longest row
    np.testing.assert_array_equal(free(["cat", "the cat cat x"]), [[3, 0, 0, 0], [2, 3, 3, 1]])
    capped = TextVectorization(max_tokens=4)
    capped.adapt(SENTENCES)
    assert capped.get_vocabulary() == ["", "[UNK]", "the", "cat"]
    assert layer.backward(None, need_dx=False) is None


def test_standardize_options():
    def vocab(standardize, text):
        layer = TextVectorization(standardize=standardize, split=None)
        layer.adapt([text])
        return layer.get_vocabulary(include_special_tokens=False)
    # every ASCII punctuation character goes; only ASCII letters are lower-cased
    assert vocab("lower_and_strip_punctuation", "It's A-OK, (Ça) [1+2=3] \"x\" ~_@#$%^&*") == [
        "its aok Ça 123 x "]
    assert vocab("lower_and_strip_punctuation", "ÉCOLE…") == ["École…"]
    assert vocab("lower", "Hi, There!") == ["hi, there!"]
    assert vocab("strip_punctuation", "Hi, There!") == ["Hi There"]
    assert vocab(None, "Hi, There!") == ["Hi, There!"]
    assert vocab(lambda a: np.char.upper(a), "Hi, There!") == ["HI, THERE!"]
    with pytest.raises(ValueError, match="standardize"):
        TextVectorization(standardize="upper")


def test_split_and_ngrams():
    chars = TextVectorization(split="character", standardize=None)
    chars.adapt(["ab a"])                      # a x2, then b and " " once: "b" > " "
    assert chars.get_vocabulary() == ["", "[UNK]", "a", "b", " "]
    np.testing.assert_array_equal(chars(["ba c"]), [[3, 2, 4, 1]])
    words = TextVectorization(split=None, standardize=None, vocabulary=["a b", "c"])
    np.testing.assert_array_equal(words(np.array([["a b"], ["c"], ["a"]])), [[2], [3], [1]])
    big = TextVectorization(ngrams=2)
    big.adapt(["a b c"])                       # a, b, c, "a b", "b c": all once
    assert big.get_vocabulary() == ["", "[UNK]", "c", "b c", "b", "a b", "a"]
    np.testing.assert_array_equal(big(["a b"]), [[6, 4, 5]])   # unigrams, then bigrams
    only2 = TextVectorization(ngrams=(2,), vocabulary=["a b", "b c"])
    np.testing.assert_array_equal(only2(["a b c d"]), [[2, 3, 1]])
    tab = TextVectorization(split=lambda a: [s.split("|") for s in a], standardize=None,
                            vocabulary=["x", "y z"])
    np.testing.assert_array_equal(tab(["y z|x"]), [[3, 2]])
    with pytest.raises(ValueError, match="ngrams"):
        TextVectorization(ngrams=[1, 2])
    with pytest.raises(ValueError, match="split"):
        TextVectorization(split="comma")


def test_multi_hot_count_tf_idf():
    hot = TextVectorization(output_mode="multi_hot")
    hot.adapt(SENTENCES)
    assert hot.get_vocabulary() == ["[UNK]", "the", "cat", "sat", "dog", "bird", "a"]
    x = np.array(["the the cat zebra", "a"])
    y = hot(x)
    np.testing.assert_array_equal(y, [[1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1]])
    assert y.dtype == np.float32
    count = TextVectorization(output_mode="count", vocabulary=["the", "cat"])
    np.testing.assert_array_equal(count(x), [[1, 2, 1], [1, 0, 0]])
    padded = TextVectorization(output_mode="count", vocabulary=["the"], max_tokens=4,
                               pad_to_max_tokens=True)
    np.testing.assert_array_equal(padded(["the x the"]), [[1, 2, 0, 0]])

    tfidf = TextVectorization(output_mode="tf_idf")
    tfidf.adapt(SENTENCES)
    # 3 documents: the in 2, cat in 2, sat/dog/bird/a in 1: idf = log(1 + 3 / (1 + df))
    w2, w1 = math.log(1 + 3 / 3), math.log(1 + 3 / 2)
    w_oov = (2 * w2 + 4 * w1) / 6
    np.testing.assert_allclose(tfidf(np.array(["the the cat zebra"])),
                               [[w_oov, 2 * w2, w2, 0, 0, 0, 0]], rtol=1e-6)
    given = TextVectorization(output_mode="tf_idf", vocabulary=["a", "b"], idf_weights=[1.0, 3.0])
    np.testing.assert_allclose(given(["b b q"]), [[2.0, 0.0, 6.0]])   # OOV: the mean 2.0
    with pytest.raises(ValueError, match="output_sequence_length"):
        TextVectorization(output_mode="multi_hot", output_sequence_length=3)
    with pytest.raises(ValueError, match="idf_weights"):
        TextVectorization(output_mode="tf_idf", vocabulary=["a"])


def test_bad_inputs_and_arguments():
    layer = TextVectorization(vocabulary=["a"])
    with pytest.raises(DataError, match="strings"):
        layer(np.array([1.0, 2.0]))
    with pytest.raises(DataError, match="shape"):
        layer(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="sparse"):
        TextVectorization(sparse=True)
    with pytest.raises(ValueError, match="ragged"):
        TextVectorization(ragged=True)
    with pytest.raises(ValueError, match="output_mode"):
        TextVectorization(output_mode="words")
    with pytest.raises(ValueError, match="output_sequence_length"):
        TextVectorization(output_sequence_length=0)
    with pytest.raises(ValueError, match="adapt"):
        layer.adapt(["a"])
    with pytest.raises(NotImplementedError, match="gradient"):
        layer.backward(np.ones((1, 1)))
    with pytest.raises(RuntimeError, match="vocabulary"):
        TextVectorization(output_mode="multi_hot")(["a"])
    np.testing.assert_array_equal(layer([b"a b"]), [[2, 1]])       # bytes decoded


def test_config_roundtrip():
    for kwargs in ({"output_sequence_length": 5, "max_tokens": 20},
                   {"output_mode": "tf_idf", "ngrams": (1, 2)},
                   {"output_mode": "count", "split": "character", "standardize": "lower"}):
        layer = TextVectorization(**kwargs)
        layer.adapt(SENTENCES)
        cfg = json.loads(json.dumps(layer.get_config()))
        clone = TextVectorization.from_config(cfg)
        x = np.array(["The cat, the dog and a fish", "bird"])
        np.testing.assert_array_equal(clone(x), layer(x))
        assert clone.get_vocabulary() == layer.get_vocabulary()
        assert clone.get_config() == layer.get_config()
    with pytest.raises(TypeError, match="callable"):
        TextVectorization(standardize=str.lower).get_config()


def test_keras_parity():
    keras = _keras()
    pytest.importorskip("tensorflow")
    for kwargs in ({"output_sequence_length": 7}, {"output_mode": "tf_idf", "ngrams": 2}):
        ref = keras.layers.TextVectorization(**kwargs)
        ref.adapt(SENTENCES)
        ours = TextVectorization(**kwargs)
        ours.adapt(SENTENCES)
        assert ours.get_vocabulary() == ref.get_vocabulary()
        x = np.array(["The cat, the dog and a fish!", "bird"])
        np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(ref(x)), rtol=1e-6)


def test_client_basic_text_classification():
    """Reads like the TensorFlow "basic text classification" tutorial, up to the
    vectorized reviews."""
    import nbnet as keras
    layers = keras.layers
    TV = getattr(layers, "TextVectorization", TextVectorization)

    train_text = np.array([
        "This movie was great! A <br />wonderful story.",
        "Terrible acting, terrible plot.<br /><br />A waste of time.",
        "A great cast, and a great story",
        "I fell asleep. Not great.",
    ])

    def custom_standardization(input_data):
        lowercase = np.char.lower(input_data)
        stripped_html = np.char.replace(lowercase, "<br />", " ")
        punctuation = "[%s]" % re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
        flat = [re.sub(punctuation, "", s) for s in stripped_html.ravel()]
        return np.array(flat).reshape(stripped_html.shape)

    max_features = 12
    sequence_length = 8
    vectorize_layer = TV(standardize=custom_standardization, max_tokens=max_features,
                         output_mode="int", output_sequence_length=sequence_length)
    vectorize_layer.adapt(train_text)

    def vectorize_text(text):
        return vectorize_layer(np.expand_dims(text, -1))

    vocab = vectorize_layer.get_vocabulary()
    # a x4 and great x4 ("great" > "a", so great first), terrible x2 and story x2, then
    # the words seen once, high to low ("waste" > "was"), up to 12 entries
    assert vocab == ["", "[UNK]", "great", "a", "terrible", "story", "wonderful", "waste",
                     "was", "time", "this", "plot"]
    first_review = train_text[:1]
    batch = vectorize_text(first_review)
    assert batch.shape == (1, sequence_length) and batch.dtype == np.int64
    # "this movie was great a wonderful story": movie is out of the vocabulary -> 1
    np.testing.assert_array_equal(batch, [[10, 1, 8, 2, 3, 6, 5, 0]])
    print("Vectorized review", batch)
    assert vocab[int(batch[0, 3])] == "great"
    np.testing.assert_array_equal(vectorize_text(np.array(["Terrible. Great?"])),
                                  [[4, 2, 0, 0, 0, 0, 0, 0]])
