"""Optimizers: torch.optim update rules over the model's flat parameter buffer.

An optimizer holds hyper-parameters and flat state vectors; `step(w, g)` is one fused
parallel kernel call (nbnet/kernels/optim.py) over the whole flat parameter vector w
and gradient vector g (g is only read). The model calls:

    opt.build(n, dtype, offsets=None)   allocate state for n parameters (same n/dtype:
                           no-op; otherwise fresh state and iterations = 0)
    opt.set_slices(offsets)   where the variables lie in the flat buffer (optional)
    opt.step(w, g)         one update; opt.iterations += 1
    opt.finalize_variable_values(w)   at the end of fit (use_ema: w = the average)
    opt.get_state() / opt.set_state(state)   flat arrays, to resume bitwise

Defaults (DESIGN.md section 3). Every optimizer takes the Keras 3 argument names, and
where torch.optim has the same optimizer its names too (`lr`, `betas`, `eps`, `alpha`,
`lr_decay`, `dampening`, `momentum_decay`, `decoupled_weight_decay`). Which defaults
fill the arguments that are not given depends on the names used:
- a Keras string ("rmsprop"), no arguments, or only Keras names (learning_rate, rho,
  epsilon, beta_1, beta_2, and the names both libraries share: momentum, nesterov,
  centered, amsgrad, weight_decay, initial_accumulator_value) -> Keras 3's defaults,
  so that a Keras script trains at the rate it was tuned for;
- any PyTorch-only name -> torch.optim's defaults for everything not given (so
  `RMSprop(lr=0.01)` is torch.optim.RMSprop(lr=0.01): alpha 0.99, eps 1e-8).
Positional arguments count as the signature's names (all Keras names, except
Adagrad's second, lr_decay). Lion and Lamb are not in torch.optim: always Keras'
defaults. The values (and where each comes from) are in DEFAULTS below.

Formulas are torch.optim's, whichever defaults were used. Where Keras 3 differs:
Keras RMSprop and Adagrad put epsilon inside the square root (sqrt(v + eps)), nbnet
outside (sqrt(v) + eps) as PyTorch; Keras Adam adds epsilon to sqrt(v) before the bias
correction of v ("epsilon hat"), nbnet after; Keras Adamax adds epsilon outside the
max, nbnet inside (max(beta_2 u, |g| + eps)); Keras RMSprop's momentum buffer holds
lr * step, nbnet's the step; Keras' `weight_decay` is always decoupled (w -= lr * wd *
w before the update), nbnet's is torch.optim's L2 term (g + wd * w) for SGD, Adagrad,
RMSprop, Adam, Nadam, Adamax, Adadelta, and decoupled for AdamW, Lion, Lamb and
Nadam(decoupled_weight_decay=True). Keras Nadam is torch.optim.NAdam with
momentum_decay = 1 (Keras 3 uses 0.96 ** t), which is the Keras-style default here.

Gradient clipping (Keras semantics, one of them at most): `clipnorm` rescales each
variable's gradient to norm <= clipnorm, `global_clipnorm` the whole gradient,
`clipvalue` clips each element to [-clipvalue, clipvalue]. The flat buffer holds many
variables: `set_slices(offsets)` (or build's `offsets`) gives their boundaries, offsets
= [0, end of variable 0, ..., n]; until then the whole buffer is one variable, so that
clipnorm and Lamb's trust ratio act on the whole buffer. Clipping leaves g untouched:
a first pass (kernel clip_scales) computes the norms in fixed chunks combined in a
fixed order, then the optimizer kernel scales (and clips) each element as it reads it.
clipvalue alone needs no first pass. The L2 weight-decay term is added after clipping.

Learning rate: a float or a LearningRateSchedule (nb.optimizers.schedules); with a
schedule, step t uses schedule(iterations before the step), `learning_rate` reads the
current value, cannot be set to a float (as Keras), and the config stores the schedule.

use_ema (Keras): after each step average = ema_momentum * average + (1 - ema_momentum)
* w (average = w on the first step), copied into w every ema_overwrite_frequency steps
and by finalize_variable_values(w), which the trainer calls at the end of fit.
"""
import math

import numpy as np

from . import lr_schedules as schedules
from .kernels import optim as K
from .registry import Registry

