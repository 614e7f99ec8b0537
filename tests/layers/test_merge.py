"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
import os

import numpy as np
import pytest

import nbnet as nb
from helpers import ATOL_GRAD, RTOL_GRAD, numeric_grad
from nbnet import layers as L

ELEMENTWISE = {
    "Add": lambda xs: sum(xs[1:], xs[0]),
    "Subtract": lambda xs: xs[0] - xs[1],
    "Multiply": lambda xs: np.prod(np.stack(xs), axis=0),
    "Average": lambda xs: sum(xs[1:], xs[0]) / len(xs),
    "Maximum": lambda xs: np.max(np.stack(xs), axis=0),
    "Minimum": lambda xs: np.min(np.stack(xs), axis=0),
}
FUNCTIONS = {"Add": L.add, "Subtract": L.subtract, "Multiply": L.multiply,
             "Average": L.average, "Maximum": L.maximum, "Minimum": L.minimum}


def _xs(n, shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, size=shape).astype(dtype) for _ in range(n)]


def _away_from_ties(xs, gap=0.1):
    """The inputs moved apart so that no two are within `gap` of each other anywhere
    (finite differences of Maximum / Minimum must not cross a tie)."""
    xs = [x.copy() for x in xs]
    for k in range(1, len(xs)):
        while True:
            close = np.zeros(xs[k].shape, bool)
            for j in range(k):
                close |= np.abs(xs[k] - xs[j]) < gap
            if not close.any():
                break
            xs[k][close] += 3 * gap
    return xs


def _ns(name):
    return [2] if name == "Subtract" else [2, 3, 4]


def check_merge_grad(layer, xs, seed=0, rtol=RTOL_GRAD, atol=ATOL_GRAD):
    """Finite-difference check at float64 of dL/dx_k for every input, L = sum(y * r)."""
    assert layer.dtype == np.float64 and all(x.dtype == np.float64 for x in xs)
    xs = [np.ascontiguousarray(x) for x in xs]
    y = layer(xs, training=True)
    r = np.random.default_rng(seed + 1).normal(size=y.shape)

    def loss():
        return float(np.sum(layer.forward(xs, training=True) * r))

    layer.forward(xs, training=True)
    dy = r.copy()
    grads = layer.backward(dy)
    assert isinstance(grads, list) and len(grads) == len(xs)
    assert len({id(g) for g in grads}) == len(grads) and all(g is not dy for g in grads)
    grads = [np.array(g, copy=True) for g in grads]
    for k, (x, g) in enumerate(zip(xs, grads)):
        assert g.shape == x.shape and g.dtype == x.dtype
        idx, num = numeric_grad(loss, x, seed=seed + k)
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=rtol, atol=atol,
                                   err_msg=f"{layer.name}: dL/dx_{k}")


def check_merge_config(layer, xs):
    y = layer(xs)
    clone = type(layer).from_config(layer.get_config())
    np.testing.assert_array_equal(clone(xs), y)
    assert clone.get_config() == layer.get_config()
    spec = nb.layers.serialize(layer)
    assert type(nb.layers.deserialize(spec)) is type(layer)


