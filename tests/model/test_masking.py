"""Keras 3 masking through models: Embedding(mask_zero=True) and Masking make a mask
(batch, time) that recurrent layers and GlobalAveragePooling1D read, layers that
support masking pass on, and the loss and metrics of a sequence output respect."""
import numpy as np
import pytest

import nbnet as nb
from nbnet import layers as L


def _padded(seqs, length, pre=False):
    out = np.zeros((len(seqs), length))
    for i, s in enumerate(seqs):
        if pre:
            out[i, length - len(s):] = s
        else:
            out[i, :len(s)] = s
    return out


def _seqs(rng, n=6, vocab=9, lo=2, hi=7):
    return [rng.integers(1, vocab, size=rng.integers(lo, hi)) for _ in range(n)]


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("pre", [False, True])
def test_padded_steps_change_nothing(cell, pre):
    """A masked step keeps the state: the final state of a padded sequence is that of
    the sequence alone (post- and pre-padding)."""
    rng = np.random.default_rng(0)
    seqs = _seqs(rng)
    inp = nb.Input((8,))
    emb = L.Embedding(10, 4, mask_zero=True, dtype="float64")
    rnn = getattr(L, cell)(5, dtype="float64")
    model = nb.Model(inp, rnn(emb(inp)))
    got = model.predict(_padded(seqs, 8, pre), verbose=0)
    for i, s in enumerate(seqs):   # each sequence alone, no padding, no mask
        alone = rnn(emb(np.asarray(s, dtype=np.float64)[None]))
        np.testing.assert_allclose(got[i], alone[0], rtol=1e-12, atol=1e-14)


