"""Losses (Keras 3 names; reduction: the mean over the batch).

Every loss answers three calls:
    loss(y_true, y_pred, sample_weight=None) -> float   Keras order, any array-likes
    loss.forward_backward(grad, y_pred, y_true)    the model's fast path: writes
        dL/dy_pred into the preallocated `grad` (same shape as y_pred) and returns
        the batch mean. y_true is int64 (N,) for sparse losses, floats otherwise.
    loss.per_sample(y_true, y_pred) -> (N,) float64    the loss of each sample in plain
        NumPy, used only with sample weights: Keras' "sum_over_batch_size" reduction
        is then sum_n w_n l_n / N (divided by the batch size, not by sum w).
Cross-entropies also give `with_logits()`: the same loss computed from logits, used by
the model to fuse a final softmax / sigmoid into the loss (gradient p - y).
"""
import copy

import numpy as np

from . import config
from .errors import DataError
from .kernels import losses as K
from .registry import Registry


def _rows(a, width=None):
    """C-contiguous 2-D view: (N,) -> (N, 1); (N, ...) -> (N, -1); or (-1, width)."""
    a = np.ascontiguousarray(a)
    if width is not None:
        return a.reshape(-1, width)
    return a.reshape(a.shape[0] if a.ndim else 1, -1)


def _grad_rows(grad, width=None):
    """Like _rows, but a view that writes into `grad` itself."""
    if not (isinstance(grad, np.ndarray) and grad.flags.c_contiguous):
        raise ValueError("the gradient buffer must be a C-contiguous numpy array")
    return _rows(grad, width)


def _samples(rows, y_pred):
    """Losses of the rows of a (R, K) view of y_pred -> the mean per sample (N,), N =
    len(y_pred) (one sample for a 1-D y_pred). (N, ..., K) outputs have several rows a
    sample; their mean over them is the kernel's mean."""
    n = y_pred.shape[0] if y_pred.ndim > 1 else 1
    return rows.reshape(n, -1).mean(axis=1)


def _ce_logits_rows(z, t):
    """Cross-entropy on logits per row, float64 (R, K) -> (R,):
    sum_k t_k (lse - z_k), lse = m + log sum_k exp(z_k - m), m = max_k z_k."""
    m = z.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    return (t * (lse - z)).sum(axis=1)


def _ce_probs_rows(p, t, eps):
    """Keras' cross-entropy on probabilities per row, float64 (R, K) -> (R,):
    -sum_k t_k log clip(p_k / sum_j p_j, eps, 1 - eps)."""
    q = p / p.sum(axis=1, keepdims=True)
    return -(t * np.log(np.clip(q, eps, 1.0 - eps))).sum(axis=1)


def _ce_rows(p, t, from_logits):
    """Categorical cross-entropy of (R, K) float64 predictions (logits or probabilities)
    against (smoothed) targets -> (R,)."""
    if from_logits:
        return _ce_logits_rows(p, t)
    return _ce_probs_rows(p, t, float(config.epsilon()))


def check_sample_weight(sample_weight, n, what, scalar_ok=False):
    """Per-sample weights -> float64 (N,): (N,) or (N, 1) (or a scalar, for all samples,
    with scalar_ok); finite and >= 0. Raises DataError naming `what`."""
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (ValueError, TypeError):
        raise DataError(f"{what}: sample_weight must be numbers, "
                        f"got {type(sample_weight).__name__}") from None
    if w.ndim == 0 and scalar_ok:
        w = np.full(n, float(w))
    elif w.ndim == 0 or w.ndim > 2 or (w.ndim == 2 and w.shape[1] != 1):
        raise DataError(f"{what}: sample_weight must have shape ({n},), got {w.shape}")
    w = w.reshape(-1)
    if len(w) != n:
        raise DataError(f"{what}: sample_weight has {len(w)} values for {n} samples")
    if not np.isfinite(w).all():
        raise DataError(f"{what}: sample_weight contains NaN or Inf (first in sample "
                        f"{int(np.argmax(~np.isfinite(w)))})")
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise DataError(f"{what}: sample_weight must be >= 0, got {w[i]:g} for sample {i}")
    return w


def _float_dtype(a):
    a = np.asarray(a)
    return a.dtype if a.dtype in (np.float32, np.float64) else np.dtype(config.floatx())


