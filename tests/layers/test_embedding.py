"""Embedding and Masking layers (Keras 3 semantics)."""
import json

import numpy as np
import pytest

import nbnet as nb
from helpers import check_config_roundtrip, check_layer, check_layer_grad, numeric_grad
from nbnet.layers import Embedding, Masking


def _check_embedding(layer, ids, seed=0):
    """check_layer for Embedding: shape, finite-difference gradient w.r.t. the
    embeddings only (ids have none: backward returns None), config round trip."""
    y = layer(ids)
    expected = layer.compute_output_shape((None,) + ids.shape[1:])
    assert y.shape == (ids.shape[0],) + tuple(expected[1:])
    r = np.random.default_rng(seed).normal(size=y.shape)

    def loss():
        return float(np.sum(layer.forward(ids) * r))

    layer.forward(ids, training=True)
    assert layer.backward(r.copy()) is None
    grad = layer.embeddings.grad.copy()
    idx, num = numeric_grad(loss, layer.embeddings.value, seed=seed, max_coords=10**6)
    np.testing.assert_allclose(grad.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)
    check_config_roundtrip(layer, ids)


@pytest.mark.parametrize("shape,v,d", [((4, 6), 5, 3), ((3,), 4, 2), ((2, 3, 4), 6, 5)])
def test_embedding_check_layer_with_repeated_ids(float64, rng, shape, v, d):
    ids = rng.integers(0, v, shape).astype(np.float64)
    ids.reshape(-1)[:3] = 1   # a repeated id
    _check_embedding(Embedding(v, d), ids)


def test_embedding_output_is_the_table_lookup_for_float_and_int_ids(rng):
    layer = Embedding(7, 4)
    ids = np.array([[0, 6, 3, 3], [1, 1, 2, 5]])
    y = layer(ids)
    W = layer.embeddings.value
    assert y.shape == (2, 4, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(y, W[ids])
    np.testing.assert_array_equal(layer.forward(ids.astype(np.int32)), W[ids])  # ints as given
    np.testing.assert_array_equal(layer.forward(ids.astype(np.float64)), W[ids])
    assert layer.compute_output_shape((None, 4)) == (None, 4, 4)
    assert [w.name for w in layer.weights] == ["embeddings"] and W.shape == (7, 4)
    assert np.all(np.abs(W) <= 0.05) and W.std() > 0   # Keras' "uniform": U(-0.05, 0.05)


def test_embedding_gradient_sums_repeated_ids(float64, rng):
    layer = Embedding(5, 3)
    ids = np.array([[2, 2, 0], [2, 4, 0]])
    layer(ids)
    dy = rng.normal(size=(2, 3, 3))
    layer.forward(ids, training=True)
    layer.backward(dy)
    expected = np.zeros((5, 3))
    np.add.at(expected, ids.reshape(-1), dy.reshape(-1, 3))
    np.testing.assert_allclose(layer.embeddings.grad, expected, rtol=1e-14)
    layer.backward(dy)   # overwrites, never accumulates
    np.testing.assert_allclose(layer.embeddings.grad, expected, rtol=1e-14)
    assert np.all(layer.embeddings.grad[[1, 3]] == 0)


@pytest.mark.parametrize("bad,msg", [(1.5, "not an integer"), (5, "out of range"),
                                     (-1, "out of range"), (np.nan, "not an integer"),
                                     (np.inf, "out of range")])
def test_embedding_refuses_bad_ids_naming_layer_and_value(rng, bad, msg):
    layer = Embedding(5, 2, name="tok")
    ids = np.array([[0, 1, bad]], dtype=np.float64)
    with pytest.raises(nb.DataError, match=msg) as e:
        layer(ids)
    assert "tok" in str(e.value) and f"token id {bad!r}" in str(e.value)
    assert isinstance(e.value, ValueError)
    if np.isfinite(bad) and bad == int(bad):
        with pytest.raises(nb.DataError, match=f"tok.*{int(bad)}.*out of range"):
            layer.forward(np.array([[0, int(bad)]]))   # integer ids too


def test_embedding_mask_zero(rng):
    layer = Embedding(6, 2, mask_zero=True)
    ids = np.array([[3, 1, 0, 0], [2, 0, 5, 0]])
    assert layer.produces_mask and layer.supports_masking
    np.testing.assert_array_equal(layer.compute_mask(ids, None), ids != 0)
    assert Embedding(6, 2).compute_mask(ids, None) is None
    assert not Embedding(6, 2).produces_mask


def test_embedding_arguments_and_config(rng):
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match="input_dim"):
            Embedding(bad, 3)
        with pytest.raises(ValueError, match="output_dim"):
            Embedding(3, bad)
    with pytest.raises(NotImplementedError, match="lora"):
        Embedding(3, 2, lora_rank=4)
    with pytest.raises(NotImplementedError, match="quantization"):
        Embedding(3, 2, quantization_config={"mode": "int8"})
    Embedding(3, 2, lora_rank=None, lora_alpha=None, quantization_config=None)  # Keras' defaults
    layer = Embedding(9, 4, mask_zero=True, embeddings_regularizer="l2",
                      embeddings_constraint="unit_norm", name="emb3")
    cfg = json.loads(json.dumps(layer.get_config()))
    assert (cfg["input_dim"], cfg["output_dim"], cfg["mask_zero"],
            cfg["embeddings_initializer"]) == (9, 4, True, "uniform")
    ids = rng.integers(0, 9, (2, 5))
    clone = Embedding.from_config(cfg)
    clone(ids)
    layer(ids)
    assert clone.embeddings.regularizer is not None and clone.embeddings.constraint is not None
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(ids), layer(ids))
    assert clone.get_config() == layer.get_config()
    # a Keras config (the keys Keras 3 writes) loads
    keras_cfg = {"name": "e", "trainable": True, "input_dim": 3, "output_dim": 2,
                 "embeddings_initializer": "uniform", "embeddings_regularizer": None,
                 "activity_regularizer": None, "embeddings_constraint": None,
                 "mask_zero": False, "quantization_config": None}
    assert Embedding.from_config(keras_cfg).get_config()["input_dim"] == 3


