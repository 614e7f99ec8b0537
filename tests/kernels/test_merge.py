"""Merge kernels against plain NumPy, at float64 and float32, 2 and 3 inputs."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from nbnet.kernels import merge as K
from nbnet.kernels.threads import PASSIVE as SMALL_PARALLEL  # the higher of the two cut-offs

DTYPES = [np.float64, np.float32]
SIZES = [1, 7, 4096 + 3, 3 * 4096 + 17]
OPS = {K.ADD: np.add, K.SUBTRACT: np.subtract, K.MULTIPLY: np.multiply}


def _inputs(n, size, dtype, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: many ties between inputs
        return [rng.integers(-2, 3, size).astype(dtype) for _ in range(n)]
    return [rng.normal(size=size).astype(dtype) for _ in range(n)]


def _fold(xs, op, d=1.0):
    """The kernels' n-input use: y = op(x_0, x_1), then y = op(y, x_k), last / d."""
    y = np.empty_like(xs[0])
    a = xs[0]
    for k in range(1, len(xs)):
        K.merge_forward(y, a, xs[k], op, d if k == len(xs) - 1 else 1.0)
        a = y
    return y


def _extreme(xs, is_max):
    y, idx = np.empty_like(xs[0]), np.empty(xs[0].shape, np.int16)
    a = xs[0]
    for k in range(1, len(xs)):
        K.extreme_forward(y, idx, a, xs[k], k, is_max)
        a = y
    return y, idx


# ---------------------------------------------------------------- forward
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("op", list(OPS))
def test_merge_forward_vs_numpy(op, n, dtype):
    for size in SIZES:
        xs = _inputs(n, size, dtype, seed=size)
        ref = xs[0]
        for x in xs[1:]:
            ref = OPS[op](ref, x)
        # one IEEE operation per element and step, in the same order: exact
        np.testing.assert_array_equal(_fold(xs, op), ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3])
def test_average_divides_like_numpy(n, dtype):
    xs = _inputs(n, 3 * 4096 + 17, dtype)
    ref = xs[0]
    for x in xs[1:]:
        ref = ref + x
    np.testing.assert_array_equal(_fold(xs, K.ADD, float(n)), ref / dtype(n))


def test_merge_forward_in_place():
    a, b = _inputs(2, 5000, np.float64)
    ref = a - b
    K.merge_forward(a, a, b, K.SUBTRACT, 1.0)
    np.testing.assert_array_equal(a, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("is_max", [True, False])
def test_extreme_forward_vs_numpy(is_max, n, dtype):
    for size in SIZES:
        for ties in (False, True):
            xs = _inputs(n, size, dtype, seed=size, ties=ties)
            y, idx = _extreme(xs, is_max)
            stack = np.stack(xs)
            ref = (np.max if is_max else np.min)(stack, axis=0)
            np.testing.assert_array_equal(y, ref)
            # argmax / argmin pick the FIRST extreme: the tie rule
            first = (np.argmax if is_max else np.argmin)(stack, axis=0)
            np.testing.assert_array_equal(idx, first)


@pytest.mark.parametrize("is_max", [True, False])
def test_extreme_forward_propagates_nan(is_max):
    nan = np.nan
    xs = [np.array([nan, 1.0, nan, 2.0]), np.array([0.0, nan, nan, 3.0]),
          np.array([5.0, 5.0, 5.0, nan])]
    y, idx = _extreme(xs, is_max)
    ref = (np.maximum if is_max else np.minimum).reduce(np.stack(xs), axis=0)
    np.testing.assert_array_equal(y, ref)  # all NaN, as np.maximum gives
    np.testing.assert_array_equal(idx, [0, 1, 0, 2])  # the first NaN wins


# ---------------------------------------------------------------- backward
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3])
def test_sum_backward_vs_numpy(n, dtype):
    for size in SIZES:
        dy = _inputs(1, size, dtype, seed=size)[0]
        for s0, s in ((1.0, 1.0), (1.0, -1.0), (1.0 / n, 1.0 / n)):
            dxs = np.full((n, size), 7.0, dtype)  # overwritten, not accumulated
            K.sum_backward(dxs, dy, s0, s)
            np.testing.assert_array_equal(dxs[0], dy * dtype(s0))
            for k in range(1, n):
                np.testing.assert_array_equal(dxs[k], dy * dtype(s))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multiply_backward_vs_numpy(dtype):
    for size in SIZES:
        dy, a, b = _inputs(3, size, dtype, seed=size)
        dxs = np.full((2, size), 7.0, dtype)
        K.multiply_backward(dxs, dy, a, b)
        np.testing.assert_array_equal(dxs[0], dy * b)
        np.testing.assert_array_equal(dxs[1], dy * a)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3])
