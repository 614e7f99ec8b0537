import math

import numpy as np
import pytest

import nbnet as nb
from nbnet import layers


def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, x @ np.array([1.0, -1.0, 2.0, 0.5], dtype="float32")


def small_model(lr=0.01, seed=0):
    nb.utils.set_random_seed(seed)
    model = nb.Sequential([nb.Input(shape=(4,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    model.compile(nb.optimizers.SGD(learning_rate=lr), "mse")
    return model


class Recorder(nb.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batch_losses, self.epoch_weights = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batch_losses.append(logs["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_weights.append(self.model.get_weights())


def test_terminate_on_nan_stops_on_that_batch():
    x, y = regression()
    x = x * 1e3
    model = small_model(lr=1e3)
    rec = Recorder()
    model.fit(x, y, batch_size=8, epochs=5, verbose=0,
              callbacks=[rec, nb.callbacks.TerminateOnNaN()])
    bad = [i for i, l in enumerate(rec.batch_losses) if not math.isfinite(l)]
    assert bad, "the loss never became NaN: the test set-up is wrong"
    assert bad == [len(rec.batch_losses) - 1]  # no batch ran after the first NaN


def test_early_stopping_restores_best_weights():
    x, y = regression()
    xv, yv = regression(32, seed=1)
    yv = yv + 5.0 * np.sign(yv)  # validation loss gets worse as the fit improves
    model = small_model(lr=0.05)
    rec = Recorder()
    es = nb.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(x, y, batch_size=16, epochs=30, verbose=0, validation_data=(xv, yv),
                     callbacks=[rec, es])
    val = hist.history["val_loss"]
    best = int(np.argmin(val))
    assert len(val) == best + 3  # stopped after `patience` epochs without improvement
    for a, b in zip(rec.epoch_weights[best], model.get_weights()):
        assert np.array_equal(a, b)


def test_model_checkpoint_save_best_only_writes_only_improvements(tmp_path):
    x, y = regression()
    model = small_model(lr=0.05)
    ck = nb.callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}.nbnet"), monitor="loss",
                                      save_best_only=True)
    hist = model.fit(x, y, batch_size=64, epochs=6, verbose=0, callbacks=[ck])
    losses = hist.history["loss"]
    improved = [i + 1 for i, l in enumerate(losses) if l < min(losses[:i], default=np.inf)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m-{e:02d}.nbnet" for e in improved]


def test_model_checkpoint_every_epoch_and_best_file_loads(tmp_path):
    x, y = regression()
    model = small_model()
    ck = nb.callbacks.ModelCheckpoint(str(tmp_path / "best.nbnet"), monitor="loss")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ck])
    assert np.array_equal(nb.load_model(tmp_path / "best.nbnet").predict(x), model.predict(x))


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    x, y = regression()
    model = small_model()
    log = tmp_path / "log.csv"
    hist = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
                     callbacks=[nb.callbacks.CSVLogger(str(log))])
    lines = log.read_text().strip().splitlines()
    assert lines[0] == "epoch,loss,val_loss"
    assert [int(l.split(",")[0]) for l in lines[1:]] == [0, 1, 2]
    assert float(lines[3].split(",")[1]) == pytest.approx(hist.history["loss"][2])


def test_reduce_lr_halves_after_patience():
    x, y = regression()
    model = small_model(lr=1e-12)
    rl = nb.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1.0)
    hist = model.fit(x, y, epochs=5, verbose=0, callbacks=[rl])
    # epoch 0 sets best; epochs 1, 2 do not improve by min_delta -> halve at epoch 2,
    # then epochs 3, 4 -> halve again at epoch 4
    assert hist.history["learning_rate"] == pytest.approx([1e-12, 1e-12, 5e-13, 5e-13, 2.5e-13])


def test_learning_rate_scheduler_and_schedule_callbacks():
    x, y = regression()
    model = small_model(lr=0.1)
    seen = []

    class Spy(nb.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate))

    model.fit(x, y, epochs=3, verbose=0,
              callbacks=[nb.callbacks.LearningRateScheduler(lambda e, lr: 0.1 / (e + 1)), Spy()])
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    model = small_model(lr=0.1)
    seen.clear()
    model.fit(x, y, epochs=4, verbose=0, callbacks=[nb.schedules.StepLR(2, gamma=0.5), Spy()])
    assert seen == pytest.approx([0.1, 0.1, 0.05, 0.05])


def test_history_and_progress_output(capsys):
    x, y = regression()
    model = small_model()
    model.fit(x, y, epochs=2, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "samples/s" in out and "val_loss" in out
    model.fit(x, y, epochs=1, verbose=1)
    out = capsys.readouterr()
    assert "samples/s" in out.out + out.err
