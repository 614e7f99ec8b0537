"""The Keras dataset loaders (nb.datasets.mnist ... california_housing) on tiny files in
the real Keras formats, placed in a fake cache ($KERAS_HOME) so that nothing is
downloaded; the network is switched off for every test here."""
import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import urllib.error

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import nbnet as nb
from nbnet import download
from nbnet.datasets import (_formats, boston_housing, california_housing, cifar10, cifar100,
                            fashion_mnist, imdb, mnist, reuters)
from nbnet.errors import DataError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """$KERAS_HOME/datasets in tmp_path; any download attempt fails as if offline."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    folder = tmp_path / "kh" / "datasets"
    folder.mkdir(parents=True)

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    return folder


def put(cache, monkeypatch, module, name, data, attr="FILE_HASH"):
    """Write `data` as cache/name and make `module` expect its sha256."""
    path = cache / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if attr:
        monkeypatch.setattr(module, attr, hashlib.sha256(data).hexdigest())
    return path


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def ragged(seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = list(s)
    return out


def perm(n, seed, rng=None):
    """Keras' shuffle: indices permuted in place by RandomState(seed).shuffle."""
    rng = np.random.RandomState(seed) if rng is None else rng
    idx = np.arange(n)
    rng.shuffle(idx)
    return idx


# --------------------------------------------------------------------------- images
def test_mnist(cache, monkeypatch, rng):
    x_train = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    y_train = np.array([5, 0, 9], dtype=np.uint8)
    x_test = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    y_test = np.array([1, 7], dtype=np.uint8)
    put(cache, monkeypatch, mnist, "mnist.npz",
        npz_bytes(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test))
    (a, b), (c, d) = nb.datasets.mnist.load_data()
    for got, want in ((a, x_train), (b, y_train), (c, x_test), (d, y_test)):
        assert got.dtype == np.uint8 and np.array_equal(got, want)


def test_mnist_with_the_official_hash_tries_the_official_url(cache, monkeypatch):
    # a cached file whose hash is not Keras' is downloaded again; offline, the error
    # names the URL and where to put the file by hand
    (cache / "mnist.npz").write_bytes(npz_bytes(x_train=np.zeros(1)))
    with pytest.raises(download.DownloadError) as e:
        mnist.load_data()
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in str(e.value)
    assert str(cache / "mnist.npz") in str(e.value)


def test_missing_array_in_npz_names_the_file(cache, monkeypatch):
    path = put(cache, monkeypatch, mnist, "mnist.npz", npz_bytes(x_train=np.zeros((1, 28, 28))))
    with pytest.raises(DataError) as e:
        mnist.load_data()
    assert str(path) in str(e.value) and "y_train" in str(e.value)


def idx_labels(y):
    return gzip.compress(struct.pack(">II", 2049, len(y)) + bytes(y.tolist()))


def idx_images(x):
    return gzip.compress(struct.pack(">IIII", 2051, *x.shape) + x.tobytes())


def test_fashion_mnist(cache, monkeypatch, rng):
    x_train = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    y_train = np.array([9, 0, 3, 3], dtype=np.uint8)
    x_test = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    y_test = np.array([2, 8], dtype=np.uint8)
    sub = "fashion-mnist/"
    put(cache, monkeypatch, None, sub + "train-labels-idx1-ubyte.gz", idx_labels(y_train), None)
    put(cache, monkeypatch, None, sub + "train-images-idx3-ubyte.gz", idx_images(x_train), None)
    put(cache, monkeypatch, None, sub + "t10k-labels-idx1-ubyte.gz", idx_labels(y_test), None)
    bad = put(cache, monkeypatch, None, sub + "t10k-images-idx3-ubyte.gz",
              idx_labels(y_test), None)   # a label file where the images should be
    with pytest.raises(DataError) as e:
        fashion_mnist.load_data()
    assert str(bad) in str(e.value)
    bad.write_bytes(idx_images(x_test))
    (a, b), (c, d) = fashion_mnist.load_data()
    for got, want in ((a, x_train), (b, y_train), (c, x_test), (d, y_test)):
        assert got.dtype == np.uint8 and np.array_equal(got, want)
    assert a.shape == (4, 28, 28) and b.shape == (4,)


