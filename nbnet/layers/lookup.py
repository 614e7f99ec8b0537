"""Categorical preprocessing layers (Keras 3): CategoryEncoding, StringLookup,
IntegerLookup, Discretization.

    CategoryEncoding   integer ids in [0, num_tokens) -> one_hot / multi_hot / count
    StringLookup       strings  -> indices into a vocabulary (or back, invert=True)
    IntegerLookup      integers -> indices into a vocabulary (or back, invert=True)
    Discretization     floats   -> bucket ids (np.digitize with the bin boundaries)
    Hashing            strings / integers -> hash bins (FarmHash64, or SipHash with a salt)

Index layout of the lookups, as Keras: [mask token (int mode only)] [num_oov_indices
OOV slots] [learned tokens]. adapt(data) counts the tokens; the vocabulary is sorted by
count, high to low, ties by the token itself, high to low (Keras' reversed lexsort of
(token, count)); it is truncated to max_tokens. TF-IDF weights are
log(1 + num_documents / (1 + document_count)); the OOV slots get their mean.

The layers take tokens (strings or integers), not values to differentiate: they have
no gradient (backward(need_dx=False) is None, backward otherwise raises). int outputs
are int64 (Discretization: int32, as Keras), the others are in the layer dtype.
Dense NumPy only: sparse=True is refused, as Keras refuses it off TensorFlow.
"""
import collections
import numbers
import os

import numpy as np

from ..errors import DataError
from ..kernels.hashing import fingerprint64, siphash24
from .base import Layer
from .node import call_symbolic, is_symbolic

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


# ------------------------------------------------------------------ helpers
def _check_int(value, name, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _check_mode(mode, owner, allowed):
    if mode == "binary":
        mode = "multi_hot"
    if mode == "tf-idf":
        mode = "tf_idf"
    if mode not in allowed:
        raise ValueError(f"{owner} output_mode must be one of {list(allowed)}, got {mode!r}")
    return mode


def _no_sparse(sparse, owner):
    if sparse:
        raise ValueError(f"{owner}: sparse=True is not supported (nbnet outputs dense NumPy "
                         "arrays, as Keras off the TensorFlow backend)")
    return False


def bincount_rows(rows, cols, n, depth, dtype, binary, weights=None):
    """(n, depth) counts of cols per row; entries outside [0, depth) are dropped (masked
    tokens). binary: 1 where the count is positive."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    ok = (cols >= 0) & (cols < depth)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    out = np.bincount(rows[ok] * depth + cols[ok], weights=w, minlength=n * depth)
    out = out.reshape(n, depth)
    if binary:
        out = out > 0
    return out.astype(dtype)


def encode_categorical(indices, mode, depth, dtype, count_weights=None):
    """Keras' encode_categorical_inputs on int64 indices: one_hot appends an axis (or
    replaces a trailing axis of size 1), multi_hot / count reduce the last axis (a 1-D
    input is one sample). Indices outside [0, depth) give no 1 (masked tokens)."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim == 0:
        idx = idx[None]
    if mode == "one_hot":
        if idx.ndim > 1 and idx.shape[-1] == 1:
            idx = idx[..., 0]
        out = np.zeros(idx.shape + (depth,), dtype=dtype)
        flat = idx.reshape(-1)
        ok = (flat >= 0) & (flat < depth)
        out.reshape(-1, depth)[np.nonzero(ok)[0], flat[ok]] = 1
        return out
    lead = idx.shape[:-1]
    k = idx.shape[-1]
    n = int(np.prod(lead)) if lead else 1
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    w = None
    if count_weights is not None:
        w = np.broadcast_to(np.asarray(count_weights, dtype=np.float64), idx.shape).reshape(-1)
    out = bincount_rows(rows, idx.reshape(-1), n, depth, dtype, mode == "multi_hot", w)
    return out.reshape(lead + (depth,))


def encoded_shape(input_shape, mode, depth):
    """The output shape of encode_categorical (int: unchanged)."""
    shape = tuple(input_shape)
    if mode == "int":
        return shape
    if not shape:
        return (depth,)
    if mode == "one_hot" and (len(shape) == 1 or shape[-1] != 1):
        return shape + (depth,)
    return shape[:-1] + (depth,)


