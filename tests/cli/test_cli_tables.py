"""`nbnet train FILE --target T` with no other flag on tables written the way real ones
are: a name column, string categories, booleans, empty cells and NA, integer codes, a
row number. The column table is printed, `predict` on the raw test rows writes labels,
and the predict-time cases (unseen level, reordered / extra / missing column, text where
numbers were) behave as the README says."""
import csv
import io
import re

import numpy as np
import pytest

import nbnet as nb
from clitools import read_csv, write_csv

FIRST = ["Anna", "John", "Mary", "William", "Elin", "Karl", "Rose", "Owen", "Ida", "Hugh"]
LAST = ["Smith", "Andersson", "O'Brien", "Nilsson", "Kelly", "Brown", "Sage", "Ford"]


def passengers(n, seed):
    """A Titanic-like list: (header, rows, truth). Survival follows sex, class and age
    (women and children of the upper classes first), with 10 % of labels flipped."""
    rng = np.random.default_rng(seed)
    header = ["PassengerId", "Name", "Sex", "Age", "Pclass", "Fare", "Embarked", "Alone",
              "Survived"]
    rows, truth = [], []
    for i in range(n):
        sex = rng.choice(["male", "female"], p=[0.64, 0.36])
        pclass = int(rng.choice([1, 2, 3], p=[0.24, 0.21, 0.55]))
        age = float(np.clip(rng.normal(30, 14), 0.5, 80))
        fare = {1: 84.0, 2: 20.7, 3: 13.7}[pclass] * rng.lognormal(0, 0.4)
        score = (2.2 if sex == "female" else -1.3) - 0.9 * (pclass - 2) - 0.03 * (age - 30)
        survived = int(score > 0) ^ int(rng.random() < 0.1)
        name = f"{rng.choice(LAST)}, {'Mrs.' if sex == 'female' else 'Mr.'} {rng.choice(FIRST)} {i}"
        age_cell = "" if rng.random() < 0.2 else f"{age:.0f}"
        embarked = "" if rng.random() < 0.02 else str(rng.choice(["S", "C", "Q"], p=[0.72, 0.19, 0.09]))
        alone = str(rng.choice(["True", "False", "true"]))
        rows.append([i + 1, name, sex, age_cell if age_cell or i % 2 else "NA", pclass,
                     f"{fare:.2f}", embarked, alone, survived])
        truth.append(str(survived))
    return header, rows, truth


@pytest.fixture(scope="module")
def titanic(tmp_path_factory):
    d = tmp_path_factory.mktemp("titanic")
    header, rows, _ = passengers(600, seed=1)
    train = write_csv(d / "train.csv", header, rows)
    header, rows, truth = passengers(300, seed=2)
    test = write_csv(d / "test_noy.csv", header[:-1], [r[:-1] for r in rows])
    model = d / "titanic.nbnet"
    return {"dir": d, "train": train, "test": test, "truth": truth, "model": model,
            "header": header[:-1], "rows": [r[:-1] for r in rows]}


def _table_row(stdout, column):
    return next(line for line in stdout.splitlines() if line.startswith(column + " "))


def test_train_with_no_flag_prints_roles_and_predicts(nbnet, titanic):
    run = nbnet("train", titanic["train"], "--target", "Survived", "--out", titanic["model"])
    assert run.code == 0, run
    out = run.stdout
    assert "identifier" in _table_row(out, "Name") and "left out" in _table_row(out, "Name")
    assert "identifier" in _table_row(out, "PassengerId")          # a row number
    sex, age, emb = _table_row(out, "Sex"), _table_row(out, "Age"), _table_row(out, "Embarked")
    assert "categorical" in sex and "one-hot, 2 columns" in sex
    assert "numeric" in age and "median" in age and "indicator" in age
    n_age_missing = int(age.split()[2])
    assert 0.12 * 480 < n_age_missing < 0.3 * 480                 # empty cells and NA, ~20 %
    assert "categorical" in emb and "(missing)" in emb
    alone = _table_row(out, "Alone")
    assert "categorical" in alone and "2 columns" in alone        # True / true: one level
    assert "numeric" in _table_row(out, "Pclass") and "numeric" in _table_row(out, "Fare")
    assert re.search(r"Note: Age: \d+ missing value\(s\) filled with", out)
    assert "precision" in out and "confusion matrix" in out        # the validation report
    assert "val_accuracy" in out.splitlines()[-1]
    # predict on the raw test rows (no target column): labels, then the accuracy
    preds = titanic["dir"] / "preds.csv"
    run = nbnet("predict", titanic["model"], titanic["test"], "--out", preds)
    assert run.code == 0, run
    header, rows = read_csv(preds)
    assert header == ["prediction", "prob_0", "prob_1"] and len(rows) == 300
    acc = np.mean([r[0] == t for r, t in zip(rows, titanic["truth"])])
    assert acc >= 0.8, acc      # the rule is learnable up to the 10 % flipped labels


