"""nbnet.report: hand-computed values, scikit-learn agreement, and the printed tables."""
import re

import numpy as np
import pytest

import nbnet as nb
from nbnet.report import (classification_report, format_classification_report,
                          format_regression_report, regression_report)

# 3 classes, 10 samples. Confusion matrix (rows true, columns predicted):
#   cat  [2 1 0]   column sums (predicted): 3 4 3, row sums (support): 3 2 5
#   dog  [0 2 0]   precision = tp / column: cat 2/3, dog 2/4, bird 3/3
#   bird [1 1 3]   recall = tp / row:      cat 2/3, dog 2/2, bird 3/5
# f1 = 2PR/(P+R): cat 2/3, dog 2(.5)(1)/1.5 = 2/3, bird 2(.6)/1.6 = .75; accuracy 7/10.
# macro: P (2/3+.5+1)/3 = 13/18, R (2/3+1+.6)/3 = 17/22.5, F (2/3+2/3+.75)/3 = 25/36.
# weighted by support 3,2,5: P (2+1+5)/10 = .8, R = accuracy = .7, F (2+4/3+3.75)/10.
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 1, 0, 1, 2, 2, 2]
NAMES = ["cat", "dog", "bird"]


def _scores(report, key):
    return [report["per_class"][n][key] for n in report["class_names"]]


def test_three_class_hand_computed():
    r = classification_report(np.array(Y_TRUE), np.array(Y_PRED), NAMES)
    assert _scores(r, "precision") == pytest.approx([2 / 3, 0.5, 1.0])
    assert _scores(r, "recall") == pytest.approx([2 / 3, 1.0, 0.6])
    assert _scores(r, "f1-score") == pytest.approx([2 / 3, 2 / 3, 0.75])
    assert _scores(r, "support") == [3, 2, 5]
    assert r["accuracy"] == pytest.approx(0.7) and r["n"] == 10
    macro, weighted = r["macro avg"], r["weighted avg"]
    assert [macro[k] for k in ("precision", "recall", "f1-score", "support")] == \
        pytest.approx([13 / 18, 17 / 22.5, 25 / 36, 10])
    assert [weighted[k] for k in ("precision", "recall", "f1-score", "support")] == \
        pytest.approx([0.8, 0.7, (2 + 4 / 3 + 3.75) / 10, 10])
    assert r["confusion_matrix"].dtype == np.int64
    np.testing.assert_array_equal(r["confusion_matrix"], [[2, 1, 0], [0, 2, 0], [1, 1, 3]])


def test_never_predicted_and_absent_classes_give_zero():
    # c: in y_true twice, never predicted -> precision 0/0 = 0, recall 0/2 = 0.
    # d: predicted twice, never true -> precision 0/2 = 0, recall 0/0 = 0, support 0.
    # e: neither true nor predicted -> all 0. a, b: tp 1 of 2 predicted, of 2 true -> .5.
    r = classification_report([0, 0, 1, 1, 2, 2], [0, 1, 1, 3, 0, 3], list("abcde"))
    assert _scores(r, "precision") == [0.5, 0.5, 0.0, 0.0, 0.0]
    assert _scores(r, "recall") == [0.5, 0.5, 0.0, 0.0, 0.0]
    assert _scores(r, "f1-score") == [0.5, 0.5, 0.0, 0.0, 0.0]
    assert _scores(r, "support") == [2, 2, 2, 0, 0]
    assert r["macro avg"]["precision"] == pytest.approx(1.0 / 5)  # absent classes count
    assert r["weighted avg"]["precision"] == pytest.approx((2 * 0.5 + 2 * 0.5) / 6)
    assert r["accuracy"] == pytest.approx(2 / 6)
    np.testing.assert_array_equal(r["confusion_matrix"][:, 2], 0)  # c never predicted
    np.testing.assert_array_equal(r["confusion_matrix"][3:], 0)    # d, e never true


def test_sample_weights():
    # weights 1, 3, 2: class a tp 1, fn 3 (the weight-3 sample predicted b), fp 0;
    # class b tp 2, fp 3, fn 0. P = [1, 2/5], R = [1/4, 1], F = 2tp/(2tp+fp+fn) = [2/5, 4/7].
    r = classification_report([0, 0, 1], [0, 1, 1], ["a", "b"], sample_weight=[1, 3, 2])
    assert _scores(r, "precision") == pytest.approx([1.0, 0.4])
    assert _scores(r, "recall") == pytest.approx([0.25, 1.0])
    assert _scores(r, "f1-score") == pytest.approx([0.4, 4 / 7])
    assert _scores(r, "support") == [4.0, 2.0]
    assert r["accuracy"] == pytest.approx(3 / 6)  # weighted: (1 + 2) / 6
    assert r["weighted avg"]["f1-score"] == pytest.approx((4 * 0.4 + 2 * 4 / 7) / 6)
    np.testing.assert_array_equal(r["confusion_matrix"], [[1, 1], [0, 1]])  # counts


def test_confusion_matrix_sums(rng):
    t, p = rng.integers(0, 6, 300), rng.integers(0, 6, 300)
    w = rng.uniform(size=300)
    r = classification_report(t, p, [f"c{i}" for i in range(6)], sample_weight=w)
    cm = r["confusion_matrix"]
    assert cm.dtype == np.int64 and cm.shape == (6, 6) and cm.sum() == 300
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(t, minlength=6))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(p, minlength=6))
    assert r["accuracy"] != pytest.approx(np.trace(cm) / 300)  # weighted, not counted


