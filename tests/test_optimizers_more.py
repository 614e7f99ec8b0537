"""Issue 14: Keras 3 / torch.optim defaults by argument names, gradient clipping,
learning-rate schedules as optimizer arguments, Nadam / Adamax / Adadelta / Lion /
Lamb, and EMA. Expected values from NumPy transcriptions of the published formulas
(always) and from torch.optim / Keras 3 (optional, skipped without them)."""
import inspect
import json
import os

import numba
import numpy as np
import pytest

import nbnet.optimizers as O
from nbnet.optimizers import schedules as S


def keras_or_skip():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


# ---------------------------------------------------------------- NumPy references
def clip_ref(g, offsets, clipnorm=None, global_clipnorm=None, clipvalue=None):
    """Keras' _clip_gradients over the variables g[offsets[s]:offsets[s+1]]."""
    g = np.array(g, dtype=np.float64)
    if clipnorm:
        for a, b in zip(offsets[:-1], offsets[1:]):
            norm = np.sqrt(np.sum(g[a:b] ** 2))
            g[a:b] = g[a:b] * clipnorm / max(norm, clipnorm)
    elif global_clipnorm:
        norm = np.sqrt(np.sum(g ** 2))
        g = g * global_clipnorm / max(norm, global_clipnorm)
    elif clipvalue:
        g = np.clip(g, -clipvalue, clipvalue)
    return g


def nadam_ref(w, grads, lr, b1, b2, eps, wd=0.0, momentum_decay=4e-3, decoupled=False):
    """torch.optim.NAdam's pseudo-code."""
    m, v, mu_product = np.zeros_like(w), np.zeros_like(w), 1.0
    for t, g in enumerate(grads, 1):
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v / (1 - b2 ** t)) + eps
        w = (w - lr * (1 - mu) / (1 - mu_product) * g / denom
             - lr * mu_next / (1 - mu_product * mu_next) * m / denom)
    return w


def adamax_ref(w, grads, lr, b1, b2, eps, wd=0.0):
    m, u = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        g = g + wd * w
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        w = w - lr / (1 - b1 ** t) * m / u
    return w


def adadelta_ref(w, grads, lr, rho, eps, wd=0.0):
    sq, acc = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        g = g + wd * w
        sq = rho * sq + (1 - rho) * g * g
        delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
        acc = rho * acc + (1 - rho) * delta * delta
        w = w - lr * delta
    return w


def lion_ref(w, grads, lr, b1, b2, wd=0.0):
    m = np.zeros_like(w)
    for g in grads:
        w = w - w * wd * lr
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    return w


def lamb_ref(w, grads, lr, b1, b2, eps, wd=0.0, offsets=None):
    offsets = [0, w.size] if offsets is None else offsets
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        w = w - w * wd * lr
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        for a, b in zip(offsets[:-1], offsets[1:]):
            wn, rn = np.linalg.norm(w[a:b]), np.linalg.norm(r[a:b])
            ratio = wn / rn if wn > 0 and rn > 0 else 1.0
            w[a:b] = w[a:b] - ratio * lr * r[a:b]
    return w


def sgd_ref(w, grads, lr, momentum=0.0, wd=0.0):
    b = None
    for g in grads:
        g = g + wd * w
        if momentum:
            b = g.copy() if b is None else momentum * b + g
            g = b
        w = w - lr * g
    return w


def adam_ref(w, grads, lr, b1, b2, eps, wd=0.0, decoupled=False):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        if decoupled:
            w = w - lr * wd * w
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return w


def problem(n=300, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), [rng.normal(size=n) * s for s in (1.5, 0.2, 3.0, 0.7)[:steps]]


def run(opt, w0, grads, dtype=np.float64, offsets=None):
    w = w0.astype(dtype)
    if offsets is not None:
        opt.build(w.size, dtype, offsets=offsets)
    for g in grads:
        g = g.astype(dtype)
        g0 = g.copy()
        opt.step(w, g)
        assert np.array_equal(g, g0)  # g is only read
    return w


