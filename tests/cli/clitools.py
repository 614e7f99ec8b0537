"""Helpers of the CLI tests (tests/cli is put on sys.path by its conftest)."""
import csv
import os

import numpy as np

# Small and quick: the tests check the plumbing, the data are easy to learn.
FAST = ["--epochs", "12", "--batch-size", "32", "--hidden", "32", "--dropout", "0"]


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def read_csv(path_or_text, from_text=False):
    """(header, rows) of a CSV file, or of CSV text with from_text=True."""
    if not from_text:
        with open(path_or_text, encoding="utf-8") as f:
            path_or_text = f.read()
    rows = list(csv.reader(path_or_text.splitlines()))
    return rows[0], rows[1:]


def blobs(n, n_classes, n_features, seed, spread=0.6):
    """Well separated Gaussian blobs around fixed random centres (sd 3, spread 0.6)."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(99).normal(0.0, 3.0, (n_classes, n_features))
    y = rng.integers(0, n_classes, n)
    x = centers[y] + rng.normal(0.0, spread, (n, n_features))
    return x, y


def fmt(v):
    return f"{v:.5f}"


def listing(folder):
    """{relative path: bytes} of every file under folder (to prove nothing changed)."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, folder)] = f.read()
    return out
