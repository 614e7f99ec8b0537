"""LayerNormalization, GroupNormalization, Embedding against PyTorch at float64 from the
same weights (outputs and gradients); layer results bitwise equal at 1 and 2 threads;
and, where keras is installed, outputs against Keras 3 itself (torch backend)."""
import os
import sys

import numba
import numpy as np
import pytest

import nbnet as nb
from nbnet.layers import Embedding, GroupNormalization, LayerNormalization, Masking

torch = pytest.importorskip("torch")


def _t(a, grad=False):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=grad)


def _close(a, b):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("shape,axis", [((5, 8), -1), ((3, 4, 6), -1), ((3, 4, 5), [1, 2]),
                                        ((64, 130), -1)])
def test_layernorm_matches_torch(float64, rng, shape, axis):
    layer = LayerNormalization(axis=axis, epsilon=1e-4)
    x = rng.normal(size=shape) * 2 + 0.5
    layer(x)
    gamma = rng.uniform(0.5, 2, layer.gamma.shape)
    beta = rng.normal(size=layer.beta.shape)
    layer.set_weights([gamma, beta])
    dy = rng.normal(size=shape)
    y = layer.forward(x, training=True)
    y = np.array(y)
    dx = np.array(layer.backward(dy))

    tl = torch.nn.LayerNorm(gamma.shape, eps=1e-4, dtype=torch.float64)
    with torch.no_grad():
        tl.weight.copy_(_t(gamma))
        tl.bias.copy_(_t(beta))
    xt = _t(x, grad=True)
    yt = tl(xt)
    yt.backward(_t(dy))
    _close(y, yt)
    _close(dx, xt.grad)
    _close(layer.gamma.grad, tl.weight.grad)
    _close(layer.beta.grad, tl.bias.grad)


@pytest.mark.parametrize("shape,groups", [((2, 5, 4, 6), 3), ((3, 7, 9, 8), 8), ((2, 11, 12), 1),
                                          ((4, 6), 2)])
def test_groupnorm_matches_torch_on_nchw(float64, rng, shape, groups):
    layer = GroupNormalization(groups=groups, epsilon=1e-4)
    x = rng.normal(size=shape) * 3 - 1
    layer(x)
    c = shape[-1]
    gamma, beta = rng.uniform(0.5, 2, c), rng.normal(size=c)
    layer.set_weights([gamma, beta])
    dy = rng.normal(size=shape)
    y = np.array(layer.forward(x, training=True))
    dx = np.array(layer.backward(dy))

    to_first = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))   # NHWC -> NCHW
    to_last = (0,) + tuple(range(2, x.ndim)) + (1,)
    tg = torch.nn.GroupNorm(groups, c, eps=1e-4, dtype=torch.float64)
    with torch.no_grad():
        tg.weight.copy_(_t(gamma))
        tg.bias.copy_(_t(beta))
    xt = _t(x.transpose(to_first), grad=True)
    yt = tg(xt)
    yt.backward(_t(dy.transpose(to_first)))
    _close(y, yt.detach().numpy().transpose(to_last))
    _close(dx, xt.grad.numpy().transpose(to_last))
    _close(layer.gamma.grad, tg.weight.grad)
    _close(layer.beta.grad, tg.bias.grad)


def test_embedding_matches_torch_with_repeated_ids(float64, rng):
    v, d = 11, 6
    layer = Embedding(v, d)
    ids = rng.integers(0, v, (8, 9))
    ids[:, :3] = 4   # repeated
    layer(ids)
    W = rng.normal(size=(v, d))
    layer.set_weights([W])
    dy = rng.normal(size=(8, 9, d))
    y = np.array(layer.forward(ids.astype(np.float64), training=True))
    layer.backward(dy)

    te = torch.nn.Embedding(v, d, dtype=torch.float64)
    with torch.no_grad():
        te.weight.copy_(_t(W))
    yt = te(torch.tensor(ids))
    yt.backward(_t(dy))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    _close(layer.embeddings.grad, te.weight.grad)


