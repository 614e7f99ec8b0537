"""LayerNormalization and GroupNormalization (Keras 3 semantics), on
nbnet/kernels/layernorm.py.

LayerNormalization(axis=-1): per sample, statistics over the `axis` axes (an int or a
list); gamma and beta span those axes:
    y = gamma * (x - mean) / sqrt(var + eps) + beta                     (biased variance)
    rms_scaling=True (deprecated in Keras 3, kept exactly): y = gamma * x / sqrt(var + eps),
    x NOT centred, var still the variance around the mean; no beta weight, and gamma
    exists even with scale=False (as Keras builds it).
Trailing axes are flattened into rows for the kernel; other axes are first moved last
(a copy), so any axis list works.

GroupNormalization(groups=32, axis=-1): channels last, any rank >= 2; the C channels
split into `groups` groups, statistics per sample and group over all other axes and
the group's channels; gamma and beta per channel. groups=-1: one group per channel
(instance normalisation), as Keras.

Both are the same in training and inference (no moving statistics).
"""
import numpy as np

from .. import constraints, initializers, regularizers
from ..errors import DataError
from ..kernels import layernorm as K
from .base import Layer


def _init_config(init):
    return init if isinstance(init, dict) else initializers.serialize(init)


class _AffineNorm(Layer):
    """gamma / beta bookkeeping shared by the two layers."""
    supports_masking = True

    def _init_affine(self, epsilon, center, scale, beta_initializer, gamma_initializer,
                     beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
        self.epsilon = float(epsilon)
        if not self.epsilon > 0:
            raise ValueError(f"{type(self).__name__} epsilon must be > 0, got {epsilon!r}")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        initializers.get(beta_initializer)  # fail early on an unknown name
        initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def _add_affine(self, shape, with_gamma, with_beta):
        if with_gamma:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if with_beta:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        n = int(np.prod(shape))
        self._ones = np.ones(n, self.dtype)
        self._zeros = np.zeros(n, self.dtype)

    def _gamma_beta(self):
        gamma = self._ones if self.gamma is None else self.gamma.value.reshape(-1)
        beta = self._zeros if self.beta is None else self.beta.value.reshape(-1)
        return gamma, beta

    def _grad_targets(self):
        """Where the kernel writes dgamma / dbeta: the weights' grads, else scratch."""
        n = self._ones.shape[0]
        train = self.trainable
        dg = self.gamma.grad.reshape(-1) if train and self.gamma is not None else \
            self.buffer("dgamma", (n,))
        db = self.beta.grad.reshape(-1) if train and self.beta is not None else \
            self.buffer("dbeta", (n,))
        return dg, db

    def _affine_config(self):
        cfg = {"epsilon": self.epsilon, "center": self.center, "scale": self.scale,
               "beta_initializer": _init_config(self.beta_initializer),
               "gamma_initializer": _init_config(self.gamma_initializer)}
        for key in ("beta_regularizer", "gamma_regularizer"):
            if getattr(self, key) is not None:
                cfg[key] = regularizers.serialize(getattr(self, key))
        for key in ("beta_constraint", "gamma_constraint"):
            if getattr(self, key) is not None:
                cfg[key] = constraints.serialize(getattr(self, key))
        return cfg

    def flops(self, input_shape):
        # statistics (subtract, add, multiply-add) and normalise (subtract, two multiplies, add)
        return 8 * int(np.prod(input_shape[1:]))


class LayerNormalization(_AffineNorm):
    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = list(axis)
            ok = len(axis) > 0 and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                       for a in axis)
            axis = [int(a) for a in axis] if ok else axis
        else:
            ok = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
            axis = int(axis) if ok else axis
        if not ok:
            raise TypeError(f"LayerNormalization axis must be an int or a list of ints, "
                            f"got {axis!r}")
        self.axis = axis
        self.rms_scaling = bool(rms_scaling)
        self._init_affine(epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint,
                          gamma_constraint)

    def _axes(self, ndim):
        """The normalised axes, positive and sorted (never the batch axis 0)."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        out = []
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(f"{self.name}: axis {a} is out of bounds for an input of "
                                 f"rank {ndim} (axis={self.axis})")
            out.append(a % ndim)
        if len(set(out)) != len(out) or 0 in out:
            raise ValueError(f"{self.name}: axis={self.axis} must name distinct axes other "
                             f"than the batch axis 0, for an input of rank {ndim}")
        return sorted(out)

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = self._axes(ndim)
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: the normalised axes {axes} of input shape "
                             f"{tuple(input_shape)} must be known")
        shape = tuple(int(d) for d in shape)
        self._norm_axes, self._norm_shape = axes, shape
        rest = [a for a in range(ndim) if a not in axes]
        self._perm = rest + axes
        self._trailing = self._perm == list(range(ndim))
        self._inv_perm = list(np.argsort(self._perm))
        self._add_affine(shape, self.scale or self.rms_scaling,
                         self.center and not self.rms_scaling)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def _rows(self, a, key):
        """a as (M, D) rows of the normalised slices (a view when the axes trail)."""
        d = self._ones.shape[0]
        if self._trailing:
            return np.ascontiguousarray(a, dtype=self.dtype).reshape(-1, d)
        t = a.transpose(self._perm)
        buf = self.buffer(key, t.shape)
        np.copyto(buf, t)
        return buf.reshape(-1, d)

    def _unrows(self, rows, shape, key):
        """Rows back to the input's layout (shape)."""
        if self._trailing:
            return rows.reshape(shape)
        tshape = tuple(shape[a] for a in self._perm)
        out = self.buffer(key, shape)
        np.copyto(out, rows.reshape(tshape).transpose(self._inv_perm))
        return out

    def forward(self, x, training=False):
        ndim = x.ndim
        if ndim != len(self._perm) or \
                tuple(x.shape[a] for a in self._norm_axes) != self._norm_shape:
            raise DataError(f"{self.name}: expected an input of rank {len(self._perm)} with "
                            f"axes {self._norm_axes} of sizes {self._norm_shape}, got "
                            f"shape {x.shape}")
        x2 = self._rows(x, "xt")
        m = x2.shape[0]
        y2 = self.buffer("y2" if not self._trailing else "y", x2.shape)
        mean = self.buffer("mean", (m,), np.float64)
        inv_std = self.buffer("inv_std", (m,), np.float64)
        gamma, beta = self._gamma_beta()
        K.layernorm_forward(y2, mean, inv_std, x2, gamma, beta, self.epsilon, self.rms_scaling)
        self._x2, self._mean, self._inv_std, self._shape = x2, mean, inv_std, x.shape
        return self._unrows(y2, x.shape, "y")

    def backward(self, dy, need_dx=True):
        x2, mean, inv_std = self._x2, self._mean, self._inv_std
        dy2 = self._rows(dy, "dyt")
        dx2 = self.buffer("dx2" if not self._trailing else "dx", x2.shape)
        dg, db = self._grad_targets()
        gamma, _ = self._gamma_beta()
        K.layernorm_backward(dx2, dg, db, dy2, x2, mean, inv_std, gamma, self.rms_scaling)
        if not need_dx:
            return None
        return self._unrows(dx2, self._shape, "dx")

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, rms_scaling=self.rms_scaling, **self._affine_config())
        return cfg


