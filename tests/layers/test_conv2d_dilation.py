"""Conv2D(dilation_rate=...): a direct-loop reference, finite differences, the three
run paths, config / save / load, and parity with torch.nn.functional.conv2d and Keras 3."""
import os

import numpy as np
import pytest

import nbnet as nb
import nbnet.layers.conv as conv_module
import reference_conv as R
from helpers import check_layer
from nbnet.layers.conv import Conv2D

# dilated extents (k - 1)*d + 1: 5x5, 5x4, 2x5, 7x3, 7x3, 3x5, 3x2 (an even extent with
# "same": Keras pads the odd row / column after); stride 1 throughout (Keras refuses
# strides together with dilation)
CASES = [dict(k=(3, 3), d=(2, 2), padding="valid"), dict(k=(3, 2), d=(2, 3), padding="same"),
         dict(k=(2, 3), d=(1, 2), padding="same"), dict(k=(3, 3), d=(3, 1), padding="valid"),
         dict(k=(4, 2), d=(2, 2), padding="same"), dict(k=(3, 3), d=(1, 2), padding="valid"),
         dict(k=(2, 2), d=(2, 1), padding="same")]


@pytest.fixture(params=["chunk kernels", "chunks of 1 image", "np.dot"])
def path(request, monkeypatch):
    if request.param == "chunks of 1 image":
        monkeypatch.setattr(conv_module, "_CHUNK_ROWS", 1)
    elif request.param == "np.dot":
        monkeypatch.setattr(conv_module, "cblas", lambda: None)
    return request.param


@pytest.mark.parametrize("case", CASES)
def test_dilated_conv2d_matches_loops_on_every_path(case, path, float64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 11, 10, 2))
    layer = Conv2D(4, case["k"], dilation_rate=case["d"], padding=case["padding"])
    shape = layer(x).shape
    W, b = layer.get_weights()
    b = rng.normal(size=4)
    layer.set_weights([W, b])
    y = layer(x)
    np.testing.assert_allclose(y, R.conv2d_forward(x, W, b, (1, 1), case["padding"], case["d"]),
                               rtol=1e-10, atol=1e-12)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = R.conv2d_backward(dy, x, W, (1, 1), case["padding"], case["d"])
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, dW_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, db_ref, rtol=1e-10, atol=1e-12)
    assert shape[1:] == layer.compute_output_shape((None, 11, 10, 2))[1:] == y.shape[1:]


@pytest.mark.parametrize("case", CASES[:3])
def test_dilated_conv2d_gradients_and_config(case, float64):
    layer = Conv2D(3, case["k"], dilation_rate=case["d"], padding=case["padding"],
                   activation="tanh")
    check_layer(layer, (2, 9, 8, 3))      # finite differences (x, kernel, bias), config
    assert layer.get_config()["dilation_rate"] == list(case["d"])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_dilation_rate_2_passes_the_layer_check(padding, float64):
    layer = Conv2D(2, 3, dilation_rate=2, padding=padding, activation="tanh")
    assert layer.dilation_rate == (2, 2)
    check_layer(layer, (2, 9, 8, 3))
    clone = Conv2D.from_config(layer.get_config())
    assert clone.dilation_rate == (2, 2) and clone.get_config()["dilation_rate"] == [2, 2]


def test_dilated_conv2d_in_a_model_saved_and_loaded(tmp_path):
    model = nb.Sequential([nb.Input(shape=(12, 12, 1)), Conv2D(4, 3, dilation_rate=2,
                                                               padding="same"),
                           nb.layers.GlobalAveragePooling2D(), nb.layers.Dense(2)])
    x = np.random.default_rng(1).normal(size=(5, 12, 12, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = nb.models.load_model(tmp_path / "m.keras")
    assert again.layers[0].dilation_rate == (2, 2)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_dilation_arguments():
    for strides, rate in (((1, 2), (2, 1)), (2, 2), ((2, 1), (1, 3))):
        with pytest.raises(ValueError, match=r"strides > 1 .* dilation_rate > 1"):
            Conv2D(2, 3, strides=strides, dilation_rate=rate)
    Conv2D(2, 3, strides=(1, 1), dilation_rate=(2, 3))   # stride 1: fine
    for bad in (0, -1, (1, 0), 1.5, (2, 2.0), "2", True, (2, 2, 2)):
        with pytest.raises(ValueError, match="dilation_rate"):
            Conv2D(2, 3, dilation_rate=bad)
    with pytest.raises(ValueError, match="smaller"):   # extent (3 - 1) * 3 + 1 = 7 > 6
        Conv2D(2, 3, dilation_rate=3)(np.zeros((1, 6, 6, 1)))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", CASES)
def test_dilated_conv2d_matches_torch(case, float64):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 10, 9, 3))
    layer = Conv2D(4, case["k"], dilation_rate=case["d"], padding=case["padding"])
    layer(x)
    W, b = layer.get_weights()
    b = rng.normal(size=4)
    layer.set_weights([W, b])
    y = layer(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(W.transpose(3, 2, 0, 1), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    (kh, kw), (dh, dw) = case["k"], case["d"]
    if case["padding"] == "same":    # Keras' rule: the odd padding row / column after
        eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        ph, pw = eh - 1, ew - 1
        txp = F.pad(tx, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    else:
        txp = tx
    ty = F.conv2d(txp, tw, tb, dilation=(dh, dw))
    if case["padding"] == "same":  # torch's own "same" (stride 1) puts the odd one after too
        np.testing.assert_array_equal(
            F.conv2d(tx, tw, tb, padding="same", dilation=(dh, dw)).detach().numpy(),
            ty.detach().numpy())
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10,
                               atol=1e-12)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, tw.grad.numpy().transpose(2, 3, 1, 0),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, tb.grad.numpy(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_dilated_conv2d_matches_keras():
    """keras.layers.Conv2D (torch backend) with the same weights, at float64."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(3).normal(size=(2, 11, 10, 3))
    for case in CASES:
        ref = keras.layers.Conv2D(4, case["k"], dilation_rate=case["d"],
                                  padding=case["padding"], bias_initializer="random_normal",
                                  dtype="float64")
        want = keras.ops.convert_to_numpy(ref(x))
        assert want.dtype == np.float64
        ours = Conv2D(4, case["k"], dilation_rate=case["d"], padding=case["padding"],
                      dtype="float64")
        ours(x)
        ours.set_weights([keras.ops.convert_to_numpy(w) for w in ref.get_weights()])
        got = ours(x)
        assert got.shape == want.shape, case
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=str(case))
        assert ours.compute_output_shape((None, 11, 10, 3)) == ref.compute_output_shape(
            (None, 11, 10, 3))
