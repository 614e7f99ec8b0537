"""Conv1D and the 1-D pooling / reshaping layers: direct-loop references, finite
differences (check_layer), masks, config, errors, threads."""
import json

import numba
import numpy as np
import pytest

import nbnet as nb
import nbnet.layers.conv1d as conv1d_module
from helpers import check_config_roundtrip, check_layer, numeric_grad
from nbnet.kernels.threads import small_parallel
from nbnet.layers import base
from nbnet.layers.conv1d import (AveragePooling1D, Conv1D, Cropping1D, GlobalAveragePooling1D,
                                 GlobalMaxPooling1D, MaxPooling1D, UpSampling1D, ZeroPadding1D)

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-5)}
ACT = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}
DACT = {"linear": lambda z: 1.0, "relu": lambda z: (z > 0) * 1.0,
        "tanh": lambda z: 1 - np.tanh(z) ** 2}


def _pads(T, k, s, d, padding):
    """(left, right) zeros, computed by hand from the Keras rules."""
    span = d * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    out = -(-T // s)
    total = max((out - 1) * s + span - T, 0)
    return total // 2, total - total // 2


def ref_conv1d(x, W, b, s, d, padding):
    """Pad explicitly, then z[n, o] = sum_j xp[n, o*s + j*d] @ W[j] (+ b): plain loops."""
    N, T, C = x.shape
    k, _, F = W.shape
    left, right = _pads(T, k, s, d, padding)
    xp = np.concatenate([np.zeros((N, left, C)), x, np.zeros((N, right, C))], axis=1)
    OT = (xp.shape[1] - d * (k - 1) - 1) // s + 1
    z = np.zeros((N, OT, F))
    for o in range(OT):
        for j in range(k):
            z[:, o] += xp[:, o * s + j * d] @ W[j]
    return z + (0.0 if b is None else b), (left, xp.shape[1], OT)


def ref_conv1d_backward(dz, x, W, s, d, padding):
    N, T, C = x.shape
    k = W.shape[0]
    left, Tp, OT = ref_conv1d(x, W, None, s, d, padding)[1]
    xp = np.concatenate([np.zeros((N, left, C)), x, np.zeros((N, Tp - left - T, C))], axis=1)
    dxp, dW = np.zeros_like(xp), np.zeros_like(W, dtype=np.float64)
    for o in range(OT):
        for j in range(k):
            dxp[:, o * s + j * d] += dz[:, o] @ W[j].T
            dW[j] += xp[:, o * s + j * d].T @ dz[:, o]
    return dxp[:, left:left + T], dW, dz.sum((0, 1))


def _configs():
    """(N, T, C, F, k, s, d, padding, act, use_bias): the three paddings, strides 1-3 and
    dilation 1-3 (not both > 1: Keras refuses that), odd and even lengths, k = 1 (the
    direct path)."""
    out = []
    g = np.random.default_rng(3)
    for i in range(18):
        padding = ["valid", "same", "causal"][i % 3]
        k = int(g.integers(1, 6))
        s, d = (int(g.integers(1, 4)), 1) if i % 2 else (1, int(g.integers(1, 4)))
        span = d * (k - 1) + 1
        T = int(g.integers(span if padding == "valid" else 1, span + 10))
        out.append((1 if i % 4 == 0 else 3, T, int(g.integers(1, 5)), int(g.integers(1, 5)),
                    k, s, d, padding, ["linear", "relu", "tanh"][i % 3], i % 5 != 4))
    out.append((2, 9, 3, 4, 1, 1, 1, "same", "relu", True))  # direct: no im2col
    return out


CONFIGS = _configs()


@pytest.fixture(params=["chunks of 1 sequence", "default chunks", "np.dot"])
def conv_path(request, monkeypatch):
    """The three ways Conv1D runs (as Conv2D): per-thread chunk kernels with one sequence
    per chunk or their default chunks, and the path for another BLAS (np.dot)."""
    if request.param == "chunks of 1 sequence":
        monkeypatch.setattr(conv1d_module, "_CHUNK_ROWS", 1)
    elif request.param == "np.dot":
        monkeypatch.setattr(conv1d_module, "cblas", lambda: None)
    return request.param


def _check_path(layer, path):
    OT, pad, chunk, direct, batched = layer._plan_
    if direct:
        return
    assert batched == (path != "np.dot")
    if path == "chunks of 1 sequence":
        assert chunk == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "T{1}k{4}s{5}d{6}{7}".format(*c))