def salt_pair(salt, owner):
    """Keras' salt: one integer (used twice) or a pair -> [k0, k1], the SipHash key
    (TensorFlow's int64 attribute: a negative value is its two's complement)."""
    if salt is None:
        return None
    pair = list(salt) if isinstance(salt, (tuple, list)) and len(salt) == 2 else [salt, salt]
    for v in pair:
        if (isinstance(v, bool) or not isinstance(v, numbers.Integral)
                or not -2 ** 63 <= v < 2 ** 63):
            raise ValueError(f"{owner}: salt must be one 64-bit integer or a pair of them "
                             f"(the SipHash key), got salt={salt!r}")
    return [int(v) for v in pair]


def hash_buckets(tokens, num_bins, salt=None, encoding="utf-8"):
    """Tokens (str, encoded with `encoding`, or bytes) -> int64 buckets in [0, num_bins):
    FarmHash Fingerprint64 of the bytes mod num_bins (TensorFlow's
    to_hash_bucket_fast), or SipHash-2-4 keyed by salt = [k0, k1] (to_hash_bucket_strong)."""
    data = [t if isinstance(t, bytes) else t.encode(encoding) for t in tokens]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    buf = np.frombuffer(b"".join(data), dtype=np.uint8)
    out = np.empty(len(data), dtype=np.uint64)
    if len(data):
        if salt is None:
            fingerprint64(out, buf, offsets)
        else:
            k0, k1 = (np.uint64(v % 2 ** 64) for v in salt)
            siphash24(out, buf, offsets, k0, k1)
    return (out % np.uint64(num_bins)).astype(np.int64)


def _as_int_array(x, owner):
    """Integer ids from ints, bools, or integral floats (what a model hands on)."""
    arr = np.asarray(x)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{owner}: inputs contain NaN or Inf")
        ints = arr.astype(np.int64)
        if not np.array_equal(ints, arr):
            raise DataError(f"{owner}: inputs must be integers, got non-integral values "
                            f"such as {arr[ints != arr].reshape(-1)[0]!r}")
        return ints
    raise DataError(f"{owner}: inputs must be integers, got an array of dtype {arr.dtype}")


class _TokenLayer(Layer):
    """Base of layers whose inputs are tokens: called on arrays without a cast to the
    float dtype, no gradient."""
    _abstract = True

    def __call__(self, x, training=False):
        if is_symbolic(x):
            return call_symbolic(self, x, False)
        x = self._input_array(x)
        if x.ndim >= 1:
            self._maybe_build(x.shape)
        else:
            self.built = True
        return np.array(self.forward(x, training=training), copy=True)

    def _input_array(self, x):
        return np.asarray(x)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        raise NotImplementedError(f"{self.name}: {type(self).__name__} has no gradient (its "
                                  "inputs are categories, not values); put it before the "
                                  "first trainable layer")