def cifar_pickle(data, labels, label_key="labels"):
    # the official batches are dicts with bytes keys (Python 2 pickles read with
    # encoding="bytes"); protocol 4 keeps the bytes native
    d = {b"batch_label": b"tiny", label_key.encode(): labels, b"data": data,
         b"filenames": [b"f%d.png" % i for i in range(len(labels))]}
    return pickle.dumps(d, protocol=4)


def tar_gz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def test_cifar10(cache, monkeypatch, rng):
    batches = [(rng.integers(0, 256, (2, 3072), dtype=np.uint8), [i, 9 - i]) for i in range(5)]
    test = (rng.integers(0, 256, (3, 3072), dtype=np.uint8), [4, 5, 6])
    files = {f"cifar-10-batches-py/data_batch_{i + 1}": cifar_pickle(*b)
             for i, b in enumerate(batches)}
    files["cifar-10-batches-py/test_batch"] = cifar_pickle(*test)
    put(cache, monkeypatch, cifar10, "cifar-10-batches-py-target_archive", tar_gz(files))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (3, 32, 32, 3) and y_test.shape == (3, 1) and y_test.dtype == np.uint8
    assert y_train[:, 0].tolist() == [0, 9, 1, 8, 2, 7, 3, 6, 4, 5]
    assert y_test[:, 0].tolist() == [4, 5, 6]
    # a row of 3072 bytes is 1024 red, 1024 green, 1024 blue, each 32 rows of 32
    data = np.concatenate([b[0] for b in batches])
    for i, r, c, ch in [(0, 0, 0, 0), (3, 5, 7, 1), (9, 31, 30, 2)]:
        assert x_train[i, r, c, ch] == data[i, ch * 1024 + r * 32 + c]
    assert x_test[2, 1, 2, 2] == test[0][2, 2 * 1024 + 32 + 2]
    assert (cache / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch").is_file()


def test_cifar100_label_modes(cache, monkeypatch, rng):
    def batch(n, fine, coarse):
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"fine_labels": fine, b"coarse_labels": coarse}
        return pickle.dumps(d, protocol=4)

    put(cache, monkeypatch, cifar100, "cifar-100-python-target_archive", tar_gz({
        "cifar-100-python/train": batch(3, [99, 0, 42], [19, 0, 7]),
        "cifar-100-python/test": batch(2, [1, 2], [3, 4])}))
    (x, y), (xt, yt) = cifar100.load_data()
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.uint8 and xt.shape == (2, 32, 32, 3)
    assert y.dtype == np.int64 and y[:, 0].tolist() == [99, 0, 42] and yt[:, 0].tolist() == [1, 2]
    (_, y), (_, yt) = cifar100.load_data(label_mode="coarse")
    assert y[:, 0].tolist() == [19, 0, 7] and yt[:, 0].tolist() == [3, 4]
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium")


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_batches_refuse_foreign_pickles(tmp_path):
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": _Boom(), b"labels": [1]}, protocol=4))
    with pytest.raises(DataError) as e:
        _formats.load_cifar_batch(p)
    assert str(p) in str(e.value) and "system" in str(e.value)


# --------------------------------------------------------------------------- text
TRAIN = [[1, 2, 3], [4], [2, 2, 5, 1], [6, 1]]
TRAIN_Y = np.array([0, 1, 1, 0])
TEST = [[3, 1], [6, 2, 4], [5]]
TEST_Y = np.array([1, 0, 1])


def write_imdb(cache, monkeypatch):
    return put(cache, monkeypatch, imdb, "imdb.npz", npz_bytes(
        x_train=ragged(TRAIN), y_train=TRAIN_Y, x_test=ragged(TEST), y_test=TEST_Y))


