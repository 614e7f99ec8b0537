"""Small real data sets bundled with nbnet (no network needed), and the Keras ones.

`list_datasets()` names the bundled ones, `load(name)` loads one; the CLI accepts these
names as DATA. The Keras data sets are modules with Keras' `load_data(...)`
(`nb.datasets.mnist.load_data()`, fashion_mnist, cifar10, cifar100, imdb, reuters,
boston_housing, california_housing): downloaded once, hash-checked, into ~/.keras/datasets
(or $KERAS_HOME/datasets) by nbnet.download.get_file.
"""
import functools
from importlib import resources

from ..config import standardize_dtype
from ..csvread import read_table
from ..data import Dataset, load_csv
from ..errors import DataError
from . import (boston_housing, california_housing, cifar10, cifar100,  # noqa: F401
               fashion_mnist, imdb, mnist, reuters)

_DESCRIPTIONS = {
    "digits": "1,797 handwritten digits, 8x8 grey images (64 features in [0, 1]), 10 classes",
    "sunspots": "monthly mean sunspot numbers, January 1749 to June 2009 (3,126 months)",
}


def list_datasets():
    """dict: name -> one-line description of each bundled data set."""
    return dict(_DESCRIPTIONS)


def load(name, **kwargs):
    """Load a bundled data set by name (see list_datasets); kwargs go to its loader."""
    if name == "digits":
        return load_digits(**kwargs)
    if name == "sunspots":
        return load_sunspots(**kwargs)
    raise DataError(f"no bundled data set {name!r}; available: {', '.join(sorted(_DESCRIPTIONS))}")


@functools.lru_cache(maxsize=None)
def _digits_float64():
    """Parse the packaged CSV once: (x (N, 64) float64 grey levels 0-16, y, classes, names)."""
    with resources.as_file(resources.files(__name__) / "digits.csv") as path:
        table = read_table(path)
        names = [h for h in table.header if h != "digit"]   # every pixel a number
        ds = load_csv(path, target="digit", task="classification", dtype="float64",
                      numeric=names)
    return ds.x, ds.y, tuple(ds.class_names), tuple(ds.feature_names)


def load_digits(as_images=False, as_sequences=False, dtype=None):
    """The UCI optical-recognition digits (as in scikit-learn): 1,797 samples of 8x8 grey
    levels 0..16, scaled to x = pixel / 16 in [0, 1].

    x: (N, 64) in the CSV's column order pixel_R_C (row-major), or (N, 8, 8, 1) NHWC with
    as_images=True (the same numbers reshaped). y: (N,) int64 digit 0..9. class_names
    "0".."9". as_sequences=True: (N, 8, 8), each image as 8 time steps (its rows) of 8
    features. dtype: default nbnet.config.floatx()."""
    if as_images and as_sequences:
        raise ValueError("load_digits: give as_images or as_sequences, not both")
    x64, y, classes, names = _digits_float64()
    x = (x64 / 16.0).astype(standardize_dtype(dtype))
    if as_images:
        x = x.reshape(len(x), 8, 8, 1)
    elif as_sequences:
        x = x.reshape(len(x), 8, 8)
    return Dataset(x, y.copy(), list(classes), list(names), "classification", "digits",
                   target="digit")


@functools.lru_cache(maxsize=None)
def _sunspots():
    with resources.as_file(resources.files(__name__) / "sunspots_monthly.csv") as path:
        table = read_table(path)
    year, month, values = (table.numbers(table.index(c))[0]
                           for c in ("year", "month", "sunspots"))
    months = tuple(f"{int(a):04d}-{int(b):02d}" for a, b in zip(year, month))
    return months, values


def load_sunspots(dtype=None):
    """The monthly mean sunspot numbers, January 1749 to June 2009 (3,126 months; NOAA's
    National Geophysical Data Center, public domain, as statsmodels ships them; the
    months after December 2008 are preliminary, February 1824 is interpolated).
    Returns (months, values): months a list of "YYYY-MM" strings, values (N,) in
    `dtype` (default nbnet.config.floatx())."""
    months, values = _sunspots()
    return list(months), values.astype(standardize_dtype(dtype))


__all__ = ["list_datasets", "load", "load_digits", "load_sunspots", "boston_housing", "california_housing",
           "cifar10", "cifar100", "fashion_mnist", "imdb", "mnist", "reuters"]
