"""Conv1D against torch.nn.functional.conv1d at float64 from the same weights (outputs,
and the gradients of x, kernel and bias), the paddings made explicit with F.pad; the
1-D pooling layers against torch's; and (optional) forward parity with Keras 3."""
import os

import numpy as np
import pytest

from nbnet.layers.conv1d import (AveragePooling1D, Conv1D, GlobalAveragePooling1D,
                                 MaxPooling1D, UpSampling1D, ZeroPadding1D)

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_pads(T, k, s, d, padding):
    """(left, right) zeros, by the Keras rules (torch's own padding= is symmetric)."""
    span = d * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((-(-T // s) - 1) * s + span - T, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("k,s,d,T", [(3, 1, 1, 17), (4, 2, 1, 16), (5, 3, 1, 23),
                                     (3, 1, 2, 15), (2, 1, 4, 20), (1, 1, 1, 9), (1, 2, 1, 9)])
@pytest.mark.parametrize("act", ["linear", "tanh"])
def test_conv1d_matches_torch(padding, k, s, d, T, act):
    rng = np.random.default_rng([k, s, d, T])
    N, C, Fo = 3, 4, 5
    layer = Conv1D(Fo, k, strides=s, dilation_rate=d, padding=padding, activation=act,
                   dtype="float64", bias_initializer="random_normal")
    x = rng.normal(size=(N, T, C))
    layer(x)  # build
    W, b = layer.get_weights()

    xt = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)        # (N, C, T)
    wt = torch.tensor(W.transpose(2, 1, 0).copy(), requires_grad=True)        # (F, C, k)
    bt = torch.tensor(b.copy(), requires_grad=True)
    zt = F.conv1d(F.pad(xt, _torch_pads(T, k, s, d, padding)), wt, bt, stride=s, dilation=d)
    yt = torch.tanh(zt) if act == "tanh" else zt
    dy = rng.normal(size=yt.shape)                                            # (N, F, OT)
    yt.backward(torch.tensor(dy))

    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    dx = layer.backward(dy.transpose(0, 2, 1).copy())
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, wt.grad.numpy().transpose(2, 1, 0),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("pool,s,T", [(2, 2, 11), (3, 2, 12), (3, 1, 9), (2, 3, 10)])
def test_pooling_matches_torch(pool, s, T):
    rng = np.random.default_rng([pool, s, T])
    x = rng.permutation(2 * T * 3).reshape(2, T, 3) * 0.1  # no ties
    xt = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)
    for cls, fn in ((MaxPooling1D, F.max_pool1d), (AveragePooling1D, F.avg_pool1d)):
        xt.grad = None
        yt = fn(xt, pool, s)   # "valid"
        dy = rng.normal(size=yt.shape)
        yt.backward(torch.tensor(dy))
        layer = cls(pool, s, dtype="float64")
        np.testing.assert_allclose(layer.forward(x, training=True),
                                   yt.detach().numpy().transpose(0, 2, 1), rtol=1e-12)
        np.testing.assert_allclose(layer.backward(dy.transpose(0, 2, 1).copy()),
                                   xt.grad.numpy().transpose(0, 2, 1), rtol=1e-12)


# ------------------------------------------------------------------ Keras parity (optional)
@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("k,s,d,T", [(4, 2, 1, 11), (3, 1, 2, 10), (2, 3, 1, 10)])
def test_conv1d_forward_matches_keras(keras, padding, k, s, d, T):
    x = np.random.default_rng([k, s, d, T]).normal(size=(2, T, 3)).astype(np.float32)
    theirs = keras.layers.Conv1D(4, k, strides=s, dilation_rate=d, padding=padding,
                                 bias_initializer="random_normal")
    want = keras.ops.convert_to_numpy(theirs(x))
    ours = Conv1D(4, k, strides=s, dilation_rate=d, padding=padding)
    ours(x)
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    np.testing.assert_allclose(ours(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name,ours,kwargs,T", [
    ("MaxPooling1D", MaxPooling1D, dict(pool_size=3, strides=2, padding="same"), 10),
    ("AveragePooling1D", AveragePooling1D, dict(pool_size=4, strides=3, padding="same"), 11),
    ("UpSampling1D", UpSampling1D, dict(size=3), 5),
    ("ZeroPadding1D", ZeroPadding1D, dict(padding=(2, 1)), 5),
])
def test_pooling_and_reshaping_match_keras(keras, name, ours, kwargs, T):
    x = np.random.default_rng(T).normal(size=(2, T, 3)).astype(np.float32)
    want = keras.ops.convert_to_numpy(getattr(keras.layers, name)(**kwargs)(x))
    np.testing.assert_allclose(ours(**kwargs)(x), want, rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_masked_global_average_matches_keras(keras):
    x = np.random.default_rng(0).normal(size=(3, 6, 2)).astype(np.float32)
    mask = np.array([[1, 1, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1]], bool)
    want = keras.ops.convert_to_numpy(keras.layers.GlobalAveragePooling1D()(x, mask=mask))
    np.testing.assert_allclose(GlobalAveragePooling1D()(x, mask=mask), want, rtol=1e-6)
