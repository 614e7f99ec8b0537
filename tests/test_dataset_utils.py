"""nb.utils.image_dataset_from_directory / text_dataset_from_directory as Keras 3 gives
them (pixel values 0-255, label modes, validation subsets, class names), feeding fit."""
import os

import numpy as np
import pytest

import nbnet as keras
from nbnet import layers
from nbnet.errors import DataError
from test_data_images import write_digits


def test_image_dataset_from_directory_values_labels_and_subsets(tmp_path):
    grey, labels = write_digits(str(tmp_path))
    ds = keras.utils.image_dataset_from_directory(str(tmp_path), image_size=(8, 8),
                                                  color_mode="grayscale", batch_size=16,
                                                  shuffle=False, verbose=False)
    assert ds.class_names == [str(k) for k in range(10)] and len(ds) == -(-120 // 16)
    x, y = ds.unbatch()
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x[..., 0], grey)          # 0-255, as Keras (no scaling)
    np.testing.assert_array_equal(y, labels)
    xb, yb = ds[0]
    assert xb.shape == (16, 8, 8, 1) and yb.shape == (16,)
    cat = keras.utils.image_dataset_from_directory(str(tmp_path), image_size=(8, 8),
                                                   color_mode="grayscale", label_mode="categorical",
                                                   shuffle=True, seed=3, verbose=False)
    xc, yc = cat.unbatch()
    assert yc.shape == (120, 10) and not np.array_equal(np.argmax(yc, 1), labels)   # shuffled
    # the images still go with their labels after the shuffle
    for img, lab in zip(xc[:10], np.argmax(yc[:10], 1)):
        assert any(np.array_equal(img[..., 0], g) for g in grey[labels == lab])
    train, val = keras.utils.image_dataset_from_directory(
        str(tmp_path), image_size=(8, 8), color_mode="grayscale", validation_split=0.25,
        subset="both", seed=1, verbose=False)
    assert len(train.unbatch()[0]) == 90 and len(val.unbatch()[0]) == 30
    with pytest.raises(DataError, match="label_mode='binary' needs exactly 2 classes"):
        keras.utils.image_dataset_from_directory(str(tmp_path), label_mode="binary", verbose=False)


def test_a_model_trains_on_image_datasets(tmp_path):
    write_digits(str(tmp_path))
    train, val = keras.utils.image_dataset_from_directory(
        str(tmp_path), image_size=(8, 8), color_mode="grayscale", validation_split=0.2,
        subset="both", seed=7, batch_size=16, verbose=False)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Rescaling(1 / 255), layers.Flatten(),
                              layers.Dense(32, activation="relu"), layers.Dense(10)])
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(train, validation_data=val, epochs=25, verbose=0)
    assert h.history["accuracy"][-1] > 0.9 and h.history["val_accuracy"][-1] > 0.6


def test_text_dataset_from_directory(tmp_path):
    texts = {"neg": ["bad film", "awful, boring"], "pos": ["great film", "loved it", "fine"]}
    for label, items in texts.items():
        os.makedirs(tmp_path / label)
        for i, t in enumerate(items):
            (tmp_path / label / f"{i}.txt").write_text(t, encoding="utf-8")
    (tmp_path / "pos" / "notes.md").write_text("not a text file")
    ds = keras.utils.text_dataset_from_directory(str(tmp_path), batch_size=2, shuffle=False,
                                                 verbose=False)
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    x, y = ds.unbatch()
    assert list(x) == ["bad film", "awful, boring", "great film", "loved it", "fine"]
    assert list(y) == [0, 0, 1, 1, 1]
    short = keras.utils.text_dataset_from_directory(str(tmp_path), max_length=4, shuffle=False,
                                                    label_mode=None, verbose=False)
    assert list(short.unbatch())[:2] == ["bad ", "awfu"]