# ---------------------------------------------------------------- new optimizers
NEW = [  # (optimizer, reference), over 3 steps of random gradients
    (lambda: O.Nadam(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
     lambda w, gs: nadam_ref(w, gs, 0.01, 0.8, 0.95, 1e-6, 0.1)),
    (lambda: O.Nadam(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True, momentum_decay=0.3),
     lambda w, gs: nadam_ref(w, gs, 0.01, 0.9, 0.999, 1e-8, 0.2, 0.3, True)),
    (lambda: O.Nadam(),  # Keras' Nadam: momentum_decay 1, epsilon 1e-7
     lambda w, gs: nadam_ref(w, gs, 1e-3, 0.9, 0.999, 1e-7, 0.0, 1.0)),
    (lambda: O.Adamax(lr=0.02, betas=(0.7, 0.9), eps=1e-3, weight_decay=0.1),
     lambda w, gs: adamax_ref(w, gs, 0.02, 0.7, 0.9, 1e-3, 0.1)),
    (lambda: O.Adadelta(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.05),
     lambda w, gs: adadelta_ref(w, gs, 0.5, 0.8, 1e-4, 0.05)),
    (lambda: O.Lion(learning_rate=0.01, beta_1=0.8, beta_2=0.95, weight_decay=0.3),
     lambda w, gs: lion_ref(w, gs, 0.01, 0.8, 0.95, 0.3)),
    (lambda: O.Lamb(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-6, weight_decay=0.1),
     lambda w, gs: lamb_ref(w, gs, 0.01, 0.8, 0.95, 1e-6, 0.1)),
]
NEW_IDS = ["nadam", "nadam-decoupled", "nadam-keras", "adamax", "adadelta", "lion", "lamb"]


@pytest.mark.parametrize("make,ref", NEW, ids=NEW_IDS)
def test_new_optimizers_match_their_formula(make, ref):
    w0, grads = problem()
    expected = ref(w0.copy(), grads)
    np.testing.assert_allclose(run(make(), w0, grads), expected, rtol=1e-12, atol=1e-15)
    got32 = run(make(), w0, grads, np.float32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected, rtol=2e-4, atol=2e-5)


def test_lion_moves_every_weight_by_lr_and_lamb_uses_the_trust_ratio():
    w = np.array([3.0, -2.0, 0.5])
    O.Lion(learning_rate=0.1).step(w, np.array([1e-3, -5.0, 0.0]))
    np.testing.assert_allclose(w, [2.9, -1.9, 0.5], rtol=1e-15)  # sign(0) = 0
    w = np.array([3.0, 4.0])  # ||w|| = 5; first Adam direction r = sign(g) (eps = 0)
    O.Lamb(learning_rate=0.1, epsilon=0.0).step(w, np.array([2.0, -0.1]))
    ratio = 5.0 / np.sqrt(2.0)
    np.testing.assert_allclose(w, [3.0 - 0.1 * ratio, 4.0 + 0.1 * ratio], rtol=1e-14)


@pytest.mark.parametrize("name,kw", [
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.1, decoupled_weight_decay=True)),
    ("Adamax", dict(lr=0.02, betas=(0.7, 0.9), weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.05)),
    ("Adadelta", dict()), ("NAdam", dict()), ("Adamax", dict())])