@pytest.mark.parametrize("call,match", [
    (lambda: classification_report([0, 3], [0, 1], "abc"), r"y_true\[1\] = 3"),
    (lambda: classification_report([0, 1], [0, 1.5], "abc"), r"y_pred\[1\]"),
    (lambda: classification_report([0, 1], [0], "abc"), "2 samples"),
    (lambda: classification_report([0, 1], [0, 1], ["a", "a"]), "unique"),
    (lambda: classification_report([0, 1], [0, 1], "ab", [1, -1]), "sample_weight"),
    (lambda: regression_report([1.0, np.nan], [1.0, 2.0]), "y_true has a NaN .* row 1"),
    (lambda: regression_report([1.0, 2.0], [1.0, 2.0, 3.0]), "must match"),
    (lambda: regression_report([], []), "y_true is empty"),
])
def test_bad_input_raises_data_error(call, match):
    with pytest.raises(nb.DataError, match=match):
        call()


def test_regression_against_numpy_formulas(rng):
    t, p = rng.normal(size=50), rng.normal(size=50)
    r = regression_report(t, p[:, None])  # (N,) against (N, 1)
    assert r["n"] == 50
    assert r["mae"] == pytest.approx(np.mean(np.abs(p - t)))
    assert r["rmse"] == pytest.approx(np.sqrt(np.mean((p - t) ** 2)))
    assert r["r2"] == pytest.approx(1 - np.sum((t - p) ** 2) / np.sum((t - t.mean()) ** 2))
    # hand example: errors .5 .5 0 1 -> mae .5, rmse sqrt(1.5/4); r2 = 1 - 1.5/29.1875
    r = regression_report([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    assert (r["mae"], r["rmse"], r["r2"]) == pytest.approx((0.5, np.sqrt(0.375), 1 - 1.5 / 29.1875))
    assert regression_report([2.0, 2.0], [2.0, 2.0])["r2"] == 1.0  # constant, perfect
    assert regression_report([2.0, 2.0], [2.0, 3.0])["r2"] == 0.0  # constant, not perfect
    assert np.isnan(regression_report([1.0], [2.0])["r2"])          # N < 2, as sklearn


def test_agrees_with_scikit_learn(rng):
    skm = pytest.importorskip("sklearn.metrics")
    names = [f"class_{i}" for i in range(5)]
    t, p = rng.integers(0, 5, 200), rng.integers(0, 4, 200)  # class 4 never predicted
    for w in (None, rng.uniform(0, 2, 200)):
        ours = classification_report(t, p, names, sample_weight=w)
        ref = skm.classification_report(t, p, labels=range(5), target_names=names,
                                        sample_weight=w, output_dict=True, zero_division=0)
        for key in names + ["macro avg", "weighted avg"]:
            mine = ours["per_class"][key] if key in names else ours[key]
            assert mine == pytest.approx(ref[key]), key
        assert ours["accuracy"] == pytest.approx(ref["accuracy"])
    np.testing.assert_array_equal(ours["confusion_matrix"],
                                  skm.confusion_matrix(t, p, labels=range(5)))
    for shape in [(80,), (80, 3)]:
        y, yhat = rng.normal(size=shape), rng.normal(size=shape)
        r = regression_report(y, yhat)
        assert r["mae"] == pytest.approx(skm.mean_absolute_error(y, yhat))
        assert r["rmse"] == pytest.approx(np.mean(np.sqrt(skm.mean_squared_error(
            y, yhat, multioutput="raw_values"))))
        assert r["r2"] == pytest.approx(skm.r2_score(y, yhat))


def _decimal_columns(line):
    return [m.start() + 1 for m in re.finditer(r"\d\.\d{4}\b", line)]


def test_formatted_classification_text_lines_up():
    names = ["cat", "a_very_long_class_name_for_dogs_and_wolves", "bird"]
    text = format_classification_report(classification_report(Y_TRUE, Y_PRED, names))
    table, matrix = text.split("confusion matrix")
    rows = [line for line in table.splitlines() if _decimal_columns(line)]
    assert len(rows) == 6 and all(len(_decimal_columns(r)) in (1, 3) for r in rows)
    full = _decimal_columns(rows[0])
    assert all(_decimal_columns(r) == (full if len(_decimal_columns(r)) == 3 else full[2:])
               for r in rows)
    assert "cat" in table and "bird" in table and "a_very_lon" in table and "..." in table
    assert max(len(line) for line in text.splitlines()) < 100
    assert "true \\ predicted" in matrix and "0 cat" in matrix  # long name: numbered columns
    assert re.search(r"2 bird +1 +1 +3$", matrix, re.M)


def test_formatted_short_names_and_many_classes():
    text = format_classification_report(classification_report(Y_TRUE, Y_PRED, NAMES))
    assert re.search(r"^true \\ predicted +cat +dog +bird$", text, re.M)
    assert re.search(r"^cat +2 +1 +0$", text, re.M)
    names = [f"label{i}" for i in range(25)]
    y = np.arange(100) % 25
    text = format_classification_report(classification_report(y, y[::-1], names), max_classes=20)
    assert all(re.search(rf"^{n} ", text, re.M) for n in names)
    assert "true \\ predicted" not in text
    assert "(confusion matrix left out: 25 classes, more than max_classes=20)" in text
    weighted = format_classification_report(classification_report([0, 1], [0, 1], "ab", [0.5, 2]))
    assert "2.50" in weighted and "sum of sample weights" in weighted


def test_formatted_regression_text():
    text = format_regression_report(regression_report([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]))
    lines = text.splitlines()
    assert lines[0] == "regression report on 4 samples"
    assert [line.split()[:2] for line in lines[1:]] == [["mae", "0.5000"], ["rmse", "0.6124"],
                                                        ["r2", "0.9486"]]
    assert len({line.index(".") for line in lines[1:]}) == 1
