"""Shared test helpers: one-line layer checks (tinygrad style)."""
import numpy as np

import nbnet as nb

RTOL_GRAD = 1e-6
ATOL_GRAD = 1e-8


def numeric_grad(f, arr, eps=1e-5, max_coords=60, seed=0):
    """Central differences of scalar f() w.r.t. entries of `arr` (modified in place and
    restored). Returns (flat indices checked, numeric gradient at them)."""
    flat = arr.reshape(-1)
    n = flat.size
    idx = np.arange(n) if n <= max_coords else np.random.default_rng(seed).choice(n, max_coords, replace=False)
    out = np.empty(len(idx))
    for k, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        out[k] = (fp - fm) / (2 * eps)
    return idx, out


def check_layer_grad(layer, x, training=True, seed=0, rtol=RTOL_GRAD, atol=ATOL_GRAD,
                     **forward_kwargs):
    """Finite-difference check at float64 of dL/dx and dL/dW for L = sum(y * r), y =
    layer.forward(x, training, **forward_kwargs) (e.g. relu=True, logits=True)."""
    assert x.dtype == np.float64 and layer.dtype == np.float64
    x = np.ascontiguousarray(x)
    y = layer(x, training=training)
    if forward_kwargs:
        y = layer.forward(x, training=training, **forward_kwargs)
    r = np.random.default_rng(seed + 1).normal(size=y.shape)

    def loss():
        return float(np.sum(layer.forward(x, training=training, **forward_kwargs) * r))

    layer.forward(x, training=training, **forward_kwargs)
    dx = np.array(layer.backward(r.copy()), copy=True)
    grads = [w.grad.copy() for w in layer.trainable_weights]
    assert dx.shape == x.shape
    idx, num = numeric_grad(loss, x, seed=seed)
    np.testing.assert_allclose(dx.reshape(-1)[idx], num, rtol=rtol, atol=atol,
                               err_msg=f"{layer.name}: dL/dx")
    for w, g in zip(layer.trainable_weights, grads):
        idx, num = numeric_grad(loss, w.value, seed=seed)
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=rtol, atol=atol,
                                   err_msg=f"{layer.name}: dL/d{w.name}")


def check_config_roundtrip(layer, x):
    """from_config(get_config()) with the same weights gives the same output."""
    y = layer(x)
    clone = type(layer).from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x), y)
    assert clone.get_config() == layer.get_config()


def check_layer(layer, input_shape, training=True, seed=0, x=None):
    """Shape, gradient and config checks for one layer at float64 (one-line layer test)."""
    if x is None:
        x = np.random.default_rng(seed).normal(size=input_shape)
    y = layer(x, training=False)
    expected = layer.compute_output_shape((None,) + tuple(input_shape[1:]))
    assert y.shape == (x.shape[0],) + tuple(expected[1:]), (y.shape, expected)
    check_layer_grad(layer, x, training=training, seed=seed)
    check_config_roundtrip(layer, x)
