"""California housing prices, as keras.datasets.california_housing (20,640 block
groups, 8 features: MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup,
Latitude, Longitude; target the median house value in dollars)."""
from ..download import get_file
from ..errors import DataError
from ._formats import TF_KERAS_DATASETS, check_test_split, load_npz, shuffled_split

ORIGIN = TF_KERAS_DATASETS + "california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """((x_train, y_train), (x_test, y_test)): x (N, 8), y (N,), as stored in the file;
    version "small" keeps the first 600 samples, "large" all. Shuffled with
    RandomState(seed), the first int(N * (1 - test_split)) train."""
    check_test_split(test_split)
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. "
                         f"Received: version={version!r}")
    path = get_file(path, origin=ORIGIN, file_hash=FILE_HASH)
    f = load_npz(path, ["x", "y"])
    x, y = f["x"], f["y"]
    if len(x) != len(y):
        raise DataError(f"{path}: {len(x)} samples for {len(y)} targets")
    if version == "small":
        x, y = x[:600], y[:600]
    return shuffled_split(x, y, test_split, seed)
