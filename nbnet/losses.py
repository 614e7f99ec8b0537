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

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        self.name = name or self.default_name
        self.reduction = _check_reduction(reduction)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss reduced as `reduction` says (Keras 3): "sum_over_batch_size" and
        "mean" (the default: the batch mean; with sample_weight (N,): sum_n w_n l_n / N),
        "sum" (sum_n w_n l_n), "mean_with_sample_weight" (sum_n w_n l_n / sum_n w_n) or
        None / "none" (the per-sample values w_n l_n, float64 (N,)). Training always
        uses the batch mean (forward_backward)."""
        y_true, y_pred = self._checked(y_true, y_pred)
        red = self.reduction
        if sample_weight is None and red in _MEANS:
            grad = np.empty_like(y_pred)
            return self.forward_backward(grad, y_pred, y_true)
        values = self.per_sample(y_true, y_pred)
        if sample_weight is None:
            if self._batchwide(y_pred):  # one value for the whole batch (Keras: a scalar)
                return float(values[0])
            return values if red in (None, "none") else float(np.sum(values))
        w = check_sample_weight(sample_weight, len(values), self.name, scalar_ok=True)
        if red in (None, "none"):
            return values * w
        total = np.dot(values, w)
        if red == "sum":
            return float(total)
        if red == "mean_with_sample_weight":
            return float(total / w.sum()) if w.sum() else 0.0
        return float(total / len(values))

    def _batchwide(self, y_pred):
        """True when the loss is one value for the whole batch (Dice / Tversky with
        axis=None): per_sample then repeats it."""
        return False

    def _checked(self, y_true, y_pred):
        """(y_true, y_pred) as forward_backward takes them; DataError on a mismatch."""
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
        return y_true, y_pred

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
        return self._config()

    def _config(self, **params):
        """{"name", **params}, and "reduction" when it is not the default."""
        config = {"name": self.name, **params}
        if self.reduction != "sum_over_batch_size":
            config["reduction"] = self.reduction
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.get_config()}>"


LOSSES = Registry("loss", Loss)

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_MEANS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, "
                         f"got {reduction!r}")
    return reduction


class _CrossEntropy(Loss):
    logits_activation = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
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
        return self._config(from_logits=self.from_logits, label_smoothing=self.label_smoothing)


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


@LOSSES.register(aliases=("binary_crossentropy", "bce"))
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

    def __init__(self, delta=1.0, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.delta = float(delta)
        if self.delta < 0:
            raise ValueError(f"Huber delta must be >= 0, got {delta!r}")

    def _args(self):
        return (self.delta,)

    def _elementwise(self, d):
        a = np.abs(d)
        return np.where(a <= self.delta, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))

    def get_config(self):
        return self._config(delta=self.delta)


@LOSSES.register(aliases=("smooth_l1",))
class SmoothL1(_Pointwise):
    """PyTorch SmoothL1Loss: 0.5 d^2 / beta where |d| < beta, else |d| - beta / 2."""
    default_name = "smooth_l1"
    _kernel = staticmethod(K.smooth_l1)

    def __init__(self, beta=1.0, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
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
        return self._config(beta=self.beta)


# ------------------------------------------------------------------ more losses (Keras 3)

def _eps():
    return float(config.epsilon())


def _hinge_labels(t):
    """Keras: labels that are all 0 or 1 become -1 / 1; others are kept as they are."""
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# Elementwise losses in float64 NumPy, l(t, p) (Keras 3 definitions; the kernels'
# references in per_sample and the function forms).
def _np_poisson(t, p):
    return p - t * np.log(p + _eps())


def _np_log_cosh(t, p):
    x = p - t
    return x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0)


def _np_hinge(t, p):
    return np.maximum(1.0 - t * p, 0.0)


def _np_squared_hinge(t, p):
    return np.maximum(1.0 - t * p, 0.0) ** 2


def _np_msle(t, p):
    eps = _eps()
    return (np.log(np.maximum(p, eps) + 1.0) - np.log(np.maximum(t, eps) + 1.0)) ** 2


def _np_mape(t, p):
    return 100.0 * np.abs((t - p) / np.maximum(np.abs(t), _eps()))


def _np_binary_focal(t, p, alpha, gamma, balance, from_logits):
    if from_logits:
        p = _sigmoid(p)
    eps = _eps()
    c = np.clip(p, eps, 1.0 - eps)
    bce = -(t * np.log(c) + (1.0 - t) * np.log(1.0 - c))
    loss = (1.0 - (t * p + (1.0 - t) * (1.0 - p))) ** gamma * bce
    return (t * alpha + (1.0 - t) * (1.0 - alpha)) * loss if balance else loss


# Row losses along the last axis, float64 (R, K) -> (R,).
def _np_kld_rows(t, p):
    eps = _eps()
    t, p = np.clip(t, eps, 1.0), np.clip(p, eps, 1.0)
    return (t * np.log(t / p)).sum(axis=1)


def _np_categorical_hinge_rows(t, p):
    pos = (t * p).sum(axis=1)
    neg = ((1.0 - t) * p).max(axis=1)
    return np.maximum(neg - pos + 1.0, 0.0)


def _np_normalize_rows(x):
    return x / np.maximum(np.sqrt((x * x).sum(axis=1, keepdims=True)), _eps())


def _np_cosine_rows(t, p):
    return -(_np_normalize_rows(t) * _np_normalize_rows(p)).sum(axis=1)


def _np_categorical_focal_rows(t, p, alpha, gamma, from_logits):
    if from_logits:
        p = _softmax_rows(p)
    eps = _eps()
    c = np.clip(p / p.sum(axis=1, keepdims=True), eps, 1.0 - eps)
    return (alpha * (1.0 - c) ** gamma * (-t * np.log(c))).sum(axis=1)


def _np_overlap(t, p, alpha, beta, dice, axis):
    """Dice / Tversky (Keras) of float64 arrays, summed over `axis` (None: all)."""
    inter = (t * p).sum(axis=axis)
    if dice:
        return 1.0 - 2.0 * inter / (t.sum(axis=axis) + p.sum(axis=axis) + _eps())
    fp = ((1.0 - p) * t).sum(axis=axis)
    fn = (p * (1.0 - t)).sum(axis=axis)
    return 1.0 - inter / (inter + alpha * fp + beta * fn + _eps())


class _Elementwise(Loss):
    """The mean over all outputs of an elementwise loss l(t, p) (a kernel)."""

    def _args(self):
        return ()

    def _targets(self, t):
        return t

    def forward_backward(self, grad, y_pred, y_true):
        p, g = _rows(y_pred), _grad_rows(grad)
        t = self._targets(np.asarray(y_true, dtype=p.dtype).reshape(p.shape))
        return self._kernel(g, p, np.ascontiguousarray(t, dtype=p.dtype), *self._args())

    def per_sample(self, y_true, y_pred):
        p = _rows(y_pred).astype(np.float64)
        t = self._targets(np.asarray(y_true, dtype=np.float64).reshape(p.shape))
        return self._np(t, p).mean(axis=1)


@LOSSES.register(aliases=("poisson",))
class Poisson(_Elementwise):
    """mean of p - t log(p + eps) (Keras)."""
    default_name = "poisson"
    _kernel = staticmethod(K.poisson)
    _np = staticmethod(_np_poisson)

    def _args(self):
        return (_eps(),)


@LOSSES.register(aliases=("log_cosh", "logcosh"))
class LogCosh(_Elementwise):
    """mean of log cosh(p - t), as x + softplus(-2x) - log 2 (Keras)."""
    default_name = "log_cosh"
    _kernel = staticmethod(K.log_cosh)
    _np = staticmethod(_np_log_cosh)


@LOSSES.register(aliases=("hinge",))
class Hinge(_Elementwise):
    """mean of max(1 - t p, 0); labels all in {0, 1} become {-1, 1} (Keras). The
    targets are -1 / 1 (or 0 / 1) scores, so the declared target is "regression"."""
    default_name = "hinge"
    _kernel = staticmethod(K.hinge)
    _np = staticmethod(_np_hinge)
    _targets = staticmethod(_hinge_labels)


@LOSSES.register(aliases=("squared_hinge",))
class SquaredHinge(Hinge):
    """mean of max(1 - t p, 0)^2; labels in {0, 1} become {-1, 1} (Keras)."""
    default_name = "squared_hinge"
    _kernel = staticmethod(K.squared_hinge)
    _np = staticmethod(_np_squared_hinge)


@LOSSES.register(aliases=("mean_squared_logarithmic_error", "msle"))
class MeanSquaredLogarithmicError(_Elementwise):
    """mean of (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2 (Keras)."""
    default_name = "mean_squared_logarithmic_error"
    _kernel = staticmethod(K.msle)
    _np = staticmethod(_np_msle)

    def _args(self):
        return (_eps(),)


@LOSSES.register(aliases=("mean_absolute_percentage_error", "mape"))
class MeanAbsolutePercentageError(_Elementwise):
    """mean of 100 |t - p| / max(|t|, eps) (Keras)."""
    default_name = "mean_absolute_percentage_error"
    _kernel = staticmethod(K.mape)
    _np = staticmethod(_np_mape)

    def _args(self):
        return (_eps(),)


class _RowLoss(Loss):
    """A loss of each row along `axis` (default the last), averaged over the rows. A 1-D
    prediction is one row (Keras: one value for the batch)."""
    axis = -1

    def _batchwide(self, y_pred):
        return np.ndim(y_pred) == 1

    def _moved(self, a):
        """a with self.axis moved last (C-contiguous), and that axis' position."""
        a = np.asarray(a)
        if a.ndim <= 1:
            return np.ascontiguousarray(a), 0
        ax = self.axis % a.ndim if -a.ndim <= self.axis < a.ndim else None
        if ax is None or ax == 0:
            raise ValueError(f"{self.name}: axis={self.axis} is not a feature axis of "
                             f"predictions of shape {a.shape}")
        return np.ascontiguousarray(np.moveaxis(a, ax, -1)), ax

    def forward_backward(self, grad, y_pred, y_true):
        p, ax = self._moved(y_pred)
        t = np.asarray(y_true, dtype=p.dtype).reshape(np.shape(y_pred))
        t = self._moved(t)[0]
        k = p.shape[-1]
        if ax == max(np.ndim(y_pred) - 1, 0):
            return self._kernel_rows(_grad_rows(grad, k), _rows(p, k), _rows(t, k))
        g = np.empty_like(p)
        value = self._kernel_rows(_rows(g, k), _rows(p, k), _rows(t, k))
        _grad_rows(grad)  # the buffer check
        grad[...] = np.moveaxis(g, -1, ax)
        return value

    def per_sample(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        p = self._moved(y_pred)[0].astype(np.float64)
        t = self._moved(np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape))[0]
        k = p.shape[-1]
        rows = self._np_rows(_rows(t, k), _rows(p, k))
        if y_pred.ndim == 1:
            return np.full(len(y_pred), rows[0])
        return _samples(rows, p)


@LOSSES.register(aliases=("kl_divergence", "kld", "kullback_leibler_divergence"))
class KLDivergence(_RowLoss):
    """sum_k t log(t / p) over the last axis, t and p clipped to [eps, 1] (Keras)."""
    default_name = "kl_divergence"
    target = "categorical"

    def _kernel_rows(self, g, p, t):
        return K.kl_divergence(g, p, t, _eps())

    def _np_rows(self, t, p):
        return _np_kld_rows(t, p)


@LOSSES.register(aliases=("categorical_hinge",))
class CategoricalHinge(_RowLoss):
    """max(neg - pos + 1, 0), pos = sum t p, neg = max (1 - t) p, over one-hot rows."""
    default_name = "categorical_hinge"
    target = "categorical"

    def _kernel_rows(self, g, p, t):
        return K.categorical_hinge(g, p, t)

    def _np_rows(self, t, p):
        return _np_categorical_hinge_rows(t, p)


@LOSSES.register(aliases=("cosine_similarity",))
class CosineSimilarity(_RowLoss):
    """-sum(l2_normalize(t) * l2_normalize(p)) along `axis`, x / max(|x|, eps) (Keras)."""
    default_name = "cosine_similarity"

    def __init__(self, axis=-1, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"CosineSimilarity axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _kernel_rows(self, g, p, t):
        return K.cosine_similarity(g, p, t, _eps())

    def _np_rows(self, t, p):
        return _np_cosine_rows(t, p)

    def get_config(self):
        return self._config(axis=self.axis)


def _check_unit(value, what):
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {value!r}")
    return value


@LOSSES.register(aliases=("categorical_focal_crossentropy",))
class CategoricalFocalCrossentropy(_RowLoss, _CrossEntropy):
    """sum_k -alpha (1 - c_k)^gamma t_k log c_k, c = clip(p / sum p, eps, 1 - eps)
    (softmax first with from_logits), smoothed targets t (1 - s) + s / K (Keras).
    alpha: a float or one per class."""
    default_name = "categorical_focal_crossentropy"
    target = "categorical"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, name=None, reduction="sum_over_batch_size"):
        _CrossEntropy.__init__(self, from_logits, label_smoothing, name, reduction)
        self.alpha = [float(a) for a in alpha] if np.ndim(alpha) else float(alpha)
        self.gamma = float(gamma)
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _alpha(self, k):
        a = np.asarray(self.alpha, dtype=np.float64)
        if a.ndim and a.shape != (k,):
            raise ValueError(f"{self.name}: alpha has {a.size} values for {k} classes")
        return np.ascontiguousarray(np.broadcast_to(a, (k,)))

    def _smoothed(self, t):
        s = self.label_smoothing
        return t * (1.0 - s) + s / t.shape[-1] if s else t

    def _kernel_rows(self, g, p, t):
        k = p.shape[1]
        return K.categorical_focal(g, p, np.ascontiguousarray(self._smoothed(t)),
                                   self._alpha(k), self.gamma, self.from_logits, _eps())

    def _np_rows(self, t, p):
        return _np_categorical_focal_rows(self._smoothed(t), p, self._alpha(p.shape[1]),
                                          self.gamma, self.from_logits)

    def get_config(self):
        return self._config(alpha=self.alpha, gamma=self.gamma, from_logits=self.from_logits,
                            label_smoothing=self.label_smoothing, axis=self.axis)


@LOSSES.register(aliases=("binary_focal_crossentropy",))
class BinaryFocalCrossentropy(_CrossEntropy):
    """mean of w (1 - p_t)^gamma bce(t, p), p_t = t p + (1 - t)(1 - p), w = t alpha +
    (1 - t)(1 - alpha) with apply_class_balancing, else 1; sigmoid first with
    from_logits; smoothed targets t (1 - s) + s / 2 (Keras). `axis` (the axis of Keras'
    mean) does not change the value: the batch mean is over all outputs."""
    default_name = "binary_focal_crossentropy"
    target = "binary"
    logits_activation = "sigmoid"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, name=None, reduction="sum_over_batch_size"):
        super().__init__(from_logits, label_smoothing, name, reduction)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _check_unit(alpha, "alpha")
        self.gamma = float(gamma)
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}")
        self.axis = int(axis)

    def _targets(self, t):
        s = self.label_smoothing
        return t * (1.0 - s) + 0.5 * s if s else t

    def forward_backward(self, grad, y_pred, y_true):
        p, g = _rows(y_pred), _grad_rows(grad)
        t = self._targets(np.asarray(y_true, dtype=p.dtype).reshape(p.shape))
        return K.binary_focal(g, p, np.ascontiguousarray(t, dtype=p.dtype), self.alpha,
                              self.gamma, self.apply_class_balancing, self.from_logits, _eps())

    def per_sample(self, y_true, y_pred):
        p = _rows(y_pred).astype(np.float64)
        t = self._targets(np.asarray(y_true, dtype=np.float64).reshape(p.shape))
        return _np_binary_focal(t, p, self.alpha, self.gamma, self.apply_class_balancing,
                                self.from_logits).mean(axis=1)

    def get_config(self):
        return self._config(apply_class_balancing=self.apply_class_balancing, alpha=self.alpha,
                            gamma=self.gamma, from_logits=self.from_logits,
                            label_smoothing=self.label_smoothing, axis=self.axis)


