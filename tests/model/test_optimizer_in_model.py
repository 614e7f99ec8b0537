"""What the trainer gives the optimizer: the per-variable slices of the flat buffer
(clipnorm clips each weight's gradient by its own norm, as Keras) and, at the end of
fit, the EMA weights when use_ema."""
import numpy as np

import nbnet as nb
from nbnet import layers


def _model(opt, seed=0):
    nb.config.set_floatx("float64")
    try:
        nb.utils.set_random_seed(seed)
        m = nb.Sequential([nb.Input((5,)), layers.Dense(4, activation="tanh"), layers.Dense(2)])
        m.compile(opt, "mse")
    finally:
        nb.config.set_floatx("float32")
    return m


def test_clipnorm_clips_each_variable_by_its_own_norm():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5)), 10 * rng.normal(size=(16, 2))
    lr, c = 0.1, 0.05
    plain = _model(nb.optimizers.SGD(learning_rate=lr))
    clipped = _model(nb.optimizers.SGD(learning_rate=lr, clipnorm=c))
    w0 = plain.get_weights()
    plain.train_on_batch(x, y)
    clipped.train_on_batch(x, y)
    for a, p, q in zip(w0, plain.get_weights(), clipped.get_weights()):
        g = (a - p) / lr                                   # this variable's gradient
        want = a - lr * g * c / max(np.linalg.norm(g), c)   # Keras: clip by its own norm
        np.testing.assert_allclose(q, want, rtol=1e-10, atol=1e-13)
    norms = [np.linalg.norm((a - p) / lr) for a, p in zip(w0, plain.get_weights())]
    assert min(norms) > c    # every variable was clipped: one norm for all would differ


def test_use_ema_leaves_the_averaged_weights_after_fit():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 5)), rng.normal(size=(32, 2))
    m = _model(nb.optimizers.Adam(learning_rate=0.05, use_ema=True, ema_momentum=0.9))
    trace = []
    cb = nb.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: trace.append(
        [w.copy() for w in m.get_weights()]))
    m.fit(x, y, batch_size=8, epochs=1, shuffle=False, callbacks=[cb], verbose=0)
    # Keras' EMA: after the first step the average is the weights; after each later
    # step average = momentum * average + (1 - momentum) * w
    avg = trace[0]
    for ws in trace[1:]:
        avg = [0.9 * a + 0.1 * w for a, w in zip(avg, ws)]
    assert not np.allclose(m.get_weights()[0], trace[-1][0])
    for got, want in zip(m.get_weights(), avg):
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_swap_ema_weights_evaluates_on_the_average():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 5)), rng.normal(size=(32, 2))
    m = _model(nb.optimizers.Adam(learning_rate=0.05, use_ema=True, ema_momentum=0.9))
    for s in range(0, 32, 8):        # steps without fit's end: weights and average differ
        m.train_on_batch(x[s:s + 8], y[s:s + 8])
    raw = [w.copy() for w in m.get_weights()]
    avg = m.optimizer._state["average"].copy()
    assert not np.allclose(avg, m._flat_w[:m._n_trainable])
    # evaluate with the callback: the numbers of the average weights, the model after it
    # as it was
    cb = nb.callbacks.SwapEMAWeights()
    got = m.evaluate(x, y, verbose=0, callbacks=[cb])
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), raw))
    m._flat_w[:m._n_trainable] = avg
    assert got == m.evaluate(x, y, verbose=0)
    m._flat_w[:m._n_trainable] = np.concatenate([w.ravel() for w in raw])
    assert got != m.evaluate(x, y, verbose=0)
    import pytest
    plain = _model(nb.optimizers.Adam())
    with pytest.raises(ValueError, match="use_ema=True"):
        plain.evaluate(x, y, verbose=0, callbacks=[nb.callbacks.SwapEMAWeights()])
