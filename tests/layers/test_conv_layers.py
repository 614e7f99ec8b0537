"""Conv2D and pooling layers: direct-loop references, gradient checks, shapes, config."""
import json

import numba
import numpy as np
import pytest

import nbnet.layers.conv as conv_module
import reference_conv as R
from helpers import check_config_roundtrip, check_layer
from nbnet.layers import base
from nbnet.layers.conv import Conv2D
from nbnet.layers.pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D,
                                  GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-5)}
ACT = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}
DACT = {"linear": lambda z: 1.0, "relu": lambda z: (z > 0) * 1.0,
        "tanh": lambda z: 1 - np.tanh(z) ** 2}


def _configs(count=24, seed=3):
    """Seeded random Conv2D configs: kernel 1-5, stride 1-3, both paddings, odd sizes,
    batch 1 in every fourth, with and without bias, three activations."""
    g = np.random.default_rng(seed)
    out = []
    for t in range(count):
        kh, kw = (int(v) for v in g.integers(1, 6, size=2))
        sh, sw = (int(v) for v in g.integers(1, 4, size=2))
        H, W = int(g.integers(kh, 13)), int(g.integers(kw, 13))
        N = 1 if t % 4 == 0 else int(g.integers(2, 4))
        out.append(dict(N=N, H=H, W=W, C=int(g.integers(1, 4)), F=int(g.integers(1, 5)),
                        k=(kh, kw), s=(sh, sw), padding=["valid", "same"][t % 2],
                        use_bias=t % 3 != 2, act=["linear", "relu", "tanh"][t % 3]))
    out.append(dict(N=2, H=5, W=7, C=3, F=4, k=(1, 1), s=(1, 1), padding="same",
                    use_bias=True, act="relu"))  # the direct (no im2col) path
    return out


CONV_CONFIGS = _configs()


@pytest.fixture(params=["chunks of 1 image", "default chunks", "np.dot"])
def conv_path(request, monkeypatch):
    """The three ways Conv2D runs: the per-thread chunk kernels with one image per chunk
    (many chunks even for small batches) or their default chunk size, and the path for
    a BLAS other than numpy's OpenBLAS (whole-batch cols, np.dot)."""
    if request.param == "chunks of 1 image":
        monkeypatch.setattr(conv_module, "_CHUNK_ROWS", 1)
    elif request.param == "np.dot":
        monkeypatch.setattr(conv_module, "cblas", lambda: None)
    return request.param


def _check_path(layer, path):
    """The layer really ran the path the fixture asked for."""
    batched, chunk = layer._plan_[6], layer._plan_[4]
    direct = layer._plan_[5]
    if direct:
        return
    assert batched == (path != "np.dot")
    if path == "chunks of 1 image":
        assert chunk == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=lambda c: f"{c['k']}{c['s']}{c['padding']}")
def test_conv2d_matches_direct_loops(cfg, dtype, conv_path):
    rng = np.random.default_rng([cfg["H"], cfg["W"], cfg["C"], cfg["F"], *cfg["k"]])
    layer = Conv2D(cfg["F"], cfg["k"], strides=cfg["s"], padding=cfg["padding"],
                   activation=cfg["act"], use_bias=cfg["use_bias"], dtype=dtype,
                   bias_initializer="random_normal")
    x = rng.normal(size=(cfg["N"], cfg["H"], cfg["W"], cfg["C"])).astype(dtype)
    y = layer(x)
    W = layer.kernel.value
    b = layer.bias.value if cfg["use_bias"] else None
    z_ref = R.conv2d_forward(x, W, b, cfg["s"], cfg["padding"])
    np.testing.assert_allclose(y, ACT[cfg["act"]](z_ref), **TOL[dtype])

    dy = rng.normal(size=y.shape).astype(dtype)
    layer.kernel.grad[...] = 5.0  # must be overwritten, not accumulated
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    dz = dy * DACT[cfg["act"]](z_ref)
    dx_ref, dW_ref, db_ref = R.conv2d_backward(dz, x, W, cfg["s"], cfg["padding"])
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    np.testing.assert_allclose(layer.kernel.grad, dW_ref, **TOL[dtype])
    if cfg["use_bias"]:
        np.testing.assert_allclose(layer.bias.grad, db_ref, **TOL[dtype])
    _check_path(layer, conv_path)


@pytest.mark.parametrize("cfg", [
    dict(k=3, s=1, padding="same", act="relu", use_bias=True, shape=(2, 6, 5, 3)),
    dict(k=(2, 3), s=(2, 1), padding="valid", act="tanh", use_bias=False, shape=(1, 7, 6, 2)),
    dict(k=1, s=1, padding="valid", act="tanh", use_bias=True, shape=(2, 3, 4, 3)),
    dict(k=4, s=3, padding="same", act=None, use_bias=True, shape=(3, 7, 8, 2)),
])
def test_conv2d_gradients(cfg, float64, conv_path):
    layer = Conv2D(3, cfg["k"], strides=cfg["s"], padding=cfg["padding"],
                   activation=cfg["act"], use_bias=cfg["use_bias"],
                   bias_initializer="random_normal")
    check_layer(layer, cfg["shape"])
    _check_path(layer, conv_path)


