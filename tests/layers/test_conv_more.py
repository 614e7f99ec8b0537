"""DepthwiseConv2D, SeparableConv2D, Conv2DTranspose: shapes, NumPy references,
finite-difference gradients, torch parity (F.conv2d with groups, F.conv_transpose2d) and
Keras parity at float64 from the same weights (both optional), config, threads."""
import json
import os
import warnings

import numba
import numpy as np
import pytest

import nbnet.layers.conv_more as conv_more_module
from helpers import check_config_roundtrip, check_layer, check_layer_grad
from nbnet import regularizers
from nbnet.kernels import threads
from nbnet.layers import base
from nbnet.layers.conv_more import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D

TOL = dict(rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ references
def _same_pads(size, k, s):
    """Keras "same" for a convolution: (out, before, after)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _transpose_window(size, k, s, padding, op):
    """(out, crop) of Keras 3's conv transpose along one axis, from its documented output
    length and the JAX padding its backends share: the natural output
    ((size-1)*s + k long) minus (k-1) - left_pad at the start."""
    if padding == "valid":
        return (size - 1) * s + (max(k, s) if op is None else k + op), 0
    pad_len = s + k - 2 if op is None else k + k % 2 - 2 + op
    out = size * s if op is None else (size - 1) * s + k % 2 + op
    return out, (k - 1) - min(pad_len // 2 + pad_len % 2, k - 1)


def ref_transpose(x, W, b, s, padding, op):
    """Scatter loop: natural[n, h*s0 + i, w*s1 + j, f] += sum_c x[n, h, w, c] W[i, j, f, c],
    then the Keras window of it (zeros past the natural end)."""
    N, H, Wd, C = x.shape
    KH, KW, F, _ = W.shape
    op = (None, None) if op is None else op
    (OH, ct), (OW, cl) = (_transpose_window(H, KH, s[0], padding, op[0]),
                          _transpose_window(Wd, KW, s[1], padding, op[1]))
    nat = np.zeros((N, (H - 1) * s[0] + KH + OH, (Wd - 1) * s[1] + KW + OW, F))
    for h in range(H):
        for w in range(Wd):
            for i in range(KH):
                for j in range(KW):
                    nat[:, h * s[0] + i, w * s[1] + j] += x[:, h, w] @ W[i, j].T
    y = nat[:, ct:ct + OH, cl:cl + OW]
    return y + (0 if b is None else b)


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("size,k,s,valid,same", [
    (5, 3, 1, 3, 5), (6, 3, 2, 2, 3), (7, 3, 2, 3, 4), (8, 2, 2, 4, 4), (1, 1, 3, 1, 1),
])
def test_depthwise_and_separable_output_shapes(size, k, s, valid, same):
    for padding, out in (("valid", valid), ("same", same)):
        shape = (None, size, size + 1, 3)
        d = DepthwiseConv2D((k, 1), strides=(s, 1), padding=padding, depth_multiplier=2)
        assert d.compute_output_shape(shape) == (None, out, size + 1, 6)
        sep = SeparableConv2D(5, (k, 1), strides=(s, 1), padding=padding)
        assert sep.compute_output_shape(shape) == (None, out, size + 1, 5)


@pytest.mark.parametrize("size,k,s,padding,op,out", [
    # valid: (size-1)*s + max(k, s), or (size-1)*s + k + op; same: size*s, or
    # (size-1)*s + k%2 + op (hand-computed)
    (5, 3, 1, "valid", None, 7), (5, 3, 2, "valid", None, 11), (5, 2, 3, "valid", None, 15),
    (5, 3, 2, "valid", 1, 12), (5, 3, 1, "same", None, 5), (5, 3, 2, "same", None, 10),
    (5, 4, 2, "same", None, 10), (5, 3, 2, "same", 1, 10), (5, 3, 2, "same", 0, 9),
    (4, 4, 3, "same", 2, 11), (4, 1, 1, "valid", None, 4),
])
def test_conv2d_transpose_output_shapes(size, k, s, padding, op, out):
    layer = Conv2DTranspose(2, (k, 1), strides=(s, 1), padding=padding,
                            output_padding=None if op is None else (op, 0))
    assert layer.compute_output_shape((None, size, 3, 4)) == (None, out, 3, 2)
    y = layer(np.ones((1, size, 3, 4), np.float32))
    assert y.shape == (1, out, 3, 2)


# ------------------------------------------------------------------ values vs NumPy
TRANSPOSE_CASES = [
    dict(k=3, s=1, padding="valid", op=None, shape=(2, 4, 5, 3)),
    dict(k=3, s=2, padding="same", op=None, shape=(2, 4, 3, 2)),
    dict(k=(2, 3), s=(2, 3), padding="valid", op=(1, 2), shape=(1, 3, 4, 2)),
    dict(k=4, s=2, padding="same", op=1, shape=(2, 3, 3, 2)),
    dict(k=(3, 2), s=(3, 1), padding="same", op=None, shape=(1, 3, 4, 3)),
    dict(k=1, s=1, padding="same", op=None, shape=(2, 3, 4, 3)),      # the direct path
    dict(k=2, s=3, padding="valid", op=None, shape=(2, 3, 3, 2)),     # k < s: zero gaps
]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("cfg", TRANSPOSE_CASES, ids=lambda c: f"{c['k']}{c['s']}{c['padding']}{c['op']}")
def test_conv2d_transpose_matches_scatter_loop(cfg, chunked, monkeypatch, float64):
    if chunked:  # one image per cols chunk: dW summed over chunks
        monkeypatch.setattr(conv_more_module, "_COLS_BYTES", 1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=cfg["shape"])
    layer = Conv2DTranspose(3, cfg["k"], strides=cfg["s"], padding=cfg["padding"],
                            output_padding=cfg["op"], bias_initializer="random_normal")
    y = layer(x)
    s, op = layer.strides, layer.output_padding
    np.testing.assert_allclose(y, ref_transpose(x, layer.kernel.value, layer.bias.value, s,
                                                cfg["padding"], op), **TOL)
    assert layer._plan_[4] == (1 if chunked and not layer._plan_[5] else x.shape[0])
    layer.kernel.grad[...] = 5.0  # overwritten, not accumulated
    check_layer_grad(layer, x)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("cfg", [
    dict(k=3, s=1, padding="same", M=1, act="tanh", shape=(2, 5, 4, 3)),
    dict(k=(2, 3), s=(2, 1), padding="valid", M=2, act=None, shape=(2, 6, 5, 2)),
    dict(k=3, s=2, padding="same", M=3, act="softmax", shape=(1, 5, 6, 2)),
])
def test_depthwise_and_separable_gradients(cfg, float64):
    kw = dict(strides=cfg["s"], padding=cfg["padding"], depth_multiplier=cfg["M"],
              activation=cfg["act"], bias_initializer="random_normal")
    check_layer(DepthwiseConv2D(cfg["k"], **kw), cfg["shape"])
    check_layer(SeparableConv2D(3, cfg["k"], **kw), cfg["shape"])
    check_layer(DepthwiseConv2D(cfg["k"], use_bias=False, **{**kw, "activation": "sigmoid"}),
                cfg["shape"])


def test_conv2d_transpose_gradients_with_activation(float64):
    check_layer(Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh",
                                bias_initializer="random_normal"), (2, 3, 4, 2))
    check_layer(Conv2DTranspose(4, 2, strides=1, activation="softmax", use_bias=False),
                (1, 3, 3, 2))


# ------------------------------------------------------------------ torch parity
def _torch_check(layer, x, torch_fn):
    """Forward and gradients (x, every weight) against torch autograd at float64,
    L = sum(y * r). torch_fn(xt, weights) -> NHWC output."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    y = layer(x)
    r = rng.normal(size=y.shape)
    layer.forward(x, training=True)
    dx = layer.backward(r.copy())
    xt = torch.tensor(x, requires_grad=True)
    ws = [torch.tensor(w.value.copy(), requires_grad=True) for w in layer.weights]
    yt = torch_fn(xt, ws)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    (yt * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    for w, wt in zip(layer.weights, ws):
        np.testing.assert_allclose(w.grad, wt.grad.numpy(), **TOL, err_msg=w.name)


def _torch_depthwise(F, xt, Wd, s, padding):
    """NHWC depthwise via F.conv2d(groups=C) on explicitly (Keras-) padded NCHW input."""
    KH, KW, C, M = Wd.shape
    xc = xt.permute(0, 3, 1, 2)
    if padding == "same":
        _, pt, pb = _same_pads(xt.shape[1], KH, s[0])
        _, pl, pr = _same_pads(xt.shape[2], KW, s[1])
        xc = F.pad(xc, (pl, pr, pt, pb))
    w = Wd.permute(2, 3, 0, 1).reshape(C * M, 1, KH, KW)  # out channel c*M + m
    return F.conv2d(xc, w, stride=s, groups=C)


@pytest.mark.parametrize("cfg", [
    dict(k=3, s=(1, 1), padding="same", M=2, shape=(2, 6, 5, 3)),
    dict(k=(2, 3), s=(2, 3), padding="valid", M=1, shape=(2, 7, 8, 2)),
    dict(k=4, s=(2, 2), padding="same", M=3, shape=(1, 7, 6, 2)),
])
def test_depthwise_and_separable_match_torch(cfg, float64):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(3).normal(size=cfg["shape"])
    kw = dict(strides=cfg["s"], padding=cfg["padding"], depth_multiplier=cfg["M"],
              activation="tanh", bias_initializer="random_normal")
    _torch_check(DepthwiseConv2D(cfg["k"], **kw), x, lambda xt, ws: torch.tanh(
        _torch_depthwise(F, xt, ws[0], cfg["s"], cfg["padding"]).permute(0, 2, 3, 1) + ws[1]))

    def separable(xt, ws):
        t = _torch_depthwise(F, xt, ws[0], cfg["s"], cfg["padding"])
        wp = ws[1][0, 0].T[:, :, None, None]  # (F, C*M, 1, 1)
        return torch.tanh(F.conv2d(t, wp).permute(0, 2, 3, 1) + ws[2])
    _torch_check(SeparableConv2D(4, cfg["k"], **kw), x, separable)


@pytest.mark.parametrize("cfg", TRANSPOSE_CASES, ids=lambda c: f"{c['k']}{c['s']}{c['padding']}{c['op']}")
def test_conv2d_transpose_matches_torch(cfg, float64):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(4).normal(size=cfg["shape"])
    layer = Conv2DTranspose(3, cfg["k"], strides=cfg["s"], padding=cfg["padding"],
                            output_padding=cfg["op"], activation="relu",
                            bias_initializer="random_normal")
    layer(x)
    (kh, kw), s = layer.kernel_size, layer.strides
    op = layer.output_padding or (None, None)
    (OH, ct), (OW, cl) = (_transpose_window(x.shape[1], kh, s[0], cfg["padding"], op[0]),
                          _transpose_window(x.shape[2], kw, s[1], cfg["padding"], op[1]))

    def fn(xt, ws):
        nat = F.conv_transpose2d(xt.permute(0, 3, 1, 2), ws[0].permute(3, 2, 0, 1), stride=s)
        nat = F.pad(nat, (0, max(0, cl + OW - nat.shape[3]), 0, max(0, ct + OH - nat.shape[2])))
        return torch.relu(nat[:, :, ct:ct + OH, cl:cl + OW].permute(0, 2, 3, 1) + ws[1])
    _torch_check(layer, x, fn)


# ------------------------------------------------------------------ Keras parity
def test_keras_output_shapes_and_values(float64):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(5).normal(size=(2, 5, 4, 3))
    cases = [(DepthwiseConv2D, keras.layers.DepthwiseConv2D, (3,),
              dict(strides=2, padding="same", depth_multiplier=2)),
             (SeparableConv2D, keras.layers.SeparableConv2D, (4, (2, 3)),
              dict(strides=(1, 2), padding="valid", depth_multiplier=2))]
    for k in (1, 2, 3, 4):
        for s in (1, 2, 3):
            for padding in ("valid", "same"):
                for op in (None,) + tuple(range(s)):
                    cases.append((Conv2DTranspose, keras.layers.Conv2DTranspose, (2, k),
                                  dict(strides=s, padding=padding, output_padding=op)))
    for ours_cls, keras_cls, args, kwargs in cases:
        kwargs = dict(kwargs, activation="tanh")
        ours = ours_cls(*args, bias_initializer="random_normal", **kwargs)
        try:
            y = ours(x)
        except ValueError:  # an empty output: Keras has none either
            assert ours_cls is Conv2DTranspose and kwargs["padding"] == "same"
            continue
        theirs = keras_cls(*args, dtype="float64", **kwargs)
        theirs.build(x.shape)
        assert [w.shape for w in theirs.weights] == [w.shape for w in ours.weights]
        theirs.set_weights(ours.get_weights())
        assert tuple(theirs.compute_output_shape(x.shape))[1:] == ours.compute_output_shape(x.shape)[1:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = keras.ops.convert_to_numpy(theirs(x))
        np.testing.assert_allclose(y, expected, **TOL, err_msg=f"{ours_cls.__name__} {args} {kwargs}")


# ------------------------------------------------------------------ logits, frozen, threads
SOFTMAX = dict(activation="softmax", bias_initializer="random_normal")


@pytest.mark.parametrize("make", [lambda: DepthwiseConv2D(3, **SOFTMAX),
                                  lambda: SeparableConv2D(3, 3, **SOFTMAX),
                                  lambda: Conv2DTranspose(3, 3, **SOFTMAX)])
def test_softmax_logits_and_frozen(make, float64):
    layer = make()
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2))
    y = layer(x)
    assert layer.final_activation == "softmax"
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)  # over the channels
    z = np.array(layer.forward(x, logits=True))
    np.testing.assert_allclose(np.exp(z) / np.exp(z).sum(-1, keepdims=True), y, rtol=1e-12)
    layer.forward(x, training=True, logits=True)
    assert layer.backward(np.ones_like(z), need_dx=False) is None
    np.testing.assert_allclose(layer.bias.grad, np.prod(z.shape[:3]))  # db = sum of dz
    layer.trainable = False
    for w in layer.weights:
        w.grad[...] = 7.0
    layer.forward(x, training=True)
    assert layer.backward(np.ones_like(y)).shape == x.shape
    assert all(np.all(w.grad == 7.0) for w in layer.weights)  # frozen: not touched


