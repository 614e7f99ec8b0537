"""stateful=True on SimpleRNN / LSTM / GRU / Bidirectional (Keras 3 semantics): the last
states of a call start the next one; reset_state() zeros them; a batch of another size
is refused until a reset; Keras 3 (torch backend) itself when it is installed."""
import os

import numpy as np
import pytest

import nbnet as nb
from nbnet import layers
from nbnet.layers import recurrent as R

F64 = dict(dtype="float64")
N, T, F, U = 4, 10, 3, 5
CELLS = ["SimpleRNN", "LSTM", "GRU"]


def _pair(name, seed=0, **kw):
    """A stateful layer and a plain one with the same weights."""
    x = np.random.default_rng(seed).normal(size=(N, T, F))
    plain = getattr(R, name)(U, return_sequences=True, return_state=True, **F64, **kw)
    plain(x)
    st = getattr(R, name)(U, return_sequences=True, return_state=True, stateful=True,
                          **F64, **kw)
    st(x)
    st.reset_state()
    st.set_weights(plain.get_weights())
    return x, plain, st


@pytest.mark.parametrize("name", CELLS)
def test_split_sequence_equals_whole(name):
    """Two calls on the halves of a sequence = one call on all of it, bitwise (the same
    steps from the same states)."""
    x, plain, st = _pair(name)
    whole = plain(x)
    first = st(x[:, :4])
    second = st(x[:, 4:])
    np.testing.assert_array_equal(np.concatenate([first[0], second[0]], axis=1), whole[0])
    for a, b in zip(second[1:], whole[1:]):   # final states
        np.testing.assert_array_equal(a, b)
    for held, b in zip(st.states, whole[1:]):
        np.testing.assert_array_equal(held, b)
    # without stateful the second half would start from zeros: it differs
    assert not np.allclose(plain(x[:, 4:])[0], second[0])


@pytest.mark.parametrize("name", CELLS)
def test_reset_state_and_batch_size(name):
    x, plain, st = _pair(name)
    st(x)
    assert all(np.abs(s).max() > 0 for s in st.states)
    st.reset_state()
    assert all(np.abs(s).max() == 0 for s in st.states)
    np.testing.assert_array_equal(st(x)[0], plain(x)[0])   # from zeros again
    with pytest.raises(ValueError, match=r"batch of 4 sequences, got a batch of 2"):
        st(x[:2])
    st.reset_states()   # Keras' alias; after a reset another batch size may start
    np.testing.assert_array_equal(st(x[:2])[0], plain(x[:2])[0])
    assert st.states[0].shape == (2, U)


def test_initial_state_replaces_held_states():
    x, plain, st = _pair("LSTM")
    st(x)
    h0 = [np.full((N, U), 0.3), np.full((N, U), -0.2)]
    got = st(x, initial_state=h0)
    want = plain(x, initial_state=h0)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(st.states[1], want[2])


@pytest.mark.parametrize("name", CELLS)
def test_gradient_holds_the_carried_state_fixed(name):
    """backward of a stateful call = backward of a plain call given the held states as
    initial_state (no gradient flows into the previous batch); only dx is returned."""
    x, plain, st = _pair(name, seed=3)
    st(x[:, :3])
    held = [s.copy() for s in st.states]
    out = st.forward(x[:, 3:], training=True)
    dys = [np.random.default_rng(5).normal(size=o.shape) for o in out]
    dx = st.backward(dys)
    plain.forward([x[:, 3:]] + held, training=True)
    want = plain.backward(dys)
    assert isinstance(dx, np.ndarray)
    np.testing.assert_array_equal(dx, want[0])
    for a, b in zip(st.weights, plain.weights):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_bidirectional_and_model_reset():
    x = np.random.default_rng(1).normal(size=(N, T, F))
    bi = layers.Bidirectional(R.LSTM(U, stateful=True, **F64), **F64)
    model = nb.Sequential([nb.Input(shape=(T, F), batch_size=N), bi, layers.Dense(2, **F64)])
    first = model.predict_on_batch(x)
    assert bi.forward_layer.stateful and bi.backward_layer.stateful
    assert not np.allclose(model.predict_on_batch(x), first)   # started from the states
    model.reset_states()
    assert all(np.abs(s).max() == 0 for l in bi._wrapped() for s in l.states)
    np.testing.assert_array_equal(model.predict_on_batch(x), first)
    model.predict_on_batch(x)
    bi.reset_state()   # zeros both directions
    np.testing.assert_array_equal(model.predict_on_batch(x), first)


def test_fit_carries_states_across_batches_and_config_roundtrip(tmp_path):
    """fit(shuffle=False) on a stateful model: batch k starts from batch k-1's states,
    so the result differs from the same model without stateful; save / load keeps the
    flag (the states are not weights: not saved, as in Keras)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 6, F)).astype(np.float32), rng.integers(0, 2, 8)

    def run(stateful):
        nb.utils.set_random_seed(7)
        m = nb.Sequential([nb.Input(shape=(6, F), batch_size=4),
                           layers.LSTM(U, stateful=stateful, seed=1), layers.Dense(2)])
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        return m

    a, b = run(True), run(False)
    assert a.layers[0].states[0].shape == (4, U)
    assert not np.allclose(a.get_weights()[0], b.get_weights()[0])
    path = str(tmp_path / "m.keras")
    a.save(path)
    back = nb.models.load_model(path)
    assert back.layers[0].stateful and back.layers[0].states is None
    assert len(back.get_weights()) == len(a.get_weights())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_stateful_parity():
    """Keras 3 (torch backend): two consecutive calls of a stateful LSTM / GRU from the
    same weights give the same outputs as nbnet's."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("keras runs another backend in this process")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    for name in ("LSTM", "GRU", "SimpleRNN"):
        inp = keras.Input(shape=(T, F), batch_size=N)
        kl = getattr(keras.layers, name)(U, stateful=True, return_sequences=True)
        keras.Model(inp, kl(inp))
        ours = getattr(R, name)(U, stateful=True, return_sequences=True)
        ours(x)
        ours.reset_state()
        ours.set_weights([keras.ops.convert_to_numpy(w) for w in kl.weights])
        for _ in range(2):
            want = keras.ops.convert_to_numpy(kl(x))
            np.testing.assert_allclose(ours(x), want, rtol=1e-5, atol=1e-5)
        kl.reset_state()
        ours.reset_state()
        np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(kl(x)),
                                   rtol=1e-5, atol=1e-5)
