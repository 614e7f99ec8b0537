"""Learning-rate schedules with PyTorch's semantics, stepped once per epoch.

Each schedule gives the learning rate of epoch e (0-based) in closed form,
`lr_at(e, base_lr)`, equal to what the torch.optim.lr_scheduler class of the same name
sets after e calls of `scheduler.step()`. Each is also a callback: at the start of
training it remembers the optimizer's learning rate as base_lr, and at the start of
every epoch it sets `model.optimizer.learning_rate = lr_at(epoch, base_lr)`.

    model.fit(x, y, epochs=30, callbacks=[nb.schedules.StepLR(10, gamma=0.1)])
"""
import bisect
import math

from .callbacks import Callback


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _gamma(value, name="gamma"):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class Schedule(Callback):
    """Base class: the callback part. Subclasses define lr_at and get_config."""

    def __init__(self):
        super().__init__()
        self.base_lr = None

    def lr_at(self, epoch, base_lr):
        raise NotImplementedError

    def __call__(self, epoch, base_lr):
        return self.lr_at(epoch, base_lr)

    def on_train_begin(self, logs=None):
        # Kept across fit() calls, so that a second fit continues the same schedule
        # (with initial_epoch) rather than restarting from the decayed rate.
        if self.base_lr is None:
            self.base_lr = float(self.model.optimizer.learning_rate)

    def on_epoch_begin(self, epoch, logs=None):
        if self.base_lr is None:  # used without on_train_begin
            self.base_lr = float(self.model.optimizer.learning_rate)
        self.model.optimizer.learning_rate = self.lr_at(epoch, self.base_lr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepLR(Schedule):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, step_size, gamma=0.1):
        super().__init__()
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _gamma(gamma)

    def lr_at(self, epoch, base_lr):
        return float(base_lr) * self.gamma ** (int(epoch) // self.step_size)

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class MultiStepLR(Schedule):
    """lr = base_lr * gamma ** (number of milestones <= epoch); a milestone listed
    twice counts twice, as in PyTorch."""

    def __init__(self, milestones, gamma=0.1):
        super().__init__()
        try:
            ms = sorted(milestones)
        except TypeError:
            raise ValueError(f"milestones must be a list of epochs, got {milestones!r}") from None
        if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in ms):
            raise ValueError(f"milestones must be non-negative integers, got {milestones!r}")
        self.milestones = ms
        self.gamma = _gamma(gamma)

    def lr_at(self, epoch, base_lr):
        return float(base_lr) * self.gamma ** bisect.bisect_right(self.milestones, int(epoch))

    def get_config(self):
        return {"milestones": list(self.milestones), "gamma": self.gamma}


class ExponentialLR(Schedule):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, gamma):
        super().__init__()
        self.gamma = _gamma(gamma)

    def lr_at(self, epoch, base_lr):
        return float(base_lr) * self.gamma ** int(epoch)

    def get_config(self):
        return {"gamma": self.gamma}


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.

    PyTorch's closed form (SGDR without restarts); past T_max it follows the same
    cosine back up, as PyTorch's recursive form does."""

    def __init__(self, T_max, eta_min=0.0):
        super().__init__()
        self.T_max = _positive_int("T_max", T_max)
        if isinstance(eta_min, bool) or not isinstance(eta_min, (int, float)) or not (
                math.isfinite(eta_min) and eta_min >= 0):
            raise ValueError(f"eta_min must be a non-negative number, got {eta_min!r}")
        self.eta_min = float(eta_min)

    def lr_at(self, epoch, base_lr):
        cos = math.cos(math.pi * int(epoch) / self.T_max)
        return self.eta_min + (float(base_lr) - self.eta_min) * (1.0 + cos) / 2.0

    def get_config(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min}
