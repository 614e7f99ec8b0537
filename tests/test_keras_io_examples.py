"""keras-io examples run with `import nbnet as keras` and their code otherwise as
published (epochs and data sizes cut for the test), on small local data in the Keras
file formats: the bundled digits, scaled up to 28x28, stand in for MNIST."""
import hashlib
import io

import numpy as np
import pytest

import nbnet as keras
from nbnet import layers


@pytest.fixture()
def local_mnist(tmp_path, monkeypatch):
    """~/.keras/datasets/mnist.npz (under KERAS_HOME) holding real digits: the 8x8
    bundled ones, nearest-upscaled 3x and padded to 28x28 grey levels 0-255."""
    ds = keras.datasets.load_digits()
    imgs = ds.x.reshape(-1, 8, 8)
    big = np.kron(imgs, np.ones((3, 3)))
    x = np.zeros((len(big), 28, 28), np.uint8)
    x[:, 2:26, 2:26] = np.round(big * 255).astype(np.uint8)
    y = ds.y.astype(np.uint8)
    buf = io.BytesIO()
    np.savez(buf, x_train=x[:1400], y_train=y[:1400], x_test=x[1400:], y_test=y[1400:])
    data = buf.getvalue()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(data)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.datasets.mnist, "FILE_HASH", hashlib.sha256(data).hexdigest())


def test_simple_mnist_convnet(local_mnist):
    """keras-io/examples/vision/mnist_convnet.py, as published (15 epochs)."""
    keras.utils.set_random_seed(0)
    # --- the example, as published ---
    num_classes = 10
    input_shape = (28, 28, 1)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.summary(print_fn=lambda *a: None)
    batch_size = 128
    epochs = 15
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
              verbose=0)
    score = model.evaluate(x_test, y_test, verbose=0)
    # --- end of the example ---
    assert x_train.shape == (1400, 28, 28, 1) and y_train.shape == (1400, 10)
    assert score[1] > 0.88, score   # Keras 3.15 (torch backend): 0.914 on the same data


def test_augmentation_and_rescaling_inside_the_model(local_mnist):
    """The pattern of keras-io's "image classification from scratch": augmentation
    layers and Rescaling as the model's first layers, active only in training."""
    keras.utils.set_random_seed(1)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train, x_test = x_train[..., None].astype("float32"), x_test[..., None].astype("float32")
    data_augmentation_layers = [
        layers.RandomRotation(0.05),
        layers.RandomTranslation(0.05, 0.05),
    ]

    def data_augmentation(images):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images

    inputs = keras.Input(shape=(28, 28, 1))
    x = data_augmentation(inputs)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.MaxPooling2D(2)(layers.Conv2D(16, 3, activation="relu")(x))
    x = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(x))
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.8, acc
    # inference: the augmentation is the identity, so predictions are those of the
    # same network without it
    plain_in = keras.Input(shape=(28, 28, 1))
    h = plain_in
    for layer in model.layers[3:]:
        h = layer(h)
    plain = keras.Model(plain_in, h)
    np.testing.assert_array_equal(plain.predict(x_test[:50]), model.predict(x_test[:50]))
