"""Optimizers: torch.optim update rules over the model's flat parameter buffer.

An optimizer holds hyper-parameters and flat state vectors; `step(w, g)` is one fused
parallel kernel call (nbnet/kernels/optim.py) over the whole flat parameter vector w
and gradient vector g (g is only read). The model calls:

    opt.build(n, dtype)    allocate state for n parameters (same n/dtype: no-op;
                           otherwise fresh state and iterations = 0)
    opt.step(w, g)         one update; opt.iterations += 1
    opt.get_state() / opt.set_state(state)   flat arrays, to resume bitwise

Arguments use the Keras / DESIGN.md names; PyTorch's `lr`, `betas`, `eps` (and Keras'
`rho` for RMSprop's alpha) are accepted too.
"""
import math

import numpy as np

from .kernels import optim as K
from .registry import Registry


class _Default(float):
    """A default value that knows it is one, so that `lr=` together with an explicit
    `learning_rate=` can be refused while the signature still reads 0.01."""


def _pick(name, value, alias_name, alias):
    """The value of `name`, or of its alias when that is given (not both)."""
    if alias is None:
        return float(value) if isinstance(value, _Default) else value
    if not isinstance(value, _Default):
        raise TypeError(f"got both {name}= and its alias {alias_name}=; pass one of them")
    return alias