def test_embedding_weights_argument(rng):
    W = rng.normal(size=(4, 3)).astype(np.float32)
    layer = Embedding(4, 3, weights=[W])
    np.testing.assert_array_equal(layer(np.array([[3, 0]])), W[[[3, 0]]])
    np.testing.assert_array_equal(Embedding(4, 3, weights=W).embeddings.value, W)
    with pytest.raises(ValueError, match="shape"):
        Embedding(4, 2, weights=W)


def test_embedding_frozen_writes_no_grad(rng):
    layer = Embedding(4, 3)
    ids = np.array([[1, 2]])
    layer(ids)
    layer.trainable = False
    layer.embeddings.grad[...] = 5.0
    layer.forward(ids)
    assert layer.backward(np.ones((1, 2, 3))) is None
    assert np.all(layer.embeddings.grad == 5.0)


# ---------------------------------------------------------------- Masking
def test_masking_check_layer(float64):
    check_layer(Masking(), (3, 4, 5))   # normal data: no step equals 0 everywhere


def test_masking_zeroes_masked_steps_and_makes_the_mask(float64, rng):
    layer = Masking(mask_value=-1.0)
    x = rng.normal(size=(2, 5, 3))
    x[0, 1] = -1.0
    x[1, 3] = -1.0
    x[1, 4, 0] = -1.0     # only partly equal: kept
    keep = np.ones((2, 5), bool)
    keep[0, 1] = keep[1, 3] = False
    y = layer(x)
    np.testing.assert_array_equal(y, np.where(keep[..., None], x, 0.0))
    np.testing.assert_array_equal(layer.compute_mask(x, None), keep)
    assert layer.produces_mask and layer.supports_masking
    dy = rng.normal(size=x.shape)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(dy), dy * keep[..., None])
    assert layer.backward(dy, need_dx=False) is None
    # elsewhere the layer is the identity: finite differences agree away from the mask
    check_layer_grad(layer, x[:, [0, 2, 4]] + 0.0)


def test_masking_config(rng):
    check_config_roundtrip(Masking(mask_value=2.5), rng.normal(size=(2, 3, 4)))
    assert Masking().get_config()["mask_value"] == 0.0
    with pytest.raises(ValueError, match="mask_value"):
        Masking(mask_value="x")


def test_in_a_model_fit_lowers_the_loss_and_save_load_predicts_the_same(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, (64, 7))
    y = (x.sum(1) > 66).astype(int)
    nb.utils.set_random_seed(0)
    m = nb.Sequential([nb.Input(shape=(7,)), Embedding(20, 8), Masking(),
                       nb.layers.LayerNormalization(), nb.layers.Flatten(),
                       nb.layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    h = m.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    m.save(tmp_path / "m.nbnet")
    np.testing.assert_array_equal(nb.load_model(tmp_path / "m.nbnet").predict(x), m.predict(x))
    with pytest.raises(nb.DataError, match="embedding.*25"):
        m.predict(np.where(x == x[0, 0], 25, x))
