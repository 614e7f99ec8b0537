"""Model files: round trip, exact resume, atomic writes, refusing foreign files."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nbnet as nb
from nbnet import layers


def make_model(seed=0):
    nb.utils.set_random_seed(seed)
    model = nb.Sequential([nb.Input(shape=(64,)), layers.Dense(32), layers.BatchNormalization(),
                           layers.ReLU(), layers.Dropout(0.3), layers.Dense(10, activation="softmax")])
    model.compile(nb.optimizers.Adam(learning_rate=3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data():
    ds = nb.datasets.load_digits()
    return ds.x[:400], ds.y[:400]


def test_save_load_gives_bitwise_identical_predictions(tmp_path):
    x, y = data()
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.nbnet"
    model.save(path)
    loaded = nb.load_model(path)
    assert np.array_equal(model.predict(x), loaded.predict(x))
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


def test_weights_only_round_trip(tmp_path):
    x, _ = data()
    a, b = make_model(1), make_model(2)
    a(x[:2]), b(x[:2])
    a.save_weights(tmp_path / "w.nbnet")
    b.load_weights(tmp_path / "w.nbnet")
    assert np.array_equal(a.predict(x), b.predict(x))


def test_saved_model_resumes_fit_exactly(tmp_path):
    x, y = data()
    ref = make_model()
    ref.fit(x, y, epochs=4, batch_size=32, verbose=0)

    part = make_model()
    part.fit(x, y, epochs=2, batch_size=32, verbose=0)
    part.save(tmp_path / "half.nbnet")
    resumed = nb.load_model(tmp_path / "half.nbnet")
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=32, verbose=0)
    for a, b in zip(ref.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)


class Crash(nb.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated interruption")


def test_backup_and_restore_resumes_bitwise(tmp_path):
    x, y = data()
    ref = make_model()
    ref.fit(x, y, epochs=4, batch_size=32, verbose=0)

    backup = nb.callbacks.BackupAndRestore(tmp_path / "backup")
    m1 = make_model()
    with pytest.raises(KeyboardInterrupt):
        m1.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[backup, Crash(1)])
    assert (tmp_path / "backup" / "latest.nbnet").exists()
    m2 = make_model()  # as the same script would, in a new process
    m2.fit(x[:64], y[:64], epochs=1, verbose=0)  # and move its weights: restore must undo it
    hist = m2.fit(x, y, epochs=4, batch_size=32, verbose=0,
                  callbacks=[nb.callbacks.BackupAndRestore(tmp_path / "backup")])
    assert hist.epoch == [2, 3]
    for a, b in zip(ref.get_weights(), m2.get_weights()):
        assert np.array_equal(a, b)
    assert not (tmp_path / "backup").exists()  # deleted after a completed fit


def test_kill_during_save_leaves_previous_file_loadable(tmp_path):
    path = tmp_path / "big.nbnet"
    script = textwrap.dedent(f"""
        import sys
        import nbnet as nb
        from nbnet import layers
        model = nb.Sequential([nb.Input(shape=(512,)), layers.Dense(2048), layers.Dense(2048)])
        model.compile("adam", "mse")
        model.save({str(path)!r})
        print("ready", flush=True)
        while True:
            model.save({str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        for delay in (0.05, 0.13, 0.21):
            time.sleep(delay)
            nb.load_model(path)  # every moment, the file on disk is a whole model
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    model = nb.load_model(path)
    assert model.layers[-1].get_weights()[0].shape == (2048, 2048)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_payload_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.nbnet"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(nb.ModelFileError, match="evil.nbnet"):
        nb.load_model(path)
    assert not (tmp_path / "PWNED").exists()


def test_npy_with_pickled_object_inside_zip_is_refused(tmp_path):
    import io
    import json
    import zipfile
    path = tmp_path / "obj.nbnet"
    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    cfg = make_model()
    cfg(np.zeros((2, 64), "float32"))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps({"format": "nbnet.model", "format_version": 1,
                                              "model": cfg.get_config()}))
        z.writestr("weights/00000.npy", buf.getvalue())
    with pytest.raises(nb.ModelFileError, match="obj.nbnet"):
        nb.load_model(path)


def test_truncated_file_names_itself(tmp_path):
    model = make_model()
    model(np.zeros((2, 64), "float32"))
    path = tmp_path / "whole.nbnet"
    model.save(path)
    raw = path.read_bytes()
    cut = tmp_path / "cut.nbnet"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(nb.ModelFileError, match="cut.nbnet"):
        nb.load_model(cut)
    (tmp_path / "text.nbnet").write_text("hello")
    with pytest.raises(nb.ModelFileError, match="text.nbnet"):
        nb.load_model(tmp_path / "text.nbnet")
    with pytest.raises(nb.ModelFileError, match="missing.nbnet"):
        nb.load_model(tmp_path / "missing.nbnet")


def test_saved_file_has_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        model = make_model()
        model(np.zeros((2, 64), "float32"))
        model.save(tmp_path / "m.nbnet")
    finally:
        os.umask(old)
    assert (tmp_path / "m.nbnet").stat().st_mode & 0o777 == 0o644
