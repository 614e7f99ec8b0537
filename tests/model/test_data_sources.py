"""fit / evaluate / predict on generators and PyDatasets as Keras 3 takes them, and the
callbacks as Keras 3 calls them (logs always a dict, on_test_* and on_predict_* hooks,
evaluate / predict callbacks=, LambdaCallback)."""
import math
import threading

import numpy as np
import pytest

import nbnet as keras
from nbnet import layers
from nbnet.utils import PyDataset, Sequence


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
    return x, y


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(16), layers.BatchNormalization(),
                              layers.ReLU(), layers.Dropout(0.25),
                              layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Batches(PyDataset):
    """The keras-io PyDataset example: batch idx of (x, y); records the thread of
    each __getitem__ call."""

    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.threads, self.epochs_ended = set(), 0

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        self.threads.add(threading.get_ident())
        lo = idx * self.batch_size
        hi = min(lo + self.batch_size, len(self.x))
        return self.x[lo:hi], self.y[lo:hi]

    def on_epoch_end(self):
        self.epochs_ended += 1


def _generator(x, y, batch_size, epochs=1):
    for _ in range(epochs):
        for s in range(0, len(x), batch_size):
            yield x[s:s + batch_size], y[s:s + batch_size]


def test_arrays_generator_and_pydataset_give_the_same_weights():
    x, y = _data()
    runs = {}
    for kind in ("arrays", "generator", "pydataset", "pydataset_2_workers", "sequence"):
        model = _model()
        if kind == "arrays":
            h = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        elif kind == "generator":
            h = model.fit(_generator(x, y, 16, epochs=3), steps_per_epoch=6, epochs=3, verbose=0)
        elif kind == "sequence":
            class Old(Sequence):   # Keras 2's name, no super().__init__ call
                def __len__(self):
                    return 6

                def __getitem__(self, i):
                    return x[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)]
            h = model.fit(Old(), epochs=3, shuffle=False, verbose=0)
        else:
            workers = 2 if kind.endswith("workers") else 1
            ds = Batches(x, y, 16, workers=workers, max_queue_size=3)
            h = model.fit(ds, epochs=3, shuffle=False, verbose=0)
            assert ds.epochs_ended == 3
            if workers == 2:   # the batches were made off the main thread
                assert threading.get_ident() not in ds.threads
        runs[kind] = (model.get_weights(), h.history)
    ref_w, ref_h = runs["arrays"]
    for kind, (w, hist) in runs.items():
        assert all(np.array_equal(a, b) for a, b in zip(w, ref_w)), kind
        assert hist == ref_h, kind


def test_pydataset_batch_order_is_shuffled_per_epoch_from_the_seed():
    x, y = _data()
    orders = []
    for _ in range(2):
        seen = []

        class Recording(Batches):
            def __getitem__(self, idx):
                seen.append(idx)
                return super().__getitem__(idx)

        _model(seed=1).fit(Recording(x, y, 16), epochs=2, verbose=0)   # shuffle=True
        orders.append(list(seen))
    assert orders[0] == orders[1]                        # the same seed, the same order
    first, second = orders[0][:6], orders[0][6:]
    assert sorted(first) == sorted(second) == list(range(6)) and first != second


def test_validation_on_a_pydataset_with_steps_and_freq():
    x, y = _data()
    model = _model()
    h = model.fit(x, y, batch_size=16, epochs=4, verbose=0, validation_freq=2,
                  validation_data=Batches(x[:48], y[:48], 16), validation_steps=2)
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2
    # the last validation covered 2 batches of 16: the first 32 samples
    want = model.evaluate(x[:32], y[:32], batch_size=16, verbose=0, return_dict=True)
    assert h.history["val_loss"][-1] == pytest.approx(want["loss"], rel=1e-6)
    assert h.history["val_accuracy"][-1] == pytest.approx(want["accuracy"])


