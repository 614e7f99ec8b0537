"""Models with several inputs and outputs, as the Keras 3 guide to the functional API
builds them (`import nbnet as keras`): x and y as lists or dicts by name, a loss, loss
weight and metrics per output, Keras 3's log names; the trained loss against a NumPy
computation and its gradient against finite differences (float64); save / load /
resume; the same numbers as Keras 3 from the same weights (optional)."""
import os

import numpy as np
import pytest

import nbnet as keras
from nbnet import layers
from nbnet.errors import DataError
from helpers import numeric_grad


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _bce_logits(y, z):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def _ticket_model(num_tags=12, num_departments=4):
    """The guide's ticket classifier, with dense features for the title and body text
    (nbnet has no Embedding / LSTM yet)."""
    title = keras.Input(shape=(10,), name="title")
    body = keras.Input(shape=(20,), name="body")
    tags = keras.Input(shape=(num_tags,), name="tags")
    title_f = layers.Dense(16, activation="relu")(title)
    body_f = layers.Dense(8, activation="relu")(body)
    x = layers.concatenate([title_f, body_f, tags])
    priority = layers.Dense(1, name="priority")(x)
    department = layers.Dense(num_departments, name="department")(x)
    return keras.Model(inputs=[title, body, tags], outputs=[priority, department])


def _ticket_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = {"title": rng.normal(size=(n, 10)), "body": rng.normal(size=(n, 20)),
         "tags": rng.integers(0, 2, size=(n, 12)).astype("float32")}
    priority = (x["title"][:, :1] + x["tags"][:, :1] > 0.5).astype("float32")
    dept = np.argmax(x["body"][:, :4], axis=1)
    return x, {"priority": priority, "department": np.eye(4)[dept]}


def test_guide_ticket_model_with_dicts_and_loss_weights():
    keras.utils.set_random_seed(0)
    model = _ticket_model()
    assert model.input_names == ["title", "body", "tags"]
    assert model.output_names == ["priority", "department"]
    assert model.output_shape == [(None, 1), (None, 4)]
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=[keras.losses.BinaryCrossentropy(from_logits=True),
                        keras.losses.CategoricalCrossentropy(from_logits=True)],
                  loss_weights=[1.0, 0.2])
    x, y = _ticket_data()
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "priority_loss", "department_loss"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the trained loss is sum_k w_k loss_k, each computed as NumPy does
    priority, department = model.predict(x)
    assert priority.shape == (256, 1) and department.shape == (256, 4)
    want_p = _bce_logits(y["priority"], priority.astype(np.float64))
    want_d = -np.mean(np.sum(y["department"] * _log_softmax(department.astype(np.float64)), axis=1))
    logs = model.evaluate(x, y, batch_size=256, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["priority_loss"], want_p, rtol=1e-5)
    np.testing.assert_allclose(logs["department_loss"], want_d, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], want_p + 0.2 * want_d, rtol=1e-5)
    # lists in input / output order give the same numbers as dicts
    as_lists = model.evaluate([x["title"], x["body"], x["tags"]],
                              [y["priority"], y["department"]], batch_size=256, verbose=0)
    np.testing.assert_allclose(as_lists, [logs["loss"], logs["priority_loss"],
                                          logs["department_loss"]], rtol=1e-6)


def _two_heads(seed=0, feed=True):
    """Two inputs, a softmax head "cls" and a regression head "reg"; with feed, reg reads
    cls too (then cls's softmax cannot be fused into its loss)."""
    keras.utils.set_random_seed(seed)
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = layers.Dense(6, activation="tanh", name="hid")(layers.Concatenate(name="ab")([a, b]))
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(layers.Concatenate(name="h_cls")([h, cls]) if feed else h)
    return keras.Model([a, b], [cls, reg])


def _two_heads_data(n=40, seed=1):
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(n, 3)), rng.normal(size=(n, 2))]
    return x, [rng.integers(0, 3, n), rng.normal(size=(n, 1))]


