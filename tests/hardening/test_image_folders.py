"""Image folders that are not what they seem (issue 16): special files skipped with a
note and never opened (a FIFO must not block), the formats Pillow decodes accepted,
decompression bombs refused from the header, any depth of nesting."""
import os
import signal
import socket

import numpy as np
import pytest

import nbnet as nb

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


def _img(path, rng, size=(12, 10), mode="L", fmt=None):
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr, "RGB").convert(mode).save(path, format=fmt)
    return str(path)


def tree(tmp_path, n=3):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        os.makedirs(tmp_path / "imgs" / cls)
        for i in range(n):
            _img(tmp_path / "imgs" / cls / f"{i}.png", rng)
    return tmp_path / "imgs"


@pytest.fixture
def alarm():
    """Fail instead of hanging forever (today a FIFO blocks load_images)."""
    def boom(signum, frame):
        raise TimeoutError("load_images blocked")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_special_files_are_skipped_with_a_note(tmp_path, alarm):
    root = tree(tmp_path)
    os.mkfifo(root / "a" / "pipe.png")                       # today: blocks forever
    os.symlink(tmp_path / "nowhere.png", root / "a" / "gone.png")
    os.symlink("loop2.png", root / "b" / "loop1.png")
    os.symlink("loop1.png", root / "b" / "loop2.png")
    os.symlink("/dev/zero", root / "b" / "zero.png")         # today: reads without end
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(root / "b" / "sock.png"))
    s.close()
    ds = nb.data.load_images(str(root), image_size=(10, 12), color_mode="grayscale")
    assert len(ds) == 6 and ds.x.shape == (6, 10, 12, 1)
    note = " ".join(ds.notes)
    for name, what in (("pipe.png", "FIFO"), ("gone.png", "dangling"), ("zero.png", "device"),
                       ("loop1.png", "symbolic links"), ("sock.png", "socket")):
        assert name in note and what in note, (name, note)


def test_other_pillow_formats_are_read(tmp_path):
    """.gif / .tif / .webp are read (today: skipped without a word); pixels as Pillow
    decodes them."""
    rng = np.random.default_rng(1)
    paths = []
    for cls, exts in (("a", (".gif", ".tif")), ("b", (".tiff", ".webp"))):
        os.makedirs(tmp_path / cls)
        for ext in exts:
            fmt = {".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}[ext]
            paths.append(_img(tmp_path / cls / f"x{ext}", rng, fmt=fmt))
    (tmp_path / "a" / "readme.txt").write_text("not an image")
    ds = nb.data.load_images(str(tmp_path), image_size=(10, 12), color_mode="grayscale")
    assert list(ds.y) == [0, 0, 1, 1] and ds.file_paths == paths
    for x, p in zip(ds.x, paths):
        ref = np.asarray(Image.open(p).convert("L"), dtype=np.float64) / 255.0
        np.testing.assert_allclose(x[..., 0], ref, rtol=1e-6)
    assert any(".txt: 1" in n for n in ds.notes)


def test_pixel_limit_refuses_before_decoding(tmp_path, monkeypatch):
    """Over PIL.Image.MAX_IMAGE_PIXELS (here lowered to 100) but under twice it: today
    Pillow only warns and decodes it."""
    root = tree(tmp_path)
    _img(root / "a" / "big.png", np.random.default_rng(2), size=(12, 12))   # 144 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 130)
    decoded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or real_load(self))
    with pytest.raises(nb.DataError, match=r"big\.png: image of 12x12 = 144 pixels is over the "
                                           r"limit of 130"):
        nb.data.load_images(str(root), image_size=(10, 10))
    assert (12, 12) not in decoded


def test_deep_nesting(tmp_path):
    """Today os.walk recurses in Python 3.11: 1,200 levels raise RecursionError."""
    root = tree(tmp_path)
    deep = str(root / "a")
    for _ in range(1200):     # os.makedirs itself recurses: one level at a time
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    _img(os.path.join(deep, "deep.png"), np.random.default_rng(3))
    try:
        ds = nb.data.load_images(str(root), image_size=(4, 4))
        assert len(ds) == 7 and ds.file_paths[-4].endswith("deep.png")
    finally:   # shutil.rmtree (pytest's clean-up) recurses too: undo level by level
        os.remove(os.path.join(deep, "deep.png"))
        while deep != str(root / "a"):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_class_folder_of_special_files_only(tmp_path, alarm):
    root = tree(tmp_path)
    os.makedirs(root / "c")
    os.mkfifo(root / "c" / "only.png")
    with pytest.raises(nb.DataError, match="class folder 'c' has no images"):
        nb.data.load_images(str(root), image_size=(4, 4))