_CHUNK = 8192  # elements per work item, as in nbnet/kernels/optim.py

# DEFAULTS[class name] = (Keras 3 defaults, torch.optim defaults or None): the README table.
DEFAULTS = {
    "SGD": ({"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
            {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
             "weight_decay": 0.0}),
    "Adagrad": ({"learning_rate": 1e-3, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
                 "weight_decay": 0.0},
                {"lr": 1e-2, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10,
                 "weight_decay": 0.0}),
    "RMSprop": ({"learning_rate": 1e-3, "rho": 0.9, "epsilon": 1e-7, "momentum": 0.0,
                 "centered": False, "weight_decay": 0.0},
                {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False,
                 "weight_decay": 0.0}),
    "Adam": ({"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "amsgrad": False, "weight_decay": 0.0},
             {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
              "weight_decay": 0.0}),
    "AdamW": ({"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
               "amsgrad": False, "weight_decay": 0.004},
              {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
               "weight_decay": 0.01}),
    "Nadam": ({"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
               "weight_decay": 0.0, "momentum_decay": 1.0, "decoupled_weight_decay": False},
              {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
               "momentum_decay": 4e-3, "decoupled_weight_decay": False}),
    "Adamax": ({"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                "weight_decay": 0.0},
               {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    "Adadelta": ({"learning_rate": 1e-3, "rho": 0.95, "epsilon": 1e-7, "weight_decay": 0.0},
                 {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}),
    "Lion": ({"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.99, "weight_decay": 0.0}, None),
    "Lamb": ({"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "weight_decay": 0.0}, None),
}


class _Default(float):
    """A default value that knows it is one, so that `lr=` together with an explicit
    `learning_rate=` can be refused, and the torch-style defaults can replace it."""


def _given(value):
    return value is not None and not isinstance(value, _Default)


def _arg(name, value, alias_name=None, alias=None, default=None):
    """The value of `name`, or of its alias when that is given (not both); when neither
    is given, `default` (the family's), else the signature's default."""
    if alias is not None:
        if _given(value):
            raise TypeError(f"got both {name}= and its alias {alias_name}=; pass one of them")
        return alias
    if isinstance(value, _Default):
        return float(value) if default is None else default
    return value


def _betas(beta_1, beta_2, betas, defaults):
    """(beta_1, beta_2) from Keras' two names or PyTorch's pair."""
    if betas is not None:
        if _given(beta_1) or _given(beta_2):
            raise TypeError("got both beta_1= / beta_2= and betas=; pass one of them")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta_1, beta_2), got {betas!r}")
        return betas
    return _arg("beta_1", beta_1, default=defaults[0]), _arg("beta_2", beta_2, default=defaults[1])


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


def _decay(value):
    """weight_decay: Keras' None means 0."""
    return 0.0 if value is None else _number("weight_decay", value, low=0.0)


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _work_items(offsets):
    """items (K, 3) int64 rows (lo, hi, variable): each variable cut in _CHUNK pieces."""
    rows = [(lo, min(lo + _CHUNK, b), s)
            for s, (a, b) in enumerate(zip(offsets[:-1], offsets[1:]))
            for lo in range(a, b, _CHUNK)]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


class Optimizer:
    """Base class: learning rate (or schedule), iteration count, flat state vectors,
    clipping, EMA, serialisation. Subclasses name their state vectors in
    `_state_names()`, update in `_update(w, g, t, lr)` and list their own
    hyper-parameters in `_hyper()`."""

    def __init__(self, learning_rate, *, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, name=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None):
        self._schedule, self._lr = None, None
        self.learning_rate = learning_rate
        self.iterations = 0
        self._n, self._dtype, self._state = None, None, {}
        self._offsets = None
        clip = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clip.values()) > 1:
            raise ValueError(f"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                             f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        for k, v in clip.items():
            setattr(self, k, None if v is None else _number(k, v, low=0.0))
        self.use_ema = _flag("use_ema", use_ema)
        self.ema_momentum = _number("ema_momentum", ema_momentum, low=0.0, high=1.0)
        if ema_overwrite_frequency is not None and (
                isinstance(ema_overwrite_frequency, bool) or
                not isinstance(ema_overwrite_frequency, (int, np.integer)) or
                ema_overwrite_frequency < 1):
            raise ValueError(f"`ema_overwrite_frequency` must be an integer >= 1 or None. "
                             f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}")
        self.ema_overwrite_frequency = (None if ema_overwrite_frequency is None
                                        else int(ema_overwrite_frequency))
        for k, v in (("loss_scale_factor", loss_scale_factor),
                     ("gradient_accumulation_steps", gradient_accumulation_steps)):
            if v is not None:
                raise NotImplementedError(f"{k} is not supported by nbnet optimizers")
        self.name = type(self).__name__.lower() if name is None else str(name)

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The learning rate of the next step (a schedule's value at `iterations`)."""
        if self._schedule is not None:
            return _number("learning_rate", self._schedule(self.iterations), low=0.0)
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, dict):
            value = schedules.deserialize(value)
        if isinstance(value, schedules.LearningRateSchedule):
            self._schedule, self._lr = value, None
            return
        if self._schedule is not None:
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object "
                            "as its `learning_rate` constructor argument, hence its learning "
                            "rate is not settable. If you need the learning rate to be "
                            "settable, you should instantiate the optimizer with a float "
                            "`learning_rate` argument.")
        self._lr = _number("learning_rate", value, low=0.0)

    # ------------------------------------------------------------------ state
    def _state_names(self):
        return ()

    def _all_state_names(self):
        return self._state_names() + (("average",) if self.use_ema else ())

    def _initial_value(self, name):
        return 0.0

    def build(self, n, dtype, offsets=None):
        n, dtype = int(n), np.dtype(dtype)
        if n < 0 or dtype not in (np.float32, np.float64):
            raise ValueError(f"cannot build an optimizer for {n} parameters of dtype {dtype}")
        if not (n == self._n and dtype == self._dtype):
            if self._n is not None:  # rebuilt for another buffer: start afresh
                self.iterations = 0
            self._n, self._dtype = n, dtype
            self._state = {k: np.full(n, self._initial_value(k), dtype=dtype)
                           for k in self._all_state_names()}
            self._empty = np.empty(0, dtype=dtype)  # stands for state an option does not use
            if self._offsets is not None and self._offsets[-1] != n:
                self._offsets = None  # slices of another buffer: one variable again
            self._make_items()
        if offsets is not None:
            self.set_slices(offsets)

    def set_slices(self, offsets):
        """Where the variables lie in the flat buffer: offsets = [0, o_1, ..., n]
        (variable s is w[offsets[s]:offsets[s + 1]]). Used by clipnorm and Lamb; until
        it is called the whole buffer is one variable. State is kept."""
        offsets = [int(o) for o in offsets]
        if len(offsets) < 2 or offsets[0] != 0 or any(
                b < a for a, b in zip(offsets, offsets[1:])):
            raise ValueError(f"offsets must be [0, ..., n], non-decreasing, got {offsets}")
        if self._n is not None and offsets[-1] != self._n:
            raise ValueError(f"offsets end at {offsets[-1]}, but {type(self).__name__} was "
                             f"built for {self._n} parameters")
        self._offsets = offsets
        if self._n is not None:
            self._make_items()

    def _make_items(self):
        offsets = self._offsets if self._offsets is not None else [0, self._n]
        self._items = _work_items(offsets)
        n_vars, n_items = len(offsets) - 1, self._items.shape[0]
        self._scale = np.ones(n_vars)           # per-variable clip factors (1: none)
        self._partial = np.zeros(n_items)       # clip_scales' per-item sums
        self._ratio = np.ones(n_vars)           # Lamb's scratch
        self._norms = np.zeros((n_vars, 2))
        self._partial2 = np.zeros((n_items, 2))

    def _buf(self, name):
        return self._state.get(name, self._empty)

    @property
    def _clipping(self):
        return bool(self.clipnorm or self.global_clipnorm or self.clipvalue)

    def _clip_args(self, g):
        """(items, scale, clipvalue) for the kernels: the per-variable norm factors from
        one pass over g when clipnorm / global_clipnorm is set."""
        if self.clipnorm or self.global_clipnorm:
            K.clip_scales(self._scale, self._partial, g, self._items,
                          float(self.clipnorm or 0.0), float(self.global_clipnorm or 0.0))
        return self._items, self._scale, float(self.clipvalue or 0.0)

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
        lr = self.learning_rate  # a schedule's value at the iterations before the step
        self.iterations += 1
        t = self.iterations
        self._update(w, g, t, lr)
        if self.use_ema:
            average = self._state["average"]
            K.ema_update(average, w, self.ema_momentum, t == 1)
            if self.ema_overwrite_frequency and t % self.ema_overwrite_frequency == 0:
                np.copyto(w, average)

    def _update(self, w, g, t, lr):
        raise NotImplementedError

    def finalize_variable_values(self, w):
        """End of training: with use_ema, the weights w (the flat buffer) become the
        moving average (Keras calls this at the end of fit); otherwise nothing."""
        if self.use_ema and self._n is not None and self.iterations > 0:
            np.copyto(w, self._state["average"])

    def get_state(self):
        """Everything needed to resume exactly: copies of the state vectors, plus
        `iterations` (0-d int64) and `learning_rate` (0-d float64, as schedules set it;
        with a LearningRateSchedule its current value, for information)."""
        state = {k: v.copy() for k, v in self._state.items()}
        state["iterations"] = np.array(self.iterations, dtype=np.int64)
        state["learning_rate"] = np.array(self.learning_rate, dtype=np.float64)
        return state

    def set_state(self, state):
        """Restore get_state()'s arrays (builds from their size and dtype if not built).
        Raises ValueError, changing nothing, when they do not fit. With a schedule the
        learning rate follows from the restored iterations."""
        names = self._all_state_names()
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
        if "learning_rate" in state and self._schedule is None:
            self.learning_rate = float(np.asarray(state["learning_rate"]))
        for k, a in arrays.items():
            self._state[k][...] = a
        self.iterations = iterations

    # ------------------------------------------------------------------ config
    def _hyper(self):
        return {}

    def get_config(self):
        lr = schedules.serialize(self._schedule) if self._schedule is not None else self._lr
        return {"learning_rate": lr, **self._hyper(), "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "name": self.name}

    @classmethod
    def from_config(cls, config):
        """cls(**config); on the base class, a {"class_name", "config"} dict as well."""
        if cls is Optimizer or "class_name" in config:
            return get(config)
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _family(name, torch_style):
    keras, torch = DEFAULTS[name]
    return torch if torch_style and torch is not None else keras


class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, Nesterov, L2 weight decay."""

    def __init__(self, learning_rate=_Default(0.01), momentum=0.0, dampening=_Default(0.0),
                 nesterov=False, weight_decay=0.0, *, lr=None, **kwargs):
        d = _family("SGD", _given(lr) or _given(dampening))
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr,
                              d.get("learning_rate", d.get("lr"))), **kwargs)
        self.momentum = _number("momentum", momentum, low=0.0)
        self.dampening = _number("dampening", _arg("dampening", dampening), low=0.0, high=1.0)
        self.nesterov = _flag("nesterov", nesterov)
        self.weight_decay = _decay(weight_decay)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0")

    def _state_names(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def _update(self, w, g, t, lr):
        if self._clipping:
            K.sgd_step_clip(w, self._buf("momentum_buffer"), g, *self._clip_args(g), lr,
                            self.momentum, self.dampening, self.nesterov, self.weight_decay,
                            t == 1)
        else:
            K.sgd_step(w, self._buf("momentum_buffer"), g, lr, self.momentum,
                       self.dampening, self.nesterov, self.weight_decay, t == 1)

    def _hyper(self):
        return {"momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """torch.optim.Adagrad: lr / (1 + (t - 1) * lr_decay), L2 weight decay."""

    def __init__(self, learning_rate=_Default(1e-3), lr_decay=_Default(0.0), weight_decay=0.0,
                 initial_accumulator_value=_Default(0.1), epsilon=_Default(1e-7), *,
                 lr=None, eps=None, **kwargs):
        d = _family("Adagrad", _given(lr) or _given(eps) or _given(lr_decay))
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr,
                              d.get("learning_rate", d.get("lr"))), **kwargs)
        self.lr_decay = _number("lr_decay", _arg("lr_decay", lr_decay), low=0.0)
        self.weight_decay = _decay(weight_decay)
        self.initial_accumulator_value = _number(
            "initial_accumulator_value",
            _arg("initial_accumulator_value", initial_accumulator_value,
                 default=d["initial_accumulator_value"]), low=0.0)
        self.epsilon = _number("epsilon", _arg("epsilon", epsilon, "eps", eps,
                                               d.get("epsilon", d.get("eps"))), low=0.0)

    def _state_names(self):
        return ("sum",)

    def _initial_value(self, name):
        return self.initial_accumulator_value if name == "sum" else 0.0

    def _update(self, w, g, t, lr):
        clr = lr / (1.0 + (t - 1) * self.lr_decay)
        if self._clipping:
            K.adagrad_step_clip(w, self._state["sum"], g, *self._clip_args(g), clr,
                                self.weight_decay, self.epsilon)
        else:
            K.adagrad_step(w, self._state["sum"], g, clr, self.weight_decay, self.epsilon)

    def _hyper(self):
        return {"lr_decay": self.lr_decay, "weight_decay": self.weight_decay,
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """torch.optim.RMSprop: rho (PyTorch: alpha), centered, momentum, L2 weight decay."""

    def __init__(self, learning_rate=_Default(1e-3), rho=_Default(0.9), epsilon=_Default(1e-7),
                 momentum=0.0, centered=False, weight_decay=0.0, *, lr=None, eps=None,
                 alpha=None, **kwargs):
        d = _family("RMSprop", _given(lr) or _given(eps) or _given(alpha))
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr,
                              d.get("learning_rate", d.get("lr"))), **kwargs)
        self.alpha = _number("alpha" if alpha is not None else "rho",
                             _arg("rho", rho, "alpha", alpha, d.get("rho", d.get("alpha"))),
                             low=0.0, high=1.0)
        self.epsilon = _number("epsilon", _arg("epsilon", epsilon, "eps", eps,
                                               d.get("epsilon", d.get("eps"))), low=0.0)
        self.momentum = _number("momentum", momentum, low=0.0)
        self.centered = _flag("centered", centered)
        self.weight_decay = _decay(weight_decay)

    @property
    def rho(self):
        return self.alpha

    def _state_names(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ()) +
                (("momentum_buffer",) if self.momentum > 0 else ()))

    def _update(self, w, g, t, lr):
        args = (self._state["square_avg"], self._buf("grad_avg"), self._buf("momentum_buffer"), g)
        hyper = (lr, self.alpha, self.epsilon, self.weight_decay, self.momentum, self.centered)
        if self._clipping:
            K.rmsprop_step_clip(w, *args, *self._clip_args(g), *hyper)
        else:
            K.rmsprop_step(w, *args, *hyper)

    def _hyper(self):
        return {"alpha": self.alpha, "epsilon": self.epsilon, "momentum": self.momentum,
                "centered": self.centered, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected moments, L2 weight decay added to the gradient,
    AMSGrad (running max of the second moment)."""

    _decoupled = False
    _defaults = "Adam"  # the DEFAULTS row

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9),
                 beta_2=_Default(0.999), epsilon=_Default(1e-7), weight_decay=_Default(0.0),
                 amsgrad=False, *, lr=None, betas=None, eps=None, **kwargs):
        d = _family(self._defaults, _given(lr) or _given(eps) or betas is not None)
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr,
                              d.get("learning_rate", d.get("lr"))), **kwargs)
        pair = d.get("betas", (d.get("beta_1"), d.get("beta_2")))
        beta_1, beta_2 = _betas(beta_1, beta_2, betas, pair)
        self.beta_1 = _number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = _number("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = _number("epsilon", _arg("epsilon", epsilon, "eps", eps,
                                               d.get("epsilon", d.get("eps"))), low=0.0)
        self.weight_decay = _decay(_arg("weight_decay", weight_decay,
                                        default=d["weight_decay"]))
        self.amsgrad = _flag("amsgrad", amsgrad)

    def _state_names(self):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def _update(self, w, g, t, lr):
        # bias corrections in float64 here, once per step
        bc1, bc2 = 1.0 - self.beta_1 ** t, 1.0 - self.beta_2 ** t
        args = (self._state["exp_avg"], self._state["exp_avg_sq"], self._buf("max_exp_avg_sq"), g)
        hyper = (lr, self.beta_1, self.beta_2, self.epsilon, self.weight_decay, self.amsgrad,
                 self._decoupled, bc1, bc2)
        if self._clipping:
            K.adam_step_clip(w, *args, *self._clip_args(g), *hyper)
        else:
            K.adam_step(w, *args, *hyper)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, w *= 1 - lr * weight_decay
    before the Adam update (default weight_decay 0.004 as Keras, 0.01 as PyTorch)."""

    _decoupled = True
    _defaults = "AdamW"

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9),
                 beta_2=_Default(0.999), epsilon=_Default(1e-7), weight_decay=_Default(0.004),
                 amsgrad=False, *, lr=None, betas=None, eps=None, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad,
                         lr=lr, betas=betas, eps=eps, **kwargs)


class Nadam(Optimizer):
    """torch.optim.NAdam: Adam with Nesterov momentum and the momentum schedule
    mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)); L2 weight decay, or
    decoupled with decoupled_weight_decay=True. Keras' Nadam is momentum_decay = 1."""

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9),
                 beta_2=_Default(0.999), epsilon=_Default(1e-7), weight_decay=0.0, *,
                 lr=None, betas=None, eps=None, momentum_decay=None,
                 decoupled_weight_decay=None, **kwargs):
        d = _family("Nadam", _given(lr) or _given(eps) or betas is not None or
                    momentum_decay is not None or decoupled_weight_decay is not None)
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr,
                              d.get("learning_rate", d.get("lr"))), **kwargs)
        beta_1, beta_2 = _betas(beta_1, beta_2, betas,
                                d.get("betas", (d.get("beta_1"), d.get("beta_2"))))
        self.beta_1 = _number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = _number("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = _number("epsilon", _arg("epsilon", epsilon, "eps", eps,
                                               d.get("epsilon", d.get("eps"))), low=0.0)
        self.weight_decay = _decay(weight_decay)
        self.momentum_decay = _number("momentum_decay", d["momentum_decay"]
                                      if momentum_decay is None else momentum_decay, low=0.0)
        self.decoupled_weight_decay = _flag("decoupled_weight_decay", d["decoupled_weight_decay"]
                                            if decoupled_weight_decay is None
                                            else decoupled_weight_decay)
        self._mu_cache = (0, 1.0)  # (t, mu_1 * ... * mu_t)

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def _mu_product(self, t):
        """mu_1 ... mu_t, multiplied in order (so a resumed run gets the same bits)."""
        last, p = self._mu_cache
        if last != t - 1:
            last, p = 0, 1.0
            for i in range(1, t):
                p *= self._mu(i)
        p *= self._mu(t)
        self._mu_cache = (t, p)
        return p

    def _state_names(self):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, w, g, t, lr):
        mu, mu_next = self._mu(t), self._mu(t + 1)
        mu_product = self._mu_product(t)
        coef_g = lr * (1.0 - mu) / (1.0 - mu_product)
        coef_m = lr * mu_next / (1.0 - mu_product * mu_next)
        if self.decoupled_weight_decay:
            wd, decay = 0.0, 1.0 - lr * self.weight_decay
        else:
            wd, decay = self.weight_decay, 1.0
        K.nadam_step(w, self._state["exp_avg"], self._state["exp_avg_sq"], g,
                     *self._clip_args(g), self.beta_1, self.beta_2, self.epsilon, wd, decay,
                     coef_g, coef_m, 1.0 - self.beta_2 ** t)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay, "momentum_decay": self.momentum_decay,
                "decoupled_weight_decay": self.decoupled_weight_decay}


