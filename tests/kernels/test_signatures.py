"""Each kernel compiles at most one version per dtype (start-up time and cache size
depend on it). Runs in a fresh interpreter: other tests call kernels with odd types on
purpose."""
import json
import subprocess
import sys

SCRIPT = r"""
import importlib, json, pkgutil
import numpy as np
import nbnet as nb
from nbnet import layers
import nbnet.kernels as K

for floatx in ("float32", "float64"):
    nb.config.set_floatx(floatx)
    nb.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((70, 12))
    y = rng.integers(0, 3, 70)
    m = nb.Sequential([nb.Input(shape=(12,)), layers.Dense(16), layers.BatchNormalization(),
                       layers.ReLU(), layers.Dropout(0.2), layers.Dense(8, activation="tanh"),
                       layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=1, batch_size=16, verbose=0, validation_split=0.2)
    m.predict(x)
    xi = rng.standard_normal((20, 10, 10, 2))
    c = nb.Sequential([nb.Input(shape=(10, 10, 2)), layers.Conv2D(4, 3, padding="same"),
                       layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(2),
                       layers.Conv2D(4, 3, activation="relu"), layers.GlobalAveragePooling2D(),
                       layers.Dense(2, activation="sigmoid")])
    c.compile("sgd", "binary_crossentropy")
    c.fit(xi, rng.integers(0, 2, (20, 2)), epochs=1, batch_size=8, verbose=0)
    c.predict(xi)

bad = {}
for info in pkgutil.iter_modules(K.__path__):
    mod = importlib.import_module("nbnet.kernels." + info.name)
    for name, obj in vars(mod).items():
        sigs = getattr(obj, "signatures", None)
        if sigs is None or getattr(obj, "__module__", None) != mod.__name__:
            continue
        groups = {}
        for sig in sigs:
            dts = tuple(sorted({str(a.dtype) for a in sig if hasattr(a, "dtype") and hasattr(a, "ndim")
                                and str(a.dtype).startswith("float")}))
            groups.setdefault(dts, []).append(str(sig))
        for dts, members in groups.items():
            if len(members) > 1:
                bad[mod.__name__ + "." + name] = members
print(json.dumps(bad))
"""


def test_each_kernel_compiles_one_version_per_dtype():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    bad = json.loads(r.stdout.strip().splitlines()[-1])
    assert bad == {}, json.dumps(bad, indent=1)


def test_stale_cache_indexes_are_dropped(tmp_path):
    import os
    import time

    from nbnet.kernels import drop_stale_caches
    (tmp_path / "__pycache__").mkdir()
    src = tmp_path / "helpers.py"
    src.write_text("# a kernel helper\n")
    old, new = tmp_path / "__pycache__" / "a.f-1.py311.nbi", tmp_path / "__pycache__" / "b.g-1.py311.nbi"
    data = tmp_path / "__pycache__" / "a.f-1.py311.1.nbc"
    for p in (old, new, data):
        p.write_bytes(b"x")
    t = src.stat().st_mtime
    os.utime(old, (t - 10, t - 10))   # compiled before the helper changed
    os.utime(new, (t + 10, t + 10))   # compiled after
    os.utime(data, (t - 10, t - 10))
    drop_stale_caches(str(tmp_path))
    assert not old.exists() and new.exists() and data.exists()  # the index goes: recompiled
    drop_stale_caches(str(tmp_path / "missing"))  # no such directory: nothing happens
    # a source dated in the future (clock skew, copied timestamps) drops nothing: else
    # every import would recompile every kernel
    future = time.time() + 3600
    os.utime(src, (future, future))
    drop_stale_caches(str(tmp_path))
    assert new.exists()