def test_per_output_losses_and_metrics_as_lists_and_dicts():
    x, y = _two_heads_data()
    results = []
    for loss, metrics in ((["sparse_categorical_crossentropy", "mse"], [["accuracy"], ["mae"]]),
                          ({"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                           {"cls": "accuracy", "reg": ["mae"]})):
        model = _two_heads()
        model.compile("sgd", loss=loss, metrics=metrics)
        logs = model.evaluate(x, y, verbose=0, return_dict=True)
        # Keras 3's names and order (checked with Keras 3.15 on the torch backend)
        assert list(logs) == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]
        cls_p, reg_p = model.predict(x)
        np.testing.assert_allclose(logs["cls_accuracy"], np.mean(np.argmax(cls_p, 1) == y[0]))
        np.testing.assert_allclose(logs["reg_mae"], np.mean(np.abs(reg_p - y[1])), rtol=1e-5)
        results.append(model.evaluate(x, y, verbose=0))
    np.testing.assert_array_equal(results[0], results[1])
    # one loss for every output
    model = _two_heads()
    model.compile("sgd", loss="mse")
    yy = [np.eye(3)[y[0]], y[1]]
    logs = model.evaluate(x, yy, verbose=0, return_dict=True)
    cls_p, reg_p = model.predict(x)
    np.testing.assert_allclose(logs["cls_loss"], np.mean((cls_p - yy[0]) ** 2), rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], logs["cls_loss"] + logs["reg_loss"], rtol=1e-6)


def test_multi_io_mistakes_are_clear_errors():
    x, y = _two_heads_data()
    model = _two_heads()
    with pytest.raises(ValueError, match="one entry per output"):
        model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"], metrics=["mae"])
    with pytest.raises(ValueError, match=r"unknown output\(s\) \['clas'\]"):
        model.compile("sgd", loss={"clas": "mse", "reg": "mse"})
    with pytest.raises(ValueError, match=r"no loss for output\(s\) \['reg'\]"):
        model.compile("sgd", loss={"cls": "sparse_categorical_crossentropy"})
    with pytest.raises(ValueError, match="list of 3"):
        model.compile("sgd", loss=["mse"] * 3)
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(DataError, match=r"no entry for output\(s\) \['reg'\]"):
        model.fit(x, {"cls": y[0]}, verbose=0)
    with pytest.raises(DataError, match=r"2 inputs \['a', 'b'\]"):
        model.fit(x[0], y, verbose=0)
    with pytest.raises(DataError, match=r"input 'b'"):
        model.fit([x[0], x[1][:, :1]], y, verbose=0)
    with pytest.raises(DataError, match="different numbers of samples"):
        model.predict([x[0], x[1][:5]])
    with pytest.raises(DataError, match=r"output 'cls'.*out of range"):
        model.fit(x, [y[0] + 3, y[1]], verbose=0)
    with pytest.raises(ValueError, match="single output"):
        model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
    with pytest.raises(NotImplementedError, match="several outputs"):
        model(keras.Input((3,)))


@pytest.mark.parametrize("feed", [False, True])
def test_gradient_of_the_weighted_sum_of_losses(float64, feed):
    """One plain SGD step from train_on_batch gives the gradient, g = (w - w') / lr, of
    the loss that evaluate reports: sum_k loss_weights[k] * loss_k, with sample weights;
    through the softmax + cross-entropy fused (feed False) or a fan-out from the softmax
    head into the other (feed True)."""
    x, y = _two_heads_data(n=12)
    sw = np.random.default_rng(2).uniform(0.5, 2.0, size=12)
    model = _two_heads(feed=feed)
    lr = 1e-3
    model.compile(keras.optimizers.SGD(learning_rate=lr),
                  loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 0.3, "reg": 2.0})

    def loss():
        return model.evaluate(x, y, batch_size=12, sample_weight=sw, verbose=0)[0]

    loss()
    assert model._heads[0].fused is not feed

    before = [w.value.copy() for w in model.trainable_weights]
    nums = [numeric_grad(loss, w.value, seed=k) for k, w in enumerate(model.trainable_weights)]
    model.train_on_batch(x, y, sample_weight=sw)
    for w, w0, (idx, num) in zip(model.trainable_weights, before, nums):
        g = ((w0 - w.value) / lr).reshape(-1)
        np.testing.assert_allclose(g[idx], num, rtol=1e-6, atol=1e-8, err_msg=w.path)


def test_multi_io_saves_loads_and_resumes_bitwise(tmp_path):
    x, y = _two_heads_data(n=64)

    def run(epochs, backup=False):
        model = _two_heads(seed=3)
        model.compile(keras.optimizers.Adam(1e-2),
                      loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                      metrics={"cls": ["accuracy"]})
        cbs = [keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))] if backup else []
        model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=cbs)
        return model

    model = run(4)
    model.save(tmp_path / "two.nbnet")
    back = keras.load_model(tmp_path / "two.nbnet")
    assert back.output_names == ["cls", "reg"]
    for a, b in zip(back.predict(x), model.predict(x)):
        np.testing.assert_array_equal(a, b)
    assert back.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert back._loss_weights == [1.0, 0.5]
    run(2, backup=True)
    resumed = run(4, backup=True)
    assert all(np.array_equal(a, b) for a, b in zip(resumed.get_weights(), model.get_weights()))


def test_multi_io_matches_keras_from_the_same_weights():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    K = pytest.importorskip("keras")
    x, y = _two_heads_data(n=32)
    x = [a.astype("float32") for a in x]
    y = [y[0], y[1].astype("float32")]

    def build(lib):
        a, b = lib.Input((3,), name="a"), lib.Input((2,), name="b")
        h = lib.layers.Dense(6, activation="tanh", name="hid")(lib.layers.Concatenate()([a, b]))
        cls = lib.layers.Dense(3, activation="softmax", name="cls")(h)
        reg = lib.layers.Dense(1, name="reg")(lib.layers.Concatenate()([h, cls]))
        model = lib.Model([a, b], [cls, reg])
        model.compile(lib.optimizers.SGD(learning_rate=0.1),
                      loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[0.7, 1.5],
                      metrics=[["accuracy"], ["mae"]])
        return model

    ours, theirs = build(keras), build(K)
    theirs.set_weights(ours.get_weights())
    for name, a, b in zip(["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"],
                          ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=name)
    ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_profile_and_cli_of_a_multi_io_model(tmp_path):
    """The profiler makes data and losses for every input and output; nbnet predict,
    which reads one table, says why it cannot take two inputs (exit 2, no traceback)."""
    from click.testing import CliRunner
    from nbnet.cli.main import main
    model = _two_heads()
    prof = keras.profiler.profile(model, batch_size=16, steps=3, warmup=1)
    assert [r["name"] for r in prof.rows] == [
        "ab (Concatenate)", "hid (Dense)", "cls (Dense)", "h_cls (Concatenate)", "reg (Dense)",
        "loss", "optimizer update"]
    assert isinstance(model.loss, list) and len(model.loss) == 2
    model.save(tmp_path / "two.nbnet")
    (tmp_path / "x.csv").write_text("a1,a2,a3,b1,b2\n1,2,3,4,5\n")
    run = CliRunner().invoke(main, ["predict", str(tmp_path / "two.nbnet"), str(tmp_path / "x.csv")])
    assert run.exit_code == 2, run.output
    assert "one input and one output" in run.output and "Traceback" not in run.output
