"""nbnet train / evaluate / predict / summary / datasets on small CSV files, with the
accuracy or R^2 of the written predictions computed here against the known truth."""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import nbnet as nb
from nbnet.cli.main import main
from nbnet.threads import default_num_threads
from clitools import FAST, read_csv


def _accuracy(pred_rows, truth):
    return np.mean([row[0] == t for row, t in zip(pred_rows, truth)])


def test_string_labels_in_middle_column(nbnet, data_dir, tmp_path):
    out = tmp_path / "animals.nbnet"
    run = nbnet("train", data_dir["animals_train"], "--target", "species", "--out", out, *FAST)
    assert run.code == 0, run
    assert "classification" in run.stdout
    # class balance with the class names, read back from the file
    truth = data_dir["animals_train_y"]
    for name in ("cat", "dog", "fox"):
        assert f"{name}: {truth.count(name)}" in run.stdout
    assert "val_accuracy" in run.stdout.splitlines()[-1] and str(out) in run.stdout.splitlines()[-1]
    # predict on a raw CSV without the target column -> class names + probabilities
    preds = tmp_path / "preds.csv"
    run = nbnet("predict", out, data_dir["animals_test_noy"], "--out", preds)
    assert run.code == 0, run
    header, rows = read_csv(preds)
    assert header == ["prediction", "prob_cat", "prob_dog", "prob_fox"]
    assert len(rows) == len(data_dir["animals_test_y"])
    probs = np.array([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [r[0] for r in rows] == [["cat", "dog", "fox"][i] for i in probs.argmax(axis=1)]
    assert _accuracy(rows, data_dir["animals_test_y"]) >= 0.9
    # the same file with the target column: evaluate prints loss and accuracy
    run = nbnet("evaluate", out, data_dir["animals_test"])
    assert run.code == 0, run
    acc = float(re.search(r"accuracy: ([0-9.]+)", run.stdout).group(1))
    assert acc >= 0.9 and "loss:" in run.stdout


def test_integer_labels_predict_to_stdout(nbnet, data_dir, tmp_path):
    out = tmp_path / "ints.nbnet"
    run = nbnet("train", data_dir["ints_train"], "--out", out, *FAST)
    assert run.code == 0, run
    assert "classification" in run.stdout and "4 classes" in run.stdout
    run = nbnet("predict", out, data_dir["ints_test"])
    assert run.code == 0, run
    header, rows = read_csv(run.stdout, from_text=True)
    assert header == ["prediction"] + [f"prob_{i}" for i in range(4)]
    assert _accuracy(rows, data_dir["ints_test_y"]) >= 0.9


@pytest.mark.parametrize("loss", [None, "binary_crossentropy"])
def test_binary_target(nbnet, data_dir, tmp_path, loss):
    out = tmp_path / "binary.nbnet"
    extra = ["--loss", loss] if loss else []
    run = nbnet("train", data_dir["binary_train"], "--out", out, *FAST, *extra)
    assert run.code == 0, run
    run = nbnet("predict", out, data_dir["binary_test"])
    assert run.code == 0, run
    header, rows = read_csv(run.stdout, from_text=True)
    assert header == ["prediction", "prob_no", "prob_yes"]
    assert _accuracy(rows, data_dir["binary_test_y"]) >= 0.9


def test_regression_in_original_units(nbnet, data_dir, tmp_path):
    out = tmp_path / "reg.nbnet"
    run = nbnet("train", data_dir["reg_train"], "--out", out, "--epochs", "40", "--hidden", "32")
    assert run.code == 0, run
    assert "regression" in run.stdout
    run = nbnet("predict", out, data_dir["reg_test"])
    assert run.code == 0, run
    header, rows = read_csv(run.stdout, from_text=True)
    assert header == ["prediction"]
    pred = np.array([float(r[0]) for r in rows])
    truth = np.array(data_dir["reg_test_y"])
    r2 = 1 - np.sum((pred - truth) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert r2 >= 0.95, r2
    assert abs(pred.mean() - truth.mean()) < 10  # in the target's units (mean ~300)
    run = nbnet("evaluate", out, data_dir["reg_test"])
    assert run.code == 0, run
    mse = float(re.search(r"loss: ([0-9.]+)", run.stdout).group(1))
    np.testing.assert_allclose(mse, np.mean((pred - truth) ** 2), rtol=1e-3)


def test_same_seed_is_bitwise_repeatable_and_log_written(nbnet, data_dir, tmp_path):
    """Same seed and arguments -> the same model bit for bit, at 1 and at 2 threads."""
    a, b, log = tmp_path / "a.nbnet", tmp_path / "b.nbnet", tmp_path / "log.csv"
    try:
        for out, threads in ((a, 1), (b, 2)):
            run = nbnet("train", data_dir["ints_train"], "--out", out, "--epochs", "3",
                        "--seed", "5", "--hidden", "16", "--dropout", "0.1", "--log", log,
                        "--threads", threads)
            assert run.code == 0, run
    finally:
        nb.set_num_threads(default_num_threads())
    wa, wb = nb.load_model(a).get_weights(), nb.load_model(b).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    header, rows = read_csv(log)
    assert header[0] == "epoch" and "val_loss" in header and len(rows) == 3


def test_spec_model_and_summary(nbnet, data_dir, tmp_path):
    spec = [{"class_name": "Dense", "config": {"units": 8, "activation": "relu"}},
            {"class_name": "Dense", "config": {"units": 3, "activation": "softmax"}}]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "spec.nbnet"
    run = nbnet("train", data_dir["animals_train"], "--target", "2", "--model", path,
                "--out", out, "--epochs", "2")
    assert run.code == 0, run
    run = nbnet("summary", out)
    assert run.code == 0, run
    assert "Dense" in run.stdout and str(4 * 8 + 8 + 8 * 3 + 3) in run.stdout.replace(",", "")
    path.write_text(json.dumps({"layers": spec, "input_shape": [4]}))
    run = nbnet("summary", path)
    assert run.code == 0, run
    assert str(4 * 8 + 8 + 8 * 3 + 3) in run.stdout.replace(",", "")


def test_datasets_table(nbnet):
    run = nbnet("datasets")
    assert run.code == 0, run
    assert "digits" in run.stdout


def _options(command):
    return [p for p in command.params if p.param_type_name == "option"]


def test_help_mentions_every_option_and_default(nbnet):
    run = nbnet("--help")
    assert run.code == 0, run
    for name in ("train", "evaluate", "predict", "summary", "datasets"):
        assert name in run.stdout
    for name, command in main.commands.items():
        run = nbnet(name, "--help")
        assert run.code == 0, run
        ctx = command.make_context(name, ["--help"], resilient_parsing=True)
        text = " ".join(run.stdout.split())
        for opt in _options(command):
            if opt.name == "help":
                continue
            assert opt.opts[0] in run.stdout, (name, opt.opts)
            record = " ".join(opt.get_help_record(ctx)[1].split())
            assert "default" in record.lower(), (name, opt.opts, record)
            assert record[:30] in text


def test_default_train_on_digits(tmp_path):
    """`nbnet train` with no arguments: digits, >= 95 % validation accuracy, model.nbnet."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nbnet.cli", "train"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    acc = float(re.search(r"val_accuracy: ([0-9.]+)", last).group(1))
    assert acc >= 0.95, last
    assert os.path.exists(tmp_path / "model.nbnet")
    assert "Traceback" not in proc.stderr
    print(f"nbnet train (digits): {elapsed:.1f} s, val_accuracy {acc}")


def _stripes(folder, n, seed):
    """Class 'horizontal' / 'vertical': 12x12 grey stripes plus noise, as PNG files."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    truth = {}
    for cls in ("horizontal", "vertical"):
        os.makedirs(folder / cls)
        for i in range(n):
            img = np.zeros((12, 12))
            img[rng.integers(0, 2)::2, :] = 1.0
            if cls == "vertical":
                img = img.T
            img = np.clip(img * 0.8 + rng.uniform(0, 0.2, img.shape), 0, 1)
            path = folder / cls / f"{i:03d}.png"
            Image.fromarray((img * 255).astype(np.uint8), "L").save(path)
            truth[str(path)] = cls
    return truth


def test_image_folder_cnn(nbnet, tmp_path):
    _stripes(tmp_path / "train", 24, seed=0)
    truth = _stripes(tmp_path / "test", 10, seed=1)
    out = tmp_path / "cnn.nbnet"
    run = nbnet("train", tmp_path / "train", "--image-size", "12x12", "--epochs", "6",
                "--batch-size", "8", "--out", out)
    assert run.code == 0, run
    assert "Conv2D" in run.stdout and "horizontal: 24, vertical: 24" in run.stdout
    run = nbnet("predict", out, tmp_path / "test")
    assert run.code == 0, run
    header, rows = read_csv(run.stdout, from_text=True)
    assert header == ["file", "prediction", "prob_horizontal", "prob_vertical"]
    assert len(rows) == len(truth)
    assert np.mean([truth[r[0]] == r[1] for r in rows]) >= 0.9
    run = nbnet("evaluate", out, tmp_path / "test")
    assert run.code == 0 and "accuracy" in run.stdout, run


def test_missing_mean_and_early_stopping(nbnet, tmp_path):
    """--missing mean fills holes with the training means (in train and in predict);
    --early-stopping stops once val_loss stops improving."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (200, 3))
    y = (x[:, 0] > 0).astype(int)
    lines = ["p,q,r,y"] + [f"{a:.4f},{b:.4f},{c:.4f},{t}" for (a, b, c), t in zip(x, y)]
    lines[5] = lines[5].split(",", 1)[0] + ",,0.5," + lines[5].rsplit(",", 1)[1]  # hole in q
    (tmp_path / "holes.csv").write_text("\n".join(lines) + "\n")
    out, log = tmp_path / "m.nbnet", tmp_path / "log.csv"
    run = nbnet("train", tmp_path / "holes.csv", "--missing", "mean", "--early-stopping", "1",
                "--epochs", "200", "--lr", "0.05", "--hidden", "8", "--out", out, "--log", log)
    assert run.code == 0, run
    _, rows = read_csv(log)
    assert 2 <= len(rows) < 200  # stopped early
    (tmp_path / "new.csv").write_text("p,q,r\n1.5,,0.1\n-1.5,0.2,\n")
    run = nbnet("predict", out, tmp_path / "new.csv")
    assert run.code == 0, run
    _, rows = read_csv(run.stdout, from_text=True)
    assert [r[0] for r in rows] == ["1", "0"]
    run = nbnet("train", tmp_path / "holes.csv", "--missing", "error", "--out", tmp_path / "x.nbnet")
    assert run.code == 2 and "line 6" in run.stderr, run  # --missing error refuses the hole
