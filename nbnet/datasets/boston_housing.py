"""Boston housing prices, as keras.datasets.boston_housing (506 samples, 13 features).

Keras' warning applies: one of the features ("B") encodes a racial assumption; prefer
california_housing except to illustrate that problem."""
from ..download import get_file
from ..errors import DataError
from ._formats import TF_KERAS_DATASETS, check_test_split, load_npz, shuffled_split

ORIGIN = TF_KERAS_DATASETS + "boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """((x_train, y_train), (x_test, y_test)): x float64 (N, 13), y float64 (N,) prices
    in k$; shuffled with RandomState(seed), the first int(N * (1 - test_split)) train."""
    check_test_split(test_split)
    path = get_file(path, origin=ORIGIN, file_hash=FILE_HASH)
    f = load_npz(path, ["x", "y"])
    if len(f["x"]) != len(f["y"]):
        raise DataError(f"{path}: {len(f['x'])} samples for {len(f['y'])} targets")
    return shuffled_split(f["x"], f["y"], test_split, seed)
