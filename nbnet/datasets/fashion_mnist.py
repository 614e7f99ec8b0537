"""Fashion-MNIST, as keras.datasets.fashion_mnist: the four gzipped IDX files of the
Zalando release, cached in ~/.keras/datasets/fashion-mnist."""
import gzip
import os

import numpy as np

from ..download import get_file
from ..errors import DataError
from ._formats import TF_KERAS_DATASETS

BASE = TF_KERAS_DATASETS
FILES = ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
_LABELS_MAGIC, _IMAGES_MAGIC = 2049, 2051       # IDX: unsigned byte, 1 and 3 dimensions


def _read_idx(path, magic, header):
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a gzipped IDX file ({e})") from None
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DataError(f"{path}: not an IDX file of the expected kind (magic {magic})")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range((header - 4) // 4)]
    data = np.frombuffer(raw, np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {data.size} bytes")
    return data.reshape(dims)


def load_data():
    """((x_train, y_train), (x_test, y_test)): x uint8 (60000, 28, 28) / (10000, 28, 28),
    y uint8 class ids 0-9 (names in CLASS_NAMES)."""
    dirname = os.path.join("datasets", "fashion-mnist")
    paths = [get_file(name, origin=BASE + name, cache_subdir=dirname) for name in FILES]
    y_train = _read_idx(paths[0], _LABELS_MAGIC, 8)
    x_train = _read_idx(paths[1], _IMAGES_MAGIC, 16)
    y_test = _read_idx(paths[2], _LABELS_MAGIC, 8)
    x_test = _read_idx(paths[3], _IMAGES_MAGIC, 16)
    for x, y, p in ((x_train, y_train, paths[1]), (x_test, y_test, paths[3])):
        if len(x) != len(y):
            raise DataError(f"{p}: {len(x)} images for {len(y)} labels")
    return (x_train, y_train), (x_test, y_test)