def test_conv1d_matches_direct_loops(cfg, dtype, conv_path):
    N, T, C, F, k, s, d, padding, act, use_bias = cfg
    rng = np.random.default_rng([T, C, F, k, s, d])
    layer = Conv1D(F, k, strides=s, dilation_rate=d, padding=padding, activation=act,
                   use_bias=use_bias, dtype=dtype, bias_initializer="random_normal")
    x = rng.normal(size=(N, T, C)).astype(dtype)
    y = layer(x)
    W = layer.kernel.value.astype(np.float64)
    b = layer.bias.value.astype(np.float64) if use_bias else None
    z_ref = ref_conv1d(x.astype(np.float64), W, b, s, d, padding)[0]
    assert y.shape == z_ref.shape == (N,) + layer.compute_output_shape((None, T, C))[1:]
    np.testing.assert_allclose(y, ACT[act](z_ref), **TOL[dtype])
    dy = rng.normal(size=y.shape).astype(dtype)
    layer.kernel.grad[...] = 5.0  # must be overwritten, not accumulated
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = ref_conv1d_backward(dy * DACT[act](z_ref), x.astype(np.float64),
                                                 W, s, d, padding)
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    np.testing.assert_allclose(layer.kernel.grad, dW_ref, **TOL[dtype])
    if use_bias:
        np.testing.assert_allclose(layer.bias.grad, db_ref, **TOL[dtype])
    _check_path(layer, conv_path)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("s,d", [(1, 1), (2, 1), (1, 2)])
def test_conv1d_gradients(padding, s, d, float64, conv_path):
    layer = Conv1D(3, 3, strides=s, dilation_rate=d, padding=padding, activation="tanh",
                   bias_initializer="random_normal")
    check_layer(layer, (2, 9, 2))  # odd length
    _check_path(layer, conv_path)


def test_conv1d_gradients_more(float64):
    check_layer(Conv1D(2, 4, strides=3, padding="same", use_bias=False), (1, 11, 3))
    check_layer(Conv1D(4, 1, activation="softmax"), (2, 5, 3))  # direct path, softmax
    check_layer(Conv1D(3, 2, dilation_rate=3, padding="causal", activation="sigmoid"), (3, 7, 2))


def test_causal_output_never_reads_the_future(float64):
    rng = np.random.default_rng(0)
    layer = Conv1D(2, 3, dilation_rate=2, padding="causal")
    x = rng.normal(size=(1, 12, 2))
    y = layer(x)
    x2 = x.copy()
    x2[0, 7:] += 10.0  # change steps 7.. only
    y2 = layer(x2)
    np.testing.assert_array_equal(y[0, :7], y2[0, :7])
    assert np.all(np.abs(y[0, 7:] - y2[0, 7:]) > 0)


def test_same_padding_puts_the_extra_zero_at_the_end():
    # 4 steps, kernel of ones (2 taps), stride 1: total pad 1 -> 0 before, 1 after
    x = np.arange(1.0, 5.0).reshape(1, 4, 1)
    layer = Conv1D(1, 2, padding="SAME", kernel_initializer="ones", dtype="float64")
    np.testing.assert_array_equal(layer(x)[0, :, 0], [3, 5, 7, 4])
    # causal: 1 zero before: [1, 3, 5, 7]
    layer = Conv1D(1, 2, padding="causal", kernel_initializer="ones", dtype="float64")
    np.testing.assert_array_equal(layer(x)[0, :, 0], [1, 3, 5, 7])


def test_logits_forward_skips_the_activation(float64):
    rng = np.random.default_rng(1)
    layer = Conv1D(3, 3, padding="same", activation="softmax")
    x = rng.normal(size=(2, 6, 2))
    p = layer(x)
    z = layer.forward(x, logits=True).copy()
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(-1, keepdims=True), rtol=1e-12)
    dz = rng.normal(size=z.shape)
    dx = layer.backward(dz)
    lin = Conv1D(3, 3, padding="same")
    lin(x)
    lin.set_weights(layer.get_weights())
    lin.forward(x)
    np.testing.assert_allclose(dx, lin.backward(dz), rtol=1e-12)


