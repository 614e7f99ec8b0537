"""Weight constraints (Keras 3), applied to a weight after every optimizer step.

    MaxNorm(max_value=2, axis=0)     w * min(1, max_value / norm), norm over `axis`
    MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)
                                     w * (rate * clip(norm, min, max) + (1 - rate) * norm)
                                       / norm
    NonNeg()                         max(w, 0)
    UnitNorm(axis=0)                 w / norm

norm = sqrt(sum(w^2 over axis)), with Keras' epsilon 1e-7 added to it in the divisions.
"""
import numpy as np

from .registry import Registry

_EPS = 1e-7


class Constraint:
    def __call__(self, w):
        """The constrained array (a new array)."""
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


CONSTRAINTS = Registry("constraint", Constraint)


def _norm(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


@CONSTRAINTS.register(aliases=("max_norm",))
class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = float(max_value), axis

    def __call__(self, w):
        norms = _norm(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (_EPS + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@CONSTRAINTS.register(aliases=("min_max_norm",))
class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value = float(min_value), float(max_value)
        self.rate, self.axis = float(rate), axis

    def __call__(self, w):
        norms = _norm(w, self.axis)
        desired = (self.rate * np.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return w * (desired / (_EPS + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


@CONSTRAINTS.register(aliases=("non_neg",))
class NonNeg(Constraint):
    def __call__(self, w):
        return np.maximum(w, 0)


@CONSTRAINTS.register(aliases=("unit_norm",))
class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (_EPS + _norm(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


def get(identifier):
    return CONSTRAINTS.get(identifier)


def serialize(constraint):
    return None if constraint is None else CONSTRAINTS.serialize(constraint)
