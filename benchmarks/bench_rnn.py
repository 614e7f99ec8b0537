"""nbnet LSTM / GRU against PyTorch CPU (torch.nn.LSTM / GRU), side by side in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 \
        python benchmarks/bench_rnn.py --threads 1,2

Shapes: batch 32 and 128, 50 steps, 64 features, 128 units, float32, the same data and
weights in both. Workloads: the layer alone (training = forward + backward of the last
output, inference = forward) and a small model (the RNN, then Dense(10), sparse
categorical cross-entropy, Adam; training = one optimizer step, inference = forward).
Rounds are interleaved (nbnet, torch, nbnet, ...), each after one untimed call;
medians. ratio = nbnet / torch throughput (> 1: nbnet faster). %sgemm = achieved
GFLOP/s of the RNN's matrix products (input projection, recurrent products and, in
training, their two backward products each) over numpy's measured sgemm GFLOP/s, for
nbnet and for torch.

torch's CPU build runs nn.LSTM (not nn.GRU) through oneDNN's fused RNN primitive
(aten::mkldnn_rnn_layer in its profiler; JIT-compiled AVX-512 kernels with packed
weights). The last two columns time torch again with oneDNN switched off
(torch.backends.mkldnn.flags(enabled=False)): its own per-op path (aten::mm, addmm,
sigmoid per step), which is what nn.GRU always runs.
"""
import argparse
import statistics
import time
import warnings

import numpy as np
import torch  # first: its OpenMP runtime starts with the environment it was given

import nbnet as nb
from nbnet import layers

# One inter-op thread: torch's RNN runs its ops one after another anyway, and with the
# default pool on a shared 2-core machine the 2-thread torch rounds were measured 20-50x
# slower (800 ms instead of 10) from threads waiting on each other. Run with
# OMP_NUM_THREADS at least the largest --threads.
torch.set_num_interop_threads(1)
warnings.filterwarnings("ignore", message=".*TF32")  # printed by mkldnn.flags on CPU builds
from nbnet.machine import measure_sgemm

T, F, U = 50, 64, 128


def rnn_flops(kind, N, train):
    G = 4 if kind == "LSTM" else 3
    fwd = 2 * N * T * (F + U) * G * U
    return fwd * (3 if train else 1)


def _torch_rnn(kind, layer):
    W, R, b = (w.value for w in layer.weights)
    if kind == "LSTM":
        t, perm, bih, bhh = torch.nn.LSTM(F, U, batch_first=True), np.arange(4 * U), b, 0 * b
    else:
        i = np.arange(U)
        perm = np.r_[i + U, i, i + 2 * U]  # Keras z, r, h -> torch r, z, n
        t, bih, bhh = torch.nn.GRU(F, U, batch_first=True), b[0], b[1]
    with torch.no_grad():
        t.weight_ih_l0.copy_(torch.from_numpy(W[:, perm].T.copy()))
        t.weight_hh_l0.copy_(torch.from_numpy(R[:, perm].T.copy()))
        t.bias_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(bih[perm])))
        t.bias_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(bhh[perm])))
    return t


class TorchModel(torch.nn.Module):
    def __init__(self, rnn, dense):
        super().__init__()
        self.rnn, self.dense = rnn, dense

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.dense(y[:, -1])


def workloads(kind, N, seed=0):
    """{name: (nbnet callable, torch callable, flops)} for one RNN kind and batch."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    labels = rng.integers(0, 10, N)
    cls = getattr(layers, kind)
    layer = cls(U)
    layer(x[:2])
    tl = _torch_rnn(kind, layer)
    xt = torch.from_numpy(x)
    xg = xt.clone().requires_grad_(True)
    dy = np.ones((N, U), np.float32)

    def nb_train():
        layer.forward(x, training=True)
        layer.backward(dy)

    def nb_infer():
        layer.forward(x)

    def t_train():
        tl.zero_grad()
        xg.grad = None
        y, _ = tl(xg)
        y[:, -1].sum().backward()

    def t_infer():
        with torch.no_grad():
            tl(xt)

    model = nb.Sequential([nb.Input(shape=(T, F)), cls(U), layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.layers[0].set_weights(layer.get_weights())
    tm = TorchModel(_torch_rnn(kind, model.layers[0]), torch.nn.Linear(U, 10))
    Wd, bd = model.layers[1].get_weights()
    with torch.no_grad():
        tm.dense.weight.copy_(torch.from_numpy(Wd.T.copy()))
        tm.dense.bias.copy_(torch.from_numpy(bd))
    opt = torch.optim.Adam(tm.parameters(), lr=1e-3, eps=1e-7)
    yl = torch.from_numpy(labels)

    def m_train():
        model.train_on_batch(x, labels)

    def m_infer():
        model.predict_on_batch(x)

    def tm_train():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(tm(xt), yl).backward()
        opt.step()

    def tm_infer():
        with torch.no_grad():
            tm(xt)

    return {f"{kind} layer train": (nb_train, t_train, rnn_flops(kind, N, True)),
            f"{kind} layer infer": (nb_infer, t_infer, rnn_flops(kind, N, False)),
            f"{kind} model train": (m_train, tm_train, rnn_flops(kind, N, True)),
            f"{kind} model infer": (m_infer, tm_infer, rnn_flops(kind, N, False))}


def no_onednn(fn):
    def run():
        with torch.backends.mkldnn.flags(enabled=False):
            fn()
    return run


def timed(fn):
    fn()  # untimed: warm caches and threads after the other framework's round
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--kinds", default="LSTM,GRU")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"# T={T} F={F} U={U} float32, medians of {args.repeats} interleaved rounds")
    print(f"{'workload':<18} {'batch':>5} {'thr':>3} {'nbnet ms':>9} {'torch ms':>9} "
          f"{'ratio':>6} {'nb GF/s':>8} {'%sgemm':>7} {'torch %':>7} {'per-op ms':>9} "
          f"{'ratio':>6}")
    for t in (int(s) for s in args.threads.split(",")):
        nb.set_num_threads(t)
        torch.set_num_threads(t)
        peak = measure_sgemm()
        print(f"# {t} thread(s): sgemm {peak:.1f} GFLOP/s", flush=True)
        for kind in args.kinds.split(","):
            for N in (int(s) for s in args.batches.split(",")):
                for name, (fa, fb, flops) in workloads(kind, N).items():
                    fc = no_onednn(fb)
                    fa(), fb(), fc()  # compile / first-call costs
                    ta, tb, tc = [], [], []
                    for _ in range(args.repeats):
                        ta.append(timed(fa))
                        tb.append(timed(fb))
                        tc.append(timed(fc))
                    a, b, c = (statistics.median(v) for v in (ta, tb, tc))
                    gf = flops / a / 1e9
                    print(f"{name:<18} {N:>5} {t:>3} {a * 1e3:>9.2f} {b * 1e3:>9.2f} "
                          f"{b / a:>6.2f} {gf:>8.1f} {100 * gf / peak:>6.0f}% "
                          f"{100 * flops / b / 1e9 / peak:>6.0f}% {c * 1e3:>9.2f} "
                          f"{c / a:>6.2f}", flush=True)
        # the machine may be shared: the same measurement after the rounds shows drift
        print(f"# {t} thread(s): sgemm after the rounds {measure_sgemm():.1f} GFLOP/s",
              flush=True)


if __name__ == "__main__":
    main()