def _untied(shape, seed=0):
    """A scaled random permutation: maxima unique and 0.05 apart (no ties for max pool)."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - 20.0) * 0.05


@pytest.mark.parametrize("pool,strides,padding,shape", [
    (2, None, "valid", (2, 6, 6, 3)), (3, 2, "same", (1, 7, 8, 2)),
    ((2, 3), (1, 2), "same", (2, 5, 7, 2)), (3, 1, "valid", (1, 5, 4, 1)),
])
def test_pooling_gradients(pool, strides, padding, shape, float64):
    check_layer(MaxPooling2D(pool, strides, padding), shape, x=_untied(shape))
    check_layer(AveragePooling2D(pool, strides, padding), shape)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_gradients(keepdims, float64):
    shape = (3, 5, 4, 3)
    check_layer(GlobalAveragePooling2D(keepdims=keepdims), shape)
    check_layer(GlobalMaxPooling2D(keepdims=keepdims), shape, x=_untied(shape))
    assert GlobalMaxPooling2D(keepdims=keepdims).compute_output_shape((None, 5, 4, 3)) == \
        ((None, 1, 1, 3) if keepdims else (None, 3))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls,mode", [(MaxPooling2D, "max"), (AveragePooling2D, "avg")])
def test_pooling_layers_match_reference(cls, mode, dtype):
    for t, (pool, strides, padding) in enumerate([(2, None, "valid"), (3, 2, "same"),
                                                  ((3, 2), (1, 3), "same"), (5, 3, "valid")]):
        x = _untied((2, 11, 9, 3), seed=t).astype(dtype)
        layer = cls(pool, strides, padding, dtype=dtype)
        y = layer(x, training=True)
        s = layer.strides
        y_ref = R.pool2d_forward(x, layer.pool_size, s, padding, mode)
        np.testing.assert_allclose(y, y_ref[0] if mode == "max" else y_ref, **TOL[dtype])
        dy = np.random.default_rng(t).normal(size=y.shape).astype(dtype)
        np.testing.assert_allclose(layer.backward(dy), R.pool2d_backward(
            dy, x, layer.pool_size, s, padding, mode), **TOL[dtype])


@pytest.mark.parametrize("size,k,s,valid,same", [
    (5, 3, 1, 3, 5), (6, 3, 2, 2, 3), (7, 3, 2, 3, 4), (8, 2, 2, 4, 4), (9, 4, 3, 2, 3),
    (1, 1, 3, 1, 1), (12, 5, 3, 3, 4),
])
def test_output_shapes(size, k, s, valid, same):
    # valid: floor((size - k) / s) + 1; same: ceil(size / s) (hand-computed above)
    for padding, out in (("valid", valid), ("same", same)):
        shape = (None, size, size + 1, 2)
        c = Conv2D(4, (k, 1), strides=(s, 1), padding=padding).compute_output_shape(shape)
        assert c == (None, out, size + 1, 4)  # width: a 1-wide window, stride 1
        p = MaxPooling2D((k, 1), (s, 1), padding).compute_output_shape(shape)
        assert p == (None, out, size + 1, 2)


def test_same_padding_puts_the_extra_row_at_the_bottom():
    # 4x4 input, 2x2 ones kernel, stride 1, "same": total pad 1 -> 0 on top/left, 1 at
    # the bottom/right. y[0, 0] sums x[0:2, 0:2]; y[3, 3] sees x[3, 3] only.
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    layer = Conv2D(1, 2, padding="SAME", kernel_initializer="ones", dtype="float64")
    y = layer(x)[0, :, :, 0]
    assert y[0, 0] == 0 + 1 + 4 + 5 and y[3, 3] == 15 and y[3, 0] == 12 + 13
    # stride 2 on 5: out 3, total (3-1)*2 + 3 - 5 = 2 -> one row of zeros on each side
    x = np.ones((1, 5, 5, 1))
    y = Conv2D(1, 3, strides=2, padding="same", kernel_initializer="ones",
               dtype="float64")(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


@pytest.mark.parametrize("blas", ["openblas chunks", "np.dot"])
def test_chunked_batch_matches_one_chunk(monkeypatch, blas):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 9, 8, 3))
    dy = rng.normal(size=(7, 5, 4, 5))
    results = []
    if blas == "np.dot":
        monkeypatch.setattr(conv_module, "cblas", lambda: None)
    # cols of one image: 5*4 rows x 27 columns x 8 bytes = 4320 bytes
    for limit in (1 << 40, 9000):  # one chunk of 7 images, then chunks of 2 (2+2+2+1)
        monkeypatch.setattr(conv_module, "_COLS_BYTES", limit)
        monkeypatch.setattr(conv_module, "_CHUNK_BYTES", limit)
        layer = Conv2D(5, 3, strides=2, padding="same", activation="tanh", dtype="float64",
                       bias_initializer="random_normal")
        layer(x)  # build
        layer.kernel.assign(np.linspace(-1, 1, layer.kernel.size).reshape(layer.kernel.shape))
        layer.bias.assign(np.linspace(-0.5, 0.5, 5))
        y = layer.forward(x, training=True).copy()
        dx = layer.backward(dy)
        results.append((y, dx.copy(), layer.kernel.grad.copy(), layer.bias.grad.copy(),
                        layer._plan_[4]))
    assert results[0][4] == 7 and results[1][4] == 2
    assert layer._plan_[6] == (blas != "np.dot")
    for a, b in zip(results[0][:4], results[1][:4]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_conv2d_backward_bitwise_identical_at_1_and_2_threads(conv_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 14, 13, 8)).astype(np.float32)  # enough work for two threads
    layer = Conv2D(8, 3, strides=(1, 2), padding="same", activation="relu",
                   bias_initializer="random_normal", dtype="float32")
    y = layer(x)
    dy = rng.normal(size=y.shape).astype(np.float32)
    old = numba.get_num_threads()
    runs = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            y = layer.forward(x, training=True).copy()
            dx = layer.backward(dy).copy()
            runs.append((y, dx, layer.kernel.grad.copy(), layer.bias.grad.copy()))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()
    _check_path(layer, conv_path)


def test_logits_and_frozen_and_first_layer(float64, conv_path):
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2))
    layer = Conv2D(3, 3, activation="softmax", bias_initializer="random_normal")
    assert layer.final_activation == "softmax"
    y = layer(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)  # softmax over channels
    z = np.array(layer.forward(x, logits=True))
    np.testing.assert_allclose(np.exp(z) / np.exp(z).sum(-1, keepdims=True), y, rtol=1e-12)
    layer.forward(x, training=True, logits=True)
    assert layer.backward(np.ones_like(z), need_dx=False) is None
    np.testing.assert_allclose(layer.bias.grad, np.prod(z.shape[:3]))  # db = sum of dz
    layer.trainable = False
    layer.kernel.grad[...] = 7.0
    layer.forward(x, training=True, logits=True)
    assert layer.backward(np.ones_like(z)).shape == x.shape
    assert np.all(layer.kernel.grad == 7.0)  # frozen: not touched


def test_config_roundtrip_and_aliases():
    x = np.random.default_rng(0).normal(size=(2, 6, 7, 3)).astype(np.float32)
    layers = [Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", use_bias=False,
                     kernel_initializer="he_normal"),
              MaxPool2D(3, 2, "same"), AvgPool2D((2, 3)), GlobalMaxPooling2D(keepdims=True),
              GlobalAveragePooling2D()]
    for layer in layers:
        check_config_roundtrip(layer, x)
        spec = json.loads(json.dumps(base.serialize(layer)))
        assert type(base.deserialize(spec)) is type(layer)
    assert MaxPool2D is MaxPooling2D and AvgPool2D is AveragePooling2D
    assert base.serialize(layers[1])["class_name"] == "MaxPooling2D"
    assert layers[2].strides == (2, 3)  # strides default to pool_size
    assert type(base.deserialize({"class_name": "AvgPool2D", "config": {}})) is AveragePooling2D


def test_bad_arguments():
    for bad in (dict(padding="full"), dict(kernel_size=0), dict(strides=(1, 0)),
                dict(kernel_size=(1, 2, 3))):
        with pytest.raises(ValueError):
            Conv2D(**{"filters": 2, "kernel_size": 3, **bad})
    with pytest.raises(ValueError, match="dilation_rate"):
        Conv2D(2, 3, strides=2, dilation_rate=2)       # as Keras
    with pytest.raises(ValueError, match="dilation_rate"):
        Conv2D(2, 3, dilation_rate=0)
    with pytest.raises(NotImplementedError):
        Conv2D(2, 3, groups=2)
    with pytest.raises(NotImplementedError):
        MaxPooling2D(data_format="channels_first")
    for layer in (Conv2D(2, 3), MaxPooling2D(), AveragePooling2D(), GlobalMaxPooling2D(),
                  GlobalAveragePooling2D()):
        with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
            layer(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="smaller"):
        Conv2D(2, 5)(np.zeros((1, 3, 3, 1)))
    assert Conv2D(2, 3, padding="Same").padding == "same"


def test_flops():
    # per output pixel 2*kh*kw*C*F, + F for the bias, + F for a non-linear activation
    assert Conv2D(8, 3).flops((None, 10, 10, 4)) == 8 * 8 * (2 * 9 * 4 * 8 + 8)
    assert Conv2D(8, 3, padding="same", use_bias=False, activation="relu").flops(
        (None, 10, 10, 4)) == 10 * 10 * (2 * 9 * 4 * 8 + 8)
    assert MaxPooling2D().flops((None, 4, 4, 3)) == 2 * 2 * 3 * 4
    assert GlobalAveragePooling2D().flops((None, 4, 5, 3)) == 60
