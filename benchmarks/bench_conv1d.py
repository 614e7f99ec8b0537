"""A small 1-D convolutional network over time: nbnet against the same network in
PyTorch CPU, side by side.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv1d.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv1d.py --check

The network, on (batch, 128 steps, 16 channels): Conv1D(64, 5, padding="same", relu),
MaxPooling1D(2), Conv1D(64, 5, relu) ("valid": 60 steps), GlobalAveragePooling1D,
Dense(10). PyTorch: NCT, Conv1d(16, 64, 5, padding=2) (Keras' "same" for an odd kernel
at stride 1 is symmetric), MaxPool1d(2), Conv1d(64, 64, 5), mean over time, Linear(64,
10), the same initial weights copied over (kernels (k, in, out) -> (out, in, k)).

Workloads: training steps at batch 32 and 128 (softmax cross-entropy from logits, SGD
momentum 0.9, lr 0.01, PyTorch's formula that nbnet's SGD uses; one round = one epoch
of fit over `steps` batches) and inference at the same batches (predict / no_grad).
As benchmarks/bench.py, whose machinery this uses: each framework in its own worker
process, the same thread count, rounds interleaved, one untimed call before each timed
round, medians, ratios nbnet/torch of throughputs (> 1: nbnet faster). "% of limit" is
nbnet's FLOP/s of the convolutions' and the Dense layer's products (forward; for
training also dW and dX, no dX for the first convolution) against numpy's sgemm
measured in the same run.

--check (no timing) runs both at float64 from the same weights on one batch: the
outputs, and the weights after one SGD step.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the workers, timing and tables of the main benchmarks)

STEPS, CHANNELS, CLASSES = 128, 16, 10


def conv1d_nb(dtype=None):
    nb, layers = bench.nb, bench.layers
    return nb.Sequential([nb.Input(shape=(STEPS, CHANNELS), dtype=dtype),
                          layers.Conv1D(64, 5, padding="same", activation="relu", dtype=dtype),
                          layers.MaxPooling1D(2, dtype=dtype),
                          layers.Conv1D(64, 5, activation="relu", dtype=dtype),
                          layers.GlobalAveragePooling1D(dtype=dtype),
                          layers.Dense(CLASSES, dtype=dtype)])


def conv1d_torch(m):
    """The same network in PyTorch (NCT) with the weights of nbnet model m, in m's dtype."""
    torch, tnn, layers = bench.torch, bench.tnn, bench.layers

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = tnn.Conv1d(CHANNELS, 64, 5, padding=2)
            self.pool = tnn.MaxPool1d(2)
            self.c2 = tnn.Conv1d(64, 64, 5)
            self.fc = tnn.Linear(64, CLASSES)

        def forward(self, x):
            h = self.pool(torch.relu(self.c1(x)))
            return self.fc(torch.relu(self.c2(h)).mean(dim=2))

    t = Net().to(torch.float64 if m.layers[0].dtype == np.float64 else torch.float32)
    convs = [l for l in m.layers if isinstance(l, layers.Conv1D)]
    dense = [l for l in m.layers if isinstance(l, layers.Dense)][0]
    with torch.no_grad():
        for tl, nl in zip((t.c1, t.c2), convs):
            W, b = nl.get_weights()
            tl.weight.copy_(torch.from_numpy(W.transpose(2, 1, 0).copy()))
            tl.bias.copy_(torch.from_numpy(b))
        W, b = dense.get_weights()
        t.fc.weight.copy_(torch.from_numpy(W.T.copy()))
        t.fc.bias.copy_(torch.from_numpy(b))
    return t


def model_flops(m, training=False):
    """Matrix-product FLOPs per sample (as bench.model_flops, with Conv1D)."""
    layers = bench.layers
    shape, total, first = m.input_shape, 0, None
    for l in m.layers:
        if isinstance(l, (layers.Dense, layers.Conv1D)):
            f = l.flops(shape)
            total += 3 * f if training else f
            first = f if first is None else first
        shape = l.compute_output_shape(shape)
    return total - first if training else total


def data(n, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, STEPS, CHANNELS)).astype(dtype), rng.integers(0, CLASSES, n)


