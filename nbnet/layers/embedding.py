"""Embedding and Masking (Keras 3 semantics).

Embedding(input_dim, output_dim): x holds token ids (any shape; floats, as the model
casts its input to its dtype, or integers); y = embeddings[x], shape x.shape +
(output_dim,). Ids that are not integers in [0, input_dim) raise nb.DataError (a
ValueError) naming the layer and the value. backward writes d embeddings (a race-free,
fixed-order scatter-add: nbnet/kernels/embedding.py) and returns None: the ids have no
gradient, whatever need_dx says. mask_zero=True: the output's mask is x != 0.

Masking(mask_value=0.0): a time step (the last axis' vector) equal to mask_value
everywhere is masked: y = x where any(x != mask_value, axis=-1), else 0; the output's
mask is that `any`, and backward passes dy through the same selection.
"""
import warnings

import numpy as np

from .. import constraints, initializers, regularizers
from ..errors import DataError
from ..kernels import embedding as K
from .base import Layer


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"Embedding {what} must be a positive integer, got {value!r}")
    return int(value)


class Embedding(Layer):
    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 activity_regularizer=None, input_length=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        if lora_rank is not None or lora_alpha is not None:
            raise NotImplementedError("Embedding(lora_rank=...) (LoRA) is not supported")
        if quantization_config is not None:
            raise NotImplementedError("Embedding(quantization_config=...) is not supported")
        if input_length is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.")
        self.embeddings_initializer = embeddings_initializer
        initializers.get(embeddings_initializer)  # fail early on an unknown name
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.mask_zero = bool(mask_zero)
        # Keras: supports_masking = mask_zero; the mask it makes comes from the ids
        self.supports_masking = self.produces_mask = self.mask_zero
        self.embeddings = None
        if weights is not None:
            self.build(None)
            self.built = True
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape):
        if self.embeddings is None:
            self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                              self.embeddings_initializer,
                                              regularizer=self.embeddings_regularizer,
                                              constraint=self.embeddings_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, x, mask):
        return np.not_equal(x, 0) if self.mask_zero else None

    def _indices(self, x):
        """x (any shape) -> validated int64 ids (M,)."""
        flat = np.ascontiguousarray(x).reshape(-1)
        idx = self.buffer("idx", flat.shape, np.int64)
        if flat.size == 0:
            return idx
        if flat.dtype.kind in "iub":
            lo, hi = flat.min(), flat.max()
            if lo < 0 or hi >= self.input_dim:
                bad = lo if lo < 0 else hi
                raise DataError(f"{self.name}: token id {bad} is out of range [0, "
                                f"{self.input_dim}) (input_dim={self.input_dim})")
            np.copyto(idx, flat, casting="unsafe")
            return idx
        if flat.dtype not in (np.float32, np.float64):
            flat = flat.astype(np.float64)
        bad = K.embedding_indices(idx, flat, self.input_dim)
        if bad >= 0:
            v = float(flat[bad])
            if np.isfinite(v) and v == np.floor(v):
                v, why = int(v), f"out of range [0, {self.input_dim}) (input_dim={self.input_dim})"
            else:
                why = "out of range" if np.isinf(v) else "not an integer"
            raise DataError(f"{self.name}: token id {v!r} at flat position {bad} is {why}")
        return idx

    def forward(self, x, training=False):
        x = np.asarray(x)
        idx = self._indices(x)
        W = self.embeddings.value
        y = self.buffer("y", x.shape + (self.output_dim,))
        K.embedding_forward(y.reshape(-1, self.output_dim), W, idx)
        self._idx, self._out_shape = idx, y.shape
        return y

    def backward(self, dy, need_dx=True):
        """Writes the embeddings' gradient (when trainable); returns None: token ids have
        no gradient (need_dx is irrelevant)."""
        if self.trainable:
            idx = self._idx
            dy2 = np.ascontiguousarray(dy, dtype=self.dtype).reshape(-1, self.output_dim)
            start = self.buffer("start", (self.input_dim + 1,), np.int64)
            order = self.buffer("order", idx.shape, np.int64)
            K.embedding_backward(self.embeddings.grad, start, order, dy2, idx)
        return None

    def get_config(self):
        cfg = super().get_config()
        init = self.embeddings_initializer
        cfg.update(input_dim=self.input_dim, output_dim=self.output_dim,
                   embeddings_initializer=init if isinstance(init, dict)
                   else initializers.serialize(init),
                   mask_zero=self.mask_zero)
        for key in ("embeddings_regularizer", "activity_regularizer"):
            if getattr(self, key) is not None:
                cfg[key] = regularizers.serialize(getattr(self, key))
        if self.embeddings_constraint is not None:
            cfg["embeddings_constraint"] = constraints.serialize(self.embeddings_constraint)
        return cfg


class Masking(Layer):
    supports_masking = True
    produces_mask = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise ValueError(f"Masking mask_value must be a number, got {mask_value!r}") from None

    def compute_mask(self, x, mask):
        return np.any(np.not_equal(x, self.mask_value), axis=-1)

    def forward(self, x, training=False):
        x = np.ascontiguousarray(x)
        keep = self.buffer("keep", x.shape[:-1] + (1,), bool)
        np.any(np.not_equal(x, self.mask_value), axis=-1, keepdims=True, out=keep)
        y = self.buffer("y", x.shape, x.dtype)
        np.copyto(y, 0)
        np.copyto(y, x, where=keep)  # y = x on kept steps, 0 elsewhere (Keras' where)
        self._keep = keep
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy)
        dx = self.buffer("dx", dy.shape, dy.dtype)
        np.copyto(dx, 0)
        np.copyto(dx, dy, where=self._keep)
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(mask_value=self.mask_value)
        return cfg
