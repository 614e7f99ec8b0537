"""Losses (Keras 3 names; reduction: the mean over the batch).

Every loss answers two calls:
    loss(y_true, y_pred) -> float                  Keras order, any array-likes
    loss.forward_backward(grad, y_pred, y_true)    the model's fast path: writes
        dL/dy_pred into the preallocated `grad` (same shape as y_pred) and returns
        the batch mean. y_true is int64 (N,) for sparse losses, floats otherwise.
Cross-entropies also give `with_logits()`: the same loss computed from logits, used by
the model to fuse a final softmax / sigmoid into the loss (gradient p - y).
"""
import copy

import numpy as np

from . import config
from .errors import DataError
from .kernels import losses as K


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


def _float_dtype(a):
    a = np.asarray(a)
    return a.dtype if a.dtype in (np.float32, np.float64) else np.dtype(config.floatx())


class Loss:
    """Base class: subclasses implement forward_backward and get_config."""
    is_sparse = False
    logits_activation = None   # "softmax" / "sigmoid" for cross-entropies
    default_name = "loss"

    def __init__(self, name=None):
        self.name = name or self.default_name

    def __call__(self, y_true, y_pred):
        y_pred = np.ascontiguousarray(y_pred, dtype=_float_dtype(y_pred))
        if self.is_sparse:
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
        grad = np.empty_like(y_pred)
        return self.forward_backward(grad, y_pred, y_true)

    def forward_backward(self, grad, y_pred, y_true):
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


class _CrossEntropy(Loss):
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


class CategoricalCrossentropy(_CrossEntropy):
    """-sum_k t_k log p_k over one-hot (or soft) targets (N, K)."""
    default_name = "categorical_crossentropy"
    logits_activation = "softmax"

    def forward_backward(self, grad, y_pred, y_true):
        k = y_pred.shape[-1]
        p, g = _rows(y_pred, k), _grad_rows(grad, k)
        t = _rows(np.asarray(y_true, dtype=p.dtype), k)
        if self.from_logits:
            return K.softmax_ce_dense(g, p, t, self.label_smoothing)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return K.ce_from_probs(g, p, t, float(config.epsilon()))


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with integer labels (N,) in [0, K)."""
    default_name = "sparse_categorical_crossentropy"
    logits_activation = "softmax"
    is_sparse = True

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


class BinaryCrossentropy(_CrossEntropy):
    """Mean over all outputs of -(y log p + (1-y) log(1-p)); smoothing y -> y(1-s) + s/2."""
    default_name = "binary_crossentropy"
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


class _Pointwise(Loss):
    def _args(self):
        return ()

    def forward_backward(self, grad, y_pred, y_true):
        p, g = _rows(y_pred), _grad_rows(grad)
        t = np.ascontiguousarray(np.asarray(y_true, dtype=p.dtype).reshape(p.shape))
        return self._kernel(g, p, t, *self._args())


class MeanSquaredError(_Pointwise):
    default_name = "mean_squared_error"
    _kernel = staticmethod(K.mse)


class MeanAbsoluteError(_Pointwise):
    default_name = "mean_absolute_error"
    _kernel = staticmethod(K.mae)


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

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


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

    def get_config(self):
        return {"name": self.name, "beta": self.beta}


_CLASSES = {c.__name__: c for c in (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
    MeanSquaredError, MeanAbsoluteError, Huber, SmoothL1)}

_STRINGS = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber, "smooth_l1": SmoothL1,
}


def get(identifier):
    """A Loss, a Keras string ("mse", "categorical_crossentropy", ...), a class name, or
    a {"class_name", "config"} dict -> a Loss instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _STRINGS.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; known: {', '.join(sorted(_STRINGS))}")
        return cls()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(dict(identifier.get("config", {})))
    if isinstance(identifier, type) and identifier in _CLASSES.values():
        return identifier()
    raise ValueError(f"cannot interpret {identifier!r} as a loss")


def serialize(loss):
    """Loss -> JSON-able {"class_name", "config"} (get() reads it back)."""
    loss = get(loss)
    return {"class_name": type(loss).__name__, "config": loss.get_config()}