def test_new_optimizers_match_torch_optim(name, kw):
    torch = pytest.importorskip("torch")
    w0, grads = problem(n=257)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch's step / mu_product scalars in float64
    try:
        p = torch.nn.Parameter(torch.tensor(w0.copy()))
        topt = getattr(torch.optim, name)([p], **kw)
        for g in grads:
            p.grad = torch.tensor(g)
            topt.step()
    finally:
        torch.set_default_dtype(old)
    cls = {"NAdam": O.Nadam}.get(name, getattr(O, name, None))
    opt = cls(**kw) if kw else cls(lr=topt.defaults["lr"])  # lr= alone: torch's defaults
    np.testing.assert_allclose(run(opt, w0, grads), p.detach().numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- defaults
def test_keras_names_give_keras_defaults_and_torch_names_torch_defaults():
    r = O.get("rmsprop")
    assert (r.learning_rate, r.alpha, r.epsilon) == (0.001, 0.9, 1e-7)
    r = O.RMSprop(lr=0.01)
    assert (r.learning_rate, r.alpha, r.epsilon) == (0.01, 0.99, 1e-8)
    r = O.RMSprop(learning_rate=0.01, alpha=0.9)  # a PyTorch name: PyTorch's epsilon
    assert (r.alpha, r.epsilon) == (0.9, 1e-8)
    a = O.get("adagrad")
    assert (a.learning_rate, a.initial_accumulator_value, a.epsilon) == (0.001, 0.1, 1e-7)
    a = O.Adagrad(lr_decay=0.1)
    assert (a.learning_rate, a.initial_accumulator_value, a.epsilon) == (0.01, 0.0, 1e-10)
    a = O.Adam(learning_rate=0.01)
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon) == (0.01, 0.9, 0.999, 1e-7)
    assert O.Adam(eps=1e-8).epsilon == 1e-8 and O.Adam(betas=(0.9, 0.99)).epsilon == 1e-8
    assert O.get("adamw").weight_decay == 0.004 and O.AdamW(lr=0.1).weight_decay == 0.01
    assert O.SGD().learning_rate == 0.01 and O.SGD(dampening=0.1).learning_rate == 1e-3
    n = O.get("nadam")
    assert (n.learning_rate, n.epsilon, n.momentum_decay) == (1e-3, 1e-7, 1.0)
    n = O.Nadam(momentum_decay=0.004)
    assert (n.learning_rate, n.epsilon) == (2e-3, 1e-8)
    d = O.Adadelta(eps=1e-6)
    assert (d.learning_rate, d.rho, d.epsilon) == (1.0, 0.9, 1e-6)
    d = O.get("adadelta")
    assert (d.learning_rate, d.rho, d.epsilon) == (1e-3, 0.95, 1e-7)
    assert O.Adamax(lr=0.1).epsilon == 1e-8 and O.get("adamax").epsilon == 1e-7
    assert (O.get("lion").beta_2, O.get("lamb").epsilon) == (0.99, 1e-7)
    for bad in (lambda: O.Nadam(beta_1=0.8, betas=(0.9, 0.9)),
                lambda: O.Lion(learning_rate=0.1, lr=0.1),
                lambda: O.Adadelta(epsilon=1e-3, eps=1e-3),
                lambda: O.SGD(unknown=1)):
        with pytest.raises(TypeError):
            bad()


@pytest.mark.parametrize("name", list(O.DEFAULTS))
def test_defaults_table_is_what_the_classes_do(name):
    keras_d, torch_d = O.DEFAULTS[name]
    opt = O.get(name.lower())
    for k, v in keras_d.items():
        assert getattr(opt, k) == v, k
    if torch_d is not None:
        opt = getattr(O, name)(lr=torch_d["lr"])
        for k, v in torch_d.items():
            k = {"lr": "learning_rate", "eps": "epsilon", "alpha": "alpha"}.get(k, k)
            if k == "betas":
                assert (opt.beta_1, opt.beta_2) == v
            else:
                assert getattr(opt, k) == v, k


@pytest.mark.parametrize("name", list(O.DEFAULTS))
def test_defaults_table_matches_keras_and_torch(name):
    keras = keras_or_skip()
    keras_d, torch_d = O.DEFAULTS[name]
    cfg = getattr(keras.optimizers, name)().get_config()
    for k, v in keras_d.items():
        if k in cfg:
            got = 0.0 if cfg[k] is None else cfg[k]  # Keras' weight_decay None
            assert got == v if isinstance(v, bool) else got == pytest.approx(v, rel=1e-7), k
    if torch_d is not None:
        torch = pytest.importorskip("torch")
        params = inspect.signature(getattr(torch.optim, {"Nadam": "NAdam"}.get(name, name))).parameters
        for k, v in torch_d.items():
            assert params[k].default == v, k


# ---------------------------------------------------------------- clipping
OFFSETS = [0, 3, 9000, 9001, 9001, 17000, 20000]  # variables straddling work items
CLIPS = [dict(clipnorm=2.0), dict(global_clipnorm=5.0), dict(clipvalue=0.3)]


@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: next(iter(c)))
@pytest.mark.parametrize("make,ref", [
    (lambda **c: O.SGD(learning_rate=0.1, momentum=0.9, weight_decay=0.01, **c),
     lambda w, gs: sgd_ref(w, gs, 0.1, 0.9, 0.01)),
    (lambda **c: O.Adam(learning_rate=0.01, weight_decay=0.1, **c),
     lambda w, gs: adam_ref(w, gs, 0.01, 0.9, 0.999, 1e-7, 0.1)),
    (lambda **c: O.AdamW(learning_rate=0.01, **c),
     lambda w, gs: adam_ref(w, gs, 0.01, 0.9, 0.999, 1e-7, 0.004, True)),
    (lambda **c: O.Lamb(learning_rate=0.01, **c),
     lambda w, gs: lamb_ref(w, gs, 0.01, 0.9, 0.999, 1e-7, 0.0, OFFSETS)),
    (lambda **c: O.Adadelta(learning_rate=0.5, **c),
     lambda w, gs: adadelta_ref(w, gs, 0.5, 0.95, 1e-7)),
], ids=["sgd", "adam", "adamw", "lamb", "adadelta"])
def test_clipping_per_variable_global_and_by_value(make, ref, clip):
    n = OFFSETS[-1]
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=n)
    grads = [rng.normal(size=n) * s for s in (0.05, 1.0, 3.0)]
    grads[1][5000] = 400.0  # one variable's norm far above the others
    clipped = [clip_ref(g, OFFSETS, **clip) for g in grads]
    expected = ref(w0.copy(), clipped)
    got = run(make(**clip), w0, grads, offsets=OFFSETS)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-14)
    got32 = run(make(**clip), w0, grads, np.float32, offsets=OFFSETS)
    np.testing.assert_allclose(got32, expected, rtol=1e-3, atol=1e-4)


