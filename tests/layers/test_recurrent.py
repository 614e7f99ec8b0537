"""SimpleRNN, LSTM, GRU: shapes, float64 finite-difference gradients through time (inputs,
kernel, recurrent kernel, bias) with and without a mask, go_backwards,
return_sequences, return_state and initial_state, dropout, config round trip, Keras
weight shapes, and bitwise equality at 1 and 2 threads."""
import functools

import numba
import numpy as np
import pytest

import nbnet as nb
from nbnet.layers import recurrent as R
from tests.helpers import check_layer, check_layer_grad, numeric_grad

GRU_V1 = functools.partial(R.GRU, reset_after=False)   # the reset gate before R_h
CLASSES = [R.SimpleRNN, R.LSTM, R.GRU, GRU_V1]
F64 = dict(dtype="float64")


def _mask(N=3, T=5, seed=1):
    m = np.random.default_rng(seed).random((N, T)) > 0.35
    m[0, 0] = False   # a sequence starting masked (output zero there)
    m[1, :] = True
    return m


def _init_bias_random(layer, x):
    layer(x)  # build
    b = layer.bias.value
    b[...] = np.random.default_rng(9).normal(size=b.shape) * 0.3


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: getattr(c, "__name__", "GRU_v1"))
@pytest.mark.parametrize("kw", [dict(), dict(return_sequences=True),
                                dict(go_backwards=True, return_sequences=True),
                                dict(go_backwards=True)])
def test_check_layer(cls, kw):
    layer = cls(4, **kw, **F64)
    x = np.random.default_rng(0).normal(size=(3, 5, 2))
    _init_bias_random(layer, x)
    check_layer(layer, (3, 5, 2), x=x)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: getattr(c, "__name__", "GRU_v1"))
@pytest.mark.parametrize("kw", [dict(return_sequences=True), dict(),
                                dict(return_sequences=True, go_backwards=True),
                                dict(return_sequences=True, zero_output_for_mask=True)])
def test_masked_gradients(cls, kw):
    layer = cls(3, **kw, **F64)
    x = np.random.default_rng(2).normal(size=(3, 5, 2))
    _init_bias_random(layer, x)
    check_layer_grad(layer, x, mask=_mask())


def test_mask_semantics():
    """A masked step keeps the state: the output equals that of the sequence with the
    masked steps removed; masked outputs repeat the previous one (zeros before any)."""
    layer = R.GRU(3, return_sequences=True, **F64)
    x = np.random.default_rng(3).normal(size=(1, 6, 2))
    m = np.array([[False, True, True, False, True, False]])
    y = layer(x, mask=m)
    y_short = layer(x[:, m[0]])
    np.testing.assert_allclose(y[0, [1, 2, 4]], y_short[0], rtol=1e-12)
    np.testing.assert_array_equal(y[0, 0], 0)
    np.testing.assert_array_equal(y[0, 3], y[0, 2])
    np.testing.assert_array_equal(y[0, 5], y[0, 4])
    last = R.GRU(3, **F64)
    last(x)
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(x, mask=m), y_short[:, -1], rtol=1e-12)
    z = R.GRU(3, return_sequences=True, zero_output_for_mask=True, **F64)
    z(x)
    z.set_weights(layer.get_weights())
    yz = z(x, mask=m)
    np.testing.assert_array_equal(yz[0, [0, 3, 5]], 0)
    np.testing.assert_array_equal(yz[0, [1, 2, 4]], y[0, [1, 2, 4]])
    assert layer.compute_mask(x, m) is m and last.compute_mask(x, m) is None


def test_go_backwards_is_reversed_input():
    layer = R.LSTM(3, return_sequences=True, go_backwards=True, **F64)
    x = np.random.default_rng(4).normal(size=(2, 5, 2))
    y = layer(x)
    fwd = R.LSTM(3, return_sequences=True, **F64)
    fwd(x)
    fwd.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, fwd(x[:, ::-1]), rtol=1e-12)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: getattr(c, "__name__", "GRU_v1"))