def _check_axes(axis, what):
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    try:
        axes = tuple(int(a) for a in axes)
    except (TypeError, ValueError):
        raise TypeError(f"{what} axis must be None, an int or a tuple of ints, got {axis!r}") from None
    if not axes:
        raise ValueError(f"{what} axis must name at least one axis, got {axis!r}")
    return axes


class _Overlap(Loss):
    """Dice / Tversky: one value per group of outputs summed over `axis` (None: the whole
    batch is one group, as Keras' default); the batch mean is the mean over groups."""
    target = "binary"
    _dice = False
    alpha = beta = 0.5

    def _layout(self, shape):
        """(permutation putting the reduced axes last, or None for the whole batch)."""
        if self.axis is None:
            return None
        nd = len(shape)
        if any(not -nd <= a < nd for a in self.axis):
            raise ValueError(f"{self.name}: axis={self.axis} does not fit predictions of "
                             f"shape {tuple(shape)}")
        axes = sorted({a % nd for a in self.axis})
        if 0 in axes:
            if len(axes) == nd:
                return None
            raise ValueError(f"{self.name}: axis={self.axis} mixes the batch axis with others")
        return [a for a in range(nd) if a not in axes] + axes

    def _batchwide(self, y_pred):
        return self._layout(np.shape(y_pred)) is None

    def _grouped(self, a, perm):
        """a as (G, M) groups, C-contiguous."""
        a = np.asarray(a)
        if perm is None:
            return np.ascontiguousarray(a).reshape(1, -1)
        m = int(np.prod([a.shape[i] for i in perm[len(perm) - len(self.axis):]]))
        return np.ascontiguousarray(a.transpose(perm)).reshape(-1, m)

    def forward_backward(self, grad, y_pred, y_true):
        perm = self._layout(y_pred.shape)
        t = np.asarray(y_true, dtype=y_pred.dtype).reshape(y_pred.shape)
        p2, t2 = self._grouped(y_pred, perm), self._grouped(t, perm)
        _grad_rows(grad)  # the buffer check
        if perm is None or perm == sorted(perm):
            return K.overlap(grad.reshape(p2.shape), p2, t2, self.alpha, self.beta,
                             self._dice, _eps())
        g2 = np.empty_like(p2)
        value = K.overlap(g2, p2, t2, self.alpha, self.beta, self._dice, _eps())
        grad[...] = g2.reshape([y_pred.shape[i] for i in perm]).transpose(np.argsort(perm))
        return value

    def per_sample(self, y_true, y_pred):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        t = np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape)
        perm = self._layout(y_pred.shape)
        values = _np_overlap(t, y_pred, self.alpha, self.beta, self._dice,
                             None if perm is None else tuple(self.axis))
        if perm is None:
            return np.full(len(y_pred) if y_pred.ndim else 1, float(values))
        return values.reshape(len(y_pred), -1).mean(axis=1)


