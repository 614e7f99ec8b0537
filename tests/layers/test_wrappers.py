"""Bidirectional and TimeDistributed (Keras 3 wrappers): float64 finite differences
through both directions and every merge mode, with a mask, the weights' order, the
outputs against the two wrapped layers run by hand."""
import numpy as np
import pytest

import nbnet as nb
from nbnet import layers as L

from helpers import check_config_roundtrip, check_layer, check_layer_grad


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_gradients(merge_mode, return_sequences):
    layer = L.Bidirectional(L.LSTM(3, return_sequences=return_sequences, dtype="float64"),
                            merge_mode=merge_mode)
    check_layer(layer, (2, 5, 4))


def test_bidirectional_is_the_two_directions_merged():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 2))
    bi = L.Bidirectional(L.GRU(4, return_sequences=True, dtype="float64"))
    y = bi(x)
    f, b = bi.forward_layer, bi.backward_layer
    assert b.go_backwards and not f.go_backwards
    yf, yb = f(x), b(x)
    np.testing.assert_array_equal(y[..., :4], yf)
    np.testing.assert_array_equal(y[..., 4:], yb[:, ::-1])   # aligned with the steps
    # Keras' weight order: the forward layer's, then the backward layer's
    assert [w.path for w in bi.weights] == [w.path for w in f.weights + b.weights]
    assert [w.shape for w in bi.weights] == [(2, 12), (4, 12), (2, 12)] * 2
    assert bi.compute_output_shape((None, 6, 2)) == (None, 6, 8)


def test_bidirectional_merge_none_gives_two_outputs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3))
    bi = L.Bidirectional(L.SimpleRNN(5, dtype="float64"), merge_mode=None)
    assert bi.compute_output_shape((None, 4, 3)) == [(None, 5), (None, 5)]
    yf, yb = bi(x)
    np.testing.assert_array_equal(yf, bi.forward_layer(x))
    np.testing.assert_array_equal(yb, bi.backward_layer(x))


def test_bidirectional_with_mask_gradient():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    bi = L.Bidirectional(L.LSTM(3, return_sequences=True, dtype="float64"))
    bi(x)
    y = bi.forward(x, True, mask=mask)
    r = rng.normal(size=y.shape)

    def loss():
        return float(np.sum(bi.forward(x, True, mask=mask) * r))

    bi.forward(x, True, mask=mask)
    dx = np.array(bi.backward(r.copy()))
    from helpers import numeric_grad
    idx, num = numeric_grad(loss, x)
    np.testing.assert_allclose(dx.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)
    # a sample's padded steps change neither its outputs at real steps nor its gradient
    ref = np.array(bi.forward(x, True, mask=mask)[0, :3])
    x2 = x.copy()
    x2[0, 3:] = 99.0
    np.testing.assert_allclose(bi.forward(x2, True, mask=mask)[0, :3], ref, rtol=1e-12)


def test_bidirectional_config_and_in_a_model():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    model = nb.Sequential([nb.Input((5, 3)), L.Bidirectional(L.LSTM(4)), L.Dense(2)])
    clone = nb.Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    check_config_roundtrip(L.Bidirectional(L.GRU(2, dtype="float64"), merge_mode="sum"),
                           rng.normal(size=(2, 3, 2)))


def test_time_distributed_dense_gradient_and_shape():
    layer = L.TimeDistributed(L.Dense(3, activation="tanh", dtype="float64"))
    check_layer(layer, (2, 4, 5))
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 3)
    assert [w.shape for w in layer.weights] == [(5, 3), (3,)]


def test_time_distributed_conv2d_over_frames():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 6, 6, 1))
    conv = L.Conv2D(2, 3, dtype="float64")
    td = L.TimeDistributed(conv)
    y = td(x)
    for t in range(3):
        np.testing.assert_allclose(y[:, t], conv(x[:, t]), rtol=1e-12)
    check_layer_grad(td, x)
