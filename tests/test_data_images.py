"""nbnet.data.load_images: the bundled digits written as PNG class folders come back as
the same arrays; resizing, rgb, Keras-style validation split, and DataError for bad
folders and files."""
import os

import numpy as np
import pytest
from PIL import Image

import nbnet.data as nbdata
from nbnet.data import load_images
from nbnet.datasets import load_digits
from nbnet.errors import DataError

N_PER_CLASS = 12


def digits_subset():
    """The first N_PER_CLASS digits of each class: grey levels 0..16 as uint8 (N, 8, 8)."""
    ds = load_digits(as_images=True, dtype="float64")
    pixels = np.rint(ds.x[..., 0] * 16).astype(np.int64)          # back to 0..16
    idx = np.concatenate([np.flatnonzero(ds.y == k)[:N_PER_CLASS] for k in range(10)])
    return pixels[idx], ds.y[idx]


def write_digits(root, ext=".png"):
    """One folder per digit; grey = round(pixel * 255 / 16). Returns (grey uint8, labels)
    in the loader's expected order: class by class, file names sorted."""
    pixels, labels = digits_subset()
    grey = np.rint(pixels * 255 / 16).astype(np.uint8)
    count = {}
    for g, y in zip(grey, labels):
        folder = os.path.join(root, str(y))
        os.makedirs(folder, exist_ok=True)
        i = count[y] = count.get(y, -1) + 1
        Image.fromarray(g, mode="L").save(os.path.join(folder, f"img_{i:03d}{ext}"))
    return grey, labels


@pytest.fixture
def digit_dir(tmp_path):
    root = str(tmp_path / "digits")
    grey, labels = write_digits(root)
    return root, grey, labels


def raises(directory, *parts, **kw):
    kw.setdefault("image_size", (8, 8))
    with pytest.raises(DataError) as e:
        load_images(directory, **kw)
    for p in parts:
        assert p in str(e.value), str(e.value)


def test_digits_roundtrip_as_png(digit_dir):
    root, grey, labels = digit_dir
    ds = load_images(root, image_size=(8, 8), color_mode="grayscale")
    assert ds.x.shape == (10 * N_PER_CLASS, 8, 8, 1) and ds.x.dtype == np.float32
    assert ds.class_names == [str(k) for k in range(10)] and ds.task == "classification"
    assert ds.y.dtype == np.int64 and ds.y.tolist() == labels.tolist()
    # the PNG holds round(pixel * 255 / 16); loaded back / 255 -> pixel / 16 within 1/255
    pixels, _ = digits_subset()
    np.testing.assert_allclose(ds.x[..., 0], pixels / 16, atol=1 / 255 + 1e-7)
    np.testing.assert_allclose(ds.x[..., 0], grey / 255, rtol=1e-6)
    x, y = ds
    assert x is ds.x and y is ds.y


def test_float64_and_other_formats(tmp_path, float64):
    root = str(tmp_path / "bmp")
    grey, labels = write_digits(root, ext=".bmp")
    open(os.path.join(root, "3", "notes.txt"), "w").write("ignored, as Keras does")
    ds = load_images(root, image_size=(8, 8), color_mode="grayscale")
    assert ds.x.dtype == np.float64
    assert np.array_equal(ds.x[..., 0], grey / 255.0) and ds.y.tolist() == labels.tolist()


def test_resize_and_rgb(digit_dir):
    root, grey, labels = digit_dir
    ds = load_images(root, image_size=(16, 16), color_mode="grayscale")
    assert ds.x.shape == (len(labels), 16, 16, 1)
    assert ds.x.min() >= 0 and ds.x.max() <= 1 and ds.x.max() > 0.5
    rgb = load_images(root, image_size=(8, 8), color_mode="rgb")
    assert rgb.x.shape == (len(labels), 8, 8, 3)
    for c in range(3):   # a grey PNG converted to RGB has three equal channels
        np.testing.assert_allclose(rgb.x[..., c], grey / 255, rtol=1e-6)
    wide = load_images(root, image_size=(4, 12), color_mode="rgb")
    assert wide.x.shape == (len(labels), 4, 12, 3)


