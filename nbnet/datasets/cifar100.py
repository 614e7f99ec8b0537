"""CIFAR-100, as keras.datasets.cifar100: the "python version" archive from Toronto,
extracted once into ~/.keras/datasets/cifar-100-python-target."""
import os

import numpy as np

from ..download import get_file
from ._formats import load_cifar_batch

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode="fine"):
    """((x_train, y_train), (x_test, y_test)): x uint8 (50000, 32, 32, 3) / (10000, 32,
    32, 3) NHWC, y int64 (N, 1): the 100 fine classes, or the 20 coarse superclasses
    with label_mode="coarse" (int64 as Keras' code gives, whatever its docstring says)."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'`label_mode` must be one of "fine", "coarse". '
                         f"Received: label_mode={label_mode!r}.")
    # NOTE: the files inside are pickles; get_file checks the archive's sha256 and they
    # are read with a restricted unpickler (arrays and plain data only).
    path = get_file(fname="cifar-100-python-target", origin=ORIGIN, extract=True,
                    file_hash=FILE_HASH)
    path = os.path.join(path, "cifar-100-python")
    key = f"{label_mode}_labels"
    x_train, y_train = load_cifar_batch(os.path.join(path, "train"), label_key=key)
    x_test, y_test = load_cifar_batch(os.path.join(path, "test"), label_key=key)
    y_train = np.reshape(np.asarray(y_train, dtype=np.int64), (len(y_train), 1))
    y_test = np.reshape(np.asarray(y_test, dtype=np.int64), (len(y_test), 1))
    x_train = np.ascontiguousarray(x_train.transpose(0, 2, 3, 1))
    x_test = np.ascontiguousarray(x_test.transpose(0, 2, 3, 1))
    return (x_train, y_train), (x_test, y_test)