@pytest.mark.parametrize("make", [
    lambda: DepthwiseConv2D(3, strides=(1, 2), padding="same", depth_multiplier=2,
                            activation="relu", bias_initializer="random_normal", dtype="float32"),
    lambda: SeparableConv2D(8, 3, padding="same", activation="relu",
                            bias_initializer="random_normal", dtype="float32"),
    lambda: Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu",
                            bias_initializer="random_normal", dtype="float32"),
])
def test_bitwise_identical_at_1_and_2_threads(make):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 12, 11, 6)).astype(np.float32)
    layer = make()
    y = layer(x)
    dy = rng.normal(size=y.shape).astype(np.float32)
    old, small = numba.get_num_threads(), threads.small_parallel()
    threads.set_small_parallel(0)
    runs = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            y = layer.forward(x, training=True).copy()
            dx = layer.backward(dy).copy()
            runs.append([y, dx] + [w.grad.copy() for w in layer.weights])
    finally:
        numba.set_num_threads(old)
        threads.set_small_parallel(small)
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ config, errors, flops
def test_config_roundtrip():
    x = np.random.default_rng(0).normal(size=(2, 6, 7, 3)).astype(np.float32)
    layers = [DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2,
                              activation="relu", depthwise_initializer="he_normal",
                              depthwise_regularizer="l2"),
              SeparableConv2D(4, 3, depth_multiplier=3, use_bias=False,
                              pointwise_initializer="ones", pointwise_regularizer="l1"),
              Conv2DTranspose(5, 3, strides=2, padding="same", output_padding=1,
                              activation="tanh", kernel_regularizer="l2"),
              Conv2DTranspose(2, (2, 3), strides=(3, 1))]
    for layer in layers:
        check_config_roundtrip(layer, x)
        spec = json.loads(json.dumps(base.serialize(layer)))
        clone = base.deserialize(spec)
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    assert layers[0].get_config()["depthwise_regularizer"] == regularizers.serialize(
        layers[0].kernel.regularizer)
    assert layers[1].pointwise_kernel.regularizer is not None
    assert layers[2].get_config()["output_padding"] == [1, 1]
    assert layers[3].get_config()["output_padding"] is None
    assert [w.name for w in layers[1].weights] == ["depthwise_kernel", "pointwise_kernel"]
    assert layers[0].depthwise_kernel is layers[0].kernel
    assert layers[0].kernel.shape == (3, 2, 3, 2) and layers[1].pointwise_kernel.shape == (1, 1, 9, 4)
    assert layers[2].kernel.shape == (3, 3, 5, 3)


