"""End-of-training and evaluate reports: the numbers a person reads, and their text.

`classification_report` and `regression_report` compute the metrics with scikit-learn's
definitions (zero division gives 0.0); `format_classification_report` and
`format_regression_report` lay them out as plain-text tables for a terminal. Pure NumPy
and stateless: the CLI prints what these return and holds no maths itself.

For class c, with tp / fp / fn counted (or summed over sample weights) from the
confusion matrix M (rows = true class, columns = predicted class):
    precision = tp / (tp + fp)    recall = tp / (tp + fn)    support = tp + fn
    f1 = 2 tp / (2 tp + fp + fn)  (= 2 P R / (P + R), and 0 where that is 0 / 0)
macro avg is the plain mean over all classes, weighted avg the mean weighted by support.
"""
import numpy as np

from .errors import DataError

LABEL_WIDTH = 24        # widest row label; longer class names are cut in the middle
NAME_COLUMN_WIDTH = 10  # the confusion matrix names its columns when no name is longer
MATRIX_WIDTH = 100      # ... and the matrix fits in this many characters; else indices
_METRICS = ("precision", "recall", "f1-score")


def _class_indices(y, arg, n_classes):
    """y as int64 (N,), or DataError naming `arg` and the first bad entry."""
    y = np.asarray(y)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or y.dtype.kind not in "biuf":
        raise DataError(f"{arg} must be integer class indices of shape (N,), got "
                        f"{y.dtype} of shape {y.shape}")
    bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)) | (y < 0) | (y >= n_classes))
    if bad.size:
        raise DataError(f"{arg}[{bad[0]}] = {y[bad[0]]} is not a class index in "
                        f"0..{n_classes - 1}")
    return y.astype(np.int64)


def _div(num, den):
    """num / den elementwise, 0.0 where den == 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros(np.shape(num)), where=den != 0)


def classification_report(y_true, y_pred, class_names, sample_weight=None):
    """Per-class precision / recall / F1 / support, accuracy, macro and weighted averages.

    y_true, y_pred: int class indices (N,); class_names: C unique names in class order;
    sample_weight: optional non-negative (N,). Returns {"class_names": [C str],
    "per_class": {name: {"precision", "recall", "f1-score", "support"}}, "accuracy",
    "macro avg", "weighted avg" (dicts with the same four keys; support = total),
    "confusion_matrix": (C, C) int64 sample counts (rows true, columns predicted, never
    weighted), "n": N}. Support is an int count, or the float sum of sample weights.
    """
    names = [str(c) for c in class_names]
    C = len(names)
    if C == 0 or len(set(names)) != C:
        raise DataError(f"class_names must be non-empty and unique, got {names!r}")
    t, p = _class_indices(y_true, "y_true", C), _class_indices(y_pred, "y_pred", C)
    if t.size != p.size or t.size == 0:
        raise DataError(f"y_true has {t.size} samples and y_pred {p.size}: they must "
                        "match and not be empty")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.size != t.size or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise DataError(f"sample_weight must be {t.size} finite non-negative numbers")
    counts = np.bincount(t * C + p, minlength=C * C).reshape(C, C).astype(np.int64)
    M = counts.astype(np.float64) if w is None else \
        np.bincount(t * C + p, weights=w, minlength=C * C).reshape(C, C)
    tp, pred_sum, true_sum = np.diag(M), M.sum(axis=0), M.sum(axis=1)
    scores = {"precision": _div(tp, pred_sum), "recall": _div(tp, true_sum),
              "f1-score": _div(2 * tp, pred_sum + true_sum)}
    support = [int(s) for s in counts.sum(axis=1)] if w is None else [float(s) for s in true_sum]
    total = sum(support)
    share = _div(true_sum, true_sum.sum())  # weights of the weighted average
    return {
        "class_names": names,
        "per_class": {name: {**{m: float(scores[m][i]) for m in _METRICS},
                             "support": support[i]} for i, name in enumerate(names)},
        "accuracy": float(_div(tp.sum(), M.sum())),
        "macro avg": {**{m: float(np.mean(scores[m])) for m in _METRICS}, "support": total},
        "weighted avg": {**{m: float(np.sum(scores[m] * share)) for m in _METRICS},
                         "support": total},
        "confusion_matrix": counts,
        "n": int(t.size),
    }


def _values(y, arg):
    """y as float64 (N, K), or DataError naming `arg`."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf" or y.ndim not in (1, 2):
        raise DataError(f"{arg} must be numbers of shape (N,) or (N, K), got {y.dtype} "
                        f"of shape {y.shape}")
    if y.size == 0:
        raise DataError(f"{arg} is empty")
    y = y.astype(np.float64).reshape(len(y), -1)
    bad = np.argwhere(~np.isfinite(y))
    if bad.size:
        raise DataError(f"{arg} has a NaN or infinity at row {bad[0][0]}")
    return y


