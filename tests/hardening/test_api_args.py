"""Argument checks at the API entry points (issue 16): wrong types are a TypeError and
wrong values a ValueError, each naming the argument; compile checks metrics at once."""
import numpy as np
import pytest

import nbnet as nb


@pytest.fixture
def model():
    m = nb.Sequential([nb.Input(shape=(2,)), nb.layers.Dense(1)])
    m.compile("sgd", "mse")
    return m


X, Y = np.ones((4, 2)), np.ones(4)


@pytest.mark.parametrize("value, error, match", [
    (5, TypeError, r"fit\(\): callbacks must be a list"),        # today: 'int' object is not iterable
    ("abc", TypeError, r"fit\(\): callbacks must be a list"),    # today: 'str' object has no attribute 'set_model'
    ([5], TypeError, r"callbacks\[0\]"),                          # today: 'int' object has no attribute 'set_model'
])
def test_fit_callbacks_type(model, value, error, match):
    with pytest.raises(error, match=match):
        model.fit(X, Y, callbacks=value, verbose=0)


def test_one_callback_is_a_list_of_one(model):
    """Keras 3 flattens callbacks: one Callback object works."""
    seen = []
    cb = nb.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    model.fit(X, Y, epochs=2, callbacks=cb, verbose=0)
    assert seen == [0, 1]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(verbose="loud"), TypeError, "verbose"),        # today: invalid literal for int()
    (dict(verbose=None), TypeError, "verbose"),          # today: int() argument must be ...
    (dict(verbose=3), ValueError, "verbose"),            # today: accepted
    (dict(validation_split="0.2"), TypeError, "validation_split"),   # today: accepted
    (dict(validation_split=None), TypeError, "validation_split"),    # today: float() argument ...
    (dict(initial_epoch=-1), ValueError, "initial_epoch"),           # today: accepted
    (dict(initial_epoch="1"), TypeError, "initial_epoch"),           # today: cannot be interpreted as an integer
    (dict(validation_data=5), TypeError, "validation_data"),         # today: object of type 'int' has no len()
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
])
def test_fit_argument_types(model, kwargs, error, match):
    with pytest.raises(error, match=match):
        model.fit(X, Y, **{"verbose": 0, **kwargs})


@pytest.mark.parametrize("call", ["evaluate", "predict"])
def test_evaluate_predict_callbacks_and_verbose(model, call):
    args = (X, Y) if call == "evaluate" else (X,)
    with pytest.raises(TypeError, match=rf"{call}\(\): callbacks must be a list"):
        getattr(model, call)(*args, callbacks=5)      # today: 'int' object is not iterable
    with pytest.raises(TypeError, match=rf"{call}\(\): verbose"):
        getattr(model, call)(*args, verbose="x")      # today: accepted


@pytest.mark.parametrize("verbose", [0, 1, 2, "auto", True, False, np.int64(0)])
def test_valid_verbose_values_still_work(model, verbose, capsys):
    h = model.fit(X, Y, epochs=1, verbose=verbose)
    assert len(h.history["loss"]) == 1
    assert np.shape(model.predict(X, verbose=verbose)) == (4, 1)


def test_unknown_metric_is_reported_at_compile():
    m = nb.Sequential([nb.Input(shape=(2,)), nb.layers.Dense(1)])
    # today: compile accepted it and fit failed later
    with pytest.raises(ValueError, match="unknown metric 'bogus'"):
        m.compile("sgd", "mse", metrics=["bogus"])
    with pytest.raises(ValueError, match="unknown metric 'bogus'"):
        m.compile("sgd", "mse", weighted_metrics="bogus")
    with pytest.raises(TypeError, match="metrics must be metric names"):
        m.compile("sgd", "mse", metrics=[5])
    with pytest.raises(ValueError, match="unknown loss"):
        m.compile("sgd", "nope")
    with pytest.raises(ValueError, match="optimizer"):
        m.compile("nope", "mse")
    m.compile("sgd", "mse", metrics=["mae", nb.metrics.MeanSquaredError()])
    logs = m.evaluate(X, Y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mae", "mean_squared_error"}
