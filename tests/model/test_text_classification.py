"""The TensorFlow "basic text classification" tutorial's model, as its client code
reads, with `import nbnet as keras`: TextVectorization on raw strings, Embedding,
Dropout, GlobalAveragePooling1D, Dropout, Dense(1) on logits, then the export model
that takes raw strings (vectorizer + model + sigmoid). Small local reviews in the
tutorial's format (HTML line breaks, punctuation) stand in for the IMDB download;
sequences of 32 tokens instead of 250 for reviews of 7-11 words. Keras 3.15 (torch
backend) with the same model, settings and token ids: 100 % test accuracy at seeds 0-2,
as nbnet."""
import re

import numpy as np


def _reviews(n, rng):
    good = ["great", "wonderful", "loved", "superb", "fun", "moving"]
    bad = ["terrible", "boring", "awful", "waste", "bad", "dull"]
    filler = ["the", "movie", "plot", "acting", "story", "was", "a", "and", "it", "cast"]
    text, y = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(filler, size=rng.integers(5, 10)))
        for w in rng.choice(good if label else bad, size=2):
            words.insert(int(rng.integers(0, len(words) + 1)), w)
        s = " ".join(words).capitalize()
        s = s.replace(" the ", " the<br /> ", 1) + rng.choice(["!", ".", "?!", "..."])
        text.append(s)
        y.append(label)
    return np.array(text), np.array(y)


def test_basic_text_classification_tutorial_model():
    import nbnet as keras
    from nbnet import layers, losses

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    raw_train, y_train = _reviews(1000, rng)
    raw_test, y_test = _reviews(200, rng)

    def custom_standardization(input_data):
        lowercase = np.char.lower(input_data)
        stripped_html = np.char.replace(lowercase, "<br />", " ")
        punctuation = "[%s]" % re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
        flat = [re.sub(punctuation, "", s) for s in stripped_html.ravel()]
        return np.array(flat).reshape(stripped_html.shape)

    max_features = 10000
    sequence_length = 32
    vectorize_layer = layers.TextVectorization(
        standardize=custom_standardization, max_tokens=max_features,
        output_mode="int", output_sequence_length=sequence_length)
    vectorize_layer.adapt(raw_train)

    def vectorize_text(text):
        return vectorize_layer(np.expand_dims(text, -1))

    train_ds, test_ds = vectorize_text(raw_train), vectorize_text(raw_test)
    assert train_ds.shape == (1000, sequence_length)

    embedding_dim = 16
    model = keras.Sequential([
        layers.Embedding(max_features, embedding_dim),
        layers.Dropout(0.2),
        layers.GlobalAveragePooling1D(),
        layers.Dropout(0.2),
        layers.Dense(1)])
    model.compile(loss=losses.BinaryCrossentropy(from_logits=True), optimizer="adam",
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)])
    history = model.fit(train_ds, y_train, validation_data=(test_ds, y_test), epochs=20,
                        verbose=0)
    loss, accuracy = model.evaluate(test_ds, y_test, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy >= 0.95, accuracy

    export_model = keras.Sequential([vectorize_layer, model, layers.Activation("sigmoid")])
    export_model.compile(loss=losses.BinaryCrossentropy(from_logits=False),
                         optimizer="adam", metrics=["accuracy"])
    _, raw_acc = export_model.evaluate(raw_test, y_test, verbose=0)
    np.testing.assert_allclose(raw_acc, accuracy, atol=1e-12)
    p = export_model.predict(np.array(["The movie was great!", "The movie was terrible..."]),
                             verbose=0)
    assert p.shape == (2, 1) and p[0, 0] > 0.5 > p[1, 0]