def regression_report(y_true, y_pred):
    """{"mae", "rmse", "r2", "n"} for targets (N,) or (N, K), as scikit-learn's
    mean_absolute_error, root_mean_squared_error and r2_score (several outputs: the
    uniform average of the per-output values).
    r2 = 1 - sum((y - yhat)^2) / sum((y - mean(y))^2); a constant y_true gives 1.0 when
    the predictions are perfect, else 0.0 (force_finite=True); N < 2 gives nan."""
    t, p = _values(y_true, "y_true"), _values(y_pred, "y_pred")
    if t.shape != p.shape:
        raise DataError(f"y_true of shape {np.shape(y_true)} and y_pred of shape "
                        f"{np.shape(y_pred)} must match")
    err = p - t
    num = np.sum(err ** 2, axis=0)
    den = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    r2 = np.where(den != 0, 1.0 - _div(num, den), np.where(num == 0, 1.0, 0.0))
    return {"mae": float(np.mean(np.abs(err))),
            "rmse": float(np.mean(np.sqrt(np.mean(err ** 2, axis=0)))),
            "r2": float(np.mean(r2)) if len(t) >= 2 else float("nan"),
            "n": int(len(t))}


def _fit(name, width=LABEL_WIDTH):
    """One line of at most `width` characters; longer names lose their middle to '...'
    (prefix and suffix stay, so "..._class_1" and "..._class_2" remain apart)."""
    name = " ".join(str(name).split())
    if len(name) <= width:
        return name
    head = (width - 2) // 2
    return name[:head] + "..." + name[len(name) - (width - 3 - head):]


def _row_labels(names):
    """Row labels for the class names, numbered when cutting them made two alike."""
    labels = [_fit(n) for n in names]
    if len(set(labels)) < len(labels):
        labels = [_fit(f"{i} {n}") for i, n in enumerate(names)]
    return labels


def _table(rows, label_width, widths):
    """Lines of a label column (left) and cells (right-aligned), two spaces apart."""
    return ["".join([f"{label:<{label_width}}"] + [f"  {c:>{w}}" for c, w in zip(cells, widths)])
            .rstrip() for label, cells in rows]


def format_classification_report(report, max_classes=20):
    """The per-class table, the averages and the confusion matrix as text. With more
    than `max_classes` classes the matrix is left out with a one-line note."""
    names = report["class_names"]
    summary = [("accuracy", None), ("macro avg", report["macro avg"]),
               ("weighted avg", report["weighted avg"])]
    per_class = [report["per_class"][n] for n in names]
    supports = [r["support"] for r in per_class] + [report["macro avg"]["support"]]
    weighted = any(isinstance(s, float) for s in supports)
    fmt_support = (lambda s: f"{s:.2f}") if weighted else (lambda s: str(int(s)))
    labels = _row_labels(names)
    lw = max(len(s) for s in labels + [label for label, _ in summary])
    widths = [max(len(h), 6) for h in _METRICS]
    widths.append(max([len("support")] + [len(fmt_support(s)) for s in supports]))
    rows = [("", list(_METRICS) + ["support"])]
    rows += [(label, [f"{r[m]:.4f}" for m in _METRICS] + [fmt_support(r["support"])])
             for label, r in zip(labels, per_class)]
    rows.append(None)
    for label, r in summary:
        cells = (["", "", f"{report['accuracy']:.4f}"] if r is None
                 else [f"{r[m]:.4f}" for m in _METRICS])
        rows.append((label, cells + [fmt_support(supports[-1])]))
    lines = []
    for r in rows:  # None: the blank line between the classes and the averages
        lines += [""] if r is None else _table([r], lw, widths)
    if weighted:
        lines.append("(support: sum of sample weights)")
    lines.append("")
    if len(names) > max_classes:
        lines.append(f"(confusion matrix left out: {len(names)} classes, more than "
                     f"max_classes={max_classes})")
    else:
        lines += _matrix_lines(np.asarray(report["confusion_matrix"]), names)
    return "\n".join(lines)


def _matrix_lines(cm, names):
    """The confusion matrix, columns named by class, or numbered when names do not fit."""
    corner = "true \\ predicted"
    count_width = max(len(str(v)) for v in cm.ravel())
    cols = [" ".join(n.split()) for n in names]
    by_name = (max(len(c) for c in cols) <= NAME_COLUMN_WIDTH and
               LABEL_WIDTH + sum(2 + max(count_width, len(c)) for c in cols) <= MATRIX_WIDTH)
    if by_name:
        title, rows = "confusion matrix (rows: true class, columns: predicted class)", cols
    else:
        title = ("confusion matrix (rows: true class, columns: predicted class, "
                 "numbered as the rows)")
        cols = [str(i) for i in range(len(names))]
        rows = [_fit(f"{i} {n}") for i, n in enumerate(names)]
    lw = max(len(corner), max(len(r) for r in rows))
    widths = [max(count_width, len(c)) for c in cols]
    body = [(r, [str(v) for v in cm[i]]) for i, r in enumerate(rows)]
    return [title] + _table([(corner, cols)] + body, lw, widths)


def _number(v):
    """4 decimals; scientific notation for values too small or too large to read so."""
    if v != 0 and np.isfinite(v) and not 1e-3 <= abs(v) < 1e7:
        return f"{v:.4e}"
    return f"{v:.4f}"


def format_regression_report(report):
    """mae, rmse and r2 as an aligned two-column table under a line giving n."""
    rows = [("mae", "mean absolute error"), ("rmse", "root mean squared error"),
            ("r2", "coefficient of determination (1 is perfect)")]
    values = [_number(report[k]) for k, _ in rows]
    vw = max(len(v) for v in values)
    return "\n".join([f"regression report on {report['n']} samples"] +
                     [f"  {k:<4}  {v:>{vw}}  {desc}" for (k, desc), v in zip(rows, values)])
