"""nb.optimizers.schedules (nbnet/lr_schedules.py): Keras 3's per-step learning-rate
schedules against hand formulas (always) and Keras itself (optional), config round
trips and argument checks."""
import json
import math
import os

import pytest

import nbnet as nb
from nbnet import lr_schedules as S

STEPS = [0, 1, 5, 10, 100]


def cos_decay(step, lr, steps, alpha):
    step = min(step, steps)
    return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / steps)) + alpha)


def sgdr(step, lr, first, t_mul, m_mul, alpha):
    """SGDR by walking the periods one by one (not Keras' closed form)."""
    start, length, peak = 0.0, float(first), 1.0
    while step >= start + length:
        start, length, peak = start + length, length * t_mul, peak * m_mul
    frac = (step - start) / length
    return lr * ((1 - alpha) * 0.5 * peak * (1 + math.cos(math.pi * frac)) + alpha)


CASES = [  # (name, kwargs, hand formula of the step)
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5),
     lambda s: 0.1 * 0.5 ** (s / 4)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5,
                              staircase=True),
     lambda s: 0.1 * 0.5 ** (s // 4)),
    ("PiecewiseConstantDecay", dict(boundaries=[1, 10], values=[1.0, 0.5, 0.1]),
     lambda s: 1.0 if s <= 1 else 0.5 if s <= 10 else 0.1),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5),
     lambda s: 0.1 / (1 + 0.5 * s / 3)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5,
                              staircase=True),
     lambda s: 0.1 / (1 + 0.5 * (s // 3))),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=20, power=2.0),
     lambda s: (0.1 - 1e-4) * (1 - min(s, 20) / 20) ** 2 + 1e-4),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=4, end_learning_rate=0.01,
                             cycle=True),
     lambda s: (0.1 - 0.01) * (1 - s / (4 * max(1, math.ceil(s / 4)))) + 0.01),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=50, alpha=0.1),
     lambda s: cos_decay(s, 0.1, 50, 0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=50, warmup_target=0.2,
                         warmup_steps=8),
     lambda s: 0.2 * s / 8 if s < 8 else cos_decay(s - 8, 0.2, 50, 0.0)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=3),
     lambda s: sgdr(s, 0.1, 3, 2.0, 1.0, 0.0)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=1.0,
                                 m_mul=0.5, alpha=0.1),
     lambda s: sgdr(s, 0.1, 4, 1.0, 0.5, 0.1)),
]
IDS = [f"{c[0]}{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("name,kw,formula", CASES, ids=IDS)
def test_schedule_matches_the_formula(name, kw, formula):
    sched = getattr(S, name)(**kw)
    for step in STEPS + [2, 3, 4, 7, 8, 9, 21, 57]:
        assert sched(step) == pytest.approx(formula(step), rel=1e-12, abs=1e-15), step
        assert isinstance(sched(step), float)


@pytest.mark.parametrize("name,kw,formula", CASES, ids=IDS)
def test_schedule_matches_keras(name, kw, formula):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    ks = getattr(keras.optimizers.schedules, name)(**kw)
    mine = getattr(S, name)(**kw)
    for step in STEPS:
        expected = float(keras.ops.convert_to_numpy(ks(step)))
        assert mine(step) == pytest.approx(expected, rel=1e-5, abs=1e-8), step  # Keras: float32
    assert set(mine.get_config()) == set(ks.get_config())


@pytest.mark.parametrize("name,kw,formula", CASES, ids=IDS)
def test_config_round_trip(name, kw, formula):
    sched = getattr(S, name)(**kw)
    spec = json.loads(json.dumps(S.serialize(sched)))
    assert spec["class_name"] == name
    for back in (S.deserialize(spec), S.get(spec), type(sched).from_config(sched.get_config())):
        assert type(back) is type(sched) and back.get_config() == sched.get_config()
        assert [back(s) for s in STEPS] == [sched(s) for s in STEPS]


def test_exposed_as_nb_optimizers_schedules():
    assert nb.optimizers.schedules is S
    assert issubclass(nb.optimizers.schedules.CosineDecay, S.LearningRateSchedule)
    with pytest.raises(NotImplementedError):
        S.LearningRateSchedule()(0)
    with pytest.raises(ValueError, match="unknown"):
        S.deserialize({"class_name": "LearningRateSchedule", "config": {}})


@pytest.mark.parametrize("make,match", [
    (lambda: S.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
    (lambda: S.InverseTimeDecay(0.1, -1, 0.5), "decay_steps"),
    (lambda: S.PolynomialDecay(0.1, 0), "decay_steps"),
    (lambda: S.CosineDecay(0.1, 0), "decay_steps"),
    (lambda: S.CosineDecay(0.1, 10, warmup_steps=-1), "warmup_steps"),
    (lambda: S.CosineDecayRestarts(0.1, 0), "first_decay_steps"),
    (lambda: S.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), "length"),
    (lambda: S.PiecewiseConstantDecay([3, 2], [0.1, 0.2, 0.3]), "increasing"),
    (lambda: S.ExponentialDecay("fast", 10, 0.5), "initial_learning_rate"),
])
def test_bad_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_negative_step_is_refused():
    with pytest.raises(ValueError, match="step"):
        S.ExponentialDecay(0.1, 10, 0.5)(-1)
