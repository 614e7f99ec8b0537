"""MNIST handwritten digits, as keras.datasets.mnist (downloaded once into the cache)."""
from ..download import get_file
from ._formats import TF_KERAS_DATASETS, load_npz

ORIGIN = TF_KERAS_DATASETS + "mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz"):
    """((x_train, y_train), (x_test, y_test)): x uint8 (60000, 28, 28) / (10000, 28, 28)
    grey levels 0-255, y uint8 digits 0-9. `path`: the file name in ~/.keras/datasets."""
    path = get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH)
    f = load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