@pytest.mark.parametrize("seq", [False, True])
def test_state_gradients(cls, seq):
    """return_state and initial_state: L = sum(y r0) + sum(h r1) (+ sum(c r2)); gradients
    w.r.t. x, h0, (c0) and the weights against finite differences."""
    rng = np.random.default_rng(5)
    layer = cls(3, return_state=True, return_sequences=seq, **F64)
    x = rng.normal(size=(2, 4, 2))
    _init_bias_random(layer, x)
    states = [rng.normal(size=(2, 3)) * 0.5 for _ in range(layer.n_states)]
    m = _mask(2, 4, seed=7)
    outs = layer(x, initial_state=states, mask=m)
    assert isinstance(outs, list) and len(outs) == 1 + layer.n_states
    shapes = layer.compute_output_shape((None, 4, 2))
    assert [o.shape[1:] for o in outs] == [tuple(s[1:]) for s in shapes]
    rs = [rng.normal(size=o.shape) for o in outs]

    def loss():
        return sum(float(np.sum(o * r)) for o, r in zip(layer.forward([x] + states, True, m), rs))

    layer.forward([x] + states, True, m)
    grads = [np.array(g, copy=True) for g in layer.backward([r.copy() for r in rs])]
    wgrads = [w.grad.copy() for w in layer.trainable_weights]
    for arr, g in zip([x] + states, grads):
        idx, num = numeric_grad(loss, arr)
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)
    for w, g in zip(layer.trainable_weights, wgrads):
        idx, num = numeric_grad(loss, w.value)
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)
    # None = zero gradient for a state
    layer.forward([x] + states, True, m)
    g2 = layer.backward([rs[0]] + [None] * layer.n_states)
    layer.forward([x] + states, True, m)
    g3 = layer.backward([rs[0]] + [np.zeros_like(r) for r in rs[1:]])
    for a, b in zip(g2, g3):
        np.testing.assert_array_equal(a, b)


def test_final_state_is_last_output():
    layer = R.LSTM(3, return_state=True, **F64)
    y, h, c = layer(np.random.default_rng(6).normal(size=(2, 4, 2)))
    np.testing.assert_array_equal(y, h)
    assert c.shape == (2, 3)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: getattr(c, "__name__", "GRU_v1"))
@pytest.mark.parametrize("rdrop", [0.3, 0.0])
def test_dropout(cls, rdrop):
    """Masks per sample for all steps, from (seed, step): as Keras 3, with
    recurrent_dropout an LSTM / GRU draws one input and one recurrent mask per gate
    (implementation 1), else one input mask for all gates; gradients at a fixed step
    match finite differences (input, kernel, recurrent kernel, bias; with a mask)."""
    layer = cls(3, dropout=0.3, recurrent_dropout=rdrop, seed=11, return_sequences=True,
                **F64)
    x = np.random.default_rng(7).normal(size=(4, 5, 6))
    layer(x)
    y1 = layer.forward(x, training=True, step=3).copy()
    y2 = layer.forward(x, training=True, step=3).copy()
    np.testing.assert_array_equal(y1, y2)
    G = 1 if layer.CELL == R.K.SIMPLE or rdrop == 0 else {R.K.LSTM: 4}.get(layer.CELL, 3)
    xt = layer._fw["xt"]
    assert xt.shape == (5, 4, 6 * G)
    ratios = [xt[:, :, g * 6:(g + 1) * 6] / x.transpose(1, 0, 2) for g in range(G)]
    for ratio in ratios:   # the same mask at every step, values 0 or 1 / (1 - rate)
        assert np.allclose(ratio, ratio[0])
        assert set(np.round(np.unique(ratio), 6)) <= {0, round(1 / 0.7, 6)}
    for a in ratios[1:]:   # independent masks per gate
        assert not np.array_equal(a, ratios[0])
    if rdrop:
        hd = layer._fw["Hd"]
        assert hd.shape == (5, 4, 3 * G)
        blocks = [layer._fw["rmask"][:, g * 3:(g + 1) * 3] for g in range(G)]
        assert all(not np.array_equal(b, blocks[0]) for b in blocks[1:])
    assert not np.array_equal(layer.forward(x, training=True, step=4), y1)
    np.testing.assert_array_equal(layer.forward(x, training=False), layer(x))
    check_layer_grad(layer, x, step=3, mask=_mask(4, 5))


