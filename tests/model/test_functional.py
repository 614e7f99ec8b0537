"""The functional API, written as the Keras 3 guide to it reads (`import nbnet as
keras`): Input, layer calls, keras.Model(inputs, outputs), shared layers, a model used
as a layer, feature extraction, a toy ResNet; float64 finite-difference gradients of
graphs with fan-out, fan-in and a shared layer; save / load / resume; the same numbers
as Sequential for a chain."""
import numpy as np
import pytest

import nbnet as keras
from nbnet import layers
from helpers import numeric_grad


def _data(n=128, d=16, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(keras.config.floatx())
    y = ((x[:, 0] > 0).astype(int) + (x[:, 1] > 0)) % k
    return x, y


# ------------------------------------------------------------- the guide, step by step
def test_guide_first_model_trains_evaluates_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(16,))
    assert inputs.shape == (None, 16) and inputs.dtype == np.float32
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(3)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    assert model.name == "mnist_model"
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Dense", "Dense", "Dense"]
    assert model.inputs == [inputs] and model.outputs == [outputs]
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    x_train, y_train = _data(512)
    # 12 epochs: Keras' RMSprop default (learning rate 0.001) is 10x below PyTorch's;
    # Keras 3.15 reaches 0.80-0.82 here (4 seeds), nbnet 0.81-0.82
    history = model.fit(x_train, y_train, batch_size=64, epochs=12, validation_split=0.2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x_train, y_train, verbose=0)
    assert acc > 0.6
    path = tmp_path / "guide.nbnet"
    model.save(path)
    del model
    model = keras.load_model(path)
    assert isinstance(model, keras.Model)
    again = keras.load_model(path)
    np.testing.assert_array_equal(model.predict(x_train), again.predict(x_train))


def test_chain_is_bitwise_the_same_as_sequential():
    """Batch norm + ReLU fused and softmax fused into the loss, in both."""
    def build(functional):
        keras.utils.set_random_seed(0)
        stack = [layers.Dense(32), layers.BatchNormalization(), layers.ReLU(),
                 layers.Dense(3, activation="softmax")]
        if not functional:
            return keras.Sequential([keras.Input(shape=(16,))] + stack)
        inp = keras.Input(shape=(16,))
        x = inp
        for layer in stack:
            x = layer(x)
        return keras.Model(inp, x)

    x, y = _data(300)
    out = []
    for functional in (False, True):
        m = build(functional)
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        h = m.fit(x, y, batch_size=32, epochs=3, validation_split=0.2, verbose=0)
        out.append((m.get_weights(), h.history, m.predict(x)))
    assert all(np.array_equal(a, b) for a, b in zip(out[0][0], out[1][0]))
    assert out[0][1] == out[1][1]
    np.testing.assert_array_equal(out[0][2], out[1][2])


def test_feature_extraction_and_layer_output():
    inputs = keras.Input(shape=(16,))
    h1 = layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, layers.Dense(2)(h1))
    extractor = keras.Model(inputs=model.inputs, outputs=model.get_layer("hidden").output)
    x, _ = _data(10)
    feats = extractor.predict(x)
    kernel, bias = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(feats, np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)
    assert model.get_layer("hidden").output.shape == (None, 8)


def test_shared_layer_has_two_nodes_and_summary_connects_them(capsys):
    inputs = keras.Input(shape=(8,), name="x")
    shared = layers.Dense(8, activation="tanh", name="shared")
    out = layers.Dense(1, name="head")(shared(shared(inputs)))
    model = keras.Model(inputs, out)
    assert len(shared._inbound_nodes) == 2
    with pytest.raises(AttributeError):
        shared.output                      # two calls: ambiguous, as in Keras
    model.summary()
    text = capsys.readouterr().out
    assert "Connected to" in text and "x[0][0], shared[0][0]" in text and "shared[1][0]" in text
    assert model.count_params() == 8 * 8 + 8 + 8 + 1


def test_model_used_as_a_layer_shares_its_weights():
    enc_in = keras.Input(shape=(16,))
    encoder = keras.Model(enc_in, layers.Dense(4, activation="relu")(enc_in), name="encoder")
    inp = keras.Input(shape=(16,))
    outer = keras.Model(inp, layers.Dense(2)(encoder(inp)), name="outer")
    assert outer.get_layer("encoder") is encoder
    x, _ = _data(5)
    W, b = encoder.layers[1].get_weights()
    V, c = outer.layers[-1].get_weights()
    np.testing.assert_allclose(outer.predict(x), np.maximum(x @ W + b, 0) @ V + c, rtol=1e-5,
                               atol=1e-6)
    outer.compile("sgd", "mse")
    outer.fit(x, np.ones((5, 2), np.float32), epochs=1, verbose=0)
    assert not np.array_equal(encoder.layers[1].get_weights()[0], W)   # trained through