def imdb_by_hand(seed=113, start_char=1, oov_char=2, index_from=3, num_words=None,
                 skip_top=0, maxlen=None):
    rng = np.random.RandomState(seed)
    p_train, p_test = perm(len(TRAIN), None, rng), perm(len(TEST), None, rng)
    head = [] if start_char is None else [start_char]
    tr = [head + [w + index_from for w in TRAIN[i]] for i in p_train]
    te = [head + [w + index_from for w in TEST[i]] for i in p_test]
    ytr, yte = TRAIN_Y[p_train].tolist(), TEST_Y[p_test].tolist()
    if maxlen:
        keep = [k for k, s in enumerate(tr) if len(s) < maxlen]
        tr, ytr = [tr[k] for k in keep], [ytr[k] for k in keep]
        keep = [k for k, s in enumerate(te) if len(s) < maxlen]
        te, yte = [te[k] for k in keep], [yte[k] for k in keep]
    top = num_words or max(max(s) for s in tr + te)
    cut = (lambda s: [w if skip_top <= w < top else oov_char for w in s]) if oov_char is not None \
        else (lambda s: [w for w in s if skip_top <= w < top])
    return [cut(s) for s in tr], ytr, [cut(s) for s in te], yte


IMDB_CASES = [
    {},
    {"num_words": 6},
    {"num_words": 7, "skip_top": 2},
    {"oov_char": None, "num_words": 6},
    {"start_char": None, "index_from": 0},
    {"maxlen": 4, "seed": 7},
    {"index_from": 10, "start_char": 5, "oov_char": 0, "num_words": 13},
]


@pytest.mark.parametrize("kwargs", IMDB_CASES)
def test_imdb_against_hand_computation(cache, monkeypatch, kwargs):
    write_imdb(cache, monkeypatch)
    (x, y), (xt, yt) = imdb.load_data(**kwargs)
    tr, ytr, te, yte = imdb_by_hand(**kwargs)
    assert x.dtype == object and x.ndim == 1 and xt.ndim == 1
    assert [list(s) for s in x] == tr and [list(s) for s in xt] == te
    assert y.tolist() == ytr and yt.tolist() == yte


def test_imdb_defaults_spelled_out(cache, monkeypatch):
    write_imdb(cache, monkeypatch)
    (x, _), (xt, _) = imdb.load_data()
    # every review starts with 1, words are shifted by 3; the largest index (6 + 3)
    # is the vocabulary bound itself and so becomes the oov_char 2, as in Keras
    flat = sorted({w for s in list(x) + list(xt) for w in s})
    assert flat == [1, 2, 4, 5, 6, 7, 8]
    assert all(s[0] == 1 for s in list(x) + list(xt))
    assert sorted(len(s) for s in x) == sorted(len(s) + 1 for s in TRAIN)


def test_imdb_maxlen_too_small_and_bad_arguments(cache, monkeypatch):
    write_imdb(cache, monkeypatch)
    with pytest.raises(ValueError, match="maxlen"):
        imdb.load_data(maxlen=2)
    with pytest.raises(ValueError, match="num_words"):
        imdb.load_data(num_words=-1)


def test_imdb_matches_keras(cache, monkeypatch):
    keras = pytest.importorskip("keras")
    from keras.src.datasets import imdb as keras_imdb
    path = write_imdb(cache, monkeypatch)
    monkeypatch.setattr(keras_imdb, "get_file", lambda *a, **k: str(path))
    for kwargs in IMDB_CASES:
        (x, y), (xt, yt) = imdb.load_data(**kwargs)
        (kx, ky), (kxt, kyt) = keras.datasets.imdb.load_data(**kwargs)
        assert [list(s) for s in x] == [list(s) for s in kx], kwargs
        assert [list(s) for s in xt] == [list(s) for s in kxt], kwargs
        assert np.array_equal(y, ky) and np.array_equal(yt, kyt)
        assert y.dtype == np.asarray(ky).dtype