class GroupNormalization(_AffineNorm):
    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or \
                (groups <= 0 and groups != -1):
            raise ValueError(f"GroupNormalization groups must be a positive integer (or -1 "
                             f"for instance normalisation), got {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"GroupNormalization axis must be an integer, got {axis!r}")
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.axis = int(axis)
        self._init_affine(epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint,
                          gamma_constraint)

    def build(self, input_shape):
        ndim = len(input_shape)
        if ndim < 2 or self.axis not in (-1, ndim - 1):
            raise ValueError(f"{self.name}: only the last axis (channels last) of an input of "
                             f"rank >= 2 is supported, got axis={self.axis} for input shape "
                             f"{tuple(input_shape)}")
        c = input_shape[-1]
        if c is None:
            raise ValueError(f"{self.name}: the last axis of the input must be known")
        c = int(c)
        if self.groups == -1:
            self.groups = c   # as Keras: the config then holds the channel count
        if c < self.groups:
            raise ValueError(f"{self.name}: the number of groups ({self.groups}) cannot be "
                             f"more than the number of channels ({c})")
        if c % self.groups:
            raise ValueError(f"{self.name}: the number of channels ({c}) must be a multiple "
                             f"of the number of groups ({self.groups})")
        self._channels = c
        self._add_affine((c,), self.scale, self.center)
        self.built = True

    def _view(self, a):
        n = a.shape[0]
        return np.ascontiguousarray(a, dtype=self.dtype).reshape(n, -1, self._channels)

    def forward(self, x, training=False):
        c = self._channels
        if x.ndim < 2 or x.shape[-1] != c:
            raise DataError(f"{self.name}: expected {c} channels on the last axis, got input "
                            f"of shape {x.shape}")
        x3 = self._view(x)
        y = self.buffer("y", x.shape)
        mean = self.buffer("mean", (x.shape[0], self.groups), np.float64)
        inv_std = self.buffer("inv_std", (x.shape[0], self.groups), np.float64)
        gamma, beta = self._gamma_beta()
        K.groupnorm_forward(y.reshape(x3.shape), mean, inv_std, x3, gamma, beta, self.groups,
                            self.epsilon)
        self._x3, self._mean, self._inv_std, self._shape = x3, mean, inv_std, x.shape
        return y

    def backward(self, dy, need_dx=True):
        x3 = self._x3
        dy3 = self._view(dy)
        dx = self.buffer("dx", self._shape)
        dg, db = self._grad_targets()
        gamma, _ = self._gamma_beta()
        K.groupnorm_backward(dx.reshape(x3.shape), dg, db, dy3, x3, self._mean, self._inv_std,
                             gamma, self.groups)
        return dx if need_dx else None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(groups=self.groups, axis=self.axis, **self._affine_config())
        return cfg
