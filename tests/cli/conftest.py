"""Fixtures of the CLI tests: an in-process runner and small CSV data sets whose truth
the tests know (Gaussian blobs, a linear rule, a linear regression)."""
import os
import sys
import traceback

import numpy as np
import pytest
from click.testing import CliRunner

from nbnet.cli.main import main

sys.path.insert(0, os.path.dirname(__file__))
from clitools import blobs, fmt, write_csv  # noqa: E402


class Run:
    """Result of one in-process `nbnet ...` call."""

    def __init__(self, result):
        self.code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception
        self.tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""

    def __repr__(self):
        return (f"exit {self.code}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n"
                f"{self.stderr[-3000:]}\n--- exception\n{self.tb[-3000:]}")


@pytest.fixture
def nbnet():
    """nbnet(*args) -> Run, in process (numba kernels compile once per session)."""
    def run(*args):
        return Run(CliRunner().invoke(main, [str(a) for a in args]))
    return run


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """Train and test CSVs for the four target kinds (test files also without target)."""
    d = tmp_path_factory.mktemp("cli_data")
    names = ["cat", "dog", "fox"]
    sets = {}
    # 1. String labels in a MIDDLE column.
    for part, seed, n in (("train", 1, 300), ("test", 2, 150)):
        x, y = blobs(n, 3, 4, seed)
        rows = [[fmt(a), fmt(b), names[c], fmt(e), fmt(f)] for (a, b, e, f), c in zip(x, y)]
        sets[f"animals_{part}"] = write_csv(d / f"animals_{part}.csv", ["f1", "f2", "species", "f3", "f4"], rows)
        sets[f"animals_{part}_y"] = [names[c] for c in y]
        if part == "test":
            write_csv(d / "animals_test_noy.csv", ["f1", "f2", "f3", "f4"], [r[:2] + r[3:] for r in rows])
            sets["animals_test_noy"] = str(d / "animals_test_noy.csv")
    # 2. Integer labels (last column).
    for part, seed, n in (("train", 3, 300), ("test", 4, 150)):
        x, y = blobs(n, 4, 5, seed)
        rows = [[fmt(v) for v in xi] + [int(c)] for xi, c in zip(x, y)]
        sets[f"ints_{part}"] = write_csv(d / f"ints_{part}.csv", [f"x{i}" for i in range(5)] + ["label"], rows)
        sets[f"ints_{part}_y"] = [str(int(c)) for c in y]
    # 3. Binary: yes when x0 + x1 > 0, kept away from the boundary.
    for part, seed, n in (("train", 5, 300), ("test", 6, 150)):
        rng = np.random.default_rng(seed)
        x = rng.normal(0, 1, (4 * n, 3))
        x = x[np.abs(x[:, 0] + x[:, 1]) > 0.4][:n]
        y = ["yes" if a + b > 0 else "no" for a, b, _ in x]
        rows = [[fmt(v) for v in xi] + [c] for xi, c in zip(x, y)]
        sets[f"binary_{part}"] = write_csv(d / f"binary_{part}.csv", ["a", "b", "c", "answer"], rows)
        sets[f"binary_{part}_y"] = y
    # 4. Regression in large units: y = 300 + 40 x0 - 25 x1 + 10 x2 (+ noise).
    for part, seed, n in (("train", 7, 400), ("test", 8, 150)):
        rng = np.random.default_rng(seed)
        x = rng.normal(0, 1, (n, 3))
        y = 300 + 40 * x[:, 0] - 25 * x[:, 1] + 10 * x[:, 2] + rng.normal(0, 1, n)
        rows = [[fmt(v) for v in xi] + [f"{t:.4f}"] for xi, t in zip(x, y)]
        sets[f"reg_{part}"] = write_csv(d / f"reg_{part}.csv", ["u", "v", "w", "price"], rows)
        sets[f"reg_{part}_y"] = [float(t) for t in y]
    sets["dir"] = str(d)
    return sets


@pytest.fixture(scope="session")
def trained_model(data_dir, tmp_path_factory):
    """A small model trained on animals_train.csv (for evaluate/predict cases)."""
    out = tmp_path_factory.mktemp("cli_model") / "animals.nbnet"
    result = CliRunner().invoke(main, ["train", data_dir["animals_train"], "--target", "species",
                                       "--epochs", "3", "--hidden", "16", "--out", str(out)])
    assert result.exit_code == 0, Run(result)
    return str(out)