# ------------------------------------------------------------------ CategoryEncoding
class CategoryEncoding(_TokenLayer):
    """Integer ids in [0, num_tokens) -> one_hot (one vector per id), multi_hot (one
    vector per sample: 1 where an id occurs) or count (how often; count_weights, given
    to the call, weight each occurrence). Keras 3 semantics."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        self.output_mode = _check_mode(output_mode, "CategoryEncoding",
                                       ("count", "one_hot", "multi_hot"))
        if num_tokens is None:
            raise ValueError("CategoryEncoding: num_tokens must be set (to learn the ids "
                             "from data, use IntegerLookup)")
        self.num_tokens = _check_int(num_tokens, "CategoryEncoding num_tokens", 1)
        self.sparse = _no_sparse(sparse, "CategoryEncoding")

    def __call__(self, x, training=False, count_weights=None):
        if count_weights is None or is_symbolic(x):
            return super().__call__(x, training=training)
        x = self._input_array(x)
        if x.ndim >= 1:
            self._maybe_build(x.shape)
        return np.array(self.forward(x, training, count_weights=count_weights), copy=True)

    def forward(self, x, training=False, count_weights=None):
        ids = _as_int_array(x, self.name)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_tokens):
            bad = ids[(ids < 0) | (ids >= self.num_tokens)].reshape(-1)[0]
            raise DataError(f"{self.name}: CategoryEncoding inputs must be in [0, "
                            f"{self.num_tokens}) (num_tokens), got {int(bad)}")
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError("CategoryEncoding: count_weights is only used when "
                                 f"output_mode is 'count', not {self.output_mode!r}")
            count_weights = np.asarray(count_weights, dtype=self.dtype)
            if count_weights.shape != ids.shape:
                raise DataError(f"{self.name}: count_weights of shape {count_weights.shape} "
                                f"must match the inputs' shape {ids.shape}")
        return encode_categorical(ids, self.output_mode, self.num_tokens, self.dtype,
                                  count_weights)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(num_tokens=self.num_tokens, output_mode=self.output_mode, sparse=self.sparse)
        return cfg


# ------------------------------------------------------------------ the lookups
class _IndexLookup(_TokenLayer):
    """What StringLookup and IntegerLookup share (Keras' IndexLookup)."""
    _abstract = True
    _kind = "token"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, vocabulary_size=None,
                 has_input_vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.max_tokens = _check_int(max_tokens, f"{owner} max_tokens", allow_none=True)
        if self.max_tokens is not None and self.max_tokens <= 1:
            raise ValueError(f"{owner}: if set, max_tokens must be greater than 1, got "
                             f"max_tokens={max_tokens}")
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ValueError(f"{owner}: pad_to_max_tokens=True needs max_tokens")
        self.num_oov_indices = _check_int(num_oov_indices, f"{owner} num_oov_indices", 0)
        self.output_mode = _check_mode(output_mode, owner, _MODES)
        self.invert = bool(invert)
        if self.invert and self.output_mode != "int":
            raise ValueError(f"{owner}: output_mode must be 'int' when invert is True, got "
                             f"output_mode={self.output_mode!r}")
        self.sparse = _no_sparse(sparse, owner)
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError(f"{owner}: idf_weights is only used when output_mode is "
                             f"'tf_idf', not {self.output_mode!r}")
        self.mask_token = None if mask_token is None else self._token(mask_token, "mask_token")
        self.oov_token = None if oov_token is None else self._token(oov_token, "oov_token")
        self._has_input_vocabulary = (vocabulary is not None if has_input_vocabulary is None
                                      else bool(has_input_vocabulary))
        if (self.output_mode == "tf_idf" and vocabulary is not None and idf_weights is None):
            raise ValueError(f"{owner}: with a vocabulary in output_mode 'tf_idf', "
                             "idf_weights must be given too")
        self._tokens = []            # the learned / given tokens, in index order
        self._index = {}
        self._idf = None
        self._frozen_vocab_size = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -------------------------------------------------- tokens (per subclass)
    def _token(self, value, name):
        raise NotImplementedError

    def _tokens_of(self, arr):
        """A flat array of tokens -> a list of Python tokens (DataError if not tokens)."""
        raise NotImplementedError

    def _sort_key(self, token):
        return token

    # -------------------------------------------------- index layout
    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self):
        """The size of the vocabulary, mask and OOV slots included."""
        return self._token_start_index() + len(self._tokens)

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary in index order (with the mask and OOV tokens unless
        include_special_tokens=False)."""
        vocab = ([self.mask_token] * self._oov_start_index()
                 + [self.oov_token] * self.num_oov_indices + list(self._tokens))
        return vocab if include_special_tokens else vocab[self._token_start_index():]

    def _depth(self):
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self._frozen_vocab_size is None:
            raise RuntimeError(f"{self.name}: with output_mode={self.output_mode!r} and "
                               "pad_to_max_tokens=False, set the vocabulary before calling "
                               "the layer: pass vocabulary=, or call adapt() on sample data")
        return self._frozen_vocab_size

    def _record_vocabulary_size(self):
        new = self.vocabulary_size()
        if (self.output_mode != "int" and not self.pad_to_max_tokens
                and self._frozen_vocab_size is not None and new != self._frozen_vocab_size):
            raise RuntimeError(f"{self.name}: with output_mode={self.output_mode!r} and "
                               "pad_to_max_tokens=False the vocabulary size cannot change "
                               f"once set (was {self._frozen_vocab_size}, now {new})")
        self._frozen_vocab_size = new

    # -------------------------------------------------- vocabulary
    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list / tuple / 1-D array, or the path of a text file
        with one token a line) and, in tf_idf mode, the IDF weights (one per entry of
        `vocabulary`). The mask and OOV tokens may lead the list, in index order."""
        owner = type(self).__name__
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{owner}: idf_weights must be set when output_mode is "
                                 "'tf_idf'")
        elif idf_weights is not None:
            raise ValueError(f"{owner}: idf_weights is only used when output_mode is "
                             f"'tf_idf', not {self.output_mode!r}")
        if isinstance(vocabulary, (str, os.PathLike)):
            path = os.fspath(vocabulary)
            if self.output_mode == "tf_idf":
                raise ValueError(f"{owner}: output_mode 'tf_idf' cannot load a vocabulary "
                                 "from a file")
            if not os.path.isfile(path):
                raise ValueError(f"{owner} vocabulary: no such file {path!r}")
            with open(path, encoding=getattr(self, "encoding", "utf-8")) as f:
                lines = f.read().splitlines()
            while lines and lines[-1] == "":
                lines.pop()
            vocabulary = lines
        if isinstance(vocabulary, np.ndarray):
            if vocabulary.ndim != 1:
                raise ValueError(f"{owner} vocabulary must be 1-D, got shape {vocabulary.shape}")
            vocabulary = vocabulary.tolist()
        if not isinstance(vocabulary, (list, tuple)):
            raise TypeError(f"{owner} vocabulary must be a list, tuple, 1-D array or file "
                            f"path, got {type(vocabulary).__name__}")
        vocab = [self._token(v, "vocabulary") for v in vocabulary]
        if not vocab:
            raise ValueError(f"{owner}: cannot set an empty vocabulary")
        token_start = self._token_start_index()
        special = ([self.mask_token] * self._oov_start_index()
                   + [self.oov_token] * self.num_oov_indices)
        found_special = vocab[:token_start] == special
        tokens = vocab[token_start:] if found_special else vocab
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(f"{owner} vocabulary has repeated terms: {repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(f"{owner} vocabulary: the mask token {self.mask_token!r} may only "
                             f"lead the vocabulary, in this order: {special}")
        if self.invert and self.oov_token is not None and self.oov_token in tokens:
            raise ValueError(f"{owner} vocabulary: the OOV token {self.oov_token!r} may only "
                             f"lead the vocabulary, in this order: {special}")
        new_size = token_start + len(tokens)
        if self.max_tokens is not None and new_size > self.max_tokens:
            raise ValueError(f"{owner}: the vocabulary size {new_size} is larger than "
                             f"max_tokens={self.max_tokens}")
        idf = None
        if self.output_mode == "tf_idf":
            idf = np.asarray(idf_weights, dtype=np.float64)
            if idf.ndim != 1:
                raise ValueError(f"{owner} idf_weights must be 1-D, got shape {idf.shape}")
            if len(idf) != len(vocab):
                raise ValueError(f"{owner}: idf_weights must have the length of the "
                                 f"vocabulary ({len(vocab)}), got {len(idf)}")
            if not found_special:
                idf = np.concatenate([np.full(token_start, np.mean(idf)), idf])
        self._set_tokens(tokens)
        if idf is not None:
            self._set_idf(idf)
        self._record_vocabulary_size()

    def _set_tokens(self, tokens):
        self._tokens = list(tokens)
        start = self._token_start_index()
        self._index = {t: start + i for i, t in enumerate(self._tokens)}

    def _set_idf(self, idf):
        idf = np.asarray(idf, dtype=self.dtype)
        if self.pad_to_max_tokens:
            idf = np.concatenate([idf, np.zeros(self.max_tokens - len(idf), self.dtype)])
        self._idf = idf

    # -------------------------------------------------- adapt
    def adapt(self, data, steps=None):
        """Learn the vocabulary (and, in tf_idf mode, the document frequencies) from
        data: an array or list (each entry of a 1-D one is a document; rows of a 2-D
        one), a list of token lists (ragged), or an iterable of such batches."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer {self.name!r} after setting a static "
                             "vocabulary via the vocabulary argument")
        steps = _check_int(steps, "adapt steps", 1, allow_none=True)
        counts, docs = collections.Counter(), collections.Counter()
        ndocs = 0
        for rows in _adapt_batches(data, steps, self._tokens_of):
            for row in rows:
                counts.update(row)
                if self.output_mode == "tf_idf":
                    docs.update(set(row))
            ndocs += len(rows)
        self._finalize(counts, docs, ndocs)

    def _finalize(self, counts, docs, ndocs):
        if not counts:
            self._record_vocabulary_size()
            return
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(special, None)
        ranked = sorted(counts.items(), key=lambda tc: (tc[1], self._sort_key(tc[0])),
                        reverse=True)
        if self.max_tokens:
            ranked = ranked[:max(self.max_tokens - self._token_start_index(), 0)]
        self._set_tokens([t for t, _ in ranked])
        if self.output_mode == "tf_idf":
            dc = np.array([docs[t] for t, _ in ranked], dtype=np.float64)
            idf = np.log(1.0 + ndocs / (1.0 + dc)).astype(self.dtype)
            mean = np.mean(idf) if len(idf) else self.dtype.type(0)
            self._set_idf(np.concatenate([np.full(self._token_start_index(), mean,
                                                  dtype=self.dtype), idf]))
        self._record_vocabulary_size()

    # -------------------------------------------------- call
    def _lookup_flat(self, flat_tokens, raw):
        """Python tokens -> int64 ids (OOV handled); raw: the same as an array."""
        ids = np.fromiter((self._index.get(t, -1) for t in flat_tokens), dtype=np.int64,
                          count=len(flat_tokens))
        return ids

    def _oov_ids(self, flat, raw, where):
        """OOV slot (in [0, num_oov_indices)) of each flat token where `where`."""
        raise NotImplementedError

    def _lookup(self, x):
        """Tokens (any shape) -> int64 ids; masked tokens -> 0 (int mode) or -1 (dropped
        by the encodings)."""
        flat = self._tokens_of(x.reshape(-1))
        ids = self._lookup_flat(flat, x.reshape(-1))
        mask = None
        if self.mask_token is not None:
            mask = np.fromiter((t == self.mask_token for t in flat), dtype=bool, count=len(flat))
        oov = ids == -1
        if mask is not None:
            oov &= ~mask
        if oov.any():
            if self.num_oov_indices == 0:
                bad = [flat[i] for i in np.nonzero(oov)[0][:5]]
                raise DataError(f"{self.name}: with num_oov_indices=0 every input must be in "
                                f"the vocabulary; found out-of-vocabulary values {bad} "
                                "(consider num_oov_indices=1)")
            if self.num_oov_indices == 1:
                ids[oov] = self._oov_start_index()
            else:
                ids[oov] = self._oov_start_index() + self._oov_ids(flat, x.reshape(-1), oov)
        if mask is not None:
            ids[mask] = 0 if self.output_mode == "int" else -1
        return ids.reshape(x.shape)

    def _invert(self, x):
        idx = _as_int_array(x, self.name)
        vocab = self.get_vocabulary()
        out = [self.oov_token] * idx.size
        start = self._token_start_index()
        for i, j in enumerate(idx.reshape(-1).tolist()):
            if self.mask_token is not None and j == 0:
                out[i] = self.mask_token
            elif start <= j < len(vocab):
                out[i] = vocab[j]
        return self._token_array(out).reshape(idx.shape)

    def _token_array(self, tokens):
        return np.array(tokens)

    def forward(self, x, training=False):
        if self.invert:
            return self._invert(x)
        ids = self._lookup(np.asarray(x))
        if self.output_mode == "int":
            return ids
        depth = self._depth()
        out = encode_categorical(ids, "count" if self.output_mode == "tf_idf" else
                                 self.output_mode, depth, self.dtype)
        if self.output_mode == "tf_idf":
            if self._idf is None:
                raise RuntimeError(f"{self.name}: output_mode 'tf_idf' needs idf_weights: "
                                   "pass vocabulary= and idf_weights=, or call adapt()")
            out = out * self._idf[:depth]
        return out

    def compute_output_shape(self, input_shape):
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        return encoded_shape(input_shape, self.output_mode, depth)

    # -------------------------------------------------- config
    def _json_token(self, t):
        return t

    def get_config(self):
        cfg = super().get_config()
        has_vocab = bool(self._tokens)
        idf = None
        if has_vocab and self._idf is not None:
            idf = [float(v) for v in self._idf[:self.vocabulary_size()]]
        cfg.update(invert=self.invert, max_tokens=self.max_tokens,
                   num_oov_indices=self.num_oov_indices,
                   oov_token=None if self.oov_token is None else self._json_token(self.oov_token),
                   mask_token=(None if self.mask_token is None
                               else self._json_token(self.mask_token)),
                   output_mode=self.output_mode, sparse=self.sparse,
                   pad_to_max_tokens=self.pad_to_max_tokens, idf_weights=idf,
                   vocabulary=([self._json_token(t) for t in self.get_vocabulary()]
                               if has_vocab else None),
                   vocabulary_size=self.vocabulary_size() if has_vocab else None)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("vocabulary_size", None)   # recomputed from the vocabulary
        return cls(**config)


def _adapt_batches(data, steps, tokens_of):
    """adapt's data -> lists of rows, each row a list of Python tokens (Keras: an array
    or list is one batch whose 1-D entries are each a document; other iterables yield
    batches, a 1-D batch being one document)."""
    def rows_of(batch, top):
        if isinstance(batch, (list, tuple)) and any(
                isinstance(e, (list, tuple, np.ndarray)) for e in batch):
            lens = {len(e) if isinstance(e, (list, tuple, np.ndarray)) else -1 for e in batch}
            if len(lens) > 1:   # ragged: a list of token lists
                return [tokens_of(np.asarray(e).reshape(-1)) for e in batch]
        arr = np.asarray(batch)
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 1:
            arr = arr[:, None] if top else arr[None, :]
        arr = arr.reshape(len(arr), -1)
        return [tokens_of(r) for r in arr]

    if isinstance(data, (list, tuple, np.ndarray)) or hasattr(data, "__array__"):
        yield rows_of(data, True)
        return
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        yield rows_of(data, True)
        return
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            break
        yield rows_of(batch, False)


class StringLookup(_IndexLookup):
    """Strings -> integer indices into a vocabulary (Keras 3). invert=True maps indices
    back to strings. Inputs: str / bytes (decoded with `encoding`) arrays of any shape.
    With num_oov_indices > 1 an OOV string goes to the FarmHash64 bucket of its bytes
    (SipHash-2-4 keyed by `salt` when given), as TensorFlow's hash-bucket ops."""
    raw_input_dtype = "string"   # first in a Sequential without an Input: takes strings

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", salt=None,
                 oov_method="floormod", **kwargs):
        if not isinstance(encoding, str):
            raise TypeError(f"StringLookup encoding must be a string, got {encoding!r}")
        self.encoding = encoding
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"StringLookup oov_method must be 'floormod' or 'farmhash', got "
                             f"{oov_method!r}")
        self.oov_method = oov_method     # strings always hash (Keras): kept for the config
        self.salt = salt_pair(salt, "StringLookup")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, **kwargs)

    def _token(self, value, name):
        if isinstance(value, bytes):
            return value.decode(self.encoding)
        if isinstance(value, str):
            return str(value)
        raise TypeError(f"StringLookup {name} must be a string, got {value!r}")

    def _tokens_of(self, arr):
        arr = np.asarray(arr)
        if arr.dtype.kind == "U":
            return [str(v) for v in arr.tolist()]
        if arr.dtype.kind == "S":
            return [v.decode(self.encoding) for v in arr.tolist()]
        if arr.dtype.kind == "O":
            out = []
            for v in arr.tolist():
                if isinstance(v, bytes):
                    v = v.decode(self.encoding)
                elif not isinstance(v, str):
                    raise DataError(f"{self.name}: StringLookup inputs must be strings, got "
                                    f"{v!r}")
                out.append(v)
            return out
        raise DataError(f"{self.name}: StringLookup inputs must be strings, got an array of "
                        f"dtype {arr.dtype}")

    def _sort_key(self, token):
        return token.encode("utf-8")   # TensorFlow compares the UTF-8 bytes

    def _oov_ids(self, flat, raw, where):
        return hash_buckets([flat[i] for i in np.nonzero(where)[0]], self.num_oov_indices,
                            self.salt, self.encoding)

    def _token_array(self, tokens):
        return np.array(tokens, dtype=object)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(encoding=self.encoding, oov_method=self.oov_method, salt=self.salt)
        return cfg