def _number(name, value, low=None, high=None, high_open=False):
    """A finite float within [low, high] (or [low, high)), else ValueError naming it."""
    real = (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (
            high is not None and (value >= high if high_open else value > high)):
        if high is None:
            bounds = f">= {low}"
        else:
            bounds = f"in [{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return value


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class Optimizer:
    """Base class: learning rate, iteration count, flat state vectors, serialisation.
    Subclasses name their state vectors in `_state_names()` and update in `_update`."""

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate
        self.iterations = 0
        self._n, self._dtype, self._state = None, None, {}

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = _number("learning_rate", value, low=0.0)

    # ------------------------------------------------------------------ state
    def _state_names(self):
        return ()

    def _initial_value(self, name):
        return 0.0

    def build(self, n, dtype):
        n, dtype = int(n), np.dtype(dtype)
        if n < 0 or dtype not in (np.float32, np.float64):
            raise ValueError(f"cannot build an optimizer for {n} parameters of dtype {dtype}")
        if n == self._n and dtype == self._dtype:
            return
        if self._n is not None:  # rebuilt for another buffer: start afresh
            self.iterations = 0
        self._n, self._dtype = n, dtype
        self._state = {k: np.full(n, self._initial_value(k), dtype=dtype)
                       for k in self._state_names()}
        self._empty = np.empty(0, dtype=dtype)  # stands for state an option does not use

    def _buf(self, name):
        return self._state.get(name, self._empty)

    def step(self, w, g):
        """One update of the flat parameters w (N,) in place from the gradients g (N,)."""
        if self._n is None:
            self.build(w.shape[0], w.dtype)
        if (w.ndim != 1 or w.shape != g.shape or w.shape[0] != self._n or
                w.dtype != self._dtype or g.dtype != self._dtype):
            raise ValueError(f"{type(self).__name__} was built for {self._n} {self._dtype} "
                             f"parameters, got w {w.dtype}{w.shape} and g {g.dtype}{g.shape}")
        if not (w.flags.c_contiguous and g.flags.c_contiguous):
            raise ValueError("optimizer step needs C-contiguous parameter and gradient buffers")
        self.iterations += 1
        self._update(w, g, self.iterations)

    def _update(self, w, g, t):
        raise NotImplementedError

    def get_state(self):
        """Everything needed to resume exactly: copies of the state vectors, plus
        `iterations` (0-d int64) and `learning_rate` (0-d float64, as schedules set it)."""
        state = {k: v.copy() for k, v in self._state.items()}
        state["iterations"] = np.array(self.iterations, dtype=np.int64)
        state["learning_rate"] = np.array(self._lr, dtype=np.float64)
        return state

    def set_state(self, state):
        """Restore get_state()'s arrays (builds from their size and dtype if not built).
        Raises ValueError, changing nothing, when they do not fit."""
        names = self._state_names()
        missing = [k for k in (*names, "iterations") if k not in state]
        if missing:
            raise ValueError(f"{type(self).__name__} state lacks {', '.join(missing)}")
        arrays = {k: np.asarray(state[k]) for k in names}
        if self._n is None and arrays:
            first = next(iter(arrays.values()))
            self.build(first.size, first.dtype if first.dtype == np.float32 else np.float64)
        for k, a in arrays.items():
            if a.shape != (self._n,):
                raise ValueError(f"optimizer state {k!r} has shape {a.shape}, "
                                 f"expected ({self._n},)")
        iterations = int(np.asarray(state["iterations"]))
        if iterations < 0:
            raise ValueError(f"optimizer iterations must be >= 0, got {iterations}")
        lr = None if "learning_rate" not in state else float(np.asarray(state["learning_rate"]))
        if lr is not None:
            self.learning_rate = lr
        for k, a in arrays.items():
            self._state[k][...] = a
        self.iterations = iterations

    # ------------------------------------------------------------------ config
    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        """cls(**config); on the base class, a {"class_name", "config"} dict as well."""
        if cls is Optimizer or "class_name" in config:
            return get(config)
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, Nesterov, L2 weight decay."""

    def __init__(self, learning_rate=_Default(0.01), momentum=0.0, dampening=0.0,
                 nesterov=False, weight_decay=0.0, *, lr=None):
        super().__init__(_pick("learning_rate", learning_rate, "lr", lr))
        self.momentum = _number("momentum", momentum, low=0.0)
        self.dampening = _number("dampening", dampening, low=0.0, high=1.0)
        self.nesterov = _flag("nesterov", nesterov)
        self.weight_decay = _number("weight_decay", weight_decay, low=0.0)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0")

    def _state_names(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def _update(self, w, g, t):
        K.sgd_step(w, self._buf("momentum_buffer"), g, self._lr, self.momentum,
                   self.dampening, self.nesterov, self.weight_decay, t == 1)

    def get_config(self):
        return {"learning_rate": self._lr, "momentum": self.momentum,
                "dampening": self.dampening, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """torch.optim.Adagrad: lr / (1 + (t - 1) * lr_decay), L2 weight decay."""

    def __init__(self, learning_rate=_Default(0.01), lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, epsilon=_Default(1e-10), *, lr=None, eps=None):
        super().__init__(_pick("learning_rate", learning_rate, "lr", lr))
        self.lr_decay = _number("lr_decay", lr_decay, low=0.0)
        self.weight_decay = _number("weight_decay", weight_decay, low=0.0)
        self.initial_accumulator_value = _number(
            "initial_accumulator_value", initial_accumulator_value, low=0.0)
        self.epsilon = _number("epsilon", _pick("epsilon", epsilon, "eps", eps), low=0.0)

    def _state_names(self):
        return ("sum",)

    def _initial_value(self, name):
        return self.initial_accumulator_value

    def _update(self, w, g, t):
        clr = self._lr / (1.0 + (t - 1) * self.lr_decay)
        K.adagrad_step(w, self._state["sum"], g, clr, self.weight_decay, self.epsilon)

    def get_config(self):
        return {"learning_rate": self._lr, "lr_decay": self.lr_decay,
                "weight_decay": self.weight_decay,
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """torch.optim.RMSprop: alpha (Keras: rho), centered, momentum, L2 weight decay."""

    def __init__(self, learning_rate=_Default(0.01), alpha=_Default(0.99),
                 epsilon=_Default(1e-8), momentum=0.0, centered=False, weight_decay=0.0,
                 *, lr=None, eps=None, rho=None):
        super().__init__(_pick("learning_rate", learning_rate, "lr", lr))
        self.alpha = _number("alpha", _pick("alpha", alpha, "rho", rho), low=0.0, high=1.0)
        self.epsilon = _number("epsilon", _pick("epsilon", epsilon, "eps", eps), low=0.0)
        self.momentum = _number("momentum", momentum, low=0.0)
        self.centered = _flag("centered", centered)
        self.weight_decay = _number("weight_decay", weight_decay, low=0.0)

    def _state_names(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ()) +
                (("momentum_buffer",) if self.momentum > 0 else ()))

    def _update(self, w, g, t):
        K.rmsprop_step(w, self._state["square_avg"], self._buf("grad_avg"),
                       self._buf("momentum_buffer"), g, self._lr, self.alpha, self.epsilon,
                       self.weight_decay, self.momentum, self.centered)

    def get_config(self):
        return {"learning_rate": self._lr, "alpha": self.alpha, "epsilon": self.epsilon,
                "momentum": self.momentum, "centered": self.centered,
                "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected moments, L2 weight decay added to the gradient,
    AMSGrad (running max of the second moment)."""

    _decoupled = False

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9),
                 beta_2=_Default(0.999), epsilon=_Default(1e-8), weight_decay=0.0,
                 amsgrad=False, *, lr=None, betas=None, eps=None):
        super().__init__(_pick("learning_rate", learning_rate, "lr", lr))
        if betas is not None:
            if not (isinstance(beta_1, _Default) and isinstance(beta_2, _Default)):
                raise TypeError("got both beta_1= / beta_2= and betas=; pass one of them")
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ValueError(f"betas must be a pair (beta_1, beta_2), got {betas!r}")
            beta_1, beta_2 = betas
        self.beta_1 = _number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = _number("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = _number("epsilon", _pick("epsilon", epsilon, "eps", eps), low=0.0)
        self.weight_decay = _number("weight_decay", weight_decay, low=0.0)
        self.amsgrad = _flag("amsgrad", amsgrad)

    def _state_names(self):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def _update(self, w, g, t):
        # bias corrections in float64 here, once per step
        bc1, bc2 = 1.0 - self.beta_1 ** t, 1.0 - self.beta_2 ** t
        K.adam_step(w, self._state["exp_avg"], self._state["exp_avg_sq"],
                    self._buf("max_exp_avg_sq"), g, self._lr, self.beta_1, self.beta_2,
                    self.epsilon, self.weight_decay, self.amsgrad, self._decoupled, bc1, bc2)

    def get_config(self):
        return {"learning_rate": self._lr, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "weight_decay": self.weight_decay,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, w *= 1 - lr * weight_decay
    before the Adam update (default weight_decay=0.01, as PyTorch)."""

    _decoupled = True

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9),
                 beta_2=_Default(0.999), epsilon=_Default(1e-8), weight_decay=0.01,
                 amsgrad=False, *, lr=None, betas=None, eps=None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad,
                         lr=lr, betas=betas, eps=eps)


OPTIMIZERS = Registry("optimizer", Optimizer)
for _cls in (SGD, Adagrad, RMSprop, Adam, AdamW):
    OPTIMIZERS.add(_cls, aliases=[_cls.__name__.lower()])


def get(identifier):
    """An Optimizer from a name ("adam", any case), a {"class_name", "config"} dict (as
    serialize writes) or an Optimizer instance (returned as is)."""
    if identifier is None:
        raise ValueError(f"an optimizer is needed; use one of {', '.join(OPTIMIZERS.names())} "
                         f"or an Optimizer instance")
    return OPTIMIZERS.get(identifier)


def deserialize(spec):
    return OPTIMIZERS.deserialize(spec)


def serialize(optimizer):
    """{"class_name": "Adam", "config": {...}}: JSON-able, get() rebuilds it."""
    return OPTIMIZERS.serialize(optimizer)