def test_bad_arguments():
    for cls, args in ((DepthwiseConv2D, (3,)), (SeparableConv2D, (2, 3)),
                      (Conv2DTranspose, (2, 3))):
        with pytest.raises(NotImplementedError, match="dilation_rate"):
            cls(*args, dilation_rate=2)
        with pytest.raises(NotImplementedError, match="data_format"):
            cls(*args, data_format="channels_first")
        with pytest.raises(ValueError):
            cls(*args, padding="full")
        with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
            cls(*args)(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="depth_multiplier"):
        DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match="output_padding"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        Conv2DTranspose(2, 3, output_padding=(0, -1))
    with pytest.raises(ValueError, match="smaller"):
        DepthwiseConv2D(5)(np.zeros((1, 3, 3, 1)))
    layer = DepthwiseConv2D(3)
    layer(np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="channels"):
        layer(np.zeros((1, 4, 4, 3)))


def test_flops():
    # per output pixel: 2*kh*kw*C*M (depthwise), + 2*C*M*F (pointwise), + bias, + activation
    assert DepthwiseConv2D(3, depth_multiplier=2).flops((None, 6, 6, 4)) == 4 * 4 * (2 * 9 * 8 + 8)
    assert SeparableConv2D(5, 3, padding="same", activation="relu").flops((None, 6, 6, 4)) == \
        6 * 6 * (2 * 9 * 4 + 2 * 4 * 5 + 5 + 5)
    # transpose: 2*kh*kw*C*F per input pixel, bias per output pixel
    assert Conv2DTranspose(5, 3, strides=2, padding="same").flops((None, 4, 4, 3)) == \
        4 * 4 * 2 * 9 * 3 * 5 + 8 * 8 * 5