class Adamax(Optimizer):
    """torch.optim.Adamax: Adam with the infinity norm, u = max(beta_2 u, |g| + eps);
    L2 weight decay."""

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9),
                 beta_2=_Default(0.999), epsilon=_Default(1e-7), weight_decay=0.0, *,
                 lr=None, betas=None, eps=None, **kwargs):
        d = _family("Adamax", _given(lr) or _given(eps) or betas is not None)
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr,
                              d.get("learning_rate", d.get("lr"))), **kwargs)
        beta_1, beta_2 = _betas(beta_1, beta_2, betas,
                                d.get("betas", (d.get("beta_1"), d.get("beta_2"))))
        self.beta_1 = _number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = _number("beta_2", beta_2, low=0.0, high=1.0)
        self.epsilon = _number("epsilon", _arg("epsilon", epsilon, "eps", eps,
                                               d.get("epsilon", d.get("eps"))), low=0.0)
        self.weight_decay = _decay(weight_decay)

    def _state_names(self):
        return ("exp_avg", "exp_inf")

    def _update(self, w, g, t, lr):
        K.adamax_step(w, self._state["exp_avg"], self._state["exp_inf"], g,
                      *self._clip_args(g), lr, self.beta_1, self.beta_2, self.epsilon,
                      self.weight_decay, 1.0 - self.beta_1 ** t)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay}


