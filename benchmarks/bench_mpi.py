"""Data-parallel MLP (784-512-256-10, BatchNorm, ReLU, Adam) at global batch 1024 on
1, 2, 4 ... MPI ranks: samples/s and scaling efficiency.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_mpi.py --ranks 1,2,4

Each rank uses cores // ranks threads (nbnet's default for a distributed fit), so the
machine is never oversubscribed by threads; with more ranks than cores it is by ranks.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

STEPS, BATCH = 8, 1024


def worker(repeats):
    import numpy as np

    import nbnet as nb
    from nbnet import layers
    from nbnet.distributed import communicator
    comm = communicator()
    nb.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS * BATCH, 784), dtype=np.float32)
    y = rng.integers(0, 10, STEPS * BATCH)
    m = nb.Sequential([nb.Input(shape=(784,)), layers.Dense(512), layers.BatchNormalization(),
                       layers.ReLU(), layers.Dense(256), layers.BatchNormalization(),
                       layers.ReLU(), layers.Dense(10)])
    m.compile("adam", nb.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, distributed=True)  # warm-up
    times = []
    for _ in range(repeats):
        comm.comm.Barrier()
        t0 = time.perf_counter()
        m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, distributed=True)
        times.append(time.perf_counter() - t0)
    if comm.rank == 0:
        print("RESULT " + json.dumps({"ranks": comm.size, "threads": nb.get_num_threads(),
                                      "samples_per_s": STEPS * BATCH / statistics.median(times)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", default="1,2,4")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.repeats)
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("needs MPI: pip install 'nbnet[mpi]'")
    rows = []
    for n in [int(r) for r in a.ranks.split(",")]:
        out = subprocess.run([mpiexec, "-n", str(n), sys.executable, "-m", "mpi4py", __file__,
                              "--worker", "--repeats", str(a.repeats)],
                             capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.split("RESULT ", 1)[1].splitlines()[0]))
    base = rows[0]["samples_per_s"] / rows[0]["ranks"]
    print("| ranks | threads per rank | samples/s | speedup | efficiency |")
    print("|---|---|---|---|---|")
    for r in rows:
        sp = r["samples_per_s"] / rows[0]["samples_per_s"]
        print(f"| {r['ranks']} | {r['threads']} | {r['samples_per_s']:,.0f} | {sp:.2f}x | "
              f"{100 * r['samples_per_s'] / (base * r['ranks']):.0f}% |")


if __name__ == "__main__":
    main()
