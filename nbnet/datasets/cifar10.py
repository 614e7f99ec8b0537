"""CIFAR-10, as keras.datasets.cifar10: the "python version" archive from Toronto,
extracted once into ~/.keras/datasets/cifar-10-batches-py-target."""
import os

import numpy as np

from ..download import get_file
from ._formats import load_cifar_batch

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]


def load_data():
    """((x_train, y_train), (x_test, y_test)): x uint8 (50000, 32, 32, 3) / (10000, 32,
    32, 3) NHWC, y uint8 (N, 1) class ids 0-9 (names in CLASS_NAMES)."""
    # NOTE: the batches inside are pickles; get_file checks the archive's sha256 and the
    # batches are read with a restricted unpickler (arrays and plain data only).
    path = get_file(fname="cifar-10-batches-py-target", origin=ORIGIN, extract=True,
                    file_hash=FILE_HASH)
    path = os.path.join(path, "cifar-10-batches-py")
    parts = [load_cifar_batch(os.path.join(path, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in parts]).astype("uint8")
    y_train = np.concatenate([np.asarray(y) for _, y in parts]).astype("uint8")
    x_test, y_test = load_cifar_batch(os.path.join(path, "test_batch"))
    x_test = np.asarray(x_test, dtype="uint8")
    y_test = np.asarray(y_test).astype("uint8")
    # channels first in the file, NHWC in nbnet
    x_train = np.ascontiguousarray(x_train.transpose(0, 2, 3, 1))
    x_test = np.ascontiguousarray(x_test.transpose(0, 2, 3, 1))
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))