def test_weights_layout_and_keras_order():
    layer = Conv1D(7, 5, use_bias=True)
    layer(np.zeros((1, 9, 3), np.float32))
    assert [w.shape for w in layer.get_weights()] == [(5, 3, 7), (7,)]
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert layer.count_params() == 5 * 3 * 7 + 7
    assert layer.flops((None, 9, 3)) == 5 * (2 * 5 * 3 * 7 + 7)


def test_conv1d_config_roundtrip_through_json():
    layer = Conv1D(4, (3,), strides=(2,), padding="causal", activation="relu",
                   kernel_regularizer="l2", dtype="float64")
    x = np.random.default_rng(0).normal(size=(2, 9, 3))
    check_config_roundtrip(layer, x)
    cfg = json.loads(json.dumps(base.serialize(layer)))
    assert cfg["class_name"] == "Conv1D"
    assert cfg["config"]["kernel_size"] == [3] and cfg["config"]["dilation_rate"] == [1]
    clone = base.deserialize(cfg)
    assert isinstance(clone, Conv1D) and clone.padding == "causal" and clone.strides == (2,)


@pytest.mark.parametrize("make,exc,word", [
    (lambda: Conv1D(2, 3, data_format="channels_first"), NotImplementedError, "channels_last"),
    (lambda: Conv1D(2, 3, groups=2), NotImplementedError, "groups"),
    (lambda: Conv1D(2, 3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (lambda: Conv1D(2, 3, padding="full"), ValueError, "padding"),
    (lambda: Conv1D(0, 3), ValueError, "filters"),
    (lambda: Conv1D(2, (3, 3)), ValueError, "kernel_size"),
    (lambda: MaxPooling1D(2, padding="causal"), ValueError, "padding"),
    (lambda: AveragePooling1D(2, data_format="channels_first"), NotImplementedError,
     "channels_last"),
    (lambda: GlobalAveragePooling1D(data_format="channels_first"), NotImplementedError,
     "channels_last"),
    (lambda: UpSampling1D(0), ValueError, "size"),
    (lambda: ZeroPadding1D(-1), ValueError, "padding"),
    (lambda: Cropping1D((1, 2, 3)), ValueError, "cropping"),
])
def test_bad_arguments(make, exc, word):
    with pytest.raises(exc, match=word):
        make()


def test_bad_inputs():
    x4 = np.zeros((2, 3, 4, 5), np.float32)
    for layer in (Conv1D(2, 3), MaxPooling1D(), GlobalAveragePooling1D(), UpSampling1D(),
                  Cropping1D()):
        with pytest.raises(ValueError, match="steps"):
            layer(x4)
    with pytest.raises(ValueError, match="shorter"):
        Conv1D(2, 3, dilation_rate=3)(np.zeros((1, 6, 2), np.float32))
    with pytest.raises(ValueError, match="shorter"):
        MaxPooling1D(4)(np.zeros((1, 3, 2), np.float32))
    with pytest.raises(ValueError, match="at least one step"):
        Cropping1D((2, 2))(np.zeros((1, 4, 2), np.float32))


# ------------------------------------------------------------------ pooling
def _untied(shape, seed=0):
    """A scaled random permutation: maxima unique and 0.05 apart (no ties for max pool)."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - 20.0) * 0.05


def ref_pool1d(x, p, s, padding, mode):
    """Windows clipped to the sequence (padding cells never count), by hand."""
    N, T, C = x.shape
    if padding == "same":
        OT = -(-T // s)
        left = max((OT - 1) * s + p - T, 0) // 2
    else:
        OT, left = (T - p) // s + 1, 0
    y = np.empty((N, OT, C))
    for o in range(OT):
        w = x[:, max(o * s - left, 0):min(o * s - left + p, T)]
        y[:, o] = w.max(1) if mode == "max" else w.mean(1)
    return y


@pytest.mark.parametrize("pool,strides,padding,T", [
    (2, None, "valid", 9), (3, 2, "same", 9), (3, 1, "valid", 7), (2, 3, "same", 10),
    (4, 2, "same", 11),
])
def test_pooling_gradients_and_values(pool, strides, padding, T, float64):
    shape = (2, T, 3)
    x = _untied(shape)
    for cls, mode in ((MaxPooling1D, "max"), (AveragePooling1D, "avg")):
        layer = cls(pool, strides, padding)
        want = ref_pool1d(x, pool, layer.strides[0], padding, mode)
        np.testing.assert_allclose(layer(x), want, rtol=1e-12)
        check_layer(layer, shape, x=x)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_gradients_and_values(keepdims, float64):
    shape = (3, 7, 4)
    x = _untied(shape)
    for cls, ref in ((GlobalAveragePooling1D, x.mean(1)), (GlobalMaxPooling1D, x.max(1))):
        layer = cls(keepdims=keepdims)
        y = layer(x)
        np.testing.assert_allclose(y.reshape(3, 4), ref, rtol=1e-12)
        assert y.shape == ((3, 1, 4) if keepdims else (3, 4))
        assert layer.compute_output_shape((None, 7, 4)) == ((None, 1, 4) if keepdims else (None, 4))
        check_layer(layer, shape, x=x)


def test_global_average_pooling_reads_the_mask(float64):
    assert GlobalAveragePooling1D.uses_mask and GlobalAveragePooling1D.supports_masking
    assert not GlobalMaxPooling1D.uses_mask and not GlobalMaxPooling1D.supports_masking
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 6, 2))
    mask = np.array([[1, 1, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1]], bool)
    layer = GlobalAveragePooling1D()
    assert layer.compute_mask(x, mask) is None
    y = layer(x, mask=mask)
    np.testing.assert_allclose(y[0], x[0, [0, 1, 3]].mean(0), rtol=1e-12)
    np.testing.assert_allclose(y[1], x[1].mean(0), rtol=1e-12)
    np.testing.assert_array_equal(y[2], x[2, 5])
    np.testing.assert_allclose(layer(x), x.mean(1), rtol=1e-12)  # no mask: all steps
    with pytest.raises(ValueError, match="mask"):
        layer(x, mask=mask[:, :4])
    # Keras 3: a sequence without any true step gives 0 / 0 = NaN
    assert np.all(np.isnan(layer(x, mask=np.zeros((3, 6), bool))))


def test_masking_attributes_match_keras():
    # Keras 3: of these only GlobalAveragePooling1D supports (and consumes) a mask
    for cls in (Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, UpSampling1D,
                ZeroPadding1D, Cropping1D):
        assert not cls.supports_masking and not cls.uses_mask and not cls.produces_mask
    x, mask = np.zeros((2, 5, 3), np.float32), np.ones((2, 5), bool)
    assert Conv1D(2, 3).compute_mask(x, mask) is None
    assert GlobalAveragePooling1D().compute_mask(x, mask) is None


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_mask_gradient(keepdims, float64):
    """Finite differences with a mask: the masked steps get exactly zero gradient."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 7, 2))
    mask = rng.random((3, 7)) < 0.6
    mask[:, 0] = True
    layer = GlobalAveragePooling1D(keepdims=keepdims)
    y = layer.forward(x, training=True, mask=mask)
    r = rng.normal(size=y.shape)

    def loss():
        return float(np.sum(layer.forward(x, training=True, mask=mask) * r))

    layer.forward(x, training=True, mask=mask)
    dx = np.array(layer.backward(r.copy()))
    idx, num = numeric_grad(loss, x, max_coords=x.size)
    np.testing.assert_allclose(dx.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)
    assert np.all(dx[~mask] == 0.0) and np.all(dx[mask] != 0.0)


# ------------------------------------------------------------------ reshaping
def test_upsampling_values_and_gradients(float64):
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    layer = UpSampling1D(3)
    np.testing.assert_array_equal(layer(x), np.repeat(x, 3, axis=1))
    assert layer.compute_output_shape((None, 5, 3)) == (None, 15, 3)
    check_layer(layer, (2, 5, 3))


@pytest.mark.parametrize("padding,want", [(1, (1, 1)), ((0, 3), (0, 3)), ([2, 0], (2, 0))])
def test_zero_padding_values_and_gradients(padding, want, float64):
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    layer = ZeroPadding1D(padding)
    assert layer.padding == want
    np.testing.assert_array_equal(layer(x), np.pad(x, ((0, 0), want, (0, 0))))
    check_layer(layer, (2, 5, 3))
    cf = ZeroPadding1D(padding, data_format="channels_first")  # (N, C, T)
    np.testing.assert_array_equal(cf(x), np.pad(x, ((0, 0), (0, 0), want)))
    check_layer(cf, (2, 5, 3))


@pytest.mark.parametrize("cropping,want", [((1, 1), (1, 1)), (2, (2, 2)), ((0, 3), (0, 3))])
def test_cropping_values_and_gradients(cropping, want, float64):
    x = np.random.default_rng(0).normal(size=(2, 9, 3))
    layer = Cropping1D(cropping)
    np.testing.assert_array_equal(layer(x), x[:, want[0]:9 - want[1]])
    assert layer.compute_output_shape((None, 9, 3)) == (None, 9 - sum(want), 3)
    check_layer(layer, (2, 9, 3))


@pytest.mark.parametrize("layer", [
    MaxPooling1D(3, 2, "same"), AveragePooling1D(2), GlobalAveragePooling1D(keepdims=True),
    GlobalMaxPooling1D(), UpSampling1D(2), ZeroPadding1D((1, 2)), Cropping1D((0, 1)),
], ids=lambda layer: type(layer).__name__)
def test_config_roundtrip_through_json(layer):
    x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype(np.float32)
    check_config_roundtrip(layer, x)
    clone = base.deserialize(json.loads(json.dumps(base.serialize(layer))))
    assert type(clone) is type(layer)
    np.testing.assert_array_equal(clone(x), layer(x))


def test_aliases_and_registry():
    L = nb.layers
    assert L.Convolution1D is L.Conv1D and L.MaxPool1D is L.MaxPooling1D
    assert L.AvgPool1D is L.AveragePooling1D and L.GlobalAvgPool1D is L.GlobalAveragePooling1D
    assert L.GlobalMaxPool1D is L.GlobalMaxPooling1D
    for alias, cls in (("Convolution1D", Conv1D), ("MaxPool1D", MaxPooling1D),
                       ("AvgPool1D", AveragePooling1D)):
        assert base.get_layer_class(alias) is cls
    spec = {"class_name": "MaxPool1D", "config": {"pool_size": 3}}
    assert isinstance(base.deserialize(spec), MaxPooling1D)
    layer = L.MaxPool1D()
    assert base.serialize(layer)["class_name"] == "MaxPooling1D"
    assert layer.pool_size == (2,) and layer.strides == (2,)


# ------------------------------------------------------------------ in a model, threads
def test_small_conv1d_model_trains_and_reloads(tmp_path):
    nb.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 20, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(1) > 0).astype(np.int64)
    m = nb.Sequential([nb.Input(shape=(20, 3)),
                       Conv1D(8, 3, padding="causal", activation="relu"), MaxPooling1D(2),
                       Conv1D(8, 3, dilation_rate=2, activation="relu"),
                       GlobalAveragePooling1D(), nb.layers.Dense(2, activation="softmax")])
    m.compile(nb.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy")
    hist = m.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < 0.7 * hist.history["loss"][0]
    path = tmp_path / "m.nbnet"
    m.save(path)
    np.testing.assert_array_equal(nb.load_model(path).predict(x, verbose=0),
                                  m.predict(x, verbose=0))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layer_bitwise_identical_at_1_and_2_threads(dtype):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(24, 257, 16)).astype(dtype)
    assert 24 * 257 * 5 * 16 * 32 // 32 >= small_parallel()  # the kernels do use 2 threads
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            out = []
            for layer in (Conv1D(32, 5, padding="same", activation="tanh", dtype=dtype,
                                 kernel_initializer=nb.initializers.GlorotUniform(seed=1)),
                          Conv1D(32, 3, dilation_rate=2, padding="causal", dtype=dtype,
                                 kernel_initializer=nb.initializers.GlorotUniform(seed=2))):
                layer(x[:1])  # build
                y = layer.forward(x, training=True).copy()
                dx = layer.backward(np.cos(y)).copy()
                out += [y, dx, layer.kernel.grad.copy(), layer.bias.grad.copy()]
            lengths = np.arange(24)[:, None] * 10 + 5  # a mask of ragged lengths
            out.append(GlobalAveragePooling1D(dtype=dtype)(x, mask=np.arange(257) < lengths))
            results.append(out)
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
