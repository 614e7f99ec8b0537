"""CSV values at the edge of the float range (issue 16): a value the training dtype
cannot hold (1e308 in float32) is a DataError naming file, line and column, with no
NumPy RuntimeWarning; huge float64 values are standardised without overflow."""
import statistics
import warnings
from fractions import Fraction

import numpy as np
import pytest

import nbnet as nb

F32_MAX = float(np.finfo(np.float32).max)


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def table(rows, header="a,b,label"):
    return header + "\n" + "\n".join(rows) + "\n"


ROWS = [f"{i * 0.5},{i},{i % 2}" for i in range(10)]


@pytest.mark.parametrize("cell", ["1e308", "-1e308", "3.5e38", "1e39"])
def test_feature_overflowing_float32_names_line_and_column(tmp_path, cell):
    rows = list(ROWS)
    rows[4] = f"2.0,{cell},0"            # line 6 (header on line 1)
    path = write(tmp_path, table(rows))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # today: RuntimeWarning: overflow encountered in cast
        with pytest.raises(nb.DataError) as e:
            nb.data.load_csv(path, dtype="float32")
    msg = str(e.value)
    assert path in msg and "line 6" in msg and "'b'" in msg and cell in msg and "float32" in msg


def test_float32_max_itself_is_accepted(tmp_path):
    rows = list(ROWS)
    rows[4] = f"2.0,{F32_MAX!r},0"
    ds = nb.data.load_csv(write(tmp_path, table(rows)), dtype="float32")
    assert ds.x[4, 1] == np.float32(F32_MAX) and np.isfinite(ds.x).all()


def test_regression_target_overflowing_float32(tmp_path):
    rows = [f"{i},{i * 0.37:.3f}" for i in range(30)]
    rows[7] = "7,1e308"                   # line 9
    path = write(tmp_path, table(rows, "a,y"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # today: y cast to inf with a RuntimeWarning
        with pytest.raises(nb.DataError) as e:
            nb.data.load_csv(path, task="regression", dtype="float32")
    assert "line 9" in str(e.value) and "'y'" in str(e.value) and path in str(e.value)


def test_huge_float64_values_standardise_without_overflow(tmp_path):
    """Today np.std overflows (inf) and the column becomes 0 / NaN."""
    vals = [1e308, -1e308, 0.0, 5e307, -3e307, 1e307, 2e306, -8e307, 9e307, 4e307]
    rows = [f"{v!r},{i},{i % 2}" for i, v in enumerate(vals)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = nb.data.load_csv(write(tmp_path, table(rows)), dtype="float64", standardize=True)
    mean, std = statistics.fmean(vals), statistics.pstdev(vals)   # exact references
    want = [(v - mean) / std if abs(v - mean) < 1e308 else v / std - mean / std for v in vals]
    np.testing.assert_allclose(ds.x[:, 0], want, rtol=1e-12)


def test_huge_float64_median_fill(tmp_path):
    vals = ["1.5e308", "1.6e308", "", "1.7e308", "1.4e308"]
    rows = [f"{v},{i},{i % 2}" for i, v in enumerate(vals)] + [f"1e308,{k},{k % 2}" for k in range(5, 9)]
    enc_ds = nb.data.load_csv(write(tmp_path, table(rows)), dtype="float64", missing="auto")
    col = enc_ds.encoder.columns[0]
    present = [1.5e308, 1.6e308, 1.7e308, 1.4e308] + [1e308] * 4   # even: (a + b) / 2
    a, b = sorted(present)[3:5]
    assert col["fill"] == float((Fraction(a) + Fraction(b)) / 2)   # exact; today: inf (a + b overflows)
    assert np.isfinite(enc_ds.x).all()


def test_predict_csv_overflow_names_line(tmp_path):
    train = write(tmp_path, table(ROWS), "train.csv")
    ds = nb.data.load_csv(train)
    rows = list(ROWS)
    rows[2] = "1e308,2,0"                 # line 4
    other = write(tmp_path, table(rows), "other.csv")
    with pytest.raises(nb.DataError) as e:
        nb.data.prepare_csv_for_model(other, ds.encoder)
    assert "other.csv: line 4, column 'a'" in str(e.value)