class Loss:
    """Base class: subclasses implement forward_backward and get_config."""
    default_name = "loss"
    # What the loss declares as data (nbnet.training, the profiler and the CLI read it):
    # target  "sparse" (integer class labels), "categorical" (one row of class
    #         probabilities per sample), "binary" (values in [0, 1]) or "regression";
    # logits_activation  the output activation whose logits the loss can take instead
    #         (with from_logits=False: the model trains through loss.with_logits()).
    target = "regression"
    logits_activation = None

    def __init__(self, name=None):
        self.name = name or self.default_name

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The batch mean (Keras' "sum_over_batch_size"); with sample_weight (N,):
        sum_n w_n l_n / N."""
        y_pred = np.ascontiguousarray(y_pred, dtype=_float_dtype(y_pred))
        if self.target == "sparse":
            y_true = np.asarray(y_true)
            if y_true.size * y_pred.shape[-1] != y_pred.size:
                raise DataError(f"{self.name}: labels of shape {y_true.shape} do not match "
                                f"predictions of shape {y_pred.shape}")
            y_true = np.ascontiguousarray(y_true, dtype=np.int64).reshape(-1)
            if y_true.size and (y_true.min() < 0 or y_true.max() >= y_pred.shape[-1]):
                raise DataError(f"{self.name}: labels must be in [0, {y_pred.shape[-1]}), "
                                f"got values from {y_true.min()} to {y_true.max()}")
        else:
            y_true = np.ascontiguousarray(y_true, dtype=y_pred.dtype)
            if y_true.size != y_pred.size or y_true.shape[:1] != y_pred.shape[:1]:
                raise DataError(f"{self.name}: targets of shape {y_true.shape} do not match "
                                f"predictions of shape {y_pred.shape}")
        if sample_weight is not None:
            values = self.per_sample(y_true, y_pred)
            w = check_sample_weight(sample_weight, len(values), self.name, scalar_ok=True)
            return float(np.dot(values, w) / len(values))
        grad = np.empty_like(y_pred)
        return self.forward_backward(grad, y_pred, y_true)

    def forward_backward(self, grad, y_pred, y_true):
        raise NotImplementedError

    def per_sample(self, y_true, y_pred):
        """The loss of each sample, float64 (N,), y_true as forward_backward takes it;
        the same definitions as the kernels (its mean is forward_backward's value)."""
        raise NotImplementedError

    def with_logits(self):
        """A copy computing from logits, or None (not a cross-entropy, or already on
        logits: then there is no activation to fuse)."""
        return None

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.get_config()}>"


LOSSES = Registry("loss", Loss)


class _CrossEntropy(Loss):
    logits_activation = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None):
        super().__init__(name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        if not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")

    def with_logits(self):
        if self.from_logits:
            return None
        clone = copy.copy(self)
        clone.from_logits = True
        return clone

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


@LOSSES.register(aliases=("categorical_crossentropy",))
class CategoricalCrossentropy(_CrossEntropy):
    """-sum_k t_k log p_k over one-hot (or soft) targets (N, K)."""
    default_name = "categorical_crossentropy"
    target = "categorical"

    def forward_backward(self, grad, y_pred, y_true):
        k = y_pred.shape[-1]
        p, g = _rows(y_pred, k), _grad_rows(grad, k)
        t = _rows(np.asarray(y_true, dtype=p.dtype), k)
        if self.from_logits:
            return K.softmax_ce_dense(g, p, t, self.label_smoothing)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return K.ce_from_probs(g, p, t, float(config.epsilon()))

    def per_sample(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        k = y_pred.shape[-1]
        t = _rows(np.asarray(y_true, dtype=np.float64), k)
        s = self.label_smoothing
        rows = _ce_rows(_rows(y_pred, k).astype(np.float64), t * (1.0 - s) + s / k, self.from_logits)
        return _samples(rows, y_pred)


@LOSSES.register(aliases=("sparse_categorical_crossentropy",))
class SparseCategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with integer labels (N,) in [0, K)."""
    default_name = "sparse_categorical_crossentropy"
    target = "sparse"

    def forward_backward(self, grad, y_pred, y_true):
        k = y_pred.shape[-1]
        p, g = _rows(y_pred, k), _grad_rows(grad, k)
        labels = np.ascontiguousarray(y_true, dtype=np.int64).reshape(-1)
        if self.from_logits:
            return K.softmax_ce_sparse(g, p, labels, self.label_smoothing)
        s = self.label_smoothing
        t = np.full(p.shape, s / k, dtype=p.dtype)
        t[np.arange(len(labels)), labels] += 1.0 - s
        return K.ce_from_probs(g, p, t, float(config.epsilon()))

    def per_sample(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        k = y_pred.shape[-1]
        labels = np.asarray(y_true).astype(np.int64).reshape(-1)
        s = self.label_smoothing
        t = np.full((len(labels), k), s / k)
        t[np.arange(len(labels)), labels] += 1.0 - s
        return _samples(_ce_rows(_rows(y_pred, k).astype(np.float64), t, self.from_logits), y_pred)


@LOSSES.register(aliases=("binary_crossentropy",))
class BinaryCrossentropy(_CrossEntropy):
    """Mean over all outputs of -(y log p + (1-y) log(1-p)); smoothing y -> y(1-s) + s/2."""
    default_name = "binary_crossentropy"
    target = "binary"
    logits_activation = "sigmoid"

    def forward_backward(self, grad, y_pred, y_true):
        p, g = _rows(y_pred), _grad_rows(grad)
        t = np.asarray(y_true, dtype=p.dtype).reshape(p.shape)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        t = np.ascontiguousarray(t)
        if self.from_logits:
            return K.bce_from_logits(g, p, t)
        return K.bce_from_probs(g, p, t, float(config.epsilon()))

    def per_sample(self, y_true, y_pred):
        p = _rows(y_pred).astype(np.float64)
        t = np.asarray(y_true, dtype=np.float64).reshape(p.shape)
        t = t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:  # max(z, 0) - z t + log(1 + exp(-|z|))
            e = np.maximum(p, 0.0) - p * t + np.log1p(np.exp(-np.abs(p)))
        else:
            eps = float(config.epsilon())
            q = np.clip(p, eps, 1.0 - eps)
            e = -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
        return e.mean(axis=1)


class _Pointwise(Loss):
    def _args(self):
        return ()

    def forward_backward(self, grad, y_pred, y_true):
        p, g = _rows(y_pred), _grad_rows(grad)
        t = np.ascontiguousarray(np.asarray(y_true, dtype=p.dtype).reshape(p.shape))
        return self._kernel(g, p, t, *self._args())

    def per_sample(self, y_true, y_pred):
        """The mean over each sample's outputs of the elementwise loss of d = pred - true."""
        p = _rows(y_pred).astype(np.float64)
        return self._elementwise(p - np.asarray(y_true, dtype=np.float64).reshape(p.shape)).mean(axis=1)


@LOSSES.register(aliases=("mse", "mean_squared_error"))
class MeanSquaredError(_Pointwise):
    default_name = "mean_squared_error"
    _kernel = staticmethod(K.mse)

    def _elementwise(self, d):
        return d * d


@LOSSES.register(aliases=("mae", "mean_absolute_error"))
class MeanAbsoluteError(_Pointwise):
    default_name = "mean_absolute_error"
    _kernel = staticmethod(K.mae)

    def _elementwise(self, d):
        return np.abs(d)


@LOSSES.register(aliases=("huber", "huber_loss"))
class Huber(_Pointwise):
    """0.5 d^2 where |d| <= delta, else delta (|d| - delta / 2) (Keras)."""
    default_name = "huber_loss"
    _kernel = staticmethod(K.huber)

    def __init__(self, delta=1.0, name=None):
        super().__init__(name)
        self.delta = float(delta)
        if self.delta < 0:
            raise ValueError(f"Huber delta must be >= 0, got {delta!r}")

    def _args(self):
        return (self.delta,)

    def _elementwise(self, d):
        a = np.abs(d)
        return np.where(a <= self.delta, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


@LOSSES.register(aliases=("smooth_l1",))
class SmoothL1(_Pointwise):
    """PyTorch SmoothL1Loss: 0.5 d^2 / beta where |d| < beta, else |d| - beta / 2."""
    default_name = "smooth_l1"
    _kernel = staticmethod(K.smooth_l1)

    def __init__(self, beta=1.0, name=None):
        super().__init__(name)
        self.beta = float(beta)
        if self.beta < 0:
            raise ValueError(f"SmoothL1 beta must be >= 0, got {beta!r}")

    def _args(self):
        return (self.beta,)

    def _elementwise(self, d):
        a = np.abs(d)
        if self.beta == 0.0:  # L1
            return a
        return np.where(a < self.beta, 0.5 * d * d / self.beta, a - 0.5 * self.beta)

    def get_config(self):
        return {"name": self.name, "beta": self.beta}


def get(identifier):
    """A Loss, a Keras string ("mse", "categorical_crossentropy", ...), a class name, a
    registered class or a {"class_name", "config"} dict -> a Loss instance."""
    if identifier is None:
        raise ValueError("a loss is needed, e.g. 'mse' or 'sparse_categorical_crossentropy'")
    return LOSSES.get(identifier)


def deserialize(spec):
    return LOSSES.deserialize(spec)


def serialize(loss):
    """Loss -> JSON-able {"class_name", "config"} (get() reads it back)."""
    return LOSSES.serialize(get(loss))
