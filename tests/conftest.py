import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/helpers.py, tests/reference*.py

import nbnet as nb  # noqa: E402


@pytest.fixture
def float64():
    """Run a test with nb.config.floatx() == "float64" (gradient checks)."""
    old = nb.config.floatx()
    nb.config.set_floatx("float64")
    yield
    nb.config.set_floatx(old)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