def test_extreme_backward_vs_numpy(n, dtype):
    for size in SIZES:
        xs = _inputs(n, size, dtype, seed=size, ties=True)
        _, idx = _extreme(xs, True)
        dy = _inputs(1, size, dtype, seed=size + 1)[0]
        dxs = np.full((n, size), 7.0, dtype)
        K.extreme_backward(dxs, dy, idx)
        for k in range(n):
            np.testing.assert_array_equal(dxs[k], np.where(idx == k, dy, 0))
        np.testing.assert_array_equal(dxs.sum(axis=0), dy)  # each dy goes to exactly one


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,w", [(1, 5), (33, 7), (3, 2 * 4096 + 5), (0, 4)])
def test_copy_cols_vs_numpy(rows, w, dtype):
    rng = np.random.default_rng(rows + w)
    src = rng.normal(size=(rows, w + 9)).astype(dtype)
    dst = rng.normal(size=(rows, w + 4)).astype(dtype)
    ref = dst.copy()
    ref[:, 3:3 + w] = src[:, 6:6 + w]
    K.copy_cols(dst, 3, src, 6, w)
    np.testing.assert_array_equal(dst, ref)


# ---------------------------------------------------------------- threads, pure Python
def _run_all(n_elems, dtype):
    xs = _inputs(3, n_elems, dtype, seed=9)
    xt = _inputs(3, n_elems, dtype, seed=9, ties=True)
    dy = _inputs(1, n_elems, dtype, seed=10)[0]
    out = [_fold(xs, op) for op in OPS] + [_fold(xs, K.ADD, 3.0)]
    for is_max in (True, False):
        y, idx = _extreme(xt, is_max)
        dxs = np.empty((3, n_elems), dtype)
        K.extreme_backward(dxs, dy, idx)
        out += [y, idx, dxs]
    dxs = np.empty((3, n_elems), dtype)
    K.sum_backward(dxs, dy, 1.0 / 3, 1.0 / 3)
    d2 = np.empty((2, n_elems), dtype)
    K.multiply_backward(d2, dy, xs[0], xs[1])
    cat = np.empty((n_elems // 64, 128), dtype)
    K.copy_cols(cat, 0, xs[0][:cat.size // 2].reshape(-1, 64), 0, 64)
    K.copy_cols(cat, 64, xs[1][:cat.size // 2].reshape(-1, 64), 0, 64)
    back = np.empty((cat.shape[0], 64), dtype)
    K.copy_cols(back, 0, cat, 64, 64)
    return out + [dxs, d2, cat, back]


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_at_1_and_2_threads(dtype):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    n = SMALL_PARALLEL + 4096 * 3 + 64  # above the small-work cut-off: 2 threads run
    old = numba.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            results.append(_run_all(n, dtype))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


def test_kernels_run_as_python_with_jit_disabled(tmp_path):
    # NUMBA_DISABLE_JIT=1 runs the kernels as plain Python (debugging): the same results
    # as the compiled kernels of this process.
    here = os.path.dirname(os.path.abspath(__file__))
    script = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import test_merge as T\n"
        "assert T.numba.config.DISABLE_JIT\n"
        "for d in T.DTYPES:\n"
        "    np.savez(sys.argv[2] + '/' + np.dtype(d).name + '.npz', *T._run_all(%d, d))\n" % _N_PY
    )
    r = subprocess.run([sys.executable, "-c", script, here, str(tmp_path)], capture_output=True,
                       text=True, timeout=600, env=dict(os.environ, NUMBA_DISABLE_JIT="1"))
    assert r.returncode == 0, r.stderr
    for dtype in DTYPES:
        with np.load(tmp_path / f"{np.dtype(dtype).name}.npz") as f:
            python = [f[f"arr_{i}"] for i in range(len(f.files))]
        compiled = _run_all(_N_PY, dtype)
        assert len(python) == len(compiled)
        for a, b in zip(python, compiled):
            np.testing.assert_array_equal(a, b)


_N_PY = 4096 + 64 * 7  # two chunks: small enough for pure Python
