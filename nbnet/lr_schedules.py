"""Learning-rate schedules stepped per optimizer update (Keras 3's
keras.optimizers.schedules), exposed as `nb.optimizers.schedules`.

A schedule is a function of the optimizer's iteration count: an optimizer built with
`learning_rate=schedule` uses `schedule(iterations)` at each update, where iterations
is the number of updates made before this one (0 for the first, as Keras), and its
`learning_rate` attribute reads that current value as a float. The epoch schedules of
nbnet.schedules (PyTorch's StepLR ... used as callbacks) are a different thing and
stay there.

    lr = nb.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)
    model.compile(nb.optimizers.SGD(learning_rate=lr), "mse")

Each `__call__(step)` is Keras 3's formula computed in float64 (Keras computes in the
dtype of initial_learning_rate, float32 for a Python float); get_config / from_config
and serialize / deserialize ({"class_name", "config"}) round-trip every schedule.
"""
import bisect
import math

from .registry import Registry


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value!r}")
    return value


def _real(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def _step(step):
    step = float(step)
    if not step >= 0:
        raise ValueError(f"a schedule's step must be >= 0, got {step!r}")
    return step


class LearningRateSchedule:
    """Base class: `__call__(step)` gives the learning rate after `step` updates."""

    _abstract = True

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  f"override `__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  f"override `get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    __hash__ = object.__hash__


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps) (floored with staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = _real("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate) * float(self.decay_rate) ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"The length of boundaries should be 1 less than the length of "
                             f"values. Received: boundaries={boundaries} of length "
                             f"{len(boundaries)}, and values={values} of length {len(values)}.")
        for b in boundaries:
            _real("boundaries", b)
        for v in values:
            _real("values", v)
        if any(b1 > b2 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be increasing, got {boundaries}")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        return float(self.values[bisect.bisect_left(self.boundaries, _step(step))])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ** power + end, with step capped at
    decay_steps; with cycle, decay_steps is multiplied by ceil(step / decay_steps)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.end_learning_rate = _real("end_learning_rate", end_learning_rate)
        self.power = _real("power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step, decay_steps = _step(step), float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        end = float(self.end_learning_rate)
        return (float(self.initial_learning_rate) - end) * (1.0 - p) ** float(self.power) + end

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps) (floored with
    staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = _real("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


def _cosine(step, decay_steps, lr, alpha):
    decayed = (1.0 - alpha) * 0.5 * (1.0 + math.cos(math.pi * step / decay_steps)) + alpha
    return lr * decayed


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup from initial_learning_rate to warmup_target over
    warmup_steps, then cosine decay over decay_steps to alpha * (warmup_target or
    initial_learning_rate), held there afterwards."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.alpha = _real("alpha", alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else _real("warmup_target",
                                                                       warmup_target)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, (int, float)) or \
                not warmup_steps >= 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}")
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step, lr0 = _step(step), float(self.initial_learning_rate)
        decay_steps, alpha = float(self.decay_steps), float(self.alpha)
        if self.warmup_target is None:
            return _cosine(min(step, decay_steps), decay_steps, lr0, alpha)
        target, warmup = float(self.warmup_target), float(self.warmup_steps)
        step = min(step, decay_steps + warmup)
        if step < warmup:
            return (target - lr0) * (step / warmup) + lr0
        return _cosine(step - warmup, decay_steps, target, alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR (Loshchilov & Hutter): cosine decay restarted after first_decay_steps, each
    period t_mul times longer and its peak m_mul times lower; alpha is the floor
    (a fraction of initial_learning_rate)."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _positive("first_decay_steps", first_decay_steps)
        self.t_mul = _positive("t_mul", t_mul)
        self.m_mul = _real("m_mul", m_mul)
        self.alpha = _real("alpha", alpha)
        self.name = name

    def __call__(self, step):
        fraction = _step(step) / float(self.first_decay_steps)
        t_mul = float(self.t_mul)
        if t_mul == 1.0:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        else:  # periods 1, t, t^2 ...: restart i begins at (1 - t^i) / (1 - t)
            i_restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
            sum_r = (1.0 - t_mul ** i_restart) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / t_mul ** i_restart
        cosine = 0.5 * float(self.m_mul) ** i_restart * (1.0 + math.cos(math.pi * fraction))
        alpha = float(self.alpha)
        return float(self.initial_learning_rate) * ((1.0 - alpha) * cosine + alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


SCHEDULES = Registry("learning_rate_schedule", LearningRateSchedule)
for _cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay,
             CosineDecay, CosineDecayRestarts):
    SCHEDULES.add(_cls)


def serialize(schedule):
    """{"class_name": "ExponentialDecay", "config": {...}}: JSON-able."""
    return SCHEDULES.serialize(schedule)


def deserialize(config):
    return SCHEDULES.deserialize(config)


def get(identifier):
    """A schedule from a {"class_name", "config"} dict or a schedule (returned as is)."""
    return SCHEDULES.get(identifier)
