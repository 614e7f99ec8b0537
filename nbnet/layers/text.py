"""TextVectorization (Keras 3): strings -> token ids or bag-of-words vectors.

    standardize   "lower_and_strip_punctuation" (default): ASCII lower case (as
                  tf.strings.lower), then delete the ASCII punctuation of Keras' regex
                  [!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'] (exactly string.punctuation);
                  "lower"; "strip_punctuation"; None; or a callable taking a NumPy
                  array of str and returning one (as Keras off TensorFlow)
    split         "whitespace" (runs of ASCII whitespace, no empty tokens), "character"
                  (Unicode code points), None (the whole string is one token), or a
                  callable taking a NumPy array of str and returning one token list
                  per string
    ngrams        n -> (1, ..., n); a tuple of widths: per width in order, the
                  space-joined n-grams of the token list (as tf.strings.ngrams)
    output_mode   "int": ids, padded with 0 (the mask "") / truncated to
                  output_sequence_length (or padded to the longest row);
                  "multi_hot" / "count" / "tf_idf" / "one_hot" (one_hot: split=None)

The vocabulary is a StringLookup's with mask_token "" and oov "[UNK]": in int mode
index 0 is "" and 1 is "[UNK]"; in the other modes index 0 is "[UNK]".
"""
import collections
import numbers
import re
import string

import numpy as np

from ..errors import DataError
from .lookup import StringLookup, _TokenLayer, bincount_rows, encode_categorical

_LOWER = {ord(c): ord(c.lower()) for c in string.ascii_uppercase}
_PUNCT = {ord(c): None for c in string.punctuation}
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")