@LOSSES.register(aliases=("dice",))
class Dice(_Overlap):
    """1 - 2 sum(t p) / (sum t + sum p + eps) over `axis` (None: everything) (Keras)."""
    default_name = "dice"
    _dice = True

    def __init__(self, name=None, axis=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.axis = _check_axes(axis, "Dice")

    def get_config(self):
        return self._config(axis=None if self.axis is None else list(self.axis))


@LOSSES.register(aliases=("tversky",))
class Tversky(_Overlap):
    """1 - I / (I + alpha sum((1 - p) t) + beta sum(p (1 - t)) + eps), I = sum(t p), over
    `axis` (None: everything) (Keras' definition and names of the two terms)."""
    default_name = "tversky"

    def __init__(self, alpha=0.5, beta=0.5, name=None, axis=None,
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.alpha, self.beta = float(alpha), float(beta)
        self.axis = _check_axes(axis, "Tversky")

    def get_config(self):
        return self._config(alpha=self.alpha, beta=self.beta,
                            axis=None if self.axis is None else list(self.axis))


# ------------------------------------------------------------------ function forms
# Keras 3's loss functions: per-sample values (the last axis reduced, shape
# y_pred.shape[:-1]), in y_pred's float dtype. nbnet.losses.get maps each to its class.

def _fn_inputs(y_true, y_pred):
    """float64 (t, p) with Keras' rank fix ((N,) against (N, 1)), and the output dtype."""
    y_pred = np.asarray(y_pred)
    dtype = _float_dtype(y_pred)
    p = y_pred.astype(np.float64)
    t = np.asarray(y_true, dtype=np.float64)
    if t.ndim == p.ndim + 1 and t.shape[-1] == 1:
        t = t[..., 0] if p.ndim != 1 else t
        p = p[:, None] if p.ndim == 1 else p
    elif p.ndim == t.ndim + 1 and p.shape[-1] == 1:
        t = t[:, None] if t.ndim == 1 else t
        p = p if t.ndim == p.ndim else p[..., 0]
    return t, p, dtype


def _by_rows(fn, t, p, axis=-1):
    """Apply a row function fn(t2, p2) -> (R,) along `axis` -> the remaining shape."""
    t, p = np.moveaxis(np.broadcast_to(t, p.shape), axis, -1), np.moveaxis(p, axis, -1)
    shape = p.shape[:-1]
    return fn(t.reshape(-1, p.shape[-1]), p.reshape(-1, p.shape[-1])).reshape(shape)


def _out(values, dtype):
    return np.asarray(values).astype(dtype)


def mean_squared_error(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean((t - p) ** 2, axis=-1), dt)


def mean_absolute_error(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(np.abs(t - p), axis=-1), dt)


def mean_absolute_percentage_error(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(_np_mape(t, p), axis=-1), dt)


def mean_squared_logarithmic_error(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(_np_msle(t, p), axis=-1), dt)


def huber(y_true, y_pred, delta=1.0):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(Huber(delta)._elementwise(p - t), axis=-1), dt)


def log_cosh(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(_np_log_cosh(t, p), axis=-1), dt)


def poisson(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(_np_poisson(t, p), axis=-1), dt)


def hinge(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(_np_hinge(_hinge_labels(t), p), axis=-1), dt)


def squared_hinge(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(np.mean(_np_squared_hinge(_hinge_labels(t), p), axis=-1), dt)


def kl_divergence(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(_by_rows(_np_kld_rows, t, p), dt)


def categorical_hinge(y_true, y_pred):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(_by_rows(_np_categorical_hinge_rows, t, p), dt)


def cosine_similarity(y_true, y_pred, axis=-1):
    t, p, dt = _fn_inputs(y_true, y_pred)
    return _out(_by_rows(_np_cosine_rows, t, p, axis), dt)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    t, p, dt = _fn_inputs(y_true, y_pred)
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        e = np.maximum(p, 0.0) - p * t + np.log1p(np.exp(-np.abs(p)))
    else:
        q = np.clip(p, _eps(), 1.0 - _eps())
        e = -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
    return _out(np.mean(e, axis=axis), dt)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    t, p, dt = _fn_inputs(y_true, y_pred)
    k = p.shape[axis]
    t = t * (1.0 - label_smoothing) + label_smoothing / k

    def rows(t2, p2):
        return _ce_rows(p2, t2, from_logits)
    return _out(_by_rows(rows, t, p, axis), dt)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    y_pred = np.asarray(y_pred)
    p = np.moveaxis(y_pred, axis, -1).astype(np.float64)
    labels = np.asarray(y_true)
    if labels.ndim == p.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    labels = labels.astype(np.int64).reshape(p.shape[:-1])
    t = np.eye(p.shape[-1])[labels]
    return _out(_by_rows(lambda t2, p2: _ce_rows(p2, t2, from_logits), t, p), _float_dtype(y_pred))


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    t, p, dt = _fn_inputs(y_true, y_pred)
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    e = _np_binary_focal(t, p, alpha, gamma, apply_class_balancing, from_logits)
    return _out(np.mean(e, axis=axis), dt)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    t, p, dt = _fn_inputs(y_true, y_pred)
    k = p.shape[axis]
    t = t * (1.0 - label_smoothing) + label_smoothing / k
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (k,))

    def rows(t2, p2):
        return _np_categorical_focal_rows(t2, p2, a, gamma, from_logits)
    return _out(_by_rows(rows, t, p, axis), dt)


def dice(y_true, y_pred, axis=None):
    y_pred = np.asarray(y_pred)
    t = np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape)
    axes = _check_axes(axis, "dice")
    return _out(_np_overlap(t, y_pred.astype(np.float64), 0.5, 0.5, True, axes), _float_dtype(y_pred))


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    y_pred = np.asarray(y_pred)
    t = np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape)
    axes = _check_axes(axis, "tversky")
    return _out(_np_overlap(t, y_pred.astype(np.float64), alpha, beta, False, axes),
                _float_dtype(y_pred))


