"""Keras' "simple MNIST convnet" example, unchanged but for the imports, on the
bundled digits upscaled to 28x28."""
import numpy as np
import scipy.ndimage

import nbnet as keras
from nbnet import layers


def load_digits_28x28(seed=0):
    ds = keras.datasets.load_digits(as_images=True)
    x = scipy.ndimage.zoom(ds.x, (1, 3.5, 3.5, 1), order=1).astype("float32")
    idx = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    return (x[idx[:cut]], ds.y[idx[:cut]]), (x[idx[cut:]], ds.y[idx[cut:]])


def test_simple_mnist_convnet_recipe_reaches_95_percent():
    keras.utils.set_random_seed(1)
    num_classes = 10
    input_shape = (28, 28, 1)
    (x_train, y_train), (x_test, y_test) = load_digits_28x28()
    assert x_train.shape[1:] == input_shape
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
    batch_size = 128
    epochs = 15
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
              verbose=0)
    score = model.evaluate(x_test, y_test, verbose=0)
    assert score[1] >= 0.95, score
