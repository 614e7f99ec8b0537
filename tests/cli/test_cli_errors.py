"""A corpus of broken inputs: each ends with exit code 2, ONE line "Error: ..." on
stderr naming the place at fault, no traceback, and nothing written (the folder's files
unchanged, an existing model file byte-identical)."""
import json
import os
import shutil

import numpy as np
import pytest

from clitools import listing, write_csv

GOOD_HEADER = ["a", "b", "label"]
GOOD_ROWS = [[0.1 * i, 1.0 - 0.1 * i, i % 2] for i in range(10)]


def good_csv(d, name="data.csv"):
    return write_csv(d / name, GOOD_HEADER, GOOD_ROWS)


def text_file(d, name, text):
    (d / name).write_text(text, encoding="utf-8")
    return str(d / name)


def png(path, rng, size=8):
    from PIL import Image
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8), "L").save(path)


def image_tree(d, bad=None):
    """images/{zero,one}/*.png; bad='corrupt' adds random bytes named .png, bad='empty'
    adds a class folder without images."""
    rng = np.random.default_rng(0)
    for cls in ("zero", "one"):
        os.makedirs(d / "images" / cls)
        for i in range(4):
            png(d / "images" / cls / f"{i}.png", rng)
    if bad == "corrupt":
        (d / "images" / "one" / "broken.png").write_bytes(rng.bytes(200))
    if bad == "empty":
        os.makedirs(d / "images" / "two")
        (d / "images" / "two" / "notes.txt").write_text("no images here")
    return str(d / "images")


