"""Stateful metrics (Keras 3 style): update_state(...) / result() / reset_state().

Each per-sample metric computes one value per sample and keeps a running mean weighted
by the number of samples, so an epoch's value is the mean over all its samples whatever
the batch sizes. `Mean` is the plain weighted running mean the model uses for the loss
(`update_state(batch_loss, sample_weight=batch_size)`).

Logged names: the string the user gave ("accuracy", "acc", "mse", ...) as in Keras 3.
"""
import warnings

import numpy as np

from . import config
from .errors import DataError
from .registry import Registry


class Metric:
    default_name = "metric"

    def __init__(self, name=None):
        self.name = name or self.default_name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def result(self):
        return float(self.total / self.count) if self.count else 0.0

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        r = np.asarray(self.result())
        shown = f"{float(r):.6g}" if r.ndim == 0 else np.array2string(r, precision=6)
        return f"<{type(self).__name__} name={self.name} result={shown}>"


class Mean(Metric):
    """Weighted running mean: result = sum(w * v) / sum(w)."""
    default_name = "mean"

    def update_state(self, values, sample_weight=None):
        if isinstance(values, float) and isinstance(sample_weight, (int, float)):
            self.total += values * float(sample_weight)  # the model's loss, once per step
            self.count += float(sample_weight)
            return
        v = np.asarray(values, dtype=np.float64)
        w = np.ones_like(v) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, dtype=np.float64), v.shape)
        self.total += float(np.sum(v * w))
        self.count += float(np.sum(w))


