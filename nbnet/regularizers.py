"""Weight regularizers (Keras 3): a penalty added to the loss, and its gradient added to
the weight's gradient at each training step.

    L1(l1=0.01)             l1 * sum(|w|)                  grad l1 * sign(w)
    L2(l2=0.01)             l2 * sum(w^2)                  grad 2 * l2 * w
    L1L2(l1=0.0, l2=0.0)    both
    OrthogonalRegularizer(factor=0.01, mode="rows")
                            factor * mean(|off-diagonal entries of W_n W_n^T|), W_n the
                            rows (or columns) of the 2-D kernel scaled to unit norm

Strings: "l1", "l2", "l1_l2" (Keras' aliases; "l1_l2" is L1L2(0.01, 0.01) as Keras'
l1_l2 function). As in Keras, the reported loss (fit's and evaluate's) is the data
loss plus the sum of the penalties (`model.losses` lists them).
"""
import numpy as np

from .registry import Registry


class Regularizer:
    def __call__(self, w):
        """The penalty (a float) of the array w."""
        raise NotImplementedError

    def add_gradient(self, grad, w):
        """grad += d penalty / d w (in place)."""
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


REGULARIZERS = Registry("regularizer", Regularizer)


def _check(v, name):
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = float("nan")
    if isinstance(v, bool) or not np.isfinite(f) or f < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return f


@REGULARIZERS.register(aliases=("l1",))
class L1(Regularizer):
    def __init__(self, l1=0.01):
        self.l1 = _check(l1, "l1")

    def __call__(self, w):
        return self.l1 * float(np.sum(np.abs(w), dtype=np.float64))

    def add_gradient(self, grad, w):
        grad += grad.dtype.type(self.l1) * np.sign(w)

    def get_config(self):
        return {"l1": self.l1}


@REGULARIZERS.register(aliases=("l2",))
class L2(Regularizer):
    def __init__(self, l2=0.01):
        self.l2 = _check(l2, "l2")

    def __call__(self, w):
        return self.l2 * float(np.sum(np.square(w, dtype=np.float64)))

    def add_gradient(self, grad, w):
        grad += grad.dtype.type(2.0 * self.l2) * w

    def get_config(self):
        return {"l2": self.l2}


@REGULARIZERS.register()
class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _check(l1, "l1"), _check(l2, "l2")

    def __call__(self, w):
        return (self.l1 * float(np.sum(np.abs(w), dtype=np.float64)) +
                self.l2 * float(np.sum(np.square(w, dtype=np.float64))))

    def add_gradient(self, grad, w):
        if self.l1:
            grad += grad.dtype.type(self.l1) * np.sign(w)
        if self.l2:
            grad += grad.dtype.type(2.0 * self.l2) * w

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


@REGULARIZERS.register(aliases=("orthogonal_regularizer",))
class OrthogonalRegularizer(Regularizer):
    """Keras 3: with N the rows ("rows") or columns ("columns") of the 2-D kernel scaled
    to unit L2 norm and P = N N^T, penalty = factor * sum(|off-diagonal P|) / (k (k-1)),
    k the number of rows (columns)."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _check(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f"mode must be 'rows' or 'columns', got {mode!r}")
        self.mode = mode

    def _parts(self, w):
        if w.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D kernel, got shape {w.shape}")
        a = np.asarray(w, dtype=np.float64)
        a = a if self.mode == "rows" else a.T
        norms = np.sqrt(np.sum(a * a, axis=1, keepdims=True))
        n = a / np.maximum(norms, 1e-12)
        p = n @ n.T
        k = len(a)
        return a, norms, n, p, k

    def __call__(self, w):
        _, _, _, p, k = self._parts(w)
        if k < 2:
            return 0.0
        off = p * (1.0 - np.eye(k))              # the off-diagonal entries, as Keras
        return self.factor * float(np.sum(np.abs(off))) / (k * (k - 1))

    def add_gradient(self, grad, w):
        a, norms, n, p, k = self._parts(w)
        if k < 2:
            return
        s = np.sign(p * (1.0 - np.eye(k))) * (self.factor / (k * (k - 1)))
        dn = (s + s.T) @ n                                   # d penalty / d N
        # N = A / |A| row-wise: dA = (dN - N * sum(dN * N)) / |A|
        da = (dn - n * np.sum(dn * n, axis=1, keepdims=True)) / np.maximum(norms, 1e-12)
        grad += (da if self.mode == "rows" else da.T).astype(grad.dtype)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def get(identifier):
    if identifier == "l1_l2":
        return L1L2(l1=0.01, l2=0.01)
    return REGULARIZERS.get(identifier)


def serialize(regularizer):
    return None if regularizer is None else REGULARIZERS.serialize(regularizer)


def deserialize(spec):
    return REGULARIZERS.deserialize(spec)
