"""Optimizer classes: textbook values, torch.optim agreement, state round trip,
build semantics, aliases, validation, config and get()."""
import json

import numpy as np
import pytest

import nbnet.optimizers as O


def two_steps(opt, dtype=np.float64):
    """Two steps on w = 1 with loss w^2 / 2 (gradient = w)."""
    w = np.ones(1, dtype=dtype)
    out = []
    for _ in range(2):
        opt.step(w, w.copy())
        out.append(float(w[0]))
    return out


# Hand-computed (DESIGN.md and the textbook values):
#   SGD m=0.9: w1 = 1 - 0.01 = 0.99; buf = 0.9 + 0.99 = 1.89; w2 = 0.99 - 0.0189 = 0.9711
#   Adagrad:   s = 1, w1 = 0.99; s = 1 + 0.9801, w2 = 0.99 - 0.01 * 0.99 / sqrt(1.9801)
#   RMSprop a=0.9: v = 0.1, w1 = 1 - 0.01 / sqrt(0.1); v2 = 0.09 + 0.1 * w1^2, ...
#   Adam (0.9, 0.99): w1 = 0.99 (m_hat = v_hat = 1); m_hat2 = 0.189 / 0.19,
#                     v_hat2 = 0.019701 / 0.0199 = 0.99, w2 = 0.99 - 0.01 * m_hat2 / sqrt(0.99)
TEXTBOOK = [
    (lambda: O.SGD(learning_rate=0.01, momentum=0.9), [0.99, 0.9711]),
    # PyTorch's initial accumulator 0 given explicitly (Keras' default is 0.1)
    (lambda: O.Adagrad(learning_rate=0.01, initial_accumulator_value=0.0), [0.99, 0.982965]),
    (lambda: O.RMSprop(learning_rate=0.01, alpha=0.9), [0.968377, 0.945788]),
    (lambda: O.Adam(lr=0.01, betas=(0.9, 0.99)), [0.99, 0.980003]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make,expected", TEXTBOOK, ids=["sgd", "adagrad", "rmsprop", "adam"])
def test_textbook_two_steps(make, expected, dtype):
    got = two_steps(make(), dtype)
    assert got == pytest.approx(expected, abs=1e-6)


def test_adamw_decays_before_the_update():
    # w1 = 1 * (1 - 0.01 * 0.5) - 0.01 * 1 = 0.985
    w = np.ones(1)
    O.AdamW(learning_rate=0.01, weight_decay=0.5, epsilon=0.0).step(w, np.ones(1))
    assert w[0] == pytest.approx(0.985, abs=1e-12)
    # Keras 3's default 0.004 without PyTorch names, torch.optim's 0.01 with them
    assert O.AdamW().weight_decay == 0.004 and O.AdamW(lr=1e-3).weight_decay == 0.01
    assert O.Adam().weight_decay == 0.0


# ---------------------------------------------------------------- torch.optim itself
TORCH_CASES = [
    (O.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (O.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    (O.Adagrad, dict(lr=0.1, lr_decay=0.2, weight_decay=0.1, initial_accumulator_value=0.3)),
    (O.RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    (O.Adam, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    (O.AdamW, dict(lr=0.01, betas=(0.8, 0.9), amsgrad=True)),
    (O.AdamW, dict(lr=0.01, weight_decay=0.3)),
]


@pytest.mark.parametrize("cls,kw", TORCH_CASES,
                         ids=[f"{c.__name__}{i}" for i, (c, _) in enumerate(TORCH_CASES)])
def test_matches_torch_optim(cls, kw):
    torch = pytest.importorskip("torch")
    n, steps = 257, 6
    rng = np.random.default_rng(5)
    w0 = rng.normal(size=n)
    grads = [rng.normal(size=n) * s for s in (2.0, 0.1, 1.0, 0.05, 3.0, 0.5)]
    p = torch.nn.Parameter(torch.tensor(w0.copy(), dtype=torch.float64))
    topt = getattr(torch.optim, cls.__name__)([p], **kw)
    opt, w = cls(**kw), w0.copy()
    for g in grads:
        p.grad = torch.tensor(g + 0.5 * p.detach().numpy())
        opt.step(w, g + 0.5 * w)
        topt.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-10, atol=1e-14)
    assert opt.iterations == steps


# ---------------------------------------------------------------- state
ALL = [O.SGD(momentum=0.9, nesterov=True), O.Adagrad(lr_decay=0.1),
       O.RMSprop(centered=True, momentum=0.5), O.Adam(amsgrad=True), O.AdamW()]


@pytest.mark.parametrize("proto", ALL, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resume_from_state_is_bitwise(proto, dtype):
    n = 1001
    grads = [np.random.default_rng(s).normal(size=n).astype(dtype) for s in range(6)]
    a = O.get(O.serialize(proto))
    a.build(n, dtype)
    w = np.random.default_rng(9).normal(size=n).astype(dtype)
    for g in grads[:3]:
        a.step(w, g)
    state, w_saved = a.get_state(), w.copy()
    assert int(state["iterations"]) == 3 and state["iterations"].dtype == np.int64
    for g in grads[3:]:
        a.step(w, g)
    b = O.get(O.serialize(proto))  # fresh, not built: set_state builds it
    b.set_state({k: v.copy() for k, v in state.items()})
    for g in grads[3:]:
        b.step(w_saved, g)
    assert np.array_equal(w, w_saved)
    assert b.iterations == a.iterations == 6
    for k, v in a.get_state().items():
        assert np.array_equal(v, b.get_state()[k])


def test_state_is_a_copy_and_bad_state_changes_nothing():
    opt = O.Adam()
    opt.build(4, "float32")
    opt.step(np.ones(4, np.float32), np.ones(4, np.float32))
    state = opt.get_state()
    assert set(state) == {"exp_avg", "exp_avg_sq", "iterations", "learning_rate"}
    state["exp_avg"][:] = 123.0
    assert not np.any(opt.get_state()["exp_avg"] == 123.0)
    before = opt.get_state()
    with pytest.raises(ValueError, match="exp_avg_sq"):
        opt.set_state({"exp_avg": np.zeros(4), "iterations": np.array(1)})
    with pytest.raises(ValueError, match="shape"):
        opt.set_state({**before, "exp_avg": np.zeros(5)})
    after = opt.get_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_learning_rate_is_restored_with_the_state():
    a = O.SGD(learning_rate=0.1)
    a.learning_rate = 0.025  # e.g. after ReduceLROnPlateau
    b = O.SGD(learning_rate=0.1)
    b.set_state(a.get_state())
    assert b.learning_rate == 0.025


def test_build_is_idempotent_and_a_new_size_resets():
    opt = O.SGD(momentum=0.9)
    opt.build(3, np.float64)
    w = np.ones(3)
    opt.step(w, np.ones(3))
    buf = opt.get_state()["momentum_buffer"]
    opt.build(3, "float64")
    assert opt.iterations == 1 and np.array_equal(opt.get_state()["momentum_buffer"], buf)
    opt.build(5, "float64")
    assert opt.iterations == 0 and np.array_equal(opt.get_state()["momentum_buffer"], np.zeros(5))
    with pytest.raises(ValueError):
        opt.step(np.ones(3), np.ones(3))  # built for 5
    with pytest.raises(ValueError):
        opt.step(np.ones(5, np.float32), np.ones(5, np.float32))  # built for float64


def test_step_reads_the_learning_rate_each_time_and_leaves_g_alone():
    opt = O.SGD(learning_rate=0.5)
    w, g = np.zeros(3), np.array([1.0, 2.0, 3.0])
    opt.step(w, g)
    opt.learning_rate = 0.25
    opt.step(w, g)
    np.testing.assert_array_equal(w, -0.75 * g)
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])
    assert isinstance(opt.learning_rate, float)


def test_adagrad_initial_accumulator():
    opt = O.Adagrad(learning_rate=1.0, initial_accumulator_value=3.0, epsilon=0.0)
    w = np.zeros(2)
    opt.step(w, np.ones(2))  # sum = 3 + 1: w = -1 / 2
    np.testing.assert_allclose(w, -0.5, rtol=1e-15)


# ---------------------------------------------------------------- arguments
def test_pytorch_and_keras_aliases():
    assert O.SGD(lr=0.3).learning_rate == 0.3
    a = O.Adam(lr=0.2, betas=(0.5, 0.6), eps=1e-3)
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon) == (0.2, 0.5, 0.6, 1e-3)
    assert O.RMSprop(rho=0.7).alpha == 0.7 and O.RMSprop(eps=1e-4).epsilon == 1e-4
    assert O.Adagrad(eps=1e-5).epsilon == 1e-5
    assert O.SGD().learning_rate == 0.01 and O.Adam().learning_rate == 1e-3
    for bad in (lambda: O.SGD(learning_rate=0.1, lr=0.1),
                lambda: O.Adam(0.1, lr=0.1),
                lambda: O.Adam(beta_1=0.8, betas=(0.9, 0.99)),
                lambda: O.RMSprop(alpha=0.9, rho=0.9),
                lambda: O.Adam(epsilon=1e-7, eps=1e-7)):
        with pytest.raises(TypeError):
            bad()


@pytest.mark.parametrize("make,name", [
    (lambda: O.SGD(learning_rate=-1), "learning_rate"),
    (lambda: O.SGD(lr=float("nan")), "learning_rate"),
    (lambda: O.SGD(momentum=-0.1), "momentum"),
    (lambda: O.SGD(nesterov=True), "nesterov"),
    (lambda: O.SGD(momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda: O.SGD(weight_decay=-1), "weight_decay"),
    (lambda: O.Adam(beta_1=1.0), "beta_1"),
    (lambda: O.Adam(betas=(0.9, -0.1)), "beta_2"),
    (lambda: O.Adam(betas=0.9), "betas"),
    (lambda: O.Adam(eps=-1e-8), "epsilon"),
    (lambda: O.Adam(amsgrad="yes"), "amsgrad"),
    (lambda: O.RMSprop(alpha=1.5), "alpha"),
    (lambda: O.RMSprop(centered=1), "centered"),
    (lambda: O.Adagrad(lr_decay=-0.1), "lr_decay"),
    (lambda: O.Adagrad(initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda: O.SGD(learning_rate="fast"), "learning_rate"),
])
def test_bad_values_name_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_learning_rate_setter_validates():
    opt = O.Adam()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -0.1
    assert opt.learning_rate == 1e-3


# ---------------------------------------------------------------- config and get()
@pytest.mark.parametrize("opt", [
    O.SGD(0.2, 0.9, 0.0, True, 1e-4), O.Adagrad(0.3, 0.1, 0.2, 0.4, 1e-9),
    O.RMSprop(0.1, 0.8, 1e-6, 0.3, True, 0.01), O.Adam(0.1, 0.8, 0.95, 1e-6, 0.01, True),
    O.AdamW(weight_decay=0.2)], ids=lambda o: type(o).__name__)
def test_config_round_trip(opt):
    cfg = json.loads(json.dumps(O.serialize(opt)))
    assert cfg["class_name"] == type(opt).__name__
    for back in (O.get(cfg), O.Optimizer.from_config(cfg), type(opt).from_config(opt.get_config())):
        assert type(back) is type(opt) and back.get_config() == opt.get_config()


def test_get():
    for name, cls in [("sgd", O.SGD), ("Adagrad", O.Adagrad), ("RMSPROP", O.RMSprop),
                      ("adam", O.Adam), ("AdamW", O.AdamW)]:
        assert type(O.get(name)) is cls
    opt = O.Adam()
    assert O.get(opt) is opt
    with pytest.raises(ValueError, match="known: adadelta, adagrad, adam, adamax, adamw, lamb, lion, nadam, rmsprop, sgd"):
        O.get("adamax9")
    with pytest.raises(ValueError):
        O.get({"class_name": "Ftrl", "config": {}})
    with pytest.raises(ValueError):
        O.get(42)