def _align(y_true, y_pred):
    """Float y_true with y_pred's shape ((N,) and (N, 1) are interchangeable)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size:
            raise DataError(f"targets of shape {y_true.shape} do not match predictions "
                            f"of shape {y_pred.shape}")
        y_true = y_true.reshape(y_pred.shape)
    if y_pred.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    return y_true, y_pred


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true, y_pred = _align(y_true, y_pred)
    return np.mean(y_true == (y_pred > threshold), axis=-1)


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = _align(y_true, y_pred)
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    labels = np.asarray(y_true).reshape(y_pred.shape[:-1])
    return (np.argmax(y_pred, axis=-1) == labels).astype(np.float64)


def _in_top_k(labels, y_pred, k):
    """As TF's in_top_k: a label is in the top k when fewer than k classes score strictly
    higher than it (ties at the boundary count as in)."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(y_pred.shape[:-1])
    score = np.take_along_axis(y_pred, labels[..., None], axis=-1)
    return (np.sum(y_pred > score, axis=-1) < k).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _in_top_k(np.argmax(np.asarray(y_true), axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _in_top_k(y_true, y_pred, k)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _align(y_true, y_pred)
    return np.mean((y_pred - y_true) ** 2, axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _align(y_true, y_pred)
    return np.mean(np.abs(y_pred - y_true), axis=-1)


class MeanMetricWrapper(Mean):
    """Running mean over samples of fn(y_true, y_pred, **kwargs) (one value per sample)."""
    fn = None

    def __init__(self, name=None, **kwargs):
        self._fn_kwargs = kwargs
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = type(self).fn(y_true, y_pred, **self._fn_kwargs)
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1).mean(axis=1)
        super().update_state(values, sample_weight)

    def get_config(self):
        return {"name": self.name, **self._fn_kwargs}


def _wrapper(class_name, fn, name, **params):
    """A MeanMetricWrapper subclass with keyword parameters `params` (and defaults)."""
    def __init__(self, name=name, **kwargs):
        unknown = set(kwargs) - set(params)
        if unknown:
            raise TypeError(f"{class_name} got unexpected argument(s) {', '.join(sorted(unknown))}")
        MeanMetricWrapper.__init__(self, name, **{**params, **kwargs})
    return type(class_name, (MeanMetricWrapper,), {
        "fn": staticmethod(fn), "default_name": name, "__init__": __init__,
        "__doc__": f"Running mean of {fn.__name__} over samples."})


BinaryAccuracy = _wrapper("BinaryAccuracy", binary_accuracy, "binary_accuracy", threshold=0.5)
CategoricalAccuracy = _wrapper("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                     "sparse_categorical_accuracy")
TopKCategoricalAccuracy = _wrapper("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                   "top_k_categorical_accuracy", k=5)
SparseTopKCategoricalAccuracy = _wrapper("SparseTopKCategoricalAccuracy",
                                         sparse_top_k_categorical_accuracy,
                                         "sparse_top_k_categorical_accuracy", k=5)
MeanSquaredError = _wrapper("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")


class Accuracy(MeanMetricWrapper):
    """"accuracy" / "acc": binary, sparse or categorical accuracy, chosen as Keras 3
    does from the shapes (and, here, the loss). Resolved at construction when the loss
    or output shape is known, else at the first update_state from the arrays."""

    def __init__(self, name="accuracy", loss=None, output_shape=None):
        self._kind = None
        if output_shape is not None and tuple(output_shape)[-1] == 1:
            self._kind = BinaryAccuracy
        elif loss is not None and getattr(loss, "target", None) == "sparse":
            self._kind = SparseCategoricalAccuracy
        elif loss is not None and output_shape is not None:
            self._kind = CategoricalAccuracy
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._kind is None:  # Keras 3 compile_utils.get_metric rule, on the arrays
            t, p = np.asarray(y_true), np.asarray(y_pred)
            if p.shape[-1] == 1 or p.ndim == 1:
                self._kind = BinaryAccuracy
            elif t.ndim < p.ndim or (t.shape[-1] == 1 and p.shape[-1] > 1):
                self._kind = SparseCategoricalAccuracy
            else:
                self._kind = CategoricalAccuracy
        values = self._kind.fn(y_true, y_pred)
        Mean.update_state(self, np.asarray(values, dtype=np.float64).reshape(len(values), -1).mean(axis=1),
                          sample_weight)

    def get_config(self):
        return {"name": self.name}


# ------------------------------------------------------------------ more metrics (Keras 3)
# Stateful metrics over NumPy float64 accumulators; result() is a NumPy float64 scalar
# (or a vector where Keras returns one: several thresholds, F1Score(average=None)).

_EPS = 1e-7        # Keras' backend.epsilon()
_NEG_INF = -1e10   # Keras' metrics_utils.NEG_INF (top_k filtering)


def _div(a, b):
    """divide_no_nan: a / b, 0 where b == 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _same_rank(x1, x2, expand_rank_1=True):
    """Keras' squeeze_or_expand_to_same_rank: ranks that differ by one, the longer one
    ending in 1, are made equal."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _scalar_or_vector(v):
    v = np.asarray(v, dtype=np.float64)
    return np.float64(v) if v.ndim == 0 else (v[0] if v.shape == (1,) else v.copy())


def _parse_thresholds(thresholds, default):
    if thresholds is None:
        return [float(default)]
    values = [thresholds] if np.ndim(thresholds) == 0 else list(thresholds)
    bad = [t for t in values if t is None or not 0 <= t <= 1]
    if bad:
        raise ValueError(f"thresholds must be in [0, 1], got {bad}")
    return [float(t) for t in values]


def _evenly(thresholds):
    """Keras' is_evenly_distributed_thresholds: i / (T - 1) for T >= 3."""
    t = len(thresholds)
    return t >= 3 and np.allclose(thresholds, np.arange(t, dtype=np.float32) / (t - 1), atol=_EPS)


def _filter_top_k(x, k):
    """Keras: the top k values of each row stay, the others become -1e10."""
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=-1)
    return np.where(mask, x, _NEG_INF)


def _confusion(y_true, y_pred, thresholds, evenly, sample_weight=None, top_k=None,
               class_id=None, multi_label=False, label_weights=None, what="metric"):
    """Keras' update_confusion_matrix_variables -> weighted (tp, fp, tn, fn), each (T,)
    (or (T, L) with multi_label). A prediction counts as positive at threshold th when
    p > th; with evenly spaced thresholds Keras' bucket rule on clip(p, 0, 1) is used
    (bucket ceil(p (T - 1)) - 1, the first raised to 0 when the end thresholds carry an
    epsilon), which is the same up to rounding at the thresholds."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_pred, y_true = _same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise DataError(f"{what}: targets of shape {y_true.shape} do not match predictions "
                        f"of shape {y_pred.shape}")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)[..., None]
        _, w = _same_rank(y_true, w, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise DataError(f"{what}: class_id needs predictions of shape (N, K), got {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    try:
        w = np.ones(y_pred.shape) if w is None else np.broadcast_to(w, y_pred.shape)
    except ValueError:
        raise DataError(f"{what}: sample_weight of shape {np.shape(sample_weight)} does not fit "
                        f"predictions of shape {y_pred.shape}") from None
    if label_weights is not None and not multi_label:
        w = w * np.broadcast_to(np.asarray(label_weights, dtype=np.float64), y_pred.shape)
    pos = y_true != 0
    th = np.asarray(thresholds, dtype=np.float64)
    T = len(th)
    cols = [slice(None)]
    if multi_label:
        y_pred, pos, w = (a.reshape(len(a), -1) for a in (y_pred, pos, w))
        cols = range(y_pred.shape[1])
    else:
        y_pred, pos, w = y_pred.reshape(-1), pos.reshape(-1), w.reshape(-1)
    out = np.zeros((4, T, len(cols)))
    for j, c in enumerate(cols):
        p = y_pred[..., c]
        tw = np.where(pos[..., c], w[..., c], 0.0)   # weights of the positives
        fw = np.where(pos[..., c], 0.0, w[..., c])   # and of the negatives
        if evenly:
            b = np.ceil(np.clip(p, 0.0, 1.0) * (T - 1)) - 1
            if th[0] < 0.0 or th[-1] > 1.0:
                b = np.maximum(b, 0)
            keep = b >= 0
            b = b[keep].astype(np.int64)
            tp = np.bincount(b, tw[keep], minlength=T)[::-1].cumsum()[::-1]
            fp = np.bincount(b, fw[keep], minlength=T)[::-1].cumsum()[::-1]
        else:
            above = p[None, :] > th[:, None]
            tp, fp = (above * tw).sum(axis=1), (above * fw).sum(axis=1)
        out[0, :, j], out[1, :, j] = tp, fp
        out[2, :, j], out[3, :, j] = fw.sum() - fp, tw.sum() - tp
    return out if multi_label else out[:, :, 0]


class _ConfusionCount(Metric):
    """Accumulated weighted count of one confusion-matrix cell per threshold."""
    _cell = 0

    def __init__(self, thresholds=None, name=None):
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds, 0.5)
        self._evenly = _evenly(self.thresholds)
        super().__init__(name)

    def reset_state(self):
        self.accumulator = np.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.accumulator += _confusion(y_true, y_pred, self.thresholds, self._evenly,
                                       sample_weight, what=self.name)[self._cell]

    def result(self):
        return _scalar_or_vector(self.accumulator)

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    default_name = "true_positives"
    _cell = 0


class FalsePositives(_ConfusionCount):
    default_name = "false_positives"
    _cell = 1


class TrueNegatives(_ConfusionCount):
    default_name = "true_negatives"
    _cell = 2


class FalseNegatives(_ConfusionCount):
    default_name = "false_negatives"
    _cell = 3


class Precision(Metric):
    """tp / (tp + fp) per threshold (0 when nothing is predicted positive). With top_k,
    only each row's top k predictions can be positive (default threshold then -1e10)."""
    default_name = "precision"
    _cells = (0, 1)

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None):
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _parse_thresholds(thresholds, 0.5 if top_k is None else _NEG_INF)
        self._evenly = _evenly(self.thresholds)
        super().__init__(name)

    def reset_state(self):
        self.true_positives = np.zeros(len(self.thresholds))
        self.other = np.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        cm = _confusion(y_true, y_pred, self.thresholds, self._evenly, sample_weight,
                        top_k=self.top_k, class_id=self.class_id, what=self.name)
        self.true_positives += cm[self._cells[0]]
        self.other += cm[self._cells[1]]

    def result(self):
        return _scalar_or_vector(_div(self.true_positives, self.true_positives + self.other))

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Recall(Precision):
    """tp / (tp + fn) per threshold (0 when there are no positives)."""
    default_name = "recall"
    _cells = (0, 3)


class AUC(Metric):
    """Area under the ROC or PR curve from confusion counts at num_thresholds thresholds
    (Keras 3: i / (T - 1) inside, -eps and 1 + eps at the ends; Riemann sums with
    "interpolation", "minoring" or "majoring"; PR with interpolation by Davis & Goadrich's
    rule; multi_label: one curve per label, averaged (weighted by label_weights))."""
    default_name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        curves = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
        methods = ("interpolation", "majoring", "minoring")
        if not isinstance(curve, str) or curve.lower() not in curves:
            raise ValueError(f"curve must be 'ROC', 'PR' or 'PRGAIN', got {curve!r}")
        if not isinstance(summation_method, str) or summation_method.lower() not in methods:
            raise ValueError(f"summation_method must be one of {', '.join(methods)}, got "
                             f"{summation_method!r}")
        self.curve, self.summation_method = curves[curve.lower()], summation_method.lower()
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly(np.array([0.0] + inner + [1.0]))
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"num_thresholds must be an integer > 1, got {num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - _EPS] + inner + [1.0 + _EPS])
        if num_labels and not multi_label:
            raise ValueError("num_labels is needed only when multi_label is True")
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float64)
        self.from_logits = bool(from_logits)
        super().__init__(name)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def reset_state(self):
        self._cm = None   # (4, T) or (4, T, L): tp, fp, tn, fn

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if self.multi_label and y_pred.ndim != 2:
            raise DataError(f"{self.name}: multi_label needs predictions of rank 2, got {y_pred.shape}")
        if self.from_logits:
            y_pred = 0.5 * (1.0 + np.tanh(0.5 * y_pred))
        cm = _confusion(y_true, y_pred, self._thresholds, self._evenly, sample_weight,
                        multi_label=self.multi_label,
                        label_weights=None if self.multi_label else self.label_weights,
                        what=self.name)
        if self._cm is not None and self._cm.shape != cm.shape:
            raise DataError(f"{self.name}: predictions have {cm.shape[-1]} labels, earlier "
                            f"batches had {self._cm.shape[-1]}")
        self._cm = cm if self._cm is None else self._cm + cm

    def _average(self, by_label):
        if not self.multi_label:
            return np.float64(by_label)
        if self.label_weights is None:
            return np.float64(np.mean(by_label))
        return np.float64(_div(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def result(self):
        if self._cm is None:
            return np.float64(0.0)
        tp, fp, tn, fn = self._cm
        if self.curve == "PR" and self.summation_method == "interpolation":
            dtp = tp[:-1] - tp[1:]
            p = tp + fp
            dp = p[:-1] - p[1:]
            slope = _div(dtp, np.maximum(dp, 0))
            intercept = tp[1:] - slope * p[1:]
            ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
            inc = _div(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
            return self._average(inc.sum(axis=0))
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _div(tp, tp + fp)
        else:  # PRGAIN
            scale = _div(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * _div(fn, tp)), 0.0)
            y = np.where(tp == 0, 1.0, 1.0 - scale * _div(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average(((x[:-1] - x[1:]) * heights).sum(axis=0))

    def get_config(self):
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class FBetaScore(Metric):
    """(1 + beta^2) P R / (beta^2 P + R) per class from accumulated tp, fp, fn (Keras 3:
    y_pred > threshold, or, with threshold None, the row maximum); average None (a
    vector), "micro", "macro" or "weighted" (by the weighted count of true labels)."""
    default_name = "fbeta_score"

    def __init__(self, average=None, beta=1.0, threshold=None, name=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"beta must be a float > 0, got {beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError(f"threshold must be None or a float in (0, 1], got {threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        super().__init__(name)

    def reset_state(self):
        self._sums = None   # tp, fp, fn, true-label weight: (4, K), or (4,) for "micro"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true, dtype=np.float64)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise DataError(f"{self.name} needs targets and predictions of one shape (N, K), got "
                            f"{y_true.shape} and {y_pred.shape}")
        if self.threshold is None:
            pred = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            pred = y_pred > self.threshold
        pred = pred.astype(np.float64)
        w = np.ones((len(y_true), 1)) if sample_weight is None else \
            np.asarray(sample_weight, dtype=np.float64).reshape(-1, 1)
        axis = None if self.average == "micro" else 0
        sums = np.array([np.sum(v * w, axis=axis) for v in
                         (pred * y_true, pred * (1 - y_true), (1 - pred) * y_true, y_true)])
        if self._sums is not None and self._sums.shape != sums.shape:
            raise DataError(f"{self.name}: predictions have {y_pred.shape[1]} classes, earlier "
                            f"batches had {self._sums.shape[-1]}")
        self._sums = sums if self._sums is None else self._sums + sums

    def result(self):
        if self._sums is None:
            return np.float64(0.0)
        tp, fp, fn, support = self._sums
        precision = tp / (tp + fp + _EPS)
        recall = tp / (tp + fn + _EPS)
        b2 = self.beta ** 2
        f = precision * recall / (b2 * precision + recall + _EPS) * (1 + b2)
        if self.average == "weighted":
            return np.float64(np.sum(f * support / (np.sum(support) + _EPS)))
        if self.average is not None:
            return np.float64(np.mean(f))
        return f.copy()

    def get_config(self):
        return {"name": self.name, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1."""
    default_name = "f1_score"

    def __init__(self, average=None, threshold=None, name=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self):
        return {"name": self.name, "average": self.average, "threshold": self.threshold}


class RootMeanSquaredError(Mean):
    """sqrt of the weighted mean over samples of each sample's mean squared error."""
    default_name = "root_mean_squared_error"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _align(y_true, y_pred)
        values = ((y_pred - y_true) ** 2).reshape(len(y_pred), -1).mean(axis=1)
        super().update_state(values, sample_weight)

    def result(self):
        return np.float64(np.sqrt(self.total / self.count)) if self.count else np.float64(0.0)


class R2Score(Metric):
    """Coefficient of determination per output, 1 - SS_res / SS_tot from weighted sums
    (Keras 3); class_aggregation "uniform_average", "variance_weighted_average" or None
    (a vector); num_regressors p > 0: adjusted, 1 - (1 - R2)(n - 1) / (n - p - 1) with n
    the number of values seen."""
    default_name = "r2_score"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError("class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"num_regressors must be >= 0, got {num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        super().__init__(name)

    def reset_state(self):
        self._sums = None   # sum w t, sum w t^2, sum w (t - p)^2, sum w: (4, K)
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _align(y_true, y_pred)
        if y_pred.ndim != 2:
            raise DataError(f"{self.name} needs predictions of shape (N, K), got {y_pred.shape}")
        w = np.ones(1) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.ndim == 1:
            w = w[:, None]
        w = np.broadcast_to(w, y_true.shape)
        sums = np.array([(w * y_true).sum(0), (y_true * w * y_true).sum(0),
                         ((y_true - y_pred) ** 2 * w).sum(0), w.sum(0)])
        self._sums = sums if self._sums is None else self._sums + sums
        self.num_samples += y_true.size

    def result(self):
        if self._sums is None:
            return np.float64(0.0)
        s, s2, res, count = self._sums
        with np.errstate(divide="ignore", invalid="ignore"):
            total = s2 - s * (s / count)
            raw = 1.0 - res / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = np.sum(total * raw) / np.sum(total)
        else:
            r2 = raw
        n, p = self.num_samples, self.num_regressors
        if p and p < n - 1:
            r2 = 1.0 - (1.0 - r2) * (n - 1.0) / (n - p - 1.0)
        elif p:
            warnings.warn(f"{self.name}: adjusted R2 needs more values than num_regressors + 1; "
                          f"giving the plain R2", stacklevel=2)
        return np.float64(r2) if np.ndim(r2) == 0 else np.asarray(r2, dtype=np.float64)

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class MeanIoU(Metric):
    """Mean over classes of TP / (TP + FP + FN) from a (num_classes, num_classes)
    confusion matrix (rows: labels, columns: predictions), as Keras 3: labels and
    predictions are class ids (sparse_y_true / sparse_y_pred; False: argmax over
    `axis`), out-of-range ids and ignore_class are left out, classes that never occur
    do not count. Sample weights are used as floats (Keras casts them to int)."""
    default_name = "mean_io_u"

    def __init__(self, num_classes, name=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes, self.ignore_class = int(num_classes), ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        super().__init__(name)

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        t = y_true.astype(np.int64).reshape(-1)
        p = y_pred.astype(np.int64).reshape(-1)
        if t.shape != p.shape:
            raise DataError(f"{self.name}: {t.size} labels for {p.size} predictions")
        w = np.ones(t.shape) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, dtype=np.float64).reshape(-1), t.shape)
        c = self.num_classes
        keep = (t >= 0) & (t < c) & (p >= 0) & (p < c)
        if self.ignore_class is not None:
            keep &= t != self.ignore_class
        self.total_cm += np.bincount(t[keep] * c + p[keep], w[keep], minlength=c * c).reshape(c, c)

    def result(self):
        cm = self.total_cm
        tp = np.diag(cm)
        denom = cm.sum(axis=0) + cm.sum(axis=1) - tp
        valid = denom > 1e-9
        iou = np.where(valid, tp / (denom + _EPS), 0.0)
        return np.float64(iou.sum() / (valid.sum() + _EPS))

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _align(y_true, y_pred)
    return 100.0 * np.mean(np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), _EPS)), axis=-1)


def _eps():
    return float(config.epsilon())


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    y_true, y_pred = _align(y_true, y_pred)
    t = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        e = np.maximum(y_pred, 0.0) - y_pred * t + np.log1p(np.exp(-np.abs(y_pred)))
    else:
        q = np.clip(y_pred, _eps(), 1.0 - _eps())
        e = -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
    return np.mean(e, axis=-1)


def _log_probs(y_pred, from_logits, axis):
    z = np.moveaxis(np.asarray(y_pred, dtype=np.float64), axis, -1)
    if from_logits:
        m = z.max(axis=-1, keepdims=True)
        return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    q = z / z.sum(axis=-1, keepdims=True)
    return np.log(np.clip(q, _eps(), 1.0 - _eps()))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    t = np.moveaxis(np.asarray(y_true, dtype=np.float64), axis, -1)
    t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
    return -(t * _log_probs(y_pred, from_logits, axis)).sum(axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    logp = _log_probs(y_pred, from_logits, axis)
    labels = np.asarray(y_true)
    if labels.ndim == logp.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    labels = labels.astype(np.int64).reshape(logp.shape[:-1])
    if labels.size and (labels.min() < 0 or labels.max() >= logp.shape[-1]):
        raise DataError(f"labels must be in [0, {logp.shape[-1]}), got values from "
                        f"{labels.min()} to {labels.max()}")
    return -np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]


class _ResultIsNumpy:
    """result() as a NumPy float64 scalar."""

    def result(self):
        return np.float64(super().result())


MeanAbsolutePercentageError = type("MeanAbsolutePercentageError", (_ResultIsNumpy, _wrapper(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error,
    "mean_absolute_percentage_error")), {})
BinaryCrossentropy = type("BinaryCrossentropy", (_ResultIsNumpy, _wrapper(
    "BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
    from_logits=False, label_smoothing=0.0)), {})
CategoricalCrossentropy = type("CategoricalCrossentropy", (_ResultIsNumpy, _wrapper(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
    from_logits=False, label_smoothing=0.0, axis=-1)), {})
SparseCategoricalCrossentropy = type("SparseCategoricalCrossentropy", (_ResultIsNumpy, _wrapper(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy", from_logits=False, axis=-1)), {})


_CLASSES = {c.__name__: c for c in (
    Mean, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
    MeanAbsoluteError, Accuracy, TruePositives, FalsePositives, TrueNegatives, FalseNegatives,
    Precision, Recall, AUC, FBetaScore, F1Score, RootMeanSquaredError, R2Score, MeanIoU,
    MeanAbsolutePercentageError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy)}

_STRINGS = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "true_positives": TruePositives, "false_positives": FalsePositives,
    "true_negatives": TrueNegatives, "false_negatives": FalseNegatives,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "fbeta_score": FBetaScore, "f_beta_score": FBetaScore, "f1_score": F1Score,
    "root_mean_squared_error": RootMeanSquaredError, "r2_score": R2Score,
    "mean_io_u": MeanIoU, "mean_iou": MeanIoU,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


METRICS = Registry("metric", Metric)
for _cls in _CLASSES.values():
    METRICS.add(_cls, aliases=[k for k, v in _STRINGS.items() if v is _cls] +
                (["accuracy", "acc"] if _cls is Accuracy else []))
del _CLASSES, _STRINGS


def get(identifier, loss=None, output_shape=None):
    """A Metric instance, a string, or a {"class_name", "config"} dict -> a new Metric.
    Strings keep the user's spelling as the metric name ("acc" logs as "acc").
    "accuracy"/"acc" picks binary (one output), sparse (sparse loss) or categorical."""
    if isinstance(identifier, str):
        cls = METRICS.lookup(identifier)
        if cls is Accuracy:
            return Accuracy(identifier, loss=loss, output_shape=output_shape)
        return cls(name=identifier)
    return METRICS.get(identifier)


def serialize(metric):
    return METRICS.serialize(metric)


def deserialize(spec):
    return METRICS.deserialize(spec)