def test_per_gate_masks_independent_and_unbiased():
    """Keras' implementation 1: the gates' masks are independent draws (agreement
    p^2 + (1-p)^2 = 0.58 at rate 0.3, not 1) and each keeps 70 % of the entries."""
    layer = R.LSTM(64, dropout=0.3, recurrent_dropout=0.3, seed=3)
    x = np.ones((256, 2, 32), np.float32)
    layer(x)
    layer.forward(x, training=True, step=0)
    rm = layer._fw["rmask"].reshape(256, 4, 64) > 0
    dm = layer._fw["dmask"].reshape(256, 4, 32) > 0
    for m in (rm, dm):
        assert abs(m.mean() - 0.7) < 0.01
        for g in range(1, 4):
            assert abs((m[:, g] == m[:, 0]).mean() - 0.58) < 0.02


def test_weights_match_keras_shapes():
    x = np.zeros((2, 5, 3))
    expect = {R.SimpleRNN: [(3, 4), (4, 4), (4,)], R.LSTM: [(3, 16), (4, 16), (16,)],
              R.GRU: [(3, 12), (4, 12), (2, 12)], GRU_V1: [(3, 12), (4, 12), (12,)]}
    for cls, shapes in expect.items():
        layer = cls(4)
        layer(x)
        assert [w.shape for w in layer.get_weights()] == shapes
        assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    lstm = R.LSTM(4)
    lstm(x)
    np.testing.assert_array_equal(lstm.bias.value, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    k = R.GRU(4, recurrent_initializer="orthogonal")
    k(x)
    rk = k.recurrent_kernel.value
    np.testing.assert_allclose(rk @ rk.T, np.eye(4), atol=1e-5)


def test_no_bias_and_errors():
    layer = R.LSTM(3, use_bias=False, **F64)
    check_layer(layer, (2, 3, 2))
    assert len(layer.weights) == 2
    with pytest.raises(ValueError, match="activation"):
        R.LSTM(3, activation="gelu")
    with pytest.raises(ValueError, match="units"):
        R.GRU(0)
    with pytest.raises(ValueError, match="mask"):
        R.GRU(2)(np.zeros((2, 3, 1)), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="initial state"):
        R.GRU(2)(np.zeros((2, 3, 1)), initial_state=[np.zeros((3, 2))])


def test_regularizers_constraints_config():
    layer = R.LSTM(3, kernel_regularizer="l2", recurrent_regularizer="l1",
                   bias_constraint="non_neg", unroll=True, **F64)
    x = np.random.default_rng(8).normal(size=(2, 3, 2))
    layer(x)
    assert layer.kernel.regularizer is not None and layer.recurrent_kernel.regularizer is not None
    assert layer.bias.constraint is not None
    cfg = layer.get_config()
    clone = R.LSTM.from_config(cfg)
    assert clone.get_config() == cfg
    assert nb.layers.deserialize({"class_name": "GRU", "config": R.GRU(2).get_config()}).units == 2


def test_float32_and_flops():
    layer = R.GRU(8, return_sequences=True)
    x = np.random.default_rng(9).normal(size=(4, 6, 5)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32 and y.shape == (4, 6, 8)
    ref = R.GRU(8, return_sequences=True, **F64)
    ref(x.astype(np.float64))
    ref.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, ref(x.astype(np.float64)), rtol=1e-4, atol=1e-5)
    assert layer.flops((None, 6, 5)) == 6 * (2 * 5 * 24 + 2 * 8 * 24 + 4 * 24)


def test_threads_bitwise():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    rng = np.random.default_rng(10)
    x = rng.normal(size=(37, 9, 12)).astype(np.float32)
    m = rng.random((37, 9)) > 0.2
    old = nb.get_num_threads()
    try:
        for cls in CLASSES:
            layer = cls(16, return_sequences=True, dropout=0.2, recurrent_dropout=0.2, seed=1)
            layer(x)
            dy = rng.normal(size=(37, 9, 16)).astype(np.float32)
            res = []
            for t in (1, 2):
                nb.set_num_threads(t)
                y = layer.forward(x, training=True, mask=m, step=2).copy()
                dx = layer.backward(dy).copy()
                res.append([y, dx] + [w.grad.copy() for w in layer.weights])
            for a, b in zip(*res):
                np.testing.assert_array_equal(a, b)
    finally:
        nb.set_num_threads(old)
