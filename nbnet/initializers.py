"""Weight initializers: Keras 3 names and formulas, plus PyTorch's names.

Every initializer is a callable `init(shape, dtype) -> ndarray`. With `seed=None` each
call draws from a fresh generator derived from `nb.utils.set_random_seed`; with a seed
the same seed always gives the same weights.

Fans follow Keras: for a Dense kernel (in, out) fan_in = in, fan_out = out; for a
Conv2D kernel (kh, kw, in, out) both are multiplied by kh * kw.
"""
import math

import numpy as np

from . import random as nbrandom
from .registry import Registry

# std of a standard normal truncated to [-2, 2]; Keras divides by it so that the
# truncated draw has the requested standard deviation.
_TRUNC_STD = 0.87962566103423978


def compute_fans(shape):
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng, shape, mean, stddev):
    """Normal draws re-drawn until inside mean +- 2 stddev (as Keras / TF do)."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


class Initializer:
    def __init__(self, seed=None):
        self.seed = seed

    def _rng(self):
        return nbrandom.generator(self.seed)

    def __call__(self, shape, dtype="float32"):
        return np.asarray(self.sample(tuple(int(s) for s in shape)), dtype=dtype)

    def sample(self, shape):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed} if hasattr(self, "seed") else {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def __init__(self):
        pass

    def sample(self, shape):
        return np.zeros(shape)

    def get_config(self):
        return {}


class Ones(Zeros):
    def sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape):
        return self._rng().uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return self._rng().normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    def sample(self, shape):
        return _truncated_normal(self._rng(), shape, self.mean, self.stddev)


class VarianceScaling(Initializer):
    """Keras' VarianceScaling: std = sqrt(scale / n), n the fan chosen by `mode`.

    distribution: "truncated_normal" (std corrected for truncation, as Keras),
    "untruncated_normal" (PyTorch's normal_ initializers) or "uniform"
    (limit sqrt(3 * scale / n)).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(var), shape)
        return _truncated_normal(rng, shape, 0.0, math.sqrt(var) / _TRUNC_STD)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "seed": self.seed}


def _variant(name, scale, mode, distribution):
    """A named VarianceScaling with fixed arguments (tinygrad-style thin variant)."""

    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _variant("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variant("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variant("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variant("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variant("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variant("LecunNormal", 1.0, "fan_in", "truncated_normal")
# PyTorch's torch.nn.init defaults: plain (untruncated) normals, kaiming with a=0.
XavierUniform = _variant("XavierUniform", 1.0, "fan_avg", "uniform")
XavierNormal = _variant("XavierNormal", 1.0, "fan_avg", "untruncated_normal")
KaimingUniform = _variant("KaimingUniform", 2.0, "fan_in", "uniform")
KaimingNormal = _variant("KaimingNormal", 2.0, "fan_in", "untruncated_normal")


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR of a normal draw, times `gain`."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def sample(self, shape):
        if len(shape) < 2:
            raise ValueError("orthogonal initializer needs a shape of rank >= 2")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


_CLASSES = {c.__name__: c for c in (
    Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
    XavierUniform, XavierNormal, KaimingUniform, KaimingNormal, Orthogonal)}

_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "uniform": RandomUniform,
    "random_normal": RandomNormal, "normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "xavier_uniform": XavierUniform, "xavier_normal": XavierNormal,
    "kaiming_uniform": KaimingUniform, "kaiming_normal": KaimingNormal,
    "orthogonal": Orthogonal, "variance_scaling": VarianceScaling,
}

# snake_case functions, as `keras.initializers.glorot_uniform(...)` are classes too.
globals().update({k: v for k, v in _ALIASES.items() if k.isidentifier()})


INITIALIZERS = Registry("initializer", Initializer)
for _cls in _CLASSES.values():
    INITIALIZERS.add(_cls, aliases=[k for k, v in _ALIASES.items() if v is _cls])


def get(identifier):
    """A string, a {"class_name", "config"} dict, an Initializer, a registered class, or
    any callable (shape, dtype) -> array (returned as it is)."""
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    return INITIALIZERS.get(identifier)


def deserialize(spec):
    return INITIALIZERS.deserialize(spec)


def serialize(init):
    if isinstance(init, Initializer):
        return INITIALIZERS.serialize(init)
    if isinstance(init, str):
        return init
    raise ValueError(f"initializer {init!r} cannot be saved; use a named initializer")