# Each case: (id, setup(d) -> args, substrings the message must contain). "MODEL" in
# args stands for a copy of a trained model; train runs get --out an existing model
# file, which must stay byte-identical.
def _cases():
    c = []

    def case(name, setup, *expect):
        c.append(pytest.param(setup, expect, id=name))

    def train_text(name, filename, text, *expect):
        """train on a CSV file holding `text`; the message names the file (and more)."""
        case(name, lambda d: ["train", text_file(d, filename, text)], filename, *expect)

    def flag(name, option, value, *expect):
        """train on a good CSV with one bad flag value; the message names the flag."""
        case(name, lambda d: ["train", good_csv(d), option, value], option, *expect)

    rows = "\n".join(",".join(str(v) for v in r) for r in GOOD_ROWS)
    bad_row = "alpha,beta,label\n1,2,0\n{}\n" + rows     # the bad row is on line 3
    case("missing-file", lambda d: ["train", str(d / "nope.csv")], "nope.csv")
    train_text("empty-csv", "empty.csv", "")
    train_text("header-only", "head.csv", "a,b,label\n")
    train_text("ragged-short", "short.csv", "a,b,label\n1,2,0\n3,1\n4,5,1\n", "line 3")
    train_text("ragged-long", "long.csv", "a,b,label\n1,2,0\n3,1,1,7\n4,5,1\n", "line 3")
    train_text("non-numeric", "word.csv", bad_row.format("3,abc,1"), "line 3", "beta")
    def train_strict(name, filename, text, *expect):
        """as train_text, with --missing error (the default fills gaps)."""
        case(name, lambda d: ["train", text_file(d, filename, text), "--missing", "error"],
             filename, *expect)

    train_strict("missing-value", "hole.csv", bad_row.format("3,,1"), "line 3", "beta")
    train_strict("nan", "nan.csv", bad_row.format("nan,1,1"), "line 3", "alpha")
    train_text("thousands-separators", "money.csv",
               "income,b,label\n" + "".join(f'"{1000 + 37 * i:,}",{i},{i % 2}\n' for i in range(12)),
               "line 2", "income", "thousands", "--numeric income")
    case("unknown-role-column", lambda d: ["train", good_csv(d), "--categorical", "colour"], "colour")
    case("target-given-a-role", lambda d: ["train", good_csv(d), "--ignore", "label"], "label")
    case("two-roles", lambda d: ["train", good_csv(d), "--numeric", "a", "--ignore", "a"], "'a'")
    case("only-left-out-columns",
         lambda d: ["train", text_file(d, "ids.csv", "id,label\n" + "".join(
             f"u{i},{i % 2}\n" for i in range(30)))], "ids.csv", "left out")
    flag("bad-epochs", "--epochs", "many")
    flag("bad-class-weight", "--class-weight", "heavy")
    flag("bad-missing", "--missing", "zero")
    case("predict-missing-column",
         lambda d: ["predict", "MODEL", text_file(d, "nof4.csv", "f1,f2,f3\n1,2,3\n")],
         "nof4.csv", "'f4'", "missing")
    case("predict-text-in-numeric-column",
         lambda d: ["predict", "MODEL", text_file(d, "word.csv", "f1,f2,f3,f4\n1,2,3,4\n1,two,3,4\n")],
         "word.csv", "line 3", "'f2'", "'two'")
    train_text("inf", "inf.csv", bad_row.format("2,inf,1"), "line 3", "beta")
    case("missing-target", lambda d: ["train", good_csv(d), "--target", "klass"], "klass")
    train_text("single-class", "one.csv", "a,b,label\n" + "".join(f"{i},{i},x\n" for i in range(9)))
    train_text("duplicate-columns", "dup.csv", "gamma,gamma,label\n" + rows, "gamma")
    case("non-utf8", lambda d: ["train", _bytes(d, "latin.csv", b"a,b,label\n1,2,0\n3,\xe9\xff,1\n")],
         "latin.csv", "line 3")
    case("corrupt-image", lambda d: ["train", image_tree(d, "corrupt")], "broken.png")
    case("empty-class-folder", lambda d: ["train", image_tree(d, "empty")], "two")
    case("no-class-folders", lambda d: ["train", str(_mkdir(d, "flat"))], "flat")
    case("predict-other-columns",
         lambda d: ["predict", "MODEL", text_file(d, "other.csv", "x,y\n1,2\n")], "other.csv")
    case("evaluate-without-target",
         lambda d: ["evaluate", "MODEL", text_file(d, "noy.csv", "f1,f2,f3,f4\n1,2,3,4\n")], "noy.csv")
    case("not-a-model", lambda d: ["predict", text_file(d, "fake.nbnet", "hello"), good_csv(d)],
         "fake.nbnet")
    case("truncated-model", lambda d: ["evaluate", _truncated(d), good_csv(d)], "half.nbnet")
    flag("negative-epochs", "--epochs", "-1")
    flag("batch-size-0", "--batch-size", "0")
    flag("split-0", "--validation-split", "0")
    flag("split-1.5", "--validation-split", "1.5")
    flag("unknown-optimizer", "--optimizer", "adamax9", "adamax9")
    flag("unknown-loss", "--loss", "nosuchloss", "nosuchloss")
    flag("loss-not-for-task", "--loss", "mse")
    flag("lr-0", "--lr", "0")
    flag("threads-0", "--threads", "0")
    flag("bad-hidden", "--hidden", "64,x")
    flag("bad-image-size", "--image-size", "28by28")
    flag("unknown-option", "--epoch", "3")
    case("spec-invalid-json",
         lambda d: ["train", good_csv(d), "--model", text_file(d, "s.json", '[{"class_name": }]')],
         "s.json", "line 1")
    case("spec-unknown-layer",
         lambda d: ["train", good_csv(d), "--model",
                    text_file(d, "u.json", json.dumps([{"class_name": "Dens", "config": {}}]))],
         "u.json", "Dens")
    case("resume-without-checkpoint", lambda d: ["train", good_csv(d), "--resume"], "--resume")
    case("summary-spec-without-input-shape",
         lambda d: ["summary", text_file(d, "n.json", json.dumps([{"class_name": "Dense",
                                                                    "config": {"units": 2}}]))],
         "n.json", "input shape")
    case("predict-unknown-dataset", lambda d: ["predict", "MODEL", "mnist-please"], "mnist-please")
    return c


def _bytes(d, name, data):
    (d / name).write_bytes(data)
    return str(d / name)


def _mkdir(d, name):
    os.makedirs(d / name)
    (d / name / "readme.txt").write_text("x")
    return d / name


def _truncated(d):
    data = open(d / "model_copy.nbnet", "rb").read()
    (d / "half.nbnet").write_bytes(data[: len(data) // 2])
    return str(d / "half.nbnet")


@pytest.mark.parametrize("setup, expect", _cases())
def test_bad_input(nbnet, trained_model, tmp_path, monkeypatch, setup, expect):
    monkeypatch.chdir(tmp_path)
    shutil.copy(trained_model, tmp_path / "model_copy.nbnet")
    out = tmp_path / "existing.nbnet"
    out.write_bytes(b"an earlier model that must stay untouched")
    args = [str(tmp_path / "model_copy.nbnet") if a == "MODEL" else a for a in setup(tmp_path)]
    if args[0] == "train":
        args += ["--out", str(out), "--epochs" if "--epochs" not in args else "--seed",
                 "1" if "--epochs" not in args else "0"]
    before = listing(tmp_path)
    run = nbnet(*args)
    assert run.code == 2, run
    assert "Traceback" not in run.stdout + run.stderr, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), run
    for part in expect:
        assert part in lines[0], (part, lines[0])
    assert listing(tmp_path) == before  # nothing written, nothing changed


def test_corpus_size():
    assert len(_cases()) >= 25
