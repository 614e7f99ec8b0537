"""`nbnet` on inputs that used to end in a traceback (issue 16): every path ends in ONE
"Error: ..." line (exit 2 for bad input, 1 for the last-resort handler), warnings are
one line each, and a failed run leaves the output file as it was."""
import os
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import nbnet as nb
from nbnet.cli.main import main

OLD = b"an existing model file"


def nbnet(*args, env=None):
    r = CliRunner().invoke(main, [str(a) for a in args], env=env)
    return r


def assert_one_error(r, code, *parts):
    err_lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert r.exit_code == code, (r.exit_code, r.stderr[-2000:], r.exception)
    assert isinstance(r.exception, SystemExit), r.exception
    assert len(err_lines) == 1 and "Traceback" not in r.stdout + r.stderr, r.stderr[-2000:]
    for p in parts:
        assert p in err_lines[0], (p, err_lines[0])
    return err_lines[0]


@pytest.fixture
def out(tmp_path):
    p = tmp_path / "out" / "model.nbnet"
    p.parent.mkdir()
    p.write_bytes(OLD)
    return p


def unchanged(out):
    return out.read_bytes() == OLD and os.listdir(out.parent) == ["model.nbnet"]


def good_csv(folder):
    rng = np.random.default_rng(5)
    data = folder / "d.csv"
    data.write_text("a,b,label\n" + "\n".join(f"{rng.normal():.4f},{rng.normal():.4f},{i % 2}"
                                               for i in range(20)) + "\n")
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    data, model_path = good_csv(folder), folder / "m.nbnet"
    r = nbnet("train", data, "--epochs", "1", "--out", model_path)
    assert r.exit_code == 0, r.stderr
    return data, model_path


def images(tmp_path, classes=("a", "b"), n=6, size=12):
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in classes:
        os.makedirs(tmp_path / "imgs" / c)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8), "L").save(
                tmp_path / "imgs" / c / f"{i}.png")
    return tmp_path / "imgs"


def test_image_size_too_small_for_the_default_cnn(tmp_path, out):
    """Today: ValueError traceback from max_pooling2d_1 (input size 1 < window 2)."""
    r = nbnet("train", images(tmp_path), "--image-size", "8x8", "--epochs", "1", "--out", out)
    assert_one_error(r, 2, "--image-size", "8x8", "at least 10")
    assert unchanged(out)


