"""Learning-rate schedules: closed forms written out here, PyTorch's own values, and the
callback behaviour (base_lr remembered at train begin, set at every epoch begin)."""
import json
import math
from types import SimpleNamespace

import pytest

import nbnet.callbacks
import nbnet.optimizers as O
import nbnet.schedules as S

EPOCHS = 10
BASE = 0.1

# Expected values for epochs 0..9, written from the formulas:
EXPECTED = [
    # StepLR(3, 0.5): halves at epochs 3, 6, 9
    (S.StepLR(3, gamma=0.5), [0.1] * 3 + [0.05] * 3 + [0.025] * 3 + [0.0125]),
    # StepLR(2) with the default gamma 0.1
    (S.StepLR(2), [0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5]),
    # MultiStepLR([2, 5], 0.1): x0.1 from epoch 2, x0.01 from epoch 5
    (S.MultiStepLR([2, 5]), [0.1, 0.1] + [0.01] * 3 + [0.001] * 5),
    # milestones unsorted, one repeated: counted twice (PyTorch's Counter)
    (S.MultiStepLR([6, 3, 3], gamma=0.5), [0.1] * 3 + [0.025] * 3 + [0.0125] * 4),
    # ExponentialLR(0.9): 0.1 * 0.9^e
    (S.ExponentialLR(0.9), [0.1, 0.09, 0.081, 0.0729, 0.06561, 0.059049, 0.0531441,
                            0.04782969, 0.043046721, 0.0387420489]),
    # CosineAnnealingLR(10, 0.001): 0.001 + 0.099 * (1 + cos(pi e / 10)) / 2
    (S.CosineAnnealingLR(10, eta_min=0.001),
     [0.001 + 0.099 * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(EPOCHS)]),
    # CosineAnnealingLR(4): reaches 0 at epoch 4, then follows the cosine back up
    (S.CosineAnnealingLR(4), [0.1, 0.1 * (1 + math.sqrt(0.5)) / 2, 0.05,
                              0.1 * (1 - math.sqrt(0.5)) / 2, 0.0,
                              0.1 * (1 - math.sqrt(0.5)) / 2, 0.05,
                              0.1 * (1 + math.sqrt(0.5)) / 2, 0.1,
                              0.1 * (1 + math.sqrt(0.5)) / 2]),
]
IDS = ["step", "step_default_gamma", "multistep", "multistep_repeat", "exponential",
       "cosine_eta_min", "cosine_past_T_max"]


@pytest.mark.parametrize("sched,expected", EXPECTED, ids=IDS)
def test_lr_at_matches_the_formula(sched, expected):
    got = [sched.lr_at(e, BASE) for e in range(EPOCHS)]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert all(isinstance(v, float) for v in got)


TORCH = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5], gamma=0.1)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=3, eta_min=0.01)),
]


@pytest.mark.parametrize("name,kw", TORCH, ids=[f"{n}{i}" for i, (n, _) in enumerate(TORCH)])
def test_equals_pytorch(name, kw):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=BASE)
    tsched = getattr(torch.optim.lr_scheduler, name)(opt, **kw)
    ours = getattr(S, name)(**kw)
    for epoch in range(15):
        torch_lr = opt.param_groups[0]["lr"]
        assert ours.lr_at(epoch, BASE) == pytest.approx(torch_lr, rel=1e-9, abs=1e-15)
        opt.step()
        tsched.step()


def fake_model(lr):
    return SimpleNamespace(optimizer=O.SGD(learning_rate=lr))


def test_callback_sets_the_rate_each_epoch_from_the_remembered_base():
    sched = S.StepLR(2, gamma=0.5)
    assert isinstance(sched, nbnet.callbacks.Callback)
    model = fake_model(0.4)
    sched.set_model(model)
    sched.set_params({"epochs": 4})
    sched.on_train_begin()
    seen = []
    for epoch in range(4):
        sched.on_epoch_begin(epoch)
        seen.append(model.optimizer.learning_rate)
        logs = {}
        sched.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == seen[-1]
    assert seen == pytest.approx([0.4, 0.4, 0.2, 0.2])
    # a second fit (initial_epoch=4) continues from the same base, not from 0.2
    sched.on_train_begin()
    sched.on_epoch_begin(4)
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    # the other Keras hooks exist and do nothing
    for hook in ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
                 "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
        getattr(sched, hook)(0, {})
    for hook in ("on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
                 "on_train_end"):
        getattr(sched, hook)({})
    assert model.optimizer.learning_rate == pytest.approx(0.1)


@pytest.mark.parametrize("sched", [s for s, _ in EXPECTED], ids=IDS)
def test_config_round_trip(sched):
    cfg = json.loads(json.dumps(sched.get_config()))
    back = type(sched).from_config(cfg)
    assert back.get_config() == sched.get_config()
    assert [back.lr_at(e, 1.0) for e in range(12)] == [sched.lr_at(e, 1.0) for e in range(12)]


@pytest.mark.parametrize("make,name", [
    (lambda: S.StepLR(0), "step_size"),
    (lambda: S.StepLR(2.5), "step_size"),
    (lambda: S.StepLR(2, gamma=-1), "gamma"),
    (lambda: S.MultiStepLR([1, -2]), "milestones"),
    (lambda: S.MultiStepLR(5), "milestones"),
    (lambda: S.ExponentialLR(float("inf")), "gamma"),
    (lambda: S.CosineAnnealingLR(0), "T_max"),
    (lambda: S.CosineAnnealingLR(5, eta_min=-0.1), "eta_min"),
])
def test_bad_arguments_name_themselves(make, name):
    with pytest.raises(ValueError, match=name):
        make()