def test_disconnected_graph_and_bad_inputs_are_clear_errors():
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    y = layers.Dense(2)(b)
    with pytest.raises(ValueError, match="disconnected"):
        keras.Model(a, y)
    with pytest.raises(ValueError, match="must come from nb.Input"):
        keras.Model(y, layers.Dense(1)(y))
    with pytest.raises(TypeError, match="inputs and outputs"):
        keras.Model()


def test_models_module_and_clone_model():
    from nbnet.models import Model, Sequential, clone_model, load_model  # noqa: F401
    inp = keras.Input(shape=(6,))
    model = Model(inp, layers.Dense(3)(layers.Dense(5)(inp)))
    clone = clone_model(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert clone.layers[1] is not model.layers[1]
    x, _ = _data(4, 6)
    assert clone.predict(x).shape == (4, 3)
    seq = Sequential([keras.Input(shape=(6,)), layers.Dense(2)])
    assert isinstance(clone_model(seq), Sequential) and clone_model(seq).output_shape == (None, 2)


# ------------------------------------------------------------- gradients of graphs
def _graph_grad_check(model, x, seed=0):
    """dL/dW of every trainable weight against central differences, L = sum(out * r)."""
    out = model._forward(x, training=True)
    r = np.random.default_rng(seed).normal(size=out.shape)

    def loss():
        return float(np.sum(model._forward(x, training=True) * r))

    model._forward(x, training=True)
    model._backward(r.copy())
    grads = [w.grad.copy() for w in model.trainable_weights]
    assert grads
    for w, g in zip(model.trainable_weights, grads):
        idx, num = numeric_grad(loss, w.value, seed=seed)
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8,
                                   err_msg=w.path)


def test_gradients_with_a_shared_layer(float64):
    inp = keras.Input(shape=(5,))
    shared = layers.Dense(5, activation="tanh")
    model = keras.Model(inp, layers.Dense(2)(shared(shared(inp))))
    _graph_grad_check(model, np.random.default_rng(3).normal(size=(7, 5)))


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum",
                                   "Minimum", "Concatenate"])
def test_gradients_with_fan_out_and_fan_in(float64, merge):
    """h is read by two layers (fan-out: their gradients add up) whose outputs meet in a
    merge layer (fan-in); a third path reads the input again."""
    inp = keras.Input(shape=(6,))
    h = layers.Dense(6, activation="tanh")(inp)
    left = layers.Dense(5, activation="tanh")(h)
    right = layers.Dense(5, activation="sigmoid")(h)
    joined = getattr(layers, merge)()([left, right])
    model = keras.Model(inp, layers.Dense(3)(joined))
    _graph_grad_check(model, np.random.default_rng(4).normal(size=(6, 6)))


def test_gradients_through_a_model_used_as_a_layer(float64):
    a_in = keras.Input(shape=(6,))
    inner = keras.Model(a_in, layers.Dense(4, activation="sigmoid")(
        layers.Dense(6, activation="tanh")(a_in)))
    inp = keras.Input(shape=(6,))
    h = layers.Dense(6, activation="tanh")(inp)
    model = keras.Model(inp, layers.Dense(3)(layers.Add()([inner(h), layers.Dense(4)(h)])))
    _graph_grad_check(model, np.random.default_rng(5).normal(size=(6, 6)))


