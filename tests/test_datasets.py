"""nbnet.datasets: the bundled digits (shapes, labels, range, layouts) and the registry."""
import csv
import os

import numpy as np
import pytest

import nbnet.datasets as datasets
from nbnet.errors import DataError

# Class counts of the UCI optical digits test set as shipped by scikit-learn.
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def raw_csv():
    """The packaged file read with the csv module: (pixels int (N, 64), digits, header)."""
    path = os.path.join(os.path.dirname(datasets.__file__), "digits.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    table = np.array(rows[1:], dtype=np.int64)
    return table[:, :-1], table[:, -1], header


def test_load_digits_flat():
    ds = datasets.load_digits()
    pixels, digits, header = raw_csv()
    assert ds.x.shape == (1797, 64) and ds.y.shape == (1797,)
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.class_names == [str(k) for k in range(10)]
    assert ds.feature_names == header[:-1] and ds.feature_names[9] == "pixel_1_1"
    assert np.bincount(ds.y).tolist() == DIGIT_COUNTS
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    np.testing.assert_allclose(ds.x, pixels / 16, rtol=1e-6)
    assert np.array_equal(ds.y, digits)
    assert ds.task == "classification"


def test_load_digits_images_layout_matches_flat():
    flat = datasets.load_digits()
    img = datasets.load_digits(as_images=True)
    assert img.x.shape == (1797, 8, 8, 1)
    # pixel_R_C is row R, column C of the image
    pixels, _, header = raw_csv()
    r, c = 3, 5
    j = header.index(f"pixel_{r}_{c}")
    np.testing.assert_allclose(img.x[:, r, c, 0], pixels[:, j] / 16, rtol=1e-6)
    assert np.array_equal(img.x.reshape(1797, 64), flat.x)
    assert np.array_equal(img.y, flat.y)


def test_dtype_follows_floatx(float64):
    assert datasets.load_digits().x.dtype == np.float64


def test_copies_are_independent():
    a = datasets.load_digits()
    a.x[:] = -1
    a.y[:] = -1
    b = datasets.load_digits()
    assert b.x.min() == 0.0 and b.y.min() == 0


def test_registry():
    table = datasets.list_datasets()
    assert "digits" in table and isinstance(table["digits"], str) and table["digits"]
    ds = datasets.load("digits", as_images=True)
    assert ds.x.shape == (1797, 8, 8, 1)
    with pytest.raises(DataError) as e:
        datasets.load("imagenet")
    assert "imagenet" in str(e.value) and "digits" in str(e.value)
