"""Optimizer kernels against the NumPy torch.optim reference (tests/reference_optim.py),
over several steps, every option combination, float64 and float32, odd sizes; g is
never written; results are bitwise identical at 1 and 2 threads."""
import numba
import numpy as np
import pytest

import reference_optim as R
from nbnet.kernels import optim as K

SIZES = [1, 7, 1000, 100003]
STEPS = 5
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
# Entries that pass near 0 carry the absolute rounding of the O(1) numbers they are made
# from (g is rounded to the dtype before the kernel sees it): an atol relative to the
# array's largest entry (weights are O(1)).
ATOL = {np.float64: 1e-13, np.float32: 1e-6}

# (kernel name, hyper-parameters in the reference's names)
CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd", dict(lr=0.1, momentum=0.8, weight_decay=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.3, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("rmsprop", dict(lr=0.01, alpha=0.9)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("rmsprop", dict(lr=0.01, alpha=0.99, momentum=0.9)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, beta1=0.8, beta2=0.9, weight_decay=0.1)),
    ("adam", dict(lr=0.01, beta2=0.9, amsgrad=True)),
    ("adam", dict(lr=0.01, weight_decay=0.1, decoupled=True)),
    ("adam", dict(lr=0.01, beta2=0.9, weight_decay=0.05, amsgrad=True, decoupled=True)),
]
IDS = [k + "-" + "-".join(f"{a}={b}" for a, b in h.items()) for k, h in CASES]


def grad_fn(n):
    """g_t(w) = 0.5 * w + s_t * noise_t: gradients that change scale from step to step
    (so AMSGrad's running max matters) and depend on w."""
    scales = [3.0, 0.1, 1.0, 0.05, 2.0, 0.5]
    noise = [np.random.default_rng(100 + t).normal(size=n) for t in range(len(scales))]
    return lambda t, w: 0.5 * w + scales[t - 1] * noise[t - 1]


def run_kernel(kind, w, g_of, steps, h):
    """Drive a kernel for `steps` steps the way the optimizer classes do; returns state."""
    n, dt = w.shape[0], w.dtype
    zeros = lambda: np.zeros(n, dt)  # noqa: E731
    empty = np.empty(0, dt)
    if kind == "sgd":
        st = {"momentum_buffer": zeros() if h.get("momentum", 0) else empty}
    elif kind == "adagrad":
        st = {"sum": np.full(n, h.get("initial_accumulator_value", 0.0), dt)}
    elif kind == "rmsprop":
        st = {"square_avg": zeros(), "grad_avg": zeros() if h.get("centered") else empty,
              "momentum_buffer": zeros() if h.get("momentum", 0) else empty}
    else:
        st = {"m": zeros(), "v": zeros(), "v_max": zeros() if h.get("amsgrad") else empty}
    for t in range(1, steps + 1):
        g = g_of(t, w.astype(np.float64)).astype(dt)
        g_before = g.copy()
        if kind == "sgd":
            K.sgd_step(w, st["momentum_buffer"], g, h["lr"], h.get("momentum", 0.0),
                       h.get("dampening", 0.0), h.get("nesterov", False),
                       h.get("weight_decay", 0.0), t == 1)
        elif kind == "adagrad":
            clr = h["lr"] / (1 + (t - 1) * h.get("lr_decay", 0.0))
            K.adagrad_step(w, st["sum"], g, clr, h.get("weight_decay", 0.0), 1e-10)
        elif kind == "rmsprop":
            K.rmsprop_step(w, st["square_avg"], st["grad_avg"], st["momentum_buffer"], g,
                           h["lr"], h["alpha"], 1e-8, h.get("weight_decay", 0.0),
                           h.get("momentum", 0.0), h.get("centered", False))
        else:
            b1, b2 = h.get("beta1", 0.9), h.get("beta2", 0.999)
            K.adam_step(w, st["m"], st["v"], st["v_max"], g, h["lr"], b1, b2, 1e-8,
                        h.get("weight_decay", 0.0), h.get("amsgrad", False),
                        h.get("decoupled", False), 1.0 - b1 ** t, 1.0 - b2 ** t)
        assert np.array_equal(g, g_before), "the kernel wrote into the gradient buffer"
    return st


REFS = {"sgd": R.sgd_ref, "adagrad": R.adagrad_ref, "rmsprop": R.rmsprop_ref, "adam": R.adam_ref}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind,h", CASES, ids=IDS)
def test_kernel_matches_reference(kind, h, n, dtype):
    rng = np.random.default_rng(n)
    # |w| in [1, 2]: away from 0, so the relative tolerance is meaningful
    w0 = rng.uniform(1.0, 2.0, n) * rng.choice([-1.0, 1.0], n)
    g_of = grad_fn(n)
    w = w0.astype(dtype)
    st = run_kernel(kind, w, g_of, STEPS, h)
    w_ref, st_ref = REFS[kind](w0.astype(dtype).astype(np.float64), g_of, STEPS, **h)
    assert w.dtype == dtype
    np.testing.assert_allclose(w, w_ref, rtol=RTOL[dtype], atol=ATOL[dtype])
    # the state vectors too (those the options use)
    for k, a in st.items():
        if a.size:
            scale = np.abs(st_ref[k]).max()
            np.testing.assert_allclose(a, st_ref[k], rtol=RTOL[dtype], atol=ATOL[dtype] * scale)
    assert not np.allclose(w, w0)  # the update did something


def test_amsgrad_case_exercises_the_running_max():
    """The AMSGrad cases above would pass for plain Adam if v never decreased."""
    n = 1000
    w = np.random.default_rng(0).uniform(1, 2, n)
    st = run_kernel("adam", w, grad_fn(n), STEPS, dict(lr=0.01, beta2=0.9, amsgrad=True))
    assert np.mean(st["v_max"] > st["v"] * 1.01) > 0.25


@pytest.mark.parametrize("kind,h", [CASES[5], CASES[7], CASES[11], CASES[16]],
                         ids=["sgd", "adagrad", "rmsprop", "adamw"])
def test_bitwise_identical_at_1_and_2_threads(kind, h):
    n = 100003
    results = []
    old = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            w = np.random.default_rng(3).uniform(1, 2, n).astype(np.float32)
            st = run_kernel(kind, w, grad_fn(n), 3, h)
            results.append((w, st))
    finally:
        numba.set_num_threads(old)
    (w1, s1), (w2, s2) = results
    assert np.array_equal(w1, w2)
    for k in s1:
        assert np.array_equal(s1[k], s2[k])


def test_nan_gradient_propagates():
    """FASTMATH excludes nnan: a NaN gradient must reach the weights (TerminateOnNaN)."""
    w = np.ones(5)
    g = np.array([1.0, np.nan, 1.0, 1.0, 1.0])
    K.adam_step(w, np.zeros(5), np.zeros(5), np.empty(0), g, 0.01, 0.9, 0.999, 1e-8, 0.0,
                False, False, 0.1, 0.001)
    assert np.isnan(w[1]) and np.isfinite(w[[0, 2, 3, 4]]).all()