def test_clipnorm_acts_on_the_whole_buffer_until_set_slices():
    g = np.array([3.0, 4.0, 0.0, 12.0])  # ||g[:2]|| = 5, ||g[2:]|| = 12, ||g|| = 13
    w = np.zeros(4)
    O.SGD(learning_rate=1.0, clipnorm=1.0).step(w, g)
    np.testing.assert_allclose(w, -g / 13, rtol=1e-15)
    opt = O.SGD(learning_rate=1.0, clipnorm=1.0)
    opt.build(4, np.float64)
    opt.set_slices([0, 2, 4])
    w = np.zeros(4)
    opt.step(w, g)
    np.testing.assert_allclose(w, -np.array([0.6, 0.8, 0.0, 1.0]), rtol=1e-15)
    with pytest.raises(ValueError, match="offsets"):
        opt.set_slices([0, 5])
    with pytest.raises(ValueError, match="Only one of"):
        O.Adam(clipnorm=1.0, clipvalue=1.0)


def test_nan_gradient_still_reaches_the_weights_when_clipping():
    for clip in CLIPS:
        w = np.ones(3)
        O.SGD(**clip).step(w, np.array([1.0, np.nan, 2.0]))
        assert np.isnan(w[1]), clip


@pytest.mark.parametrize("make", [lambda: O.Lamb(learning_rate=0.01, clipnorm=1.0),
                                  lambda: O.Adam(global_clipnorm=1.0),
                                  lambda: O.Nadam(clipnorm=0.5)])
def test_norms_are_bitwise_the_same_at_1_and_2_threads(make):
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=OFFSETS[-1]).astype(np.float32)
    grads = [rng.normal(size=w0.size).astype(np.float32) for _ in range(2)]
    before = numba.get_num_threads()
    out = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            out.append(run(make(), w0, grads, np.float32, offsets=OFFSETS))
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(out[0], out[1])


def test_clipping_matches_keras():
    keras = keras_or_skip()
    w0, grads = problem(n=40, steps=2, seed=3)
    offsets = [0, 10, 40]
    for name, kw in [("SGD", dict(learning_rate=0.1, momentum=0.9, clipnorm=0.5)),
                     ("SGD", dict(learning_rate=0.1, global_clipnorm=0.7)),
                     ("SGD", dict(learning_rate=0.1, clipvalue=0.2)),
                     ("Lamb", dict(learning_rate=0.01)), ("Lion", dict(learning_rate=0.01)),
                     ("Nadam", dict(learning_rate=0.01))]:
        kvars = [keras.Variable(w0[a:b].copy(), dtype="float64")
                 for a, b in zip(offsets[:-1], offsets[1:])]
        kopt = getattr(keras.optimizers, name)(**kw)
        for g in grads:
            kopt.apply_gradients([(keras.ops.convert_to_tensor(g[a:b], dtype="float64"), v)
                                  for (a, b), v in zip(zip(offsets[:-1], offsets[1:]), kvars)])
        expected = np.concatenate([keras.ops.convert_to_numpy(v) for v in kvars])
        got = run(getattr(O, name)(**kw), w0, grads, offsets=offsets)
        # Keras keeps the learning rate in a float32 variable: 0.1 -> 0.10000000149
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9, err_msg=name)