class TextVectorization(_TokenLayer):
    """Keras 3 TextVectorization on NumPy arrays of strings (shape (N,) or (N, 1))."""
    raw_input_dtype = "string"   # first in a Sequential without an Input: takes strings

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8",
                 vocabulary_size=None, **kwargs):
        super().__init__(**kwargs)
        if not (standardize is None or callable(standardize) or standardize in _STANDARDIZE):
            raise ValueError(f"TextVectorization standardize must be one of {list(_STANDARDIZE)}, "
                             f"None or a callable, got {standardize!r}")
        if not (split is None or callable(split) or split in _SPLIT):
            raise ValueError(f"TextVectorization split must be one of {list(_SPLIT)}, None or a "
                             f"callable, got {split!r}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        modes = ("int", "one_hot", "multi_hot", "count", "tf_idf")
        if output_mode not in modes:
            raise ValueError(f"TextVectorization output_mode must be one of {list(modes)}, got "
                             f"{output_mode!r}")
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool))
                or (isinstance(ngrams, tuple) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError(f"TextVectorization ngrams must be None, an integer or a tuple of "
                             f"integers, got ngrams={ngrams!r}")
        if isinstance(ngrams, int) and ngrams < 1 or isinstance(ngrams, tuple) and any(
                n < 1 for n in ngrams):
            raise ValueError(f"TextVectorization ngrams must be positive, got {ngrams!r}")
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError("TextVectorization: output_sequence_length must not be set "
                                 f"when output_mode is not 'int' (got {output_mode!r})")
            if isinstance(output_sequence_length, bool) or not isinstance(
                    output_sequence_length, numbers.Integral) or output_sequence_length < 1:
                raise ValueError("TextVectorization output_sequence_length must be None or a "
                                 f"positive integer, got {output_sequence_length!r}")
            output_sequence_length = int(output_sequence_length)
        if sparse:
            raise ValueError("TextVectorization: sparse=True is not supported (as Keras off "
                             "the TensorFlow backend)")
        if ragged:
            raise ValueError("TextVectorization: ragged=True is not supported (as Keras off "
                             "the TensorFlow backend)")
        if not isinstance(encoding, str):
            raise TypeError(f"TextVectorization encoding must be a string, got {encoding!r}")
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            encoding=encoding, name=f"{self.name}_lookup", dtype=self.dtype)

    # -------------------------------------------------- read-only views (Keras names)
    max_tokens = property(lambda self: self._lookup_layer.max_tokens)
    pad_to_max_tokens = property(lambda self: self._lookup_layer.pad_to_max_tokens)
    output_mode = property(lambda self: self._output_mode)
    output_sequence_length = property(lambda self: self._output_sequence_length)

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    # -------------------------------------------------- preprocessing
    def _strings(self, x):
        """Input -> (array of str of the input's shape, was a scalar)."""
        arr = np.asarray(x)
        if arr.dtype.kind == "U":
            out = arr
        elif arr.dtype.kind == "S":
            out = np.char.decode(arr, self._encoding)
        elif arr.dtype.kind == "O":
            def one(v):
                if isinstance(v, bytes):
                    return v.decode(self._encoding)
                if not isinstance(v, str):
                    raise DataError(f"{self.name}: TextVectorization inputs must be strings, "
                                    f"got {v!r}")
                return v
            out = np.array([one(v) for v in arr.reshape(-1).tolist()], dtype=object).reshape(
                arr.shape)
        else:
            raise DataError(f"{self.name}: TextVectorization inputs must be strings, got an "
                            f"array of dtype {arr.dtype}")
        return out

    def _standardized(self, arr):
        std = self._standardize
        if std is None:
            return arr
        if callable(std):
            return np.asarray(std(np.asarray(arr, dtype=str)))
        flat = [str(s) for s in arr.reshape(-1).tolist()]
        if std in ("lower", "lower_and_strip_punctuation"):
            flat = [s.translate(_LOWER) for s in flat]
        if std in ("strip_punctuation", "lower_and_strip_punctuation"):
            flat = [s.translate(_PUNCT) for s in flat]
        return np.array(flat, dtype=object).reshape(arr.shape)

    def _preprocess(self, x):
        """strings -> (list of token lists, one per row) when split is set, or an array
        of tokens (split=None); and whether the input was a scalar."""
        arr = self._standardized(self._strings(x))
        scalar = arr.ndim == 0
        if self._split is None:
            return arr, scalar
        if scalar:
            arr = arr.reshape(1)
        if arr.ndim > 1:
            if arr.shape[-1] != 1:
                raise DataError(f"{self.name}: to split strings, TextVectorization inputs must "
                                f"have rank 1 or a last axis of size 1, got shape {arr.shape}")
            arr = arr[..., 0]
        if arr.ndim != 1:
            raise DataError(f"{self.name}: TextVectorization takes inputs of shape (N,) or "
                            f"(N, 1), got shape {arr.shape + (1,)}")
        strings = [str(s) for s in arr.tolist()]
        if self._split == "whitespace":
            rows = [[t for t in _WHITESPACE.split(s) if t] for s in strings]
        elif self._split == "character":
            rows = [list(s) for s in strings]
        else:
            rows = [[str(t) for t in r] for r in self._split(np.asarray(strings, dtype=str))]
            if len(rows) != len(strings):
                raise ValueError(f"{self.name}: the split callable must return one token list "
                                 f"per string, got {len(rows)} for {len(strings)}")
        if self._ngrams is not None:
            rows = [self._ngram_row(r) for r in rows]
        return rows, scalar

    def _ngram_row(self, tokens):
        out = []
        for n in self._ngrams:
            out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
        return out

    # -------------------------------------------------- adapt / call
    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (by count, high to low; ties by token, high to low) and,
        in tf_idf mode, the document frequencies: data is an array / list of strings,
        or an iterable of such batches."""
        lk = self._lookup_layer
        if lk._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer {self.name!r} after setting a static "
                             "vocabulary via the vocabulary argument")
        if isinstance(data, (list, tuple, np.ndarray, str, bytes)) or not hasattr(data, "__iter__"):
            arr = np.asarray(data)
            batches = [arr.reshape(-1, 1) if arr.ndim == 1 else arr]
        else:
            batches = data
        counts, docs, ndocs = collections.Counter(), collections.Counter(), 0
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            rows = self._rows_for_adapt(batch)
            for row in rows:
                counts.update(row)
                if self._output_mode == "tf_idf":
                    docs.update(set(row))
            ndocs += len(rows)
        lk._finalize(counts, docs, ndocs)

    def _rows_for_adapt(self, batch):
        tokens, scalar = self._preprocess(batch)
        if self._split is not None:
            return [tokens[0]] if scalar else tokens
        arr = np.asarray(tokens, dtype=object)
        if arr.ndim == 0:
            return [[str(arr.item())]]
        if arr.ndim == 1:
            arr = arr[None, :]       # a 1-D batch is one document (Keras' update_state)
        return [[str(t) for t in r] for r in arr.reshape(len(arr), -1).tolist()]

    def forward(self, x, training=False):
        tokens, scalar = self._preprocess(x)
        lk = self._lookup_layer
        if self._split is None:
            arr = np.asarray(tokens, dtype=object)
            if self._output_mode != "int" and arr.ndim <= 1:
                arr = arr.reshape(-1, 1)
            ids = lk._lookup(arr)
            if self._output_mode == "int":
                if self._output_sequence_length is not None:
                    ids = self._fit_length(ids if ids.ndim > 1 else ids.reshape(-1, 1))
                return ids
            return self._encode_ids(ids)
        n = len(tokens)
        lens = np.array([len(r) for r in tokens], dtype=np.int64)
        flat = np.array([t for r in tokens for t in r], dtype=object)
        ids = lk._lookup(flat) if flat.size else np.zeros(0, np.int64)
        rows = np.repeat(np.arange(n, dtype=np.int64), lens)
        if self._output_mode == "int":
            width = (self._output_sequence_length if self._output_sequence_length is not None
                     else int(lens.max()) if n else 0)
            out = np.zeros((n, width), dtype=np.int64)
            pos = np.arange(flat.size, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
            keep = pos < width
            out[rows[keep], pos[keep]] = ids[keep]
            return out[0] if scalar else out
        if self._output_mode == "one_hot":
            raise ValueError(f"{self.name}: output_mode 'one_hot' needs split=None (one token "
                             "per string)")
        depth = lk._depth()
        out = bincount_rows(rows, ids, n, depth, self.dtype, self._output_mode == "multi_hot")
        if self._output_mode == "tf_idf":
            out = self._apply_idf(out, depth)
        return out[0] if scalar else out

    def _fit_length(self, ids):
        L = self._output_sequence_length
        ids = ids[..., :L]
        if ids.shape[-1] < L:
            pad = [(0, 0)] * (ids.ndim - 1) + [(0, L - ids.shape[-1])]
            ids = np.pad(ids, pad)
        return ids

    def _apply_idf(self, counts, depth):
        idf = self._lookup_layer._idf
        if idf is None:
            raise RuntimeError(f"{self.name}: output_mode 'tf_idf' needs idf_weights: pass "
                               "vocabulary= and idf_weights=, or call adapt()")
        return counts * idf[:depth]

    def _encode_ids(self, ids):
        depth = self._lookup_layer._depth()
        mode = "count" if self._output_mode == "tf_idf" else self._output_mode
        out = encode_categorical(ids, mode, depth, self.dtype)
        if self._output_mode == "tf_idf":
            out = self._apply_idf(out, depth)
        return out

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            if len(input_shape) <= 1:
                input_shape = input_shape + (1,)
        else:
            input_shape = input_shape + (None,)
        return self._lookup_layer.compute_output_shape(input_shape)

    # -------------------------------------------------- config
    def get_config(self):
        for what, value in (("standardize", self._standardize), ("split", self._split)):
            if callable(value):
                raise TypeError(f"{self.name}: a callable {what} cannot be written to a JSON "
                                "config; use one of the named options to save the layer")
        lk = self._lookup_layer
        lcfg = lk.get_config()
        cfg = super().get_config()
        cfg.update(max_tokens=lk.max_tokens, standardize=self._standardize, split=self._split,
                   ngrams=list(self._ngrams_arg) if isinstance(self._ngrams_arg, tuple)
                   else self._ngrams_arg,
                   output_mode=self._output_mode,
                   output_sequence_length=self._output_sequence_length,
                   pad_to_max_tokens=lk.pad_to_max_tokens, sparse=False, ragged=False,
                   vocabulary=lcfg["vocabulary"], idf_weights=lcfg["idf_weights"],
                   encoding=self._encoding, vocabulary_size=lcfg["vocabulary_size"])
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)