# ---------------------------------------------------------------- element-wise layers
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_values_shape_and_gradients(name, float64):
    for n in _ns(name):
        for shape in [(3, 5), (2, 3, 4, 2)]:
            xs = _away_from_ties(_xs(n, shape, seed=n))
            layer = getattr(L, name)()
            y = layer(xs)
            np.testing.assert_allclose(y, ELEMENTWISE[name](xs), rtol=1e-12, atol=0)
            assert layer.compute_output_shape([(None,) + shape[1:]] * n) == (None,) + shape[1:]
            assert layer.output_shape == (None,) + shape[1:]
            check_merge_grad(layer, xs, seed=n)
            check_merge_config(layer, xs)


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_vs_numpy(name, dtype):
    for n in _ns(name):
        xs = _xs(n, (64, 7, 5), seed=n + 10, dtype=dtype)
        y = getattr(L, name)(dtype=dtype)(xs)
        assert y.dtype == np.dtype(dtype)
        rtol = 1e-12 if dtype == "float64" else 1e-6
        np.testing.assert_allclose(y, ELEMENTWISE[name](xs), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_function_forms(name):
    xs = _xs(2, (4, 3), seed=3)
    np.testing.assert_array_equal(FUNCTIONS[name](xs, name="f_" + name.lower()),
                                  getattr(L, name)()(xs))
    a, b = nb.Input(shape=(3,)), nb.Input(shape=(3,))
    out = FUNCTIONS[name]([a, b], name="sym_" + name.lower())
    assert out.shape == (None, 3) and out.node.layer.name == "sym_" + name.lower()
    assert type(out.node.layer).__name__ == name


def test_multiply_with_zeros(float64):
    # the n-input backward multiplies prefix and suffix products: no division by x_k
    xs = _xs(4, (3, 6), seed=5)
    xs[1][0, :] = 0.0
    xs[2][0, :3] = 0.0
    check_merge_grad(L.Multiply(), xs)


@pytest.mark.parametrize("name,pick", [("Maximum", np.argmax), ("Minimum", np.argmin)])
def test_ties_send_the_gradient_to_the_first_input(name, pick, float64):
    rng = np.random.default_rng(0)
    xs = [rng.integers(-1, 2, size=(50, 4)).astype(np.float64) for _ in range(3)]
    xs[2][0] = xs[1][0] = xs[0][0]  # a row tied across all three
    layer = getattr(L, name)()
    layer(xs)
    dy = rng.normal(size=(50, 4))
    grads = layer.backward(dy)
    first = pick(np.stack(xs), axis=0)
    for k, g in enumerate(grads):
        np.testing.assert_array_equal(g, np.where(first == k, dy, 0.0))
    np.testing.assert_array_equal(grads[0][0], dy[0])
    np.testing.assert_array_equal(sum(grads), dy)


def test_returned_gradients_are_separate_arrays(float64):
    # the caller may accumulate into a gradient: that must not change another one
    for layer in (L.Add(), L.Subtract(), L.Average(), L.Concatenate(axis=0)):
        xs = _xs(2, (3, 4))
        layer(xs)
        dy = np.ones((6, 4) if isinstance(layer, L.Concatenate) else (3, 4))
        grads = layer.backward(dy)
        before = grads[1].copy()
        grads[0] += 5.0
        np.testing.assert_array_equal(grads[1], before)
        np.testing.assert_array_equal(dy, 1.0)


def test_no_input_gradient_when_not_needed():
    layer = L.Add()
    xs = _xs(2, (3, 4))
    layer(xs)
    assert layer.backward(np.ones((3, 4)), need_dx=False) == [None, None]
    cat = L.Concatenate()
    cat(_xs(3, (3, 4)))
    assert cat.backward(np.ones((3, 12)), need_dx=False) == [None, None, None]


def test_float32_layer_takes_float64_arrays():
    y = L.Add(dtype="float32")(_xs(2, (3, 4)))
    assert y.dtype == np.float32


def test_flops():
    assert L.Add().flops([(8, 3, 5)] * 3) == 2 * 15
    assert L.Average().flops([(8, 3, 5)] * 2) == 2 * 15
    assert L.Concatenate().flops([(8, 3), (8, 4)]) == 0


# ---------------------------------------------------------------- Concatenate
@pytest.mark.parametrize("axis,shapes", [
    (-1, [(3, 4), (3, 2)]),
    (-1, [(2, 3, 4, 2), (2, 3, 4, 5), (2, 3, 4, 1)]),
    (1, [(2, 3, 4, 2), (2, 1, 4, 2)]),
    (2, [(2, 3, 4, 2), (2, 3, 2, 2)]),
    (-3, [(2, 3, 4, 2), (2, 2, 4, 2)]),
    (0, [(3, 4), (2, 4)]),
])
def test_concatenate(axis, shapes, float64):
    rng = np.random.default_rng(len(shapes))
    xs = [rng.normal(size=s) for s in shapes]
    layer = L.Concatenate(axis=axis)
    y = layer(xs)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis))
    if axis % len(shapes[0]) != 0:
        expected = layer.compute_output_shape([(None,) + s[1:] for s in shapes])
        assert expected == (None,) + y.shape[1:]
    check_merge_grad(layer, xs)
    check_merge_config(layer, xs)
    assert layer.get_config()["axis"] == axis


def test_concatenate_symbolic_shapes():
    a, b = nb.Input(shape=(4, 3)), nb.Input(shape=(4, 5))
    assert L.concatenate([a, b]).shape == (None, 4, 8)
    assert L.concatenate([a, a], axis=1).shape == (None, 8, 3)
    layer = L.Concatenate(axis=1)
    assert layer.compute_output_shape([(None, None, 3), (None, 2, 3)]) == (None, None, 3)
    assert layer.compute_output_shape([(None, 4, None), (None, 2, 3)]) == (None, 6, 3)


