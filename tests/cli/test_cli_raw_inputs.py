"""nbnet evaluate / predict on models saved from Python whose input is raw: strings for a
TextVectorization / StringLookup model, integers for an IntegerLookup model. The CSV's
first columns are handed over as written; the column after them is the target."""
import numpy as np

import nbnet as nb
from clitools import read_csv, write_csv

GOOD = ["great film loved it", "wonderful acting great story", "loved the music",
        "a great joy", "wonderful, simply wonderful"]
BAD = ["awful film hated it", "boring story bad acting", "hated the music",
       "a dull mess", "bad, simply bad"]


def _text_model(tmp_path):
    rng = np.random.default_rng(0)
    texts = np.array(GOOD * 8 + BAD * 8, dtype=object)[:, None]
    y = np.array([1.0] * 40 + [0.0] * 40)
    order = rng.permutation(80)
    inp = nb.Input(shape=(1,), dtype="string")
    vec = nb.layers.TextVectorization(max_tokens=40, output_sequence_length=6)
    vec.adapt(texts[:, 0])
    h = nb.layers.Embedding(40, 8)(vec(inp))
    h = nb.layers.GlobalAveragePooling1D()(h)
    out = nb.layers.Dense(1, activation="sigmoid")(h)
    model = nb.Model(inp, out)
    model.compile(optimizer=nb.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(texts[order], y[order], epochs=30, batch_size=16, verbose=0)
    path = tmp_path / "text.keras"
    model.save(path)
    return model, str(path)


def test_predict_and_evaluate_a_string_model(nbnet, tmp_path):
    model, path = _text_model(tmp_path)
    rows = [["great story loved it", 1], ["a dull boring mess", 0],
            ["wonderful music", 1], ["hated it, awful", 0]]
    data = write_csv(tmp_path / "reviews.csv", ["review", "liked"], rows)
    run = nbnet("predict", path, data)
    assert run.code == 0, run
    header, out = read_csv(run.stdout, from_text=True)
    assert header == ["prediction"]
    want = model.predict(np.array([[r[0]] for r in rows], dtype=object), verbose=0).ravel()
    np.testing.assert_allclose([float(r[0]) for r in out], want, rtol=1e-6)
    assert [float(r[0]) > 0.5 for r in out] == [True, False, True, False]
    run = nbnet("evaluate", path, data)
    assert run.code == 0, run
    assert "4 samples" in run.stdout and "accuracy: 1.0000" in run.stdout, run.stdout
    # without the target column: predict works, evaluate says what is missing
    noy = write_csv(tmp_path / "noy.csv", ["review"], [[r[0]] for r in rows])
    assert nbnet("predict", path, noy).code == 0
    run = nbnet("evaluate", path, noy)
    assert run.code == 2 and "no target column" in run.stderr and "noy.csv" in run.stderr, run
    # too many columns
    wide = write_csv(tmp_path / "wide.csv", ["a", "b", "c"], [["x", "y", 1]])
    run = nbnet("predict", path, wide)
    assert run.code == 2 and "3 columns" in run.stderr and "wide.csv" in run.stderr, run
    # text labels cannot be targets of a model saved from Python
    words = write_csv(tmp_path / "words.csv", ["review", "liked"], [["great", "yes"]])
    run = nbnet("evaluate", path, words)
    assert run.code == 2 and "line 2" in run.stderr and "'yes'" in run.stderr, run


def test_predict_an_integer_lookup_model(nbnet, tmp_path):
    inp = nb.Input(shape=(2,), dtype="int64")
    hot = nb.layers.IntegerLookup(vocabulary=[3, 7, 11], output_mode="multi_hot")(inp)
    model = nb.Model(inp, hot)             # multi_hot over [OOV, 3, 7, 11]
    path = str(tmp_path / "ids.keras")
    model.save(path)
    data = write_csv(tmp_path / "ids.csv", ["a", "b"], [[3, 11], [7, 7], [5, 3]])
    run = nbnet("predict", path, data)
    assert run.code == 0, run
    header, out = read_csv(run.stdout, from_text=True)
    assert header == [f"prediction_{i}" for i in range(4)]
    np.testing.assert_array_equal(np.array(out, dtype=float),
                                  [[0, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 0]])
    bad = write_csv(tmp_path / "bad.csv", ["a", "b"], [[3, 11], [7, "seven"]])
    run = nbnet("predict", path, bad)
    assert run.code == 2 and "line 3" in run.stderr and "'seven'" in run.stderr, run


def test_profile_models_with_raw_inputs(nbnet, tmp_path):
    _, path = _text_model(tmp_path)
    run = nbnet("profile", path, "--steps", "2", "--batch-size", "16")
    assert run.code == 0, run
    assert "TextVectorization" in run.stdout and "Embedding" in run.stdout, run.stdout
    # the synthetic inputs are the readers' own tokens (and one unseen), as the input takes
    model = nb.load_model(path)
    x, y = nb.profiler.synthetic_data(model, 32)
    assert x.shape == (32, 1) and x.dtype == object
    vocab = set(model.layers[1].get_vocabulary(include_special_tokens=False)) | {"unseen-token"}
    assert all(len(s.split()) == 8 and set(s.split()) <= vocab for s in x[:, 0])
    inp = nb.Input(shape=(3,), dtype="int64")
    out = nb.layers.Dense(1)(nb.layers.IntegerLookup(vocabulary=[4, 9],
                                                     output_mode="multi_hot")(inp))
    ids = nb.Model(inp, out)
    ids.compile("adam", "mse")
    x, _ = nb.profiler.synthetic_data(ids, 50)
    assert x.dtype == np.int64 and set(np.unique(x)) <= {4, 9, 10}
    ids.save(tmp_path / "ids.keras")
    run = nbnet("profile", tmp_path / "ids.keras", "--steps", "2")
    assert run.code == 0 and "IntegerLookup" in run.stdout, run