def test_layers_bitwise_identical_at_1_and_2_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 80, 128)).astype(np.float32)
    dy = rng.normal(size=x.shape).astype(np.float32)
    ids = np.minimum(rng.zipf(1.5, (256, 80)) - 1, 4999)
    dye = rng.normal(size=(256, 80, 64)).astype(np.float32)
    old = nb.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            nb.set_num_threads(t)
            nb.utils.set_random_seed(0)
            ln, gn, emb = LayerNormalization(), GroupNormalization(groups=16), Embedding(5000, 64)
            out = [np.array(ln(x, training=True)), ln.backward(dy).copy(), ln.gamma.grad.copy(),
                   ln.beta.grad.copy()]
            xg = x.reshape(64, 8, 10, 128)
            out += [np.array(gn(xg, training=True)), gn.backward(dy.reshape(xg.shape)).copy(),
                    gn.gamma.grad.copy(), gn.beta.grad.copy()]
            emb(ids)
            emb.backward(dye)
            out.append(emb.embeddings.grad.copy())
            results.append(out)
    finally:
        nb.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- Keras 3 itself
def _keras():
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "torch") != "torch":
        pytest.skip("keras already imported with another backend")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("keras runs another backend")
    return keras


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # Keras' own np.array(x) calls
def test_outputs_match_keras(float64, rng):
    keras = _keras()
    x = rng.normal(size=(3, 4, 6)) * 2 + 1
    cases = [(LayerNormalization(), keras.layers.LayerNormalization(dtype="float64")),
             (LayerNormalization(axis=[1, 2], epsilon=1e-2),
              keras.layers.LayerNormalization(axis=[1, 2], epsilon=1e-2, dtype="float64")),
             (LayerNormalization(rms_scaling=True),
              keras.layers.LayerNormalization(rms_scaling=True, dtype="float64")),
             (LayerNormalization(rms_scaling=True, scale=False, axis=[1, 2]),
              keras.layers.LayerNormalization(rms_scaling=True, scale=False, axis=[1, 2],
                                              dtype="float64")),
             (GroupNormalization(groups=3), keras.layers.GroupNormalization(groups=3, dtype="float64")),
             (GroupNormalization(groups=-1), keras.layers.GroupNormalization(groups=-1, dtype="float64")),
             (Masking(mask_value=1.0), keras.layers.Masking(mask_value=1.0, dtype="float64"))]
    # NOTE: axis=1 of a 3-D input is not compared: Keras 3.15's torch backend sends
    # any contiguous axis list to F.layer_norm, which normalises trailing axes only.
    x_masked = x.copy()
    x_masked[1, 2] = 1.0
    for ours, theirs in cases:
        xi = x_masked if isinstance(ours, Masking) else x
        ours(xi)
        theirs(xi)
        assert [w.name for w in ours.weights] == [w.name.split("/")[-1] for w in theirs.weights]
        weights = [rng.uniform(0.5, 2, w.shape) for w in ours.weights]
        ours.set_weights(weights)
        theirs.set_weights(weights)
        expected = keras.ops.convert_to_numpy(theirs(xi))
        # NOTE: Keras 3.15 normalises in result_type(x.dtype, "float32"), which is float32
        # even for float64 input: agreement to float32 rounding only.
        tol = dict(rtol=0, atol=0) if isinstance(ours, Masking) else dict(rtol=2e-6, atol=2e-6)
        np.testing.assert_allclose(ours(xi), expected, **tol,
                                   err_msg=type(ours).__name__ + str(ours.get_config()))
        if isinstance(ours, Masking):
            mask = keras.ops.convert_to_numpy(theirs.compute_mask(xi))
            np.testing.assert_array_equal(ours.compute_mask(xi, None), mask)
    ids = rng.integers(0, 9, (3, 5))
    ids[0, :2] = 0
    ours, theirs = Embedding(9, 4, mask_zero=True), keras.layers.Embedding(9, 4, mask_zero=True,
                                                                         dtype="float64")
    ours(ids)
    theirs(ids)
    W = rng.normal(size=(9, 4))
    ours.set_weights([W])
    theirs.set_weights([W])
    np.testing.assert_array_equal(ours(ids), keras.ops.convert_to_numpy(theirs(ids)))
    np.testing.assert_array_equal(ours.compute_mask(ids, None),
                                  keras.ops.convert_to_numpy(theirs.compute_mask(ids)))
    # the configs nbnet writes name Keras' arguments with Keras' defaults
    for ours, theirs in ((LayerNormalization(), keras.layers.LayerNormalization()),
                         (GroupNormalization(), keras.layers.GroupNormalization()),
                         (Embedding(3, 2), keras.layers.Embedding(3, 2)),
                         (Masking(), keras.layers.Masking())):
        kc = theirs.get_config()
        for key, value in ours.get_config().items():
            if key not in ("name", "dtype", "trainable") and not key.endswith("initializer"):
                assert kc[key] == value, (type(ours).__name__, key)
