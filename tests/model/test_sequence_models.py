"""Sequence models on real and synthetic data (issue 15): an LSTM classifier on the
digits read as 8 steps of 8 pixels, an Embedding + Bidirectional(LSTM) model on a task
that needs the order of the tokens, a windowed forecast of the monthly sunspot numbers
against the seasonal-naive forecast; bitwise-identical training at 1 and 2 threads and
an exact save / load / resume for a model with Embedding, LSTM and LayerNormalization."""
import numba
import numpy as np
import pytest

import nbnet as nb
from nbnet import layers as L


def _split(n, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(n)
    k = int(n * test_fraction)
    return order[k:], order[:k]


def test_lstm_reads_digits_as_sequences():
    """The issue's bar: at least 97 % test accuracy (a fifth of the digits held out).
    Measured over seeds 0-2: nbnet 98.1, 98.6, 97.5 %; Keras 3.15 (torch backend), the
    same model, split and settings: 99.2, 95.8, 98.1 % (seed 0 is the one tested)."""
    nb.utils.set_random_seed(0)
    d = nb.datasets.load_digits(as_sequences=True)
    assert d.x.shape == (1797, 8, 8)
    np.testing.assert_array_equal(d.x[:, 2], nb.datasets.load_digits().x[:, 16:24])
    tr, te = _split(len(d.x), 0.2, 0)
    model = nb.Sequential([nb.Input((8, 8)), L.LSTM(64), L.Dense(10, activation="softmax")])
    model.compile(nb.optimizers.Adam(0.005), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(d.x[tr], d.y[tr], epochs=30, batch_size=32, verbose=0)
    _, acc = model.evaluate(d.x[te], d.y[te], verbose=0)
    assert acc >= 0.97, acc


def _marked_pairs(n, rng, length=12):
    """Token sequences (values 1..9, marker 10 before each of two values, zero padding
    after a random length); label: the first marked value is greater than the second.
    The same tokens in another order can have the other label: a bag of words cannot
    tell."""
    x = np.zeros((n, length))
    y = np.zeros(n)
    for i in range(n):
        m = rng.integers(6, length + 1)
        seq = rng.integers(1, 10, size=m)
        a = rng.integers(0, m - 3)
        b = rng.integers(a + 2, m - 1)     # b + 1 <= m - 1: both marks have a value
        seq[a] = seq[b] = 10
        while seq[b + 1] == seq[a + 1]:
            seq[b + 1] = rng.integers(1, 10)
        x[i, :m] = seq
        y[i] = float(seq[a + 1] > seq[b + 1])
    return x, y


def test_bidirectional_lstm_learns_a_task_that_needs_order():
    rng = np.random.default_rng(1)
    x, y = _marked_pairs(3000, rng)
    tr, te = slice(0, 2400), slice(2400, None)

    def fit(body, seed=0):
        nb.utils.set_random_seed(seed)
        model = nb.Sequential([nb.Input((12,)), L.Embedding(11, 16, mask_zero=True)] + body +
                              [L.Dense(1, activation="sigmoid")])
        model.compile(nb.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
        model.fit(x[tr], y[tr], epochs=15, batch_size=64, verbose=0)
        return model.evaluate(x[te], y[te], verbose=0)[1]

    acc = fit([L.Bidirectional(L.LSTM(16))])
    bag = fit([L.GlobalAveragePooling1D(), L.Dense(16, activation="relu")])
    assert acc >= 0.9, acc
    assert bag < 0.8 and acc > bag + 0.15, (acc, bag)


def test_sunspot_forecast_beats_seasonal_naive():
    """Next month from the 24 months before, trained on 1749-1969, tested on the 474
    held-out months from 1970 on: the mean absolute error is well below that of the
    seasonal-naive forecast (the same month a year before: 28.3); measured 12.8-13.1
    over 3 seeds (the last month's value, persistence, gives 14.0)."""
    months, v = nb.datasets.load_sunspots(dtype="float64")
    assert len(months) == 3126 and months[0] == "1749-01" and months[-1] == "2009-06"
    assert v[0] == 58.0 and v.min() == 0.0
    mean, std = v[:2652].mean(), v[:2652].std()
    z = ((v - mean) / std).astype(np.float32)[:, None]
    win, split = 24, months.index("1970-01")
    train = nb.utils.timeseries_dataset_from_array(z[:split], z[win:split, 0], win,
                                                   batch_size=64, shuffle=True, seed=0)
    test_x = np.stack([z[t - win:t] for t in range(split, len(z))])
    nb.utils.set_random_seed(0)
    model = nb.Sequential([nb.Input((win, 1)), L.LSTM(32), L.Dense(1)])
    model.compile(nb.optimizers.Adam(0.003), "mse")
    model.fit(train, epochs=12, verbose=0)
    pred = model.predict(test_x, verbose=0)[:, 0] * std + mean
    truth = v[split:]
    mae = np.abs(pred - truth).mean()
    naive = np.abs(v[split - 12:len(v) - 12] - truth).mean()
    assert mae < 0.6 * naive, (mae, naive)


def _seq_model():
    return nb.Sequential([nb.Input((10,)), L.Embedding(20, 8, mask_zero=True),
                          L.LSTM(16, return_sequences=True, dropout=0.1),
                          L.LayerNormalization(), L.GlobalAveragePooling1D(),
                          L.Dense(3, activation="softmax")])


def _seq_data():
    rng = np.random.default_rng(2)
    x = rng.integers(1, 20, size=(256, 10)).astype(np.float32)
    for i, n in enumerate(rng.integers(3, 11, size=256)):
        x[i, n:] = 0
    return x, rng.integers(0, 3, size=256)


def _train_seq(threads):
    old = numba.get_num_threads()
    nb.set_num_threads(threads)
    try:
        nb.utils.set_random_seed(5)
        x, y = _seq_data()
        model = _seq_model()
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=64, verbose=0)
        return model.get_weights(), model.predict(x, verbose=0)
    finally:
        nb.set_num_threads(old)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_embedding_lstm_layernorm_bitwise_at_1_and_2_threads():
    (w1, p1), (w2, p2) = _train_seq(1), _train_seq(2)
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert np.array_equal(p1, p2)


def test_embedding_lstm_layernorm_save_load_resume_bitwise(tmp_path):
    x, y = _seq_data()
    nb.utils.set_random_seed(6)
    ref = _seq_model()
    ref.compile("adam", "sparse_categorical_crossentropy")
    ref.fit(x, y, epochs=4, batch_size=64, verbose=0)

    nb.utils.set_random_seed(6)
    half = _seq_model()
    half.compile("adam", "sparse_categorical_crossentropy")
    half.fit(x, y, epochs=2, batch_size=64, verbose=0)
    half.save(tmp_path / "half.nbnet")
    loaded = nb.load_model(tmp_path / "half.nbnet")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), half.predict(x, verbose=0))
    loaded.fit(x, y, epochs=4, initial_epoch=2, batch_size=64, verbose=0)
    for a, b in zip(ref.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
