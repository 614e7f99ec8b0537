"""fit on a PyDataset whose batches cost time to make (reading + decoding stand-ins:
a sleep for the I/O, NumPy work for the decoding), with 1, 2 and 4 worker threads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_pydataset.py

With workers, the next batches are made while the model trains on this one (in
order, so the weights are those of one worker): an epoch costs about max(train,
make / workers) instead of train + make.
"""
import argparse
import time

import numpy as np

import nbnet as nb
from nbnet import layers


class SlowBatches(nb.utils.PyDataset):
    def __init__(self, n_batches, batch_size, io_s, **kwargs):
        super().__init__(**kwargs)
        self.n, self.batch_size, self.io_s = n_batches, batch_size, io_s

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.io_s)                          # reading the files
        rng = np.random.default_rng(i)
        x = rng.random((self.batch_size, 32, 32, 3), dtype=np.float32)
        for _ in range(3):                             # decoding / augmenting
            x = np.sqrt(x * x + 0.01)
        y = rng.integers(0, 10, self.batch_size)
        return x, y


def model():
    nb.utils.set_random_seed(0)
    m = nb.Sequential([nb.Input((32, 32, 3)), layers.Conv2D(16, 3, activation="relu"),
                       layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10)])
    m.compile("adam", nb.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batches", type=int, default=24)
    p.add_argument("--io-ms", type=float, default=20.0)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    m = model()
    m.fit(SlowBatches(2, 64, 0.0), epochs=1, verbose=0)   # compile the kernels
    t_make = min(_time(lambda: [SlowBatches(a.batches, 64, a.io_ms / 1e3)[i]
                                for i in range(a.batches)]) for _ in range(a.repeats))
    print(f"making the {a.batches} batches alone: {t_make:.2f} s")
    weights = None
    for workers in (1, 2, 4):
        ts = []
        for _ in range(a.repeats):
            m = model()
            ts.append(_time(lambda: m.fit(SlowBatches(a.batches, 64, a.io_ms / 1e3,
                                                      workers=workers), epochs=1,
                                          shuffle=False, verbose=0)))
        w = m.get_weights()
        same = weights is None or all(np.array_equal(u, v) for u, v in zip(w, weights))
        weights = weights or w
        print(f"workers={workers}: one epoch {np.median(ts):.2f} s (median of {a.repeats}); "
              f"weights {'the same as 1 worker' if same else 'DIFFER'}")


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
