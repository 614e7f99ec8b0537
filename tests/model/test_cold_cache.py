"""A run that compiles its kernels must train to the same bits as a run that loads them
from Numba's cache (FMA contraction once broke this)."""
import os
import subprocess
import sys

SCRIPT = """
import hashlib
import nbnet as nb
from nbnet import layers
nb.utils.set_random_seed(0)
ds = nb.datasets.load_digits()
m = nb.Sequential([nb.Input(shape=(64,)), layers.Dense(64), layers.BatchNormalization(),
                   layers.ReLU(), layers.Dense(10, activation="softmax")])
m.compile("adam", "sparse_categorical_crossentropy")
m.fit(ds.x[:512], ds.y[:512], epochs=2, batch_size=32, verbose=0)
print(hashlib.sha256(m._flat_w.tobytes()).hexdigest())
"""


def test_cold_and_warm_numba_cache_train_to_the_same_bits(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    runs = [subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                           text=True, timeout=600) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    cold, warm = (r.stdout.strip() for r in runs)
    assert len(cold) == 64
    assert cold == warm
