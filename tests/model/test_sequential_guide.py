"""The Keras guide to the Sequential model, run with `import nbnet as keras`."""
import numpy as np
import pytest

import nbnet as keras
from nbnet import layers


def test_list_construction_equals_chained_layers():
    model = keras.Sequential([
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ])
    x = np.ones((3, 3))
    y = model(x)
    assert y.shape == (3, 4)
    # The same computation, layer by layer.
    l1, l2, l3 = model.layers
    np.testing.assert_allclose(l3(l2(l1(x))), y, rtol=1e-6)
    assert [l.name for l in model.layers] == ["layer1", "layer2", "layer3"]


def test_incremental_add_and_pop():
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    assert len(model.layers) == 3
    model.pop()
    assert len(model.layers) == 2
    model = keras.Sequential(name="my_sequential")
    assert model.name == "my_sequential"


def test_lazy_weights_created_on_first_call():
    layer = layers.Dense(3)
    assert layer.weights == []
    layer(np.ones((1, 4)))
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential([
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ])
    assert len(model.weights) == 0
    assert not model.built
    model(np.ones((1, 4)))
    assert model.built
    assert len(model.weights) == 6


def test_input_object_builds_immediately_and_is_not_a_layer():
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    assert len(model.layers) == 1
    assert [w.shape for w in model.weights] == [(4, 2), (2,)]
    assert model.output_shape == (None, 2)


def test_input_shape_argument_on_first_layer():
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
    assert len(model.weights) == 2
    assert model.input_shape == (None, 4)


def test_summary_lists_layers_shapes_params_and_flops(capsys):
    model = keras.Sequential([keras.Input(shape=(784,)),
                              layers.Dense(64, activation="relu", name="hidden"),
                              layers.Dense(10, name="out")])
    model.summary()
    out = capsys.readouterr().out
    for text in ("Layer (type)", "Output Shape", "Param #", "FLOPs", "hidden (Dense)",
                 "(None, 64)", "50,240", "out (Dense)", "(None, 10)", "650",
                 "Total params: 50,890", "Trainable params: 50,890", "Non-trainable params: 0"):
        assert text in out, text


def test_convnet_summary_shapes():
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    assert model.output_shape == (None, 40, 40, 32)
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    assert model.output_shape == (None, 4, 4, 32)
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert model.output_shape == (None, 10)


def test_get_layer_by_name_and_index():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, name="a"),
                              layers.Dense(1, name="b")])
    assert model.get_layer("b") is model.layers[1]
    assert model.get_layer(index=0).name == "a"
    with pytest.raises(ValueError, match="no layer named"):
        model.get_layer("c")


def test_freezing_layers_keeps_their_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8,)),
                              layers.Dense(16, activation="relu"),
                              layers.Dense(16, activation="relu"),
                              layers.Dense(3)])
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 4
    frozen = [w.numpy() for l in model.layers[:-1] for w in l.weights]
    last = model.layers[-1].get_weights()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 8)), rng.integers(0, 3, 64), epochs=2, verbose=0)
    for before, w in zip(frozen, [w for l in model.layers[:-1] for w in l.weights]):
        np.testing.assert_array_equal(before, w.numpy())
    assert not np.array_equal(last[0], model.layers[-1].get_weights()[0])
    model.summary(print_fn=lambda s: None)


def test_feature_extraction_from_an_inner_layer():
    model = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(4, activation="relu", name="f"),
                              layers.Dense(2)])
    x = np.random.default_rng(1).normal(size=(3, 5))
    feats = keras.Sequential([keras.Input(shape=(5,)), model.get_layer("f")])
    np.testing.assert_allclose(feats(x), model.get_layer("f")(x), rtol=1e-7)