def test_image_size_at_the_minimum_trains(tmp_path, out):
    r = nbnet("train", images(tmp_path), "--image-size", "10x10", "--epochs", "1", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert nb.load_model(str(out)).input_shape == (None, 10, 10, 1)


def test_single_class_image_folder_is_refused(tmp_path, out):
    """Today: trains a one-class model (a single-class CSV is refused)."""
    r = nbnet("train", images(tmp_path, classes=("only",)), "--epochs", "1", "--out", out)
    assert_one_error(r, 2, "imgs", "single class", "'only'")
    assert unchanged(out)


def test_fifo_and_other_formats_in_a_folder(tmp_path, out):
    """Today: the FIFO blocks forever, and .gif / .webp are skipped without a word."""
    import signal
    from PIL import Image

    def boom(signum, frame):
        raise TimeoutError("nbnet train blocked on the FIFO")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(60)
    try:
        _fifo_and_other_formats(tmp_path, out, Image)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _fifo_and_other_formats(tmp_path, out, Image):
    root = images(tmp_path, n=3)
    Image.new("L", (12, 12), 7).save(root / "a" / "x.gif")
    Image.new("RGB", (12, 12), (1, 2, 3)).save(root / "b" / "y.webp")
    os.mkfifo(root / "a" / "pipe.png")
    r = nbnet("train", root, "--epochs", "1", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "Data: 8 images" in r.stdout
    assert "Note:" in r.stdout and "pipe.png (a FIFO)" in r.stdout


@pytest.mark.parametrize("cell, line", [("1e308", 5), ("-3.5e38", 5)])
def test_csv_value_overflowing_float32(tmp_path, out, cell, line):
    """Today: NumPy RuntimeWarning lines, then 'fit: x contains NaN or Inf (first in
    sample 0)' naming neither the file, the line nor the column."""
    rows = [f"{i * 0.1},{i},{i % 2}" for i in range(20)]
    rows[line - 2] = f"0.3,{cell},1"
    data = tmp_path / "big.csv"
    data.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    r = nbnet("train", data, "--epochs", "1", "--out", out)
    assert_one_error(r, 2, "big.csv", f"line {line}", "'b'", cell, "float32")
    assert "RuntimeWarning" not in r.stdout + r.stderr
    assert unchanged(out)


def test_last_resort_handler(tmp_path, out, monkeypatch):
    """An unexpected exception (a bug) is one line with exit 1 and a request to report
    it; today it escaped as a traceback."""
    data = good_csv(tmp_path)

    def boom(*a, **k):
        raise RuntimeError("kaboom")
    monkeypatch.setattr("nbnet.cli.tabular.TableEncoder.fit", boom)
    r = nbnet("train", data, "--epochs", "1", "--out", out)
    line = assert_one_error(r, 1, "unexpected RuntimeError: kaboom", "report")
    assert "NBNET_TRACEBACK=1" in line and unchanged(out)
    r = nbnet("train", data, "--epochs", "1", "--out", out, env={"NBNET_TRACEBACK": "1"})
    assert isinstance(r.exception, RuntimeError)     # the traceback on request

    def oom(*a, **k):
        raise MemoryError()
    monkeypatch.setattr("nbnet.cli.tabular.TableEncoder.fit", oom)
    r = nbnet("train", data, "--epochs", "1", "--out", out)
    assert_one_error(r, 1, "out of memory")
    assert unchanged(out)


def test_warnings_are_one_line(tmp_path, out, monkeypatch):
    data = good_csv(tmp_path)
    real = nb.cli.tabular.TableEncoder.fit

    def noisy(self, *a, **k):
        warnings.warn("something odd\nhappened", UserWarning)
        np.float32(3e38) * np.float32(10)      # NumPy: RuntimeWarning overflow
        return real(self, *a, **k)
    monkeypatch.setattr("nbnet.cli.tabular.TableEncoder.fit", noisy)
    r = nbnet("train", data, "--epochs", "1", "--out", out)
    assert r.exit_code == 0, r.stderr
    warn = [line for line in r.stderr.splitlines() if "Warning" in line]
    assert warn == ["Warning: UserWarning: something odd happened",
                    "Warning: RuntimeWarning: overflow encountered in scalar multiply"], warn


def test_training_data_errors_name_the_file():
    from nbnet.cli.common import naming
    with pytest.raises(nb.DataError, match=r"^d\.csv: training rows: x contains NaN"):
        with naming("d.csv"):
            raise nb.DataError("fit: x contains NaN or Inf (first in sample 0)")
    with pytest.raises(nb.DataError, match=r"^d\.csv: validation rows: y has"):
        with naming("d.csv"):
            raise nb.DataError("fit (validation_data): y has 3 rows")
    with pytest.raises(nb.DataError, match=r"^d\.csv: line 3"):   # named once only
        with naming("d.csv"):
            raise nb.DataError("d.csv: line 3: bad")


@pytest.mark.parametrize("field, value", [("class_names", 5), ("class_names", ["a"]),
                                          ("image_size", "big"), ("kind", 3),
                                          ("encoder", {"columns": "x"})])
def test_invalid_extra_in_a_model_file(tmp_path, trained, field, value):
    """Today: predict fails with a traceback (TypeError / AttributeError / KeyError)."""
    data, good = trained
    model_path = tmp_path / "m.nbnet"
    model = nb.load_model(str(good))
    model.extra = dict(model.extra, **{field: value})
    model.save(str(model_path))
    r = nbnet("predict", model_path, data)
    assert_one_error(r, 2, "m.nbnet", "extra", field)   # the reader or check_extra names it


def test_non_utf8_file_names(tmp_path, out):
    """A file name that is not UTF-8 prints (backslash-escaped) and is written back as
    its bytes by predict --out."""
    root = images(tmp_path, n=4)
    with open(os.path.join(os.fsencode(root / "a"), b"bad\xffname.png"), "wb") as f:
        f.write((root / "a" / "0.png").read_bytes())
    r = nbnet("train", root, "--epochs", "1", "--out", out)
    assert r.exit_code == 0, r.stderr
    preds = tmp_path / "p.csv"
    r = nbnet("predict", out, root, "--out", preds)
    assert r.exit_code == 0, r.stderr
    assert b"bad\xffname.png" in preds.read_bytes()