# ---------------------------------------------------------------- the timed workloads
def train_workload(batch, steps):
    nb, torch, F = bench.nb, bench.torch, bench.F
    nb.utils.set_random_seed(0)
    m = conv1d_nb()
    n = batch * steps
    x, y = data(n)
    flops = model_flops(m, training=True) * n
    run_nb = run_torch = None
    if bench.SIDE != "torch":
        m.compile(nb.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  nb.losses.SparseCategoricalCrossentropy(from_logits=True))

        def run_nb():
            m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    if torch is not None and bench.SIDE != "nbnet":
        t = conv1d_torch(m)
        opt = torch.optim.SGD(t.parameters(), lr=0.01, momentum=0.9)
        xt = torch.from_numpy(x.transpose(0, 2, 1).copy())
        yt = torch.from_numpy(y)
        xb = [xt[i:i + batch] for i in range(0, n, batch)]
        yb = [yt[i:i + batch] for i in range(0, n, batch)]
        t.train()

        def run_torch():
            for a, b in zip(xb, yb):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(t(a), b).backward()
                opt.step()

    return run_nb, run_torch, n, flops, None


def predict_workload(batch, steps):
    nb, torch = bench.nb, bench.torch
    nb.utils.set_random_seed(0)
    m = conv1d_nb()
    n = batch * steps
    x, _ = data(n)
    run_torch = None
    if torch is not None and bench.SIDE != "nbnet":
        t = conv1d_torch(m).eval()
        xt = torch.from_numpy(x.transpose(0, 2, 1).copy())

        def run_torch():
            with torch.no_grad():
                for i in range(0, n, batch):
                    t(xt[i:i + batch])

    return (lambda: m.predict(x, batch_size=batch, verbose=0)), run_torch, n, model_flops(m) * n, None


# registered at import, so that bench.py's worker processes (spawned: they import this
# file again as __mp_main__) know the workloads too
WORKLOADS = {
    "conv1d_train_b32": ("Conv1D net 128x16, SGD, train b32", lambda: train_workload(32, 24)),
    "conv1d_train_b128": ("Conv1D net 128x16, SGD, train b128", lambda: train_workload(128, 8)),
    "conv1d_predict_b32": ("Conv1D net 128x16, predict b32", lambda: predict_workload(32, 48)),
    "conv1d_predict_b128": ("Conv1D net 128x16, predict b128", lambda: predict_workload(128, 16)),
}
bench.WORKLOADS.update(WORKLOADS)


# ---------------------------------------------------------------- check
def run_check():
    """Both sides at float64 from the same weights: outputs, and weights after one step."""
    bench.load("both")
    nb, torch, F = bench.nb, bench.torch, bench.F
    nb.utils.set_random_seed(0)
    m = conv1d_nb(dtype="float64")
    t = conv1d_torch(m)
    x, y = data(32, np.float64, seed=1)
    xt = torch.from_numpy(x.transpose(0, 2, 1).copy())
    with torch.no_grad():
        out_t = t(xt).numpy()
    out_nb = m.predict(x, batch_size=32, verbose=0)
    err_out = float(np.max(np.abs(out_nb - out_t)) / np.max(np.abs(out_t)))
    m.compile(nb.optimizers.SGD(learning_rate=0.01, momentum=0.9),
              nb.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.train_on_batch(x, y)
    opt = torch.optim.SGD(t.parameters(), lr=0.01, momentum=0.9)
    opt.zero_grad()
    F.cross_entropy(t(xt), torch.from_numpy(y)).backward()
    opt.step()
    t2 = conv1d_torch(m)  # nbnet's stepped weights in torch's layout
    err_w = max(float(np.max(np.abs(a.detach().numpy() - b.detach().numpy())) /
                      np.max(np.abs(b.detach().numpy())))
                for a, b in zip(t2.parameters(), t.parameters()))
    ok = err_out < 1e-10 and err_w < 1e-10
    print(f"float64: outputs max rel diff {err_out:.2e}, weights after one SGD step "
          f"{err_w:.2e} -> {'OK' if ok else 'MISMATCH'}")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds per workload (median; default 7)")
    p.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workload names")
    p.add_argument("--check", action="store_true", help="check numerical agreement, no timing")
    p.add_argument("--one-process", action="store_true", help="both frameworks in this process")
    p.add_argument("--json", help="also write the rows as JSON here")
    a = p.parse_args()
    if a.check:
        sys.exit(0 if run_check() else 1)
    names = [n for n in a.only.split(",") if n]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {unknown}; known: {', '.join(WORKLOADS)}")
    rows = bench.run(names, [int(t) for t in a.threads.split(",")], a.repeats, a.one_process)
    print(f"\nmedian of {a.repeats} rounds")
    print(bench.markdown(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