def _predict(nbnet, titanic, name, header, rows):
    path = write_csv(titanic["dir"] / name, header, rows)
    return nbnet("predict", titanic["model"], path)


def test_predict_time_cases(nbnet, titanic):
    header, rows = titanic["header"], titanic["rows"]
    if not titanic["model"].exists():
        pytest.skip("needs the model of the previous test")
    base = _predict(nbnet, titanic, "same.csv", header, rows)
    assert base.code == 0, base
    # reordered columns: the same predictions, to the last digit
    order = list(reversed(range(len(header))))
    run = _predict(nbnet, titanic, "reordered.csv", [header[k] for k in order],
                   [[r[k] for k in order] for r in rows])
    assert run.code == 0 and run.stdout == base.stdout, run
    # an extra column: ignored with a note, same predictions
    run = _predict(nbnet, titanic, "extra.csv", header + ["Ticket"], [r + ["A/5 21171"] for r in rows])
    assert run.code == 0 and run.stdout == base.stdout, run
    assert "ignored column" in run.stderr and "'Ticket'" in run.stderr
    # identifier columns may be left away: they were not used
    keep = [k for k, h in enumerate(header) if h not in ("Name", "PassengerId")]
    run = _predict(nbnet, titanic, "noname.csv", [header[k] for k in keep],
                   [[r[k] for k in keep] for r in rows])
    assert run.code == 0 and run.stdout == base.stdout, run
    # an unseen level: counted once, in one note naming it
    e = header.index("Embarked")
    unseen = [r[:e] + (["Z"] if i < 5 else [r[e]]) + r[e + 1:] for i, r in enumerate(rows)]
    run = _predict(nbnet, titanic, "unseen.csv", header, unseen)
    assert run.code == 0, run
    notes = [line for line in run.stderr.splitlines() if "'Z'" in line]
    assert len(notes) == 1 and "5 row(s)" in notes[0] and "'Embarked'" in notes[0], run.stderr
    # a missing column: one clean error naming it, nothing written
    a = header.index("Age")
    run = _predict(nbnet, titanic, "noage.csv", header[:a] + header[a + 1:],
                   [r[:a] + r[a + 1:] for r in rows])
    assert run.code == 2 and "'Age'" in run.stderr and "missing" in run.stderr, run
    # text where numbers were: the line and the column
    f = header.index("Fare")
    typed = [r[:f] + (["cheap"] if i == 3 else [r[f]]) + r[f + 1:] for i, r in enumerate(rows)]
    run = _predict(nbnet, titanic, "typed.csv", header, typed)
    assert run.code == 2 and "line 5" in run.stderr and "'Fare'" in run.stderr, run
    assert "'cheap'" in run.stderr


def test_evaluate_prints_the_report(nbnet, titanic, tmp_path):
    header, rows, _ = passengers(200, seed=3)
    path = write_csv(tmp_path / "labelled.csv", header, rows)
    if not titanic["model"].exists():
        pytest.skip("needs the model of the first test")
    run = nbnet("evaluate", titanic["model"], path)
    assert run.code == 0, run
    acc = float(re.search(r"accuracy: ([0-9.]+)", run.stdout).group(1))
    assert acc >= 0.75
    assert "precision" in run.stdout and "true \\ predicted" in run.stdout