class Adadelta(Optimizer):
    """torch.optim.Adadelta: step sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
    scaled by the learning rate; L2 weight decay."""

    def __init__(self, learning_rate=_Default(1e-3), rho=_Default(0.95), epsilon=_Default(1e-7),
                 weight_decay=0.0, *, lr=None, eps=None, **kwargs):
        d = _family("Adadelta", _given(lr) or _given(eps))
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr,
                              d.get("learning_rate", d.get("lr"))), **kwargs)
        self.rho = _number("rho", _arg("rho", rho, default=d["rho"]), low=0.0, high=1.0)
        self.epsilon = _number("epsilon", _arg("epsilon", epsilon, "eps", eps,
                                               d.get("epsilon", d.get("eps"))), low=0.0)
        self.weight_decay = _decay(weight_decay)

    def _state_names(self):
        return ("square_avg", "acc_delta")

    def _update(self, w, g, t, lr):
        K.adadelta_step(w, self._state["square_avg"], self._state["acc_delta"], g,
                        *self._clip_args(g), lr, self.rho, self.epsilon, self.weight_decay)

    def _hyper(self):
        return {"rho": self.rho, "epsilon": self.epsilon, "weight_decay": self.weight_decay}


class Lion(Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"; Keras
    3's Lion): w -= lr * sign(beta_1 m + (1 - beta_1) g), then m = beta_2 m + (1 -
    beta_2) g; decoupled weight decay. Keras' defaults (not in torch.optim)."""

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9), beta_2=_Default(0.99),
                 weight_decay=0.0, *, lr=None, betas=None, **kwargs):
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr), **kwargs)
        beta_1, beta_2 = _betas(beta_1, beta_2, betas, (float(beta_1), float(beta_2)))
        self.beta_1 = _number("beta_1", beta_1, low=0.0, high=1.0)
        self.beta_2 = _number("beta_2", beta_2, low=0.0, high=1.0)
        self.weight_decay = _decay(weight_decay)

    def _state_names(self):
        return ("exp_avg",)

    def _update(self, w, g, t, lr):
        K.lion_step(w, self._state["exp_avg"], g, *self._clip_args(g), lr, self.beta_1,
                    self.beta_2, self.weight_decay)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "weight_decay": self.weight_decay}