# ---------------------------------------------------------------- bad input
def test_mismatched_shapes_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"'bad_add' \(Add\).*\(None, 3\), \(None, 4\)"):
        L.Add(name="bad_add")([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"'bad_max'.*one shape"):
        L.Maximum(name="bad_max")([nb.Input(shape=(3,)), nb.Input(shape=(3, 1))])
    with pytest.raises(ValueError, match=r"'bad_cat' \(Concatenate\).*except on axis -1"):
        L.Concatenate(name="bad_cat")([np.ones((2, 3, 1)), np.ones((2, 4, 1))])
    with pytest.raises(ValueError, match=r"'bad_cat2'.*one rank"):
        L.Concatenate(name="bad_cat2")([np.ones((2, 3)), np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match=r"axis 3 is out of range"):
        L.Concatenate(axis=3)([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="axis must be an integer"):
        L.Concatenate(axis="last")


def test_built_layer_checks_shapes_at_run_time():
    layer = L.Multiply(name="mul_run")
    layer([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"'mul_run'.*\(5, 3\), \(5, 4\)"):
        layer([np.ones((5, 3)), np.ones((5, 4))])
    with pytest.raises(ValueError, match=r"'mul_run'.*\(2, 3\), \(3, 3\)"):
        layer([np.ones((2, 3)), np.ones((3, 3))])  # batch sizes differ
    cat = L.Concatenate(name="cat_run")
    cat([np.ones((2, 3)), np.ones((2, 1))])
    with pytest.raises(ValueError, match=r"'cat_run'.*\(2, 3\), \(4, 1\)"):
        cat([np.ones((2, 3)), np.ones((4, 1))])


def test_wrong_number_of_inputs():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"'sub3' \(Subtract\) takes exactly 2 inputs, got 3"):
        L.Subtract(name="sub3")([x, x, x])
    with pytest.raises(ValueError, match="at least 2"):
        L.Add()([x])
    with pytest.raises(ValueError, match="at least 2"):
        L.Add()(x)
    with pytest.raises(ValueError, match=r"\(Average\) takes at least 2 inputs, got 1"):
        L.average([nb.Input(shape=(3,))])
    with pytest.raises(TypeError, match="list of tensors"):
        L.Add()(nb.Input(shape=(3,)))
    with pytest.raises(ValueError, match="takes a list of inputs"):
        L.Add().compute_output_shape((None, 3))
    with pytest.raises(ValueError, match=r"'sub_sym'.*exactly 2"):
        L.subtract([nb.Input(shape=(3,))] * 3, name="sub_sym")


# ---------------------------------------------------------------- Keras parity
pytestmark_keras = pytest.mark.filterwarnings("ignore::DeprecationWarning")
KERAS_CASES = [("Add", 3), ("Subtract", 2), ("Multiply", 3), ("Average", 3),
               ("Maximum", 3), ("Minimum", 3)]


@pytest.fixture(scope="module")
def keras():
    # NOTE: keras' torch backend converts with np.array(x), which warns under NumPy 2
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytestmark_keras
@pytest.mark.parametrize("name,n", KERAS_CASES)
def test_outputs_match_keras(keras, name, n):
    xs = _xs(n, (16, 5, 3), seed=7, dtype=np.float32)
    ref = keras.ops.convert_to_numpy(getattr(keras.layers, name)()(xs))
    # the same float32 operations in the same order: bitwise equal
    np.testing.assert_array_equal(getattr(L, name)()(xs), ref)


@pytestmark_keras
@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate_matches_keras(keras, axis):
    rng = np.random.default_rng(axis + 3)
    shapes = {-1: [(4, 3, 2), (4, 3, 5)], 1: [(4, 3, 2), (4, 1, 2)], 2: [(4, 3, 2), (4, 3, 1)]}
    xs = [rng.normal(size=s).astype(np.float32) for s in shapes[axis]]
    ref = keras.ops.convert_to_numpy(keras.layers.Concatenate(axis=axis)(xs))
    np.testing.assert_array_equal(L.Concatenate(axis=axis)(xs), ref)
    assert keras.layers.Concatenate(axis=axis).get_config()["axis"] == \
        L.Concatenate(axis=axis).get_config()["axis"]


# ---------------------------------------------------------------- compiled versions
SIGNATURES = r"""
import json
import numpy as np
import nbnet as nb
from nbnet import layers as L
from nbnet.kernels import merge as K

rng = np.random.default_rng(0)
for dtype in ("float32", "float64"):
    for n in (2, 3, 4):
        xs = [rng.normal(size=(5, 3, 2)) for _ in range(n)]  # float64 into float32 layers too
        for cls in (L.Add, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate):
            layer = cls(dtype=dtype)
            y = layer(xs)
            layer.backward(np.ones_like(y))
        layer = L.Concatenate(axis=1, dtype=dtype)
        layer.backward(np.ones_like(layer(xs)))
    layer = L.Subtract(dtype=dtype)
    layer.backward(np.ones_like(layer(xs[:2])))
print(json.dumps({name: len(f.signatures) for name, f in vars(K).items()
                  if hasattr(f, "signatures") and f.__module__ == K.__name__}))
"""


def test_each_merge_kernel_compiles_one_version_per_dtype():
    # tests/kernels/test_signatures.py trains models without merge layers; the same
    # check here, in a fresh interpreter, over every layer and input count
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", SIGNATURES], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(counts) == 6 and all(c == 2 for c in counts.values()), counts