# ---------------------------------------------------------------- schedules
def test_schedule_as_learning_rate_uses_iterations_before_the_step():
    sched = S.ExponentialDecay(0.5, decay_steps=2, decay_rate=0.5)
    opt = O.SGD(learning_rate=sched)
    w, seen = np.zeros(2), []
    for t in range(4):
        assert opt.learning_rate == pytest.approx(0.5 * 0.5 ** (t / 2), rel=1e-15)
        seen.append(opt.learning_rate)
        opt.step(w, np.ones(2))
    np.testing.assert_allclose(w, -sum(seen), rtol=1e-14)
    assert isinstance(opt.learning_rate, float)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1
    cfg = json.loads(json.dumps(O.serialize(opt)))
    assert cfg["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    back = O.get(cfg)
    assert back.get_config() == opt.get_config() and back.learning_rate == sched(0)


def test_schedule_survives_a_state_round_trip():
    sched = S.CosineDecay(0.1, decay_steps=10, warmup_target=0.2, warmup_steps=3)
    a = O.Adam(learning_rate=sched)
    w0, grads = problem(n=50, steps=4)
    w = run(a, w0, grads[:2])
    state, w_saved = a.get_state(), w.copy()
    assert float(state["learning_rate"]) == sched(2)
    for g in grads[2:]:
        a.step(w, g)
    b = O.get(O.serialize(a))
    b.set_state(state)
    assert b.iterations == 2 and b.learning_rate == sched(2)
    for g in grads[2:]:
        b.step(w_saved, g)
    assert np.array_equal(w, w_saved)


# ---------------------------------------------------------------- EMA
def ema_ref(w, grads, lr, momentum, freq=None):
    avg = None
    for t, g in enumerate(grads, 1):
        w = w - lr * g
        avg = w.copy() if t == 1 else momentum * avg + (1 - momentum) * w
        if freq and t % freq == 0:
            w = avg.copy()
    return w, avg


@pytest.mark.parametrize("freq", [None, 2])
def test_ema_as_keras(freq):
    w0, grads = problem(n=30, steps=4)
    opt = O.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=freq)
    got = run(opt, w0, grads)
    w_ref, avg_ref = ema_ref(w0.copy(), grads, 0.1, 0.7, freq)
    np.testing.assert_allclose(got, w_ref, rtol=1e-13)
    np.testing.assert_allclose(opt.get_state()["average"], avg_ref, rtol=1e-13)
    opt.finalize_variable_values(got)
    np.testing.assert_allclose(got, avg_ref, rtol=1e-13)
    state = opt.get_state()
    assert set(state) == {"average", "iterations", "learning_rate"}
    with pytest.raises(ValueError, match="ema_momentum"):
        O.SGD(use_ema=True, ema_momentum=1.5)


def test_ema_matches_keras():
    keras = keras_or_skip()
    w0, grads = problem(n=12, steps=4)
    v = keras.Variable(w0.copy(), dtype="float64")
    kopt = keras.optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.7,
                                ema_overwrite_frequency=3)
    for g in grads:
        kopt.apply_gradients([(keras.ops.convert_to_tensor(g, dtype="float64"), v)])
    opt = O.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=3)
    got = run(opt, w0, grads)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(v), rtol=1e-6)  # float32 lr
    kopt.finalize_variable_values([v])
    opt.finalize_variable_values(got)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(v), rtol=1e-6)


# ---------------------------------------------------------------- config and state
@pytest.mark.parametrize("opt", [
    O.Nadam(0.01, 0.8, 0.9, 1e-6, 0.1, clipnorm=1.0), O.Adamax(0.01, global_clipnorm=2.0),
    O.Adadelta(0.5, 0.8, 1e-5, 0.01, clipvalue=0.5), O.Lion(0.01, 0.8, 0.9, 0.1),
    O.Lamb(0.01, use_ema=True, ema_overwrite_frequency=3, name="my_lamb"),
    O.RMSprop(learning_rate=S.PiecewiseConstantDecay([2, 4], [0.1, 0.05, 0.01]))],
    ids=lambda o: type(o).__name__)
def test_config_round_trip_and_bitwise_resume(opt):
    cfg = json.loads(json.dumps(O.serialize(opt)))
    twin = O.get(cfg)
    assert type(twin) is type(opt) and twin.get_config() == opt.get_config()
    w0, grads = problem(n=1001, steps=4)
    w = run(opt, w0, grads[:2], np.float32)
    state, w_saved = opt.get_state(), w.copy()
    for g in grads[2:]:
        opt.step(w, g.astype(np.float32))
    twin.set_state({k: v.copy() for k, v in state.items()})
    for g in grads[2:]:
        twin.step(w_saved, g.astype(np.float32))
    assert np.array_equal(w, w_saved)