class Lamb(Optimizer):
    """LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning"; Keras 3's
    Lamb): the Adam direction r, scaled per variable by the trust ratio ||w|| / ||r||
    (1 when either is 0); decoupled weight decay before the update. The variables are
    set_slices' (the whole buffer until it is called). Keras' defaults."""

    def __init__(self, learning_rate=_Default(1e-3), beta_1=_Default(0.9),
                 beta_2=_Default(0.999), epsilon=_Default(1e-7), weight_decay=0.0, *,
                 lr=None, betas=None, eps=None, **kwargs):
        super().__init__(_arg("learning_rate", learning_rate, "lr", lr), **kwargs)
        beta_1, beta_2 = _betas(beta_1, beta_2, betas, (float(beta_1), float(beta_2)))
        self.beta_1 = _number("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = _number("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = _number("epsilon", _arg("epsilon", epsilon, "eps", eps), low=0.0)
        self.weight_decay = _decay(weight_decay)

    def _state_names(self):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, w, g, t, lr):
        K.lamb_step(w, self._state["exp_avg"], self._state["exp_avg_sq"], self._ratio,
                    self._norms, self._partial2, g, *self._clip_args(g), lr, self.beta_1,
                    self.beta_2, self.epsilon, self.weight_decay, 1.0 - self.beta_1 ** t,
                    1.0 - self.beta_2 ** t)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay}


OPTIMIZERS = Registry("optimizer", Optimizer)
for _cls in (SGD, Adagrad, RMSprop, Adam, AdamW, Nadam, Adamax, Adadelta, Lion, Lamb):
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