class IntegerLookup(_IndexLookup):
    """Integers -> indices into a vocabulary (Keras 3); invert=True maps back. With
    num_oov_indices > 1 an OOV value v goes to OOV slot v mod num_oov_indices
    (oov_method="floormod"), or to the FarmHash64 (SipHash-2-4 with a salt) bucket of
    its decimal text (oov_method="farmhash")."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ValueError("IntegerLookup: only vocabulary_dtype='int64' is supported, got "
                             f"vocabulary_dtype={vocabulary_dtype!r}")
        self.vocabulary_dtype = "int64"
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"IntegerLookup oov_method must be 'floormod' or 'farmhash', got "
                             f"{oov_method!r}")
        if salt is not None and oov_method != "farmhash":
            raise ValueError("IntegerLookup: salt can only be used with oov_method='farmhash', "
                             f"got oov_method={oov_method!r}")
        self.oov_method, self.salt = oov_method, salt_pair(salt, "IntegerLookup")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, **kwargs)
        if self.invert and self.oov_token is None:
            raise ValueError("IntegerLookup: invert=True needs an integer oov_token")

    def _token(self, value, name):
        if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return int(value)
        raise TypeError(f"IntegerLookup {name} must be an integer, got {value!r}")

    def _tokens_of(self, arr):
        return _as_int_array(arr, self.name).reshape(-1).tolist()

    def _set_tokens(self, tokens):
        super()._set_tokens(tokens)
        keys = np.array(self._tokens, dtype=np.int64)
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    def _lookup_flat(self, flat_tokens, raw):
        vals = np.asarray(flat_tokens, dtype=np.int64)
        ids = np.full(len(vals), -1, dtype=np.int64)
        if len(self._tokens) and len(vals):
            pos = np.minimum(np.searchsorted(self._sorted, vals), len(self._sorted) - 1)
            found = self._sorted[pos] == vals
            ids[found] = self._token_start_index() + self._order[pos[found]]
        return ids

    def _oov_ids(self, flat, raw, where):
        values = _as_int_array(raw, self.name)[where]
        if self.oov_method == "farmhash":   # the decimal text, as tf.strings.as_string
            return hash_buckets([str(v) for v in values.tolist()], self.num_oov_indices,
                                self.salt)
        return np.mod(values, self.num_oov_indices)

    def _token_array(self, tokens):
        return np.array(tokens, dtype=np.int64)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(vocabulary_dtype=self.vocabulary_dtype, oov_method=self.oov_method,
                   salt=self.salt)
        return cfg


# ------------------------------------------------------------------ Hashing
class Hashing(_TokenLayer):
    """Strings or integers -> hash bins in [0, num_bins) (Keras 3): FarmHash64 of the
    bytes (of the decimal text for integers; floats are truncated to integers first),
    or SipHash-2-4 keyed by `salt`. With mask_value, inputs equal to it go to bin 0 and
    the others to 1 + hash mod (num_bins - 1). int outputs are int64; one_hot /
    multi_hot / count encode the bins as CategoryEncoding does."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        if num_bins is None:
            raise ValueError("Hashing: num_bins must be set (a positive integer), got None")
        self.num_bins = _check_int(num_bins, "Hashing num_bins", 1)
        self.output_mode = _check_mode(output_mode, "Hashing",
                                       ("int", "one_hot", "multi_hot", "count"))
        if sparse and self.output_mode == "int":
            raise ValueError('Hashing: sparse may only be True if output_mode is "one_hot", '
                             f'"multi_hot" or "count", got output_mode={output_mode!r}')
        self.sparse = _no_sparse(sparse, "Hashing")
        self.mask_value = mask_value
        self.salt = salt_pair(salt, "Hashing")

    def _texts(self, flat):
        """A flat input array -> the values as Python objects, and the bytes to hash."""
        kind = flat.dtype.kind
        if kind == "f":
            if not np.all(np.isfinite(flat)):
                raise DataError(f"{self.name}: Hashing inputs contain NaN or Inf")
            values = flat.tolist()
            return values, [str(v) for v in flat.astype(np.int64).tolist()]
        if kind in "iu":
            values = flat.tolist()
            return values, [str(v) for v in values]
        if kind == "b":
            values = flat.tolist()
            return values, ["true" if v else "false" for v in values]
        if kind in "USO":
            values = flat.tolist()
            for v in values:
                if not isinstance(v, (str, bytes)):
                    raise DataError(f"{self.name}: Hashing inputs must be strings or numbers, "
                                    f"got {v!r}")
            return values, values
        raise DataError(f"{self.name}: Hashing inputs must be strings or numbers, got an "
                        f"array of dtype {flat.dtype}")

    def forward(self, x, training=False):
        x = np.asarray(x)
        values, texts = self._texts(x.reshape(-1))
        bins = self.num_bins
        if self.mask_value is not None and bins > 1:
            ids = hash_buckets(texts, bins - 1, self.salt) + 1
            ids[np.fromiter((v == self.mask_value for v in values), dtype=bool,
                            count=len(values))] = 0
        else:
            ids = hash_buckets(texts, bins, self.salt)
        ids = ids.reshape(x.shape)
        if self.output_mode == "int":
            return ids
        return encode_categorical(ids, self.output_mode, self.num_bins, self.dtype)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(num_bins=self.num_bins, salt=self.salt, mask_value=self.mask_value,
                   output_mode=self.output_mode, sparse=self.sparse)
        return cfg