def test_masking_layer_and_sequential():
    """Masking(0.0) in a Sequential: rows of zeros are skipped as Embedding's zeros are."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 7, 3))
    lengths = [7, 3, 5, 1, 6]
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0
    rnn = L.LSTM(4, dtype="float64")
    model = nb.Sequential([nb.Input((7, 3)), L.Masking(0.0, dtype="float64"), rnn])
    got = model.predict(x, verbose=0)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(got[i], rnn(x[i:i + 1, :n])[0], rtol=1e-12, atol=1e-14)


def test_global_average_pooling_reads_the_mask():
    rng = np.random.default_rng(2)
    seqs = _seqs(rng)
    x = _padded(seqs, 8)
    emb = L.Embedding(10, 3, mask_zero=True, dtype="float64")
    # NOTE: all float64: a float32 pooling layer made this fail on one draw of the
    # unseeded embedding (a mean near zero of values near 1e-2: 3e-6 relative error)
    model = nb.Sequential([nb.Input((8,)), emb, L.GlobalAveragePooling1D(dtype="float64")])
    got = model.predict(x, verbose=0)
    table = emb.get_weights()[0]
    want = np.stack([table[s].mean(axis=0) for s in seqs])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_mask_passes_dense_and_ends_at_layers_without_masking():
    """Dense supports masking in Keras 3 (its output keeps the mask); Flatten does not."""
    rng = np.random.default_rng(3)
    x = _padded(_seqs(rng), 8)
    m = nb.Sequential([nb.Input((8,)), L.Embedding(10, 3, mask_zero=True), L.Dense(4)])
    m.predict(x, verbose=0)
    m._forward(x.astype(np.float32), training=False)
    np.testing.assert_array_equal(m.output_mask, x != 0)
    m2 = nb.Sequential([nb.Input((8,)), L.Embedding(10, 3, mask_zero=True), L.Flatten()])
    m2._forward(x.astype(np.float32), training=False)
    assert m2.output_mask is None


def test_sequence_loss_and_accuracy_skip_masked_steps():
    """Keras 3 (losses.loss.apply_mask): the loss of a masked sequence output is the mean
    over the real steps; sparse accuracy counts the real steps only; the gradient
    matches finite differences of that loss."""
    rng = np.random.default_rng(4)
    seqs = _seqs(rng, n=7)
    x = _padded(seqs, 8)
    y = rng.integers(0, 3, size=(7, 8))
    model = nb.Sequential([nb.Input((8,)), L.Embedding(10, 4, mask_zero=True),
                           L.LSTM(6, return_sequences=True), L.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(x, y, verbose=0, batch_size=64)
    p = model.predict(x, verbose=0).astype(np.float64)
    real = x != 0
    nll = -np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])
    np.testing.assert_allclose(loss, nll[real].mean(), rtol=1e-5)
    np.testing.assert_allclose(acc, (p.argmax(-1) == y)[real].mean(), rtol=1e-12)


def test_masked_sequence_loss_gradient_float64():
    rng = np.random.default_rng(5)
    seqs = _seqs(rng, n=4)
    x = _padded(seqs, 6)
    y = rng.integers(0, 3, size=(4, 6))
    sw = rng.uniform(0.5, 2.0, size=4)
    model = nb.Sequential([nb.Input((6,)), L.Embedding(10, 3, mask_zero=True, dtype="float64"),
                           L.GRU(4, return_sequences=True, dtype="float64"),
                           L.Dense(3, activation="softmax", dtype="float64")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model._ensure_packed()
    model._prepare_loss()
    xb = x.astype(np.float64)

    def loss():
        out = model._forward(xb, training=False)
        return model._loss_and_grads(out, y, sw, False)[0]

    out = model._forward(xb, training=True)
    _, grads = model._loss_and_grads(out, y, sw, True)
    model._backward(grads[0])
    g = model._flat_g[:model._n_trainable].copy()
    w = model._flat_w
    for i in np.random.default_rng(0).choice(model._n_trainable, 25, replace=False):
        old = w[i]
        w[i] = old + 1e-6
        lp = loss()
        w[i] = old - 1e-6
        lm = loss()
        w[i] = old
        np.testing.assert_allclose(g[i], (lp - lm) / 2e-6, rtol=1e-5, atol=1e-9)
    # the value: Keras' sum(w * mask * l) / (number of real steps)
    p = model.predict(xb, verbose=0)
    nll = -np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])
    real = x != 0
    want = (nll * real * sw[:, None]).sum() / real.sum()
    np.testing.assert_allclose(loss(), want, rtol=1e-10)


def test_sparse_labels_per_step_are_checked():
    model = nb.Sequential([nb.Input((5, 2)), L.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.zeros((4, 5, 2))
    with pytest.raises(nb.errors.DataError, match=r"\(N, 5\)"):
        model.fit(x, np.zeros((4, 3)), verbose=0)
    with pytest.raises(nb.errors.DataError, match="out of range"):
        model.fit(x, np.full((4, 5), 3), verbose=0)


def test_functional_return_state_and_initial_state():
    """An encoder's states start a decoder (the Keras seq2seq pattern); both get
    gradients (finite differences at float64 through the states)."""
    rng = np.random.default_rng(6)
    enc_in, dec_in = nb.Input((5, 3)), nb.Input((4, 2))
    _, h, c = L.LSTM(4, return_state=True, dtype="float64", name="enc")(enc_in)
    seq = L.LSTM(4, return_sequences=True, dtype="float64", name="dec")(dec_in, initial_state=[h, c])
    out = L.Dense(2, dtype="float64", name="out")(seq)
    model = nb.Model([enc_in, dec_in], out)
    model.compile("sgd", "mse")
    xa, xb = rng.normal(size=(3, 5, 3)), rng.normal(size=(3, 4, 2))
    y = rng.normal(size=(3, 4, 2))
    model._ensure_packed()
    model._prepare_loss()

    def loss():
        o = model._forward([xa, xb], training=False)
        return model._loss_and_grads(o, y, None, False)[0]

    o = model._forward([xa, xb], training=True)
    _, grads = model._loss_and_grads(o, y, None, True)
    model._backward(grads[0])
    g = model._flat_g[:model._n_trainable].copy()
    enc_w = {id(w) for w in model.get_layer("enc").weights}
    w = model._flat_w
    assert any(id(v) in enc_w for v in model.trainable_weights)
    checked = 0
    for i in np.random.default_rng(1).choice(model._n_trainable, 30, replace=False):
        old = w[i]
        w[i] = old + 1e-6
        lp = loss()
        w[i] = old - 1e-6
        lm = loss()
        w[i] = old
        np.testing.assert_allclose(g[i], (lp - lm) / 2e-6, rtol=1e-5, atol=1e-10)
        checked += 1
    enc_g = np.concatenate([wt.grad.reshape(-1) for wt in model.get_layer("enc").weights])
    assert np.abs(enc_g).max() > 0   # the encoder learns through the states
    # the config round trip keeps the state wiring
    clone = nb.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict([xa, xb], verbose=0),
                                  model.predict([xa, xb], verbose=0))
