"""keras-io's "structured data classification from scratch", with `import nbnet as
keras`: one Input per feature (float, int64 and string), Normalization / IntegerLookup /
StringLookup encoders adapted on the training columns, concatenated into a small
classifier; trained with fit on the column dict, saved and reloaded. The data: a
synthetic heart-disease-like table with a rule the model must learn."""
import numpy as np

import nbnet as keras
from nbnet import layers


def _table(n, seed):
    rng = np.random.default_rng(seed)
    age = rng.integers(29, 78, n).astype("float32")
    thal = rng.choice(np.array(["normal", "fixed", "reversible"], dtype=object), n)
    cp = rng.integers(0, 4, n)                      # chest pain type, an integer code
    risk = (age - 50) / 10 + (thal == "reversible") * 1.5 + (cp == 3) * 1.2 - 0.8
    target = (risk + 0.3 * rng.normal(size=n) > 0).astype("int64")
    return {"age": age, "thal": thal, "cp": cp}, target


def encode_numerical_feature(feature, name, data):
    normalizer = layers.Normalization()
    normalizer.adapt(np.expand_dims(data[name], -1))
    return normalizer(feature)


def encode_categorical_feature(feature, name, data, is_string):
    lookup_class = layers.StringLookup if is_string else layers.IntegerLookup
    lookup = lookup_class(output_mode="one_hot")
    lookup.adapt(np.expand_dims(data[name], -1))
    return lookup(feature)


def test_structured_data_classification(tmp_path):
    keras.utils.set_random_seed(0)
    train, y_train = _table(600, 0)
    test, y_test = _table(200, 1)
    # --- the example's model building, as published (features renamed) ---
    age = keras.Input(shape=(1,), name="age")
    thal = keras.Input(shape=(1,), name="thal", dtype="string")
    cp = keras.Input(shape=(1,), name="cp", dtype="int64")
    all_inputs = [age, thal, cp]
    age_encoded = encode_numerical_feature(age, "age", train)
    thal_encoded = encode_categorical_feature(thal, "thal", train, True)
    cp_encoded = encode_categorical_feature(cp, "cp", train, False)
    all_features = layers.concatenate([age_encoded, thal_encoded, cp_encoded])
    x = layers.Dense(32, activation="relu")(all_features)
    x = layers.Dropout(0.5)(x)
    output = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(all_inputs, output)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    # --- end ---
    model.fit(train, y_train, epochs=30, batch_size=32, validation_data=(test, y_test),
              verbose=0)
    loss, acc = model.evaluate(test, y_test, verbose=0)
    assert acc > 0.85, acc
    # one raw sample, as the example's inference step
    sample = {"age": np.array([70.0]), "thal": np.array(["reversible"], dtype=object),
              "cp": np.array([3])}
    assert model.predict(sample)[0, 0] > 0.9
    model.save(tmp_path / "heart.nbnet")
    back = keras.load_model(tmp_path / "heart.nbnet")
    np.testing.assert_array_equal(back.predict(test), model.predict(test))


def test_a_string_input_refuses_numbers_and_keeps_its_dtype():
    text = keras.Input(shape=(1,), dtype="string", name="t")
    out = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")(text)
    model = keras.Model(text, out)
    assert text.dtype == np.dtype(object)
    np.testing.assert_array_equal(model.predict(np.array(["b", "a", "zz"], dtype=object)),
                                  [[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    import pytest
    with pytest.raises(keras.DataError, match="takes strings"):
        model.predict(np.zeros((3, 1)))
    assert model.get_config()["layers"][0]["config"]["dtype"] == "string"