_FUNCTION_CLASSES = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, huber: Huber,
    log_cosh: LogCosh, poisson: Poisson, hinge: Hinge, squared_hinge: SquaredHinge,
    kl_divergence: KLDivergence, categorical_hinge: CategoricalHinge,
    cosine_similarity: CosineSimilarity, binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy, dice: Dice, tversky: Tversky,
}


def get(identifier):
    """A Loss, a Keras string ("mse", "categorical_crossentropy", ...), a class name, a
    registered class, a {"class_name", "config"} dict, or one of nbnet's loss functions
    (nb.losses.mean_squared_error, ...: its class with the defaults) -> a Loss instance."""
    if identifier is None:
        raise ValueError("a loss is needed, e.g. 'mse' or 'sparse_categorical_crossentropy'")
    if callable(identifier) and not isinstance(identifier, (Loss, type)):
        cls = _FUNCTION_CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"cannot use {getattr(identifier, '__name__', identifier)!r} as a loss: give a "
                f"loss name ({', '.join(LOSSES.names())}), a Loss instance or class, a "
                f"{{'class_name', 'config'}} dict, or one of nbnet's loss functions "
                f"(nb.losses.{', nb.losses.'.join(f.__name__ for f in _FUNCTION_CLASSES)})")
        return cls()
    return LOSSES.get(identifier)


def deserialize(spec):
    return LOSSES.deserialize(spec)


def serialize(loss):
    """Loss -> JSON-able {"class_name", "config"} (get() reads it back)."""
    return LOSSES.serialize(get(loss))