def test_parallel_decoding_keeps_order(digit_dir, monkeypatch):
    root, grey, labels = digit_dir
    serial = load_images(root, image_size=(8, 8), color_mode="grayscale")
    monkeypatch.setattr(nbdata, "_PARALLEL_MIN_FILES", 2)
    threaded = load_images(root, image_size=(8, 8), color_mode="grayscale")
    assert np.array_equal(serial.x, threaded.x) and np.array_equal(serial.y, threaded.y)


def test_validation_split_like_keras(digit_dir):
    root, _, labels = digit_dir
    full = load_images(root, image_size=(8, 8), color_mode="grayscale")
    train, val = load_images(root, image_size=(8, 8), color_mode="grayscale",
                             validation_split=0.25, subset="both", seed=7)
    n = len(labels)
    assert len(val) == int(0.25 * n) and len(train) + len(val) == n
    assert not set(train.file_paths) & set(val.file_paths)
    assert sorted(train.file_paths + val.file_paths) == sorted(full.file_paths)
    # Keras' index_directory: shuffle the path list with RandomState(seed), last k = val
    paths = list(full.file_paths)
    np.random.RandomState(7).shuffle(paths)
    assert val.file_paths == paths[-int(0.25 * n):] and train.file_paths == paths[:-int(0.25 * n)]
    # each sample keeps its own image and label
    where = {p: i for i, p in enumerate(full.file_paths)}
    for part in (train, val):
        idx = [where[p] for p in part.file_paths]
        assert np.array_equal(part.x, full.x[idx]) and np.array_equal(part.y, full.y[idx])
    # reproducible, and subset="training"/"validation" give the same pieces
    again = load_images(root, image_size=(8, 8), color_mode="grayscale",
                        validation_split=0.25, subset="validation", seed=7)
    assert again.file_paths == val.file_paths and np.array_equal(again.x, val.x)
    other = load_images(root, image_size=(8, 8), color_mode="grayscale",
                        validation_split=0.25, subset="training", seed=8)
    assert other.file_paths != train.file_paths


def test_split_argument_errors(digit_dir):
    root, _, _ = digit_dir
    for kw in [dict(validation_split=0.2), dict(subset="both"),
               dict(validation_split=0.2, subset="both"),           # no seed
               dict(validation_split=1.5, subset="both", seed=1),
               dict(validation_split=0.2, subset="test", seed=1),
               dict(color_mode="cmyk"), dict(image_size=(8,))]:
        kw.setdefault("image_size", (8, 8))
        with pytest.raises(ValueError):
            load_images(root, **kw)
    raises(root, "no validation images", validation_split=0.001, subset="both", seed=1)


def test_folder_errors(tmp_path):
    raises(str(tmp_path / "absent"), "absent", "no such folder")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(flat / "a.png")
    raises(str(flat), "flat", "no class subfolders")
    afile = tmp_path / "file.png"
    afile.write_bytes(b"x")
    raises(str(afile), "file.png", "not a folder")
    root = tmp_path / "classes"
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "cat" / "a.png")
    (root / "dog" / "readme.txt").write_text("no images here")
    raises(str(root), os.path.join("classes", "dog"), "no images")


def test_bad_image_files(tmp_path):
    root = tmp_path / "imgs"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        Image.fromarray(np.full((8, 8), 100, np.uint8)).save(root / name / "ok.png")
    bad = root / "b" / "zz_corrupt.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    raises(str(root), "zz_corrupt.png", "cannot decode")
    bad.unlink()
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))
    big.save(root / "b" / "whole.png")
    data = (root / "b" / "whole.png").read_bytes()
    (root / "b" / "zz_truncated.png").write_bytes(data[:len(data) // 2])
    raises(str(root), "zz_truncated.png", "cannot decode")
    (root / "b" / "zz_truncated.png").unlink()
    (root / "a" / "text.jpg").write_text("not a jpeg")
    raises(str(root), "text.jpg")


def test_decompression_bomb_guard_is_kept(tmp_path, monkeypatch):
    root = tmp_path / "bomb"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(root / "a" / "big.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "b" / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)   # 1600 px > 2 * limit -> error
    raises(str(root), "big.png", "too large")
