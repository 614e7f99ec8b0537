"""Stateful metrics (Keras 3 style): update_state(...) / result() / reset_state().

Each per-sample metric computes one value per sample and keeps a running mean weighted
by the number of samples, so an epoch's value is the mean over all its samples whatever
the batch sizes. `Mean` is the plain weighted running mean the model uses for the loss
(`update_state(batch_loss, sample_weight=batch_size)`).

Logged names: the string the user gave ("accuracy", "acc", "mse", ...) as in Keras 3.
"""
import numpy as np

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
        return f"<{type(self).__name__} name={self.name} result={self.result():.6g}>"


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


_CLASSES = {c.__name__: c for c in (
    Mean, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
    MeanAbsoluteError, Accuracy)}

_STRINGS = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
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