def _toy_resnet(input_shape=(32, 32, 3), classes=10):
    """The Keras guide's toy ResNet for CIFAR-10 (smaller)."""
    inputs = keras.Input(shape=input_shape, name="img")
    x = layers.Conv2D(16, 3, activation="relu")(inputs)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(32, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(classes)(x)
    return keras.Model(inputs, outputs, name="toy_resnet")


def test_toy_resnet_trains_saves_and_resumes_bitwise(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(96, 32, 32, 3)).astype("float32")
    y = (x[:, :16].mean(axis=(1, 2, 3)) > x[:, 16:].mean(axis=(1, 2, 3))).astype(int)

    def run(epochs, resume_from=None):
        keras.utils.set_random_seed(1)
        model = _toy_resnet(classes=2)
        model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["acc"])
        cbs = [keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))] if resume_from else []
        h = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=cbs)
        return model, h

    model, h = run(4)
    losses = h.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    model.save(tmp_path / "resnet.nbnet")
    back = keras.load_model(tmp_path / "resnet.nbnet")
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    # resume: 2 epochs, then the same fit with BackupAndRestore picks up at epoch 3
    first, _ = run(2, resume_from=True)
    resumed, _ = run(4, resume_from=True)
    assert all(np.array_equal(a, b) for a, b in zip(resumed.get_weights(), model.get_weights()))


def test_residual_block_matches_pytorch_at_float64(float64):
    """conv-BN-ReLU-conv-BN + identity, Add, ReLU: forward and every gradient (training
    mode batch norm) from the same weights, against torch.nn at float64."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 6, 8))
    inp = keras.Input(shape=(6, 6, 8))
    c1, b1 = layers.Conv2D(8, 3, padding="same", use_bias=False), layers.BatchNormalization()
    c2, b2 = layers.Conv2D(8, 3, padding="same", use_bias=False), layers.BatchNormalization()
    h = layers.ReLU()(b1(c1(inp)))
    out = layers.ReLU()(layers.Add()([b2(c2(h)), inp]))
    model = keras.Model(inp, out)
    for bn in (b1, b2):   # non-trivial affine parameters
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(size=beta.shape), mean, var])

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = tnn.Conv2d(8, 8, 3, padding=1, bias=False), tnn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.b1, self.b2 = tnn.BatchNorm2d(8, eps=1e-3), tnn.BatchNorm2d(8, eps=1e-3)

        def forward(self, t):
            return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(t))))) + t)

    block = Block().double()
    with torch.no_grad():
        for conv, tconv in ((c1, block.c1), (c2, block.c2)):
            tconv.weight.copy_(torch.from_numpy(conv.get_weights()[0].transpose(3, 2, 0, 1).copy()))
        for bn, tbn in ((b1, block.b1), (b2, block.b2)):
            gamma, beta, _, _ = bn.get_weights()
            tbn.weight.copy_(torch.from_numpy(gamma))
            tbn.bias.copy_(torch.from_numpy(beta))
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    ty = block(tx)
    r = rng.normal(size=ty.shape)
    (ty * torch.from_numpy(r)).sum().backward()
    y = model._forward(np.ascontiguousarray(x), training=True)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-12)
    model.forward(np.ascontiguousarray(x), training=True)   # as a layer of a bigger model
    dx = model.backward(np.ascontiguousarray(r.transpose(0, 2, 3, 1)), need_dx=True)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-11)
    for conv, tconv in ((c1, block.c1), (c2, block.c2)):
        np.testing.assert_allclose(conv.weights[0].grad, tconv.weight.grad.numpy().transpose(2, 3, 1, 0),
                                   rtol=1e-9, atol=1e-11)
    for bn, tbn in ((b1, block.b1), (b2, block.b2)):
        np.testing.assert_allclose(bn.weights[0].grad, tbn.weight.grad.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(bn.weights[1].grad, tbn.bias.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_profile_and_cli_summary_of_a_functional_model(tmp_path):
    """The profiler times the model's own step, one row per layer call (a shared layer
    twice); `nbnet summary` prints the graph's "Connected to"."""
    from click.testing import CliRunner
    from nbnet.cli.main import main
    inp = keras.Input(shape=(12,), name="x")
    shared = layers.Dense(12, activation="relu", name="shared")
    out = layers.Dense(4, name="head")(layers.add([shared(shared(inp)), inp], name="sum"))
    model = keras.Model(inp, out)
    prof = keras.profiler.profile(model, batch_size=16, steps=3, warmup=1)
    names = [r["name"] for r in prof.rows]
    assert names == ["shared (Dense)", "shared (Dense)", "sum (Add)", "head (Dense)", "loss",
                     "optimizer update"]
    assert all(r["forward_s"] > 0 for r in prof.rows[:4])
    model.compile("adam", "mse")
    model.save(tmp_path / "g.nbnet")
    run = CliRunner().invoke(main, ["summary", str(tmp_path / "g.nbnet")])
    assert run.exit_code == 0, run.output
    assert "Connected to" in run.output and "shared[1][0], x[0][0]" in run.output