def test_thousands_separators_error_then_numeric(nbnet, tmp_path):
    rng = np.random.default_rng(0)
    income = rng.integers(800, 90_000, 200)
    rows = [[f"{v:,}", f"{rng.normal():.3f}", "high" if v > 40_000 else "low"] for v in income]
    path = write_csv(tmp_path / "money.csv", ["income", "noise", "band"], rows)
    out = tmp_path / "m.nbnet"
    run = nbnet("train", path, "--out", out)
    assert run.code == 2 and "--numeric income" in run.stderr and not out.exists(), run
    run = nbnet("train", path, "--numeric", "income", "--out", out)
    assert run.code == 0, run
    assert "thousands separators removed" in _table_row(run.stdout, "income")
    acc = float(re.search(r"val_accuracy: ([0-9.]+)", run.stdout.splitlines()[-1]).group(1))
    assert acc >= 0.95    # the band is a threshold on income: readable only as a number


def test_regression_with_categories_and_gaps(nbnet, tmp_path):
    """price = 100 + 30 * size + a per-city offset; 15 % of sizes missing (NA)."""
    rng = np.random.default_rng(4)
    offsets = {"Oslo": 50.0, "Bergen": 0.0, "Tromsø": -40.0}
    def table(n):
        rows, truth = [], []
        for _ in range(n):
            city, size = rng.choice(list(offsets)), rng.uniform(1, 5)
            price = 100 + 30 * size + offsets[city] + rng.normal(0, 2)
            rows.append([city, "NA" if rng.random() < 0.15 else f"{size:.3f}", f"{price:.2f}"])
            truth.append(price)
        return rows, truth
    rows, _ = table(500)
    train = write_csv(tmp_path / "flats.csv", ["city", "size", "price"], rows)
    out = tmp_path / "flats.nbnet"
    run = nbnet("train", train, "--out", out)
    assert run.code == 0, run
    assert "regression" in run.stdout and "rmse" in run.stdout and "r2" in run.stdout
    rows, truth = table(200)
    test = write_csv(tmp_path / "flats_test.csv", ["size", "city"], [[r[1], r[0]] for r in rows])
    run = nbnet("predict", out, test)
    assert run.code == 0, run
    _, pred_rows = read_csv(run.stdout, from_text=True)
    pred, truth = np.array([float(r[0]) for r in pred_rows]), np.array(truth)
    known = np.array([r[1] != "NA" for r in rows])
    # with the size known the error is the noise; without it, about the spread of size
    assert np.mean(np.abs(pred - truth)[known]) < 8, np.mean(np.abs(pred - truth)[known])
    assert np.mean(np.abs(pred - truth)[~known]) < 45


def test_class_weight_balanced_raises_minority_recall(nbnet, tmp_path):
    """95 / 5 classes that overlap: unweighted, the minority is mostly missed."""
    rng = np.random.default_rng(7)
    def table(n):
        y = (rng.random(n) < 0.05).astype(int)
        x = rng.normal(0, 1, (n, 2)) + y[:, None] * 1.5
        return [[f"{a:.4f}", f"{b:.4f}", ["ok", "fraud"][t]] for (a, b), t in zip(x, y)], y
    rows, _ = table(3000)
    train = write_csv(tmp_path / "tx.csv", ["a", "b", "label"], rows)
    rows, y = table(2000)
    test = write_csv(tmp_path / "tx_test.csv", ["a", "b"], [r[:2] for r in rows])
    recall = {}
    for weight in ("none", "balanced"):
        out = tmp_path / f"{weight}.nbnet"
        run = nbnet("train", train, "--class-weight", weight, "--out", out, "--epochs", "15",
                    "--hidden", "16")
        assert run.code == 0, run
        run = nbnet("predict", out, test)
        _, pred = read_csv(run.stdout, from_text=True)
        hit = np.array([r[0] == "fraud" for r in pred])
        recall[weight] = hit[y == 1].mean()
    assert recall["balanced"] > recall["none"] + 0.25, recall
