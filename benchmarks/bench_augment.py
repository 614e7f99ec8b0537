"""Cost of on-the-fly augmentation against the training step it feeds (nbnet only).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_augment.py

Times RandomFlip + RandomRotation + RandomZoom in training mode on a 128x32x32x3
float32 batch, and one training step (train_on_batch, Adam) of bench.py's small CNN
built for 32x32x3 input at the same batch size; prints medians and their ratio
(target: the augmentation under 10 % of the step).
"""
import argparse
import statistics
import time

import numpy as np

import nbnet as nb
from nbnet import layers
from nbnet.layers.augmentation import RandomFlip, RandomRotation, RandomZoom


def cnn32():
    return nb.Sequential([nb.Input(shape=(32, 32, 3)),
                          layers.Conv2D(32, 3), layers.BatchNormalization(), layers.ReLU(),
                          layers.MaxPooling2D(2),
                          layers.Conv2D(64, 3), layers.BatchNormalization(), layers.ReLU(),
                          layers.MaxPooling2D(2), layers.Flatten(),
                          layers.Dense(128, activation="relu"), layers.Dense(10)])


def median_time(fn, rounds, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    if a.threads:
        nb.set_num_threads(a.threads)
    nb.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (a.batch, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, a.batch)

    aug = [RandomFlip(seed=1), RandomRotation(0.1, seed=2), RandomZoom(0.2, seed=3)]
    step = [0]

    def run_aug():
        h = x
        for layer in aug:
            h = layer.forward(h, training=True, step=step[0])
        step[0] += 1
        return h

    m = cnn32()
    m.compile(nb.optimizers.Adam(learning_rate=1e-3),
              nb.losses.SparseCategoricalCrossentropy(from_logits=True))

    def run_step():
        m.train_on_batch(x, y)

    t_aug = median_time(run_aug, a.rounds)
    t_step = median_time(run_step, a.rounds)
    per = {type(l).__name__: median_time(lambda l=l: l.forward(x, training=True, step=1), a.rounds)
           for l in aug}
    print(f"threads {nb.get_num_threads()}, batch {a.batch}x32x32x3 float32")
    for name, t in per.items():
        print(f"  {name:16s} {t * 1e3:8.2f} ms")
    print(f"augmentation (flip+rotation+zoom) {t_aug * 1e3:8.2f} ms")
    print(f"CNN training step                 {t_step * 1e3:8.2f} ms")
    print(f"ratio augmentation / step         {t_aug / t_step * 100:8.1f} %  (target < 10 %)")


if __name__ == "__main__":
    main()
