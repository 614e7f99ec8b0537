"""nbnet.data.load_csv, Preprocessor and prepare_csv_for_model: values, task inference,
missing values, and one clear DataError (file + line/column) for each kind of bad file."""
import json
import os

import numpy as np
import pytest

import nbnet.csvread as nbcsv
from nbnet.data import Dataset, Preprocessor, load_csv, prepare_csv_for_model
from nbnet.errors import DataError


def write(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return str(p)


def raises(path, *parts, **kw):
    """load_csv(path) raises DataError whose message names the file and every part."""
    with pytest.raises(DataError) as e:
        load_csv(path, **kw)
    msg = str(e.value)
    assert os.path.basename(path) in msg, msg
    for p in parts:
        assert p in msg, msg
    return msg


# ----------------------------------------------------------------- values and targets
def test_numeric_file_default_target_last(tmp_path):
    p = write(tmp_path, "a,b,y\n1,2.5,0\n-3,4e-1,1\n5, 6 ,0\n")
    ds = load_csv(p)
    assert isinstance(ds, Dataset) and len(ds) == 3
    assert ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x, np.array([[1, 2.5], [-3, 0.4], [5, 6]], np.float32))
    assert ds.feature_names == ["a", "b"] and ds.target == "y" and ds.source == p
    assert ds.task == "classification" and ds.class_names == ["0", "1"]
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [0, 1, 0]
    x, y = ds
    assert x is ds.x and y is ds.y
    part = ds.subset(np.array([2, 0]))
    assert part.y.tolist() == [0, 0] and part.x[0].tolist() == [5, 6]
    assert part.lines.tolist() == [4, 2] and part.target == "y" and part.class_names == ["0", "1"]


def test_float64_dtype(tmp_path, float64):
    p = write(tmp_path, "a,y\n0.1,1.5\n0.2,2.5\n0.3,3.25\n")
    ds = load_csv(p)
    assert ds.x.dtype == np.float64 and ds.y.dtype == np.float64
    assert ds.x[:, 0].tolist() == [0.1, 0.2, 0.3]
    assert load_csv(p, dtype="float32").x.dtype == np.float32


@pytest.mark.parametrize("target,col", [("b", 1), (0, 0), (-2, 1), ("0", 0), ("-1", 2)])
def test_target_by_name_index_and_digit_string(tmp_path, target, col):
    p = write(tmp_path, "a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    ds = load_csv(p, target=target, task="regression")
    table = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], float)
    np.testing.assert_array_equal(ds.y, table[:, col])
    np.testing.assert_array_equal(ds.x, np.delete(table, col, axis=1))
    assert ds.target == "abc"[col]


def test_digit_string_that_is_a_column_name_is_the_name(tmp_path):
    p = write(tmp_path, "x,0,1\n1.5,7.5,2\n2.5,8.5,3\n3.5,9.5,4\n")
    ds = load_csv(p, target="0", task="regression")   # the column named "0", not index 0
    assert ds.y.tolist() == [7.5, 8.5, 9.5] and ds.feature_names == ["x", "1"]


def test_string_labels_in_middle_column(tmp_path):
    p = write(tmp_path, "len,species,width\n1,setosa,2\n3,virginica,4\n"
                        "5,setosa,6\n7,versicolor,8\n")
    ds = load_csv(p, target="species")
    assert ds.task == "classification"
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    assert ds.y.tolist() == [0, 2, 0, 1]
    np.testing.assert_array_equal(ds.x, [[1, 2], [3, 4], [5, 6], [7, 8]])