def test_reuters_matches_hand_and_keras(cache, monkeypatch):
    xs, ys = TRAIN + TEST, np.array([3, 0, 45, 3, 1, 1, 2])
    path = put(cache, monkeypatch, reuters, "reuters.npz", npz_bytes(x=ragged(xs), y=ys))
    (x, y), (xt, yt) = reuters.load_data(num_words=8, test_split=0.3)
    p = perm(len(xs), 113)
    top = 8
    want = [[1] + [w + 3 if w + 3 < top else 2 for w in xs[i]] for i in p]
    cut = int(len(xs) * (1 - 0.3))
    assert [list(s) for s in x] == want[:cut] and [list(s) for s in xt] == want[cut:]
    assert y.tolist() == ys[p][:cut].tolist() and yt.tolist() == ys[p][cut:].tolist()
    assert len(reuters.get_label_names()) == 46 and reuters.get_label_names()[3] == "earn"
    keras = pytest.importorskip("keras")
    from keras.src.datasets import reuters as keras_reuters
    monkeypatch.setattr(keras_reuters, "get_file", lambda *a, **k: str(path))
    for kwargs in ({}, {"num_words": 8, "test_split": 0.3}, {"maxlen": 4, "skip_top": 4}):
        (x, y), (xt, yt) = reuters.load_data(**kwargs)
        (kx, ky), (kxt, kyt) = keras.datasets.reuters.load_data(**kwargs)
        assert [list(s) for s in x] == [list(s) for s in kx], kwargs
        assert [list(s) for s in xt] == [list(s) for s in kxt], kwargs
        assert np.array_equal(y, ky) and np.array_equal(yt, kyt)


def test_word_indexes(cache, monkeypatch):
    words = {"the": 1, "and": 2, "film": 3}
    blob = json.dumps(words).encode()
    put(cache, monkeypatch, imdb, "imdb_word_index.json", blob, "WORD_INDEX_HASH")
    put(cache, monkeypatch, reuters, "reuters_word_index.json", blob, "WORD_INDEX_HASH")
    assert imdb.get_word_index() == words
    assert reuters.get_word_index() == words


# --------------------------------------------------------------------------- tables
def test_boston_housing(cache, monkeypatch, rng):
    xs = rng.normal(size=(10, 13))
    ys = rng.uniform(10, 50, size=10)
    put(cache, monkeypatch, boston_housing, "boston_housing.npz", npz_bytes(x=xs, y=ys))
    (x, y), (xt, yt) = boston_housing.load_data()
    p = perm(10, 113)
    assert x.shape == (8, 13) and xt.shape == (2, 13) and x.dtype == np.float64
    assert np.array_equal(x, xs[p[:8]]) and np.array_equal(y, ys[p[:8]])
    assert np.array_equal(xt, xs[p[8:]]) and np.array_equal(yt, ys[p[8:]])
    (x, y), (xt, yt) = boston_housing.load_data(test_split=0.5, seed=3)
    p = perm(10, 3)
    assert np.array_equal(x, xs[p[:5]]) and np.array_equal(yt, ys[p[5:]])
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="test_split"):
            boston_housing.load_data(test_split=bad)


def test_california_housing_versions(cache, monkeypatch, rng):
    xs = rng.normal(size=(610, 8)).astype(np.float32)
    ys = rng.uniform(2e4, 5e5, size=610).astype(np.float32)
    put(cache, monkeypatch, california_housing, "california_housing.npz", npz_bytes(x=xs, y=ys))
    (x, y), (xt, yt) = california_housing.load_data()
    assert len(x) == int(610 * 0.8) and len(x) + len(xt) == 610 and x.shape[1] == 8
    p = perm(610, 113)
    assert np.array_equal(x, xs[p[:len(x)]]) and x.dtype == xs.dtype
    (x, y), (xt, yt) = california_housing.load_data(version="small")
    p = perm(600, 113)
    assert len(x) == 480 and len(xt) == 120
    assert np.array_equal(xt, xs[:600][p[480:]]) and np.array_equal(y, ys[:600][p[:480]])
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="medium")