def test_evaluate_and_predict_on_generators_and_pydatasets():
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0)
    want = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    got = model.evaluate(Batches(x, y, 16), verbose=0, return_dict=True)
    gen = model.evaluate(_generator(x, y, 16), verbose=0, return_dict=True)
    for logs in (got, gen):
        assert logs["loss"] == pytest.approx(want["loss"], rel=1e-6)
        assert logs["accuracy"] == pytest.approx(want["accuracy"])
    p = model.predict(x, batch_size=16)
    np.testing.assert_array_equal(model.predict(Batches(x, y, 16)), p)       # (x, y) batches
    np.testing.assert_array_equal(model.predict((b for b, _ in _generator(x, y, 16))), p)
    np.testing.assert_array_equal(model.predict(x, batch_size=16, steps=2), p[:32])


def test_class_weight_with_a_pydataset_equals_sample_weights():
    x, y = _data()
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    a, b = _model(), _model()
    a.fit(Batches(x, y, 16), epochs=2, shuffle=False, class_weight=cw, verbose=0)
    b.fit(x, y, batch_size=16, epochs=2, shuffle=False,
          sample_weight=np.array([cw[int(v)] for v in y]), verbose=0)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_data_source_mistakes_are_clear_errors():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match="y and sample_weight must not be given"):
        model.fit(Batches(x, y, 16), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit(Batches(x, y, 16), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="has no targets"):
        model.fit((b for b, _ in _generator(x, y, 16)), verbose=0)
    with pytest.raises(ValueError, match="validation_freq must be a positive integer"):
        model.fit(x, y, validation_freq=0, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer"):
        model.fit(x, y, steps_per_epoch=-1, verbose=0)


def test_unbuilt_model_is_built_from_the_first_batch():
    x, y = _data()
    model = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(_generator(x, y, 16, epochs=2), steps_per_epoch=6, epochs=2, verbose=0)
    assert model.input_shape == (None, 6)


def test_one_dimensional_x_where_the_model_takes_one_feature():
    x = np.linspace(-1, 1, 40)
    model = keras.Sequential([keras.Input(shape=(1,)), layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, 3 * x, epochs=30, verbose=0)
    np.testing.assert_allclose(model.predict(x).ravel(), model.predict(x[:, None]).ravel())
    assert model.evaluate(x, 3 * x, verbose=0) < 0.05


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_") and callable(attr):
            def hook(*args):
                assert isinstance(args[-1], dict), f"{name} got logs={args[-1]!r}"
                self.calls.append((name, dict(args[-1])))
                return attr(*args)
            return hook
        return attr


def test_callbacks_get_dict_logs_and_test_predict_hooks():
    x, y = _data()
    model = _model()
    rec = Recorder()
    model.fit(x, y, batch_size=32, epochs=2, validation_data=(x[:32], y[:32]), callbacks=[rec],
              verbose=0)
    names = [n for n, _ in rec.calls]
    assert names[0] == "on_train_begin" and names[-1] == "on_train_end"
    assert names.count("on_test_begin") == 2 and names.count("on_test_batch_end") == 2
    end_logs = rec.calls[-1][1]
    assert "val_loss" in end_logs and "val_accuracy" in end_logs     # as Keras 3
    rec.calls.clear()
    model.evaluate(x, y, batch_size=32, callbacks=[rec], verbose=0)
    assert [n for n, _ in rec.calls] == (["on_test_begin"] +
                                        ["on_test_batch_begin", "on_test_batch_end"] * 3 +
                                        ["on_test_end"])
    assert set(rec.calls[-1][1]) == {"loss", "accuracy"}
    rec.calls.clear()
    model.predict(x, batch_size=64, callbacks=[rec])
    assert [n for n, _ in rec.calls] == (["on_predict_begin"] +
                                        ["on_predict_batch_begin", "on_predict_batch_end"] * 2 +
                                        ["on_predict_end"])
    assert rec.calls[2][1]["outputs"].shape == (64, 3)


def test_lambda_callback():
    x, y = _data()
    seen = []
    cb = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])))
    h = _model().fit(x, y, epochs=3, callbacks=[cb], verbose=0)
    assert [e for e, _ in seen] == [0, 1, 2]
    assert [v for _, v in seen] == h.history["loss"]
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_ending'"):
        keras.callbacks.LambdaCallback(on_epoch_ending=print)