def test_integer_labels_classification_sorted_by_value(tmp_path):
    labels = [10, 2, 1, 2, 10, 1, 1, 2, 10, 2]
    p = write(tmp_path, "f,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    ds = load_csv(p)
    assert ds.task == "classification" and ds.class_names == ["1", "2", "10"]
    assert ds.y.tolist() == [{1: 0, 2: 1, 10: 2}[v] for v in labels]


def test_binary_target_small_file(tmp_path):
    p = write(tmp_path, "f,y\n1,0\n2,1\n3,1\n")
    assert load_csv(p).task == "classification"


def test_float_target_is_regression(tmp_path):
    p = write(tmp_path, "f,price\n1,1.5\n2,2.25\n3,1.5\n4,-0.5\n")
    ds = load_csv(p)
    assert ds.task == "regression" and ds.class_names is None
    assert ds.y.tolist() == [1.5, 2.25, 1.5, -0.5]


def test_many_distinct_integers_is_regression(tmp_path):
    # 25 distinct integer values (> 20) -> regression by the documented rule
    p = write(tmp_path, "f,y\n" + "".join(f"{i},{i * 3}\n" for i in range(25)))
    assert load_csv(p).task == "regression"
    # 5 distinct values in 8 rows: more than half the rows -> regression
    p = write(tmp_path, "f,y\n" + "".join(f"{i},{i % 5}\n" for i in range(8)), "b.csv")
    assert load_csv(p).task == "regression"
    assert load_csv(p, task="classification").class_names == ["0", "1", "2", "3", "4"]


def test_forced_tasks(tmp_path):
    p = write(tmp_path, "f,y\n1,1.0\n2,2.0\n3,1.0\n")
    ds = load_csv(p, task="classification")
    assert ds.class_names == ["1.0", "2.0"] and ds.y.tolist() == [0, 1, 0]
    p = write(tmp_path, "f,y\n1,1.0\n2,2.5\n3,1.0\n", "frac.csv")
    raises(p, "line 3", "'2.5'", task="classification")
    p = write(tmp_path, "f,y\n1,1\n2,cat\n", "str.csv")
    raises(p, "line 3", "'cat'", task="regression")
    with pytest.raises(ValueError):
        load_csv(p, task="clustering")


def test_blank_lines_bom_and_quoted_newlines_keep_line_numbers(tmp_path):
    text = "\ufeffa,note,y\n\n1,\"two\nlines\",0\n2,x,1\n3,x\n"
    p = write(tmp_path, text)
    raises(p, "line 6", "expected 3 fields", "found 2", target="y")
    p = write(tmp_path, "\ufeffa,b,y\n\n1,2,0\n\n3,4,1\n", "ok.csv")
    ds = load_csv(p)
    assert ds.feature_names == ["a", "b"] and ds.lines.tolist() == [3, 5]


# ------------------------------------------------------------------------ errors
def test_file_errors(tmp_path):
    raises(str(tmp_path / "nope.csv"), "no such file")
    d = tmp_path / "adir.csv"
    d.mkdir()
    raises(str(d), "directory")
    raises(write(tmp_path, "", "empty.csv"), "empty")
    raises(write(tmp_path, "\n  \n", "blank.csv"), "empty")
    raises(write(tmp_path, "a,b,y\n", "head.csv"), "no data rows", "line 1")
    raises(write(tmp_path, "a,b,y\n1,2,0\n", "one.csv"), "at least 2")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root can read any file")
def test_unreadable_file(tmp_path):
    p = write(tmp_path, "a,y\n1,0\n2,1\n", "locked.csv")
    os.chmod(p, 0)
    try:
        raises(p, "cannot read")
    finally:
        os.chmod(p, 0o644)


def test_ragged_rows(tmp_path):
    raises(write(tmp_path, "a,b,y\n1,2,0\n3,4\n5,6,1\n", "short.csv"),
           "line 3", "expected 3 fields", "found 2")
    # pandas would make a long first row into an index: we name it
    raises(write(tmp_path, "a,b,y\n1,2,0,9\n3,4,1\n", "long.csv"),
           "line 2", "expected 3 fields", "found 4")


def test_duplicate_column_names(tmp_path):
    raises(write(tmp_path, "a,b,a,y\n1,2,3,0\n4,5,6,1\n"), "line 1", "duplicate", "'a'")


def test_non_utf8_names_the_line(tmp_path):
    p = write(tmp_path, b"a,name,y\n1,ok,0\n2,caf\xe9,1\n")
    raises(p, "line 3", "UTF-8")


def test_non_numeric_cell(tmp_path):
    p = write(tmp_path, "a,b,y\n1,2,0\n3,4,1\n5,abc,0\n")
    raises(p, "line 4", "'b'", "'abc'", "non-numeric")


@pytest.mark.parametrize("cell,word", [("", "missing"), ("NA", "missing"), ("nan", "NaN"),
                                       ("inf", "infinite"), ("-Infinity", "infinite")])
def test_missing_nan_inf_features_are_errors_by_default(tmp_path, cell, word):
    p = write(tmp_path, f"a,b,y\n1,2,0\n3,4,1\n5,{cell},0\n6,7,1\n")
    raises(p, "line 4", "'b'", word)


def test_inf_is_an_error_even_with_missing_mean(tmp_path):
    p = write(tmp_path, "a,b,y\n1,2,0\n3,inf,1\n5,6,0\n")
    raises(p, "line 3", "'b'", "infinite", missing="mean")


def test_missing_target(tmp_path):
    p = write(tmp_path, "a,b,y\n1,2,0\n3,4,\n5,6,1\n")
    raises(p, "line 3", "missing target", "'y'")
    raises(p, "line 3", "missing target", missing="drop")


def test_target_not_found_lists_columns(tmp_path):
    p = write(tmp_path, "alpha,beta,gamma\n1,2,0\n3,4,1\n")
    raises(p, "'label'", "not found", "alpha, beta, gamma", target="label")
    raises(p, "out of range", target=5)


def test_single_class(tmp_path):
    raises(write(tmp_path, "a,y\n1,cat\n2,cat\n3,cat\n"), "single class", "'cat'")


def test_no_feature_columns(tmp_path):
    raises(write(tmp_path, "a;b;y\n1;2;0\n3;4;1\n"), "no feature columns", "comma")


# ------------------------------------------------------------------ missing values
MISSING = "a,b,y\n1,2,0\n,4,1\n5,6,0\n7,NA,1\n9,nan,0\n11,12,1\n"


def test_missing_drop(tmp_path):
    ds = load_csv(write(tmp_path, MISSING), missing="drop")
    np.testing.assert_array_equal(ds.x, [[1, 2], [5, 6], [11, 12]])
    assert ds.y.tolist() == [0, 0, 1] and ds.lines.tolist() == [2, 4, 7]
    assert ds.fill_values is None
    raises(write(tmp_path, "a,y\n,0\n1,1\nNA,0\n", "few.csv"), "at least 2", missing="drop")


def test_missing_mean(tmp_path, float64):
    ds = load_csv(write(tmp_path, MISSING), missing="mean")
    mean_a = (1 + 5 + 7 + 9 + 11) / 5
    mean_b = (2 + 4 + 6 + 12) / 4
    np.testing.assert_allclose(ds.fill_values, [mean_a, mean_b], rtol=1e-15)
    expect = [[1, 2], [mean_a, 4], [5, 6], [7, mean_b], [9, mean_b], [11, 12]]
    np.testing.assert_allclose(ds.x, expect, rtol=1e-15)
    raises(write(tmp_path, "a,b,y\n1,,0\n2,,1\n", "allgone.csv"), "'b'", "no values",
           missing="mean")


# --------------------------------------------------------------------- Preprocessor
def test_preprocessor_standardises_and_round_trips(tmp_path, float64):
    p = write(tmp_path, "a,const,b,y\n1,3,10,u\n2,3,20,v\n4,3,60,u\n")
    ds = load_csv(p)
    pre = Preprocessor().fit(ds)
    x = np.array([[1, 3, 10], [2, 3, 20], [4, 3, 60]], float)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[1] = 1.0   # constant column: std 0 -> 1
    np.testing.assert_allclose(pre.transform(ds.x), (x - mean) / std, rtol=1e-12, atol=1e-15)
    assert pre.feature_names == ["a", "const", "b"] and pre.class_names == ["u", "v"]
    assert pre.task == "classification" and pre.target == "y"
    cfg = json.loads(json.dumps(pre.get_config()))
    back = Preprocessor.from_config(cfg)
    probe = np.random.default_rng(0).normal(size=(7, 3))
    assert np.array_equal(back.transform(probe), pre.transform(probe))
    assert back.get_config() == pre.get_config()
    assert back.transform(probe.astype(np.float32)).dtype == np.float32
    with pytest.raises(DataError):
        pre.transform(np.zeros((2, 4)))


def test_preprocessor_fill_values(tmp_path, float64):
    ds = load_csv(write(tmp_path, MISSING), missing="mean")
    pre = Preprocessor().fit(ds, missing="mean")
    np.testing.assert_allclose(pre.fill_values, ds.fill_values, rtol=1e-14)
    back = Preprocessor.from_config(json.loads(json.dumps(pre.get_config())))
    row = np.array([[np.nan, 2.0]])
    expect = (np.array([[ds.fill_values[0], 2.0]]) - pre.mean) / pre.std
    np.testing.assert_allclose(back.transform(row), expect, rtol=1e-14, atol=1e-12)


# ------------------------------------------------------------- prepare_csv_for_model
def fitted(tmp_path):
    train = write(tmp_path, "a,label,b\n1,cat,2\n3,dog,4\n5,emu,6\n7,cat,8\n", "train.csv")
    return Preprocessor().fit(load_csv(train, target="label"))


def test_prepare_maps_labels_and_reorders_columns(tmp_path):
    pre = fitted(tmp_path)
    p = write(tmp_path, "b,a,label\n20,10,emu\n40,30,cat\n", "eval.csv")
    ds = prepare_csv_for_model(p, pre)
    np.testing.assert_array_equal(ds.x, [[10, 20], [30, 40]])   # training column order
    assert ds.y.tolist() == [2, 0] and ds.class_names == ["cat", "dog", "emu"]


def test_prepare_without_target_for_predict(tmp_path):
    pre = fitted(tmp_path)
    ds = prepare_csv_for_model(write(tmp_path, "a,b\n1,2\n3,4\n", "pred.csv"), pre)
    assert ds.y is None and ds.x.shape == (2, 2)


def test_prepare_errors(tmp_path):
    pre = fitted(tmp_path)
    cases = [("a,label\n1,cat\n", ["missing columns", "'b'"]),
             ("a,b,c,label\n1,2,3,cat\n", ["unexpected columns", "'c'"]),
             ("a,b,label\n1,2,cat\n3,4,yak\n", ["line 3", "unknown label", "'yak'"]),
             ("a,b,label\n1,x,cat\n", ["line 2", "'b'", "non-numeric"])]
    for i, (text, parts) in enumerate(cases):
        p = write(tmp_path, text, f"bad{i}.csv")
        with pytest.raises(DataError) as e:
            prepare_csv_for_model(p, pre)
        for part in [f"bad{i}.csv"] + parts:
            assert part in str(e.value), str(e.value)


def test_prepare_integer_labels_match_by_value_and_regression(tmp_path):
    train = write(tmp_path, "f,y\n1,0\n2,1\n3,2\n4,0\n5,1\n6,2\n7,0\n", "tr.csv")
    pre = Preprocessor().fit(load_csv(train))
    ds = prepare_csv_for_model(write(tmp_path, "f,y\n1,2\n2,1.0\n", "ev.csv"), pre)
    assert ds.y.tolist() == [2, 1]
    train = write(tmp_path, "f,y\n1,0.5\n2,1.5\n3,2.75\n", "reg.csv")
    pre = Preprocessor().fit(load_csv(train))
    ds = prepare_csv_for_model(write(tmp_path, "y,f\n3.5,1\n4.25,2\n", "reg2.csv"), pre)
    assert ds.y.tolist() == [3.5, 4.25] and ds.x[:, 0].tolist() == [1, 2]


# --------------------------------------------------- pandas fast path vs the csv module
def test_fast_and_slow_number_parsing_agree(tmp_path, monkeypatch, float64):
    rng = np.random.default_rng(5)
    vals = rng.normal(size=(37, 3)) * 10.0 ** rng.integers(-20, 20, size=(37, 3))
    text = "a,b,c,y\n" + "".join(",".join(repr(float(v)) for v in r) + f",{i % 3}\n"
                                  for i, r in enumerate(vals))
    p = write(tmp_path, text)
    fast = load_csv(p)
    assert np.array_equal(fast.x, vals)                 # exact: repr round-trips
    monkeypatch.setattr(nbcsv, "_fast_numeric", lambda *a: {})
    slow = load_csv(p)
    assert np.array_equal(slow.x, fast.x) and np.array_equal(slow.y, fast.y)


def test_whitespace_only_line_is_blank(tmp_path):
    ds = load_csv(write(tmp_path, "a,b,y\n1,2,0\n   \n3,4,1\n5,6,0\n"))
    np.testing.assert_array_equal(ds.x, [[1, 2], [3, 4], [5, 6]])
    assert ds.lines.tolist() == [2, 4, 5]