# ------------------------------------------------------------------ Discretization
def _summarize(values, epsilon):
    """Keras' quantile summary of one batch: every step-th sorted value (step =
    max(n * epsilon, 1), from index step - 1), each weighted by step."""
    values = np.sort(np.reshape(values, -1))
    step = max(values.size * epsilon, 1)
    picked = values[int(step - 1)::int(step)]
    return np.stack([picked, np.ones_like(picked) * step])


def _compress(summary, epsilon):
    """Interpolate the cumulative weights at the quantiles epsilon, 2 epsilon, ... 1."""
    if summary.shape[1] * epsilon < 1:
        return summary
    q = epsilon + np.arange(0.0, 1.0, epsilon)
    cum = summary[1].cumsum()
    frac = cum / cum[-1]
    values = np.interp(q, frac, summary[0])
    cum_q = np.interp(q, frac, cum)
    weights = cum_q - np.concatenate((np.array([0]), cum_q[:-1]))
    return np.stack((values, weights)).astype("float32")


def _merge(new, old, epsilon):
    merged = np.concatenate((new, old), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return _compress(merged, epsilon)


class Discretization(_TokenLayer):
    """Floats -> bucket ids: id i where bin_boundaries[i-1] <= x < bin_boundaries[i]
    (np.digitize), then int (int32, as Keras) / one_hot / multi_hot / count. adapt(data)
    sets num_bins - 1 boundaries at the quantiles 1/num_bins, 2/num_bins, ... by Keras'
    summary (sorted values, compressed to 1/epsilon points, linear interpolation of the
    cumulative counts)."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, **kwargs):
        super().__init__(**kwargs)
        self.sparse = _no_sparse(sparse, "Discretization")
        self.output_mode = _check_mode(output_mode, "Discretization",
                                       ("int", "one_hot", "multi_hot", "count"))
        self.num_bins = _check_int(num_bins, "Discretization num_bins", 0, allow_none=True)
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError("Discretization: set num_bins or bin_boundaries, not both; got "
                             f"num_bins={num_bins} and bin_boundaries={bin_boundaries}")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("Discretization: set either num_bins or bin_boundaries")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not (
                0 < epsilon <= 1):
            raise ValueError(f"Discretization epsilon must be a number in (0, 1], got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.bin_boundaries = None if bin_boundaries is None else self._boundaries(bin_boundaries)
        self._summary = np.array([[], []], dtype="float32")

    @staticmethod
    def _boundaries(b):
        try:
            arr = np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"Discretization bin_boundaries must be a list of numbers, got "
                            f"{b!r}") from None
        if arr.ndim != 1:
            raise ValueError(f"Discretization bin_boundaries must be a flat list, got {b!r}")
        if np.any(np.diff(arr) < 0):
            raise ValueError(f"Discretization bin_boundaries must be sorted, got {b!r}")
        return arr.tolist()

    def adapt(self, data, steps=None):
        """Boundaries from the quantiles of data (an array, or an iterable of batches)."""
        if self.num_bins is None:
            raise ValueError("Cannot adapt a Discretization layer built with bin_boundaries; "
                             "use num_bins instead")
        steps = _check_int(steps, "adapt steps", 1, allow_none=True)
        # as Keras: an array is one batch; any other iterable (a list too) yields batches
        batches = [data] if isinstance(data, np.ndarray) or not hasattr(data, "__iter__") else data
        summary = np.array([[], []], dtype="float32")
        for i, b in enumerate(batches):
            if steps is not None and i >= steps:
                break
            try:
                values = np.array(b).astype("float32")
            except (TypeError, ValueError):
                raise DataError("Discretization.adapt: data must be numeric") from None
            if values.size and not np.all(np.isfinite(values)):
                raise DataError("Discretization.adapt: data contains NaN or Inf")
            summary = _merge(_summarize(values, self.epsilon), summary, self.epsilon)
        if summary.shape[1] == 0:
            raise ValueError("Discretization.adapt: got no data")
        self._summary = summary
        self.bin_boundaries = _compress(summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def _depth(self):
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    def forward(self, x, training=False):
        if self.bin_boundaries is None:
            raise ValueError(f"{self.name}: pass bin_boundaries, or call adapt(data), before "
                             "calling the Discretization layer")
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise DataError(f"{self.name}: Discretization inputs must be numeric, got dtype "
                            f"{arr.dtype}")
        arr = arr.astype(self.dtype, copy=False)
        bins = np.asarray(self.bin_boundaries, dtype=self.dtype)
        ids = np.digitize(arr, bins) if bins.size else np.zeros(arr.shape, np.int64)
        if self.output_mode == "int":
            return ids.astype(np.int32)
        return encode_categorical(ids, self.output_mode, self._depth(), self.dtype)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self._depth())

    def get_config(self):
        cfg = super().get_config()
        cfg.update(bin_boundaries=self.bin_boundaries, num_bins=self.num_bins,
                   epsilon=self.epsilon, output_mode=self.output_mode, sparse=self.sparse)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            bounds = config.pop("bin_boundaries")   # an adapted layer, as Keras restores it
            layer = cls(**config)
            layer.bin_boundaries = cls._boundaries(bounds)
            return layer
        return cls(**config)
