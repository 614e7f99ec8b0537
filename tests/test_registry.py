"""One registry type for layers, losses, metrics, optimizers, initializers and
activations (nbnet.registry): Keras 3's get / serialize / deserialize, loud refusal
of a taken name, no private or abstract class reachable from a spec, losses that
declare their target kind as data, and the CLI's lists read from the registry."""
import json

import numpy as np
import pytest

import nbnet as nb
from nbnet import layers, losses
from nbnet.registry import ALL, Registry


def test_every_kind_has_one_registry_with_the_public_names():
    assert set(ALL) >= {"layer", "loss", "metric", "optimizer", "initializer", "activation"}
    assert {"Dense", "Conv2D", "BatchNormalization", "Add", "Concatenate", "MaxPool2D",
            "InputLayer"} <= set(ALL["layer"].class_names())
    assert {"mse", "sparse_categorical_crossentropy", "huber"} <= set(ALL["loss"].names())
    assert {"accuracy", "acc", "mae"} <= set(ALL["metric"].names())
    assert ALL["optimizer"].names() == ["adadelta", "adagrad", "adam", "adamax", "adamw", "lamb",
                                        "lion", "nadam", "rmsprop", "sgd"]
    assert {"glorot_uniform", "kaiming_normal", "orthogonal"} <= set(ALL["initializer"].names())
    assert {"relu", "softmax", "swish", "silu"} <= set(ALL["activation"].class_names())


@pytest.mark.parametrize("name", ["KernelLayer", "ActivationBase", "Merge", "_Pooling2D",
                                  "_Extreme", "_GlobalPooling2D", "Layer"])
def test_private_and_abstract_layer_classes_cannot_be_named_in_a_spec(name):
    assert name not in ALL["layer"]
    with pytest.raises(ValueError, match=f"unknown layer {name!r}"):
        nb.layers.deserialize({"class_name": name, "config": {}})
    with pytest.raises(ValueError, match="unknown layer"):
        nb.models.model_from_config({"layers": [{"class_name": name, "config": {}}]})


def test_a_taken_name_is_refused_loudly():
    with pytest.raises(ValueError, match=r"layer name 'Dense' is already taken by "
                                         r"nbnet\.layers\.core\.Dense"):
        class Dense(layers.Layer):   # noqa: F811 - the point of the test
            pass
    with pytest.raises(ValueError, match="loss name 'mse' is already taken"):
        @losses.LOSSES.register(aliases=("mse",))
        class MyMSE(losses.MeanSquaredError):
            pass


def test_registry_rules_on_a_fresh_registry():
    reg = Registry("widget")

    class Widget:
        def __init__(self, size=1):
            self.size = size

        def get_config(self):
            return {"size": self.size}

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    reg.register(Widget, aliases=("widget", "w"))
    reg.register(Widget, aliases=("w",))             # the same object again: fine
    twin = type("Widget", (Widget,), {"__module__": Widget.__module__,
                                      "__qualname__": Widget.__qualname__})
    reg.register(twin, aliases=("widget", "w"))      # the same definition re-run: replaces
    assert reg.lookup("Widget") is twin and reg.lookup("W") is twin
    with pytest.raises(ValueError, match="private or abstract"):
        reg.register(type("_Hidden", (), {}))
    # Keras 3 get: None, strings (any case for aliases) -> new instances, dicts, classes
    assert reg.get(None) is None
    a, b = reg.get("W"), reg.get("w")
    assert isinstance(a, Widget) and a is not b
    assert reg.get(len) is len                       # any callable when instance_of is None
    with pytest.raises(ValueError, match="cannot interpret"):
        reg.get(a)
    spec = json.loads(json.dumps(reg.serialize(twin(size=3))))
    assert spec == {"class_name": "Widget", "config": {"size": 3}}
    assert reg.deserialize(spec).size == 3
    with pytest.raises(ValueError, match="unknown widget 'gadget'; known: w, widget"):
        reg.get("gadget")
    with pytest.raises(ValueError, match="is not a registered widget"):
        reg.serialize(object())


def test_module_get_follows_keras():
    mse = losses.get("MSE")
    assert type(mse) is losses.MeanSquaredError and losses.get(mse) is mse
    assert type(losses.get(losses.Huber)) is losses.Huber
    assert type(losses.get({"class_name": "Huber", "config": {"delta": 2.0}})) is losses.Huber
    assert nb.initializers.get(None) is None
    assert nb.optimizers.get({"class_name": "adam", "config": {}}).__class__ is nb.optimizers.Adam
    assert nb.metrics.get("acc").name == "acc"       # the user's spelling names the metric
    for bad, get in ((42, losses.get), (np.zeros(2), nb.optimizers.get), (3.0, nb.metrics.get)):
        with pytest.raises(ValueError, match="cannot interpret"):
            get(bad)
    with pytest.raises(ValueError, match="not a registered loss"):
        losses.get(dict)


def test_losses_declare_their_target_and_logits_activation():
    kinds = {name: (cls.target, cls.logits_activation)
             for name, cls in ((n, ALL["loss"].lookup(n)) for n in ALL["loss"].class_names())}
    assert kinds["SparseCategoricalCrossentropy"] == ("sparse", "softmax")
    assert kinds["CategoricalCrossentropy"] == ("categorical", "softmax")
    assert kinds["BinaryCrossentropy"] == ("binary", "sigmoid")
    for name in ("MeanSquaredError", "MeanAbsoluteError", "Huber", "SmoothL1"):
        assert kinds[name] == ("regression", None)


def test_a_new_classification_loss_is_one_class(monkeypatch):
    """Declared as data, a new loss gets label checks, the fused softmax path and the
    accuracy metric's choice without touching any other file."""
    for table in ("_by_name", "_by_alias"):   # registered for this test only
        monkeypatch.setattr(losses.LOSSES, table, dict(getattr(losses.LOSSES, table)))
    @losses.LOSSES.register(aliases=("halved_sparse_ce",))
    class HalvedSparseCE(losses.SparseCategoricalCrossentropy):
        def forward_backward(self, grad, y_pred, y_true):
            loss = super().forward_backward(grad, y_pred, y_true)
            grad *= grad.dtype.type(0.5)
            return 0.5 * loss

        def per_sample(self, y_true, y_pred):
            return 0.5 * super().per_sample(y_true, y_pred)

    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    model = nb.Sequential([nb.Input((4,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "halved_sparse_ce", metrics=["accuracy"])
    with pytest.raises(nb.errors.DataError, match="halved_sparse_ce|integer labels|out of range"):
        model.fit(x, y + 5, verbose=0)
    plain = nb.models.clone_model(model)
    plain.set_weights(model.get_weights())
    plain.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    want = plain.evaluate(x, y, verbose=0, return_dict=True)
    assert model._heads[0].fused                     # softmax handed over as logits
    np.testing.assert_allclose(got["loss"], 0.5 * want["loss"], rtol=1e-6)
    assert got["accuracy"] == want["accuracy"]


def test_cli_lists_optimizers_and_losses_from_the_registry():
    from click.testing import CliRunner
    from nbnet.cli.main import main
    run = CliRunner().invoke(main, ["train", "--help"], terminal_width=400)
    assert run.exit_code == 0
    text = " ".join(run.output.split())
    assert "Optimizer: " + ", ".join(ALL["optimizer"].names()) in text
    assert "Loss: " + ", ".join(ALL["loss"].names()) in text
