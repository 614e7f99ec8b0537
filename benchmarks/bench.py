"""nbnet against PyTorch CPU, side by side in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py --threads 1,2

Every workload runs both frameworks on the same data and initial weights at the same
thread count, interleaved round by round (nbnet, torch, nbnet, torch, ...), and reports
medians over the rounds, the ratio nbnet/torch of throughputs (> 1: nbnet faster), and
each result as a fraction of this machine's measured limit: sgemm GFLOP/s through
numpy's BLAS for the training / predict workloads, STREAM-triad bandwidth for the
kernels alone.

By default each framework runs in its own worker process, so that each keeps its own
OpenMP settings and thread pools: in one process the two share one OpenMP runtime, and
the OMP_WAIT_POLICY=PASSIVE that `import nbnet` set until 2026-12-01 (and still sets
when it cannot run numpy's BLAS on its own pool, see nbnet/blas.py) made PyTorch's own
training step 2x slower at 2 threads on the 2-core machine. `--one-process` runs both
in this process instead. Each timed round follows one untimed call of the same work,
so that neither framework is timed on caches and threads left cold by the other's
round.
"""
import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np

nb = layers = torch = tnn = F = None  # imported by load(), per process
SIDE = None  # "nbnet", "torch" or "both": which framework(s) this process times


def load(side):
    """Import the frameworks `side` needs ("nbnet", "torch" or "both") into globals.
    torch is imported first, so that its OpenMP runtime starts before `import nbnet` can
    set OMP_WAIT_POLICY (its fallback); nbnet is needed on the torch side too, but only to build the
    same seeded data and initial weights (none of its parallel kernels runs there)."""
    global nb, layers, torch, tnn, F, SIDE
    SIDE = side
    if side in ("torch", "both"):
        try:
            import torch as _torch
            import torch.nn as _tnn
            import torch.nn.functional as _F
        except ImportError:  # pragma: no cover
            sys.exit("the benchmarks compare with PyTorch: pip install torch==2.13.0")
        torch, tnn, F = _torch, _tnn, _F
        torch.zeros(64).add_(1)  # starts its runtime with the environment it was given
    import nbnet as _nb
    from nbnet import layers as _layers
    nb, layers = _nb, _layers


# ---------------------------------------------------------------- models
def mlp_nb():
    return nb.Sequential([nb.Input(shape=(784,)), layers.Dense(512), layers.BatchNormalization(),
                          layers.ReLU(), layers.Dense(256), layers.BatchNormalization(),
                          layers.ReLU(), layers.Dense(10)])


def mlp_torch(m):
    t = tnn.Sequential(tnn.Linear(784, 512), tnn.BatchNorm1d(512, eps=1e-3, momentum=0.01), tnn.ReLU(),
                       tnn.Linear(512, 256), tnn.BatchNorm1d(256, eps=1e-3, momentum=0.01), tnn.ReLU(),
                       tnn.Linear(256, 10))
    dense = [l for l in m.layers if isinstance(l, layers.Dense)]
    with torch.no_grad():
        for tl, nl in zip([t[0], t[3], t[6]], dense):
            W, b = nl.get_weights()
            tl.weight.copy_(torch.from_numpy(W.T.copy()))
            tl.bias.copy_(torch.from_numpy(b))
    return t


def cnn_nb():
    return nb.Sequential([nb.Input(shape=(28, 28, 1)),
                          layers.Conv2D(32, 3), layers.BatchNormalization(), layers.ReLU(),
                          layers.MaxPooling2D(2),
                          layers.Conv2D(64, 3), layers.BatchNormalization(), layers.ReLU(),
                          layers.MaxPooling2D(2), layers.Flatten(),
                          layers.Dense(128, activation="relu"), layers.Dense(10)])


def cnn_torch(m):
    t = tnn.Sequential(tnn.Conv2d(1, 32, 3), tnn.BatchNorm2d(32, eps=1e-3, momentum=0.01), tnn.ReLU(),
                       tnn.MaxPool2d(2),
                       tnn.Conv2d(32, 64, 3), tnn.BatchNorm2d(64, eps=1e-3, momentum=0.01), tnn.ReLU(),
                       tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(1600, 128), tnn.ReLU(),
                       tnn.Linear(128, 10))
    convs = [l for l in m.layers if isinstance(l, layers.Conv2D)]
    dense = [l for l in m.layers if isinstance(l, layers.Dense)]
    with torch.no_grad():
        for tl, nl in zip([t[0], t[4]], convs):
            W, b = nl.get_weights()
            tl.weight.copy_(torch.from_numpy(W.transpose(3, 2, 0, 1).copy()))
            tl.bias.copy_(torch.from_numpy(b))
        W, b = dense[0].get_weights()  # NHWC flatten order (h, w, c) -> NCHW (c, h, w)
        t[9].weight.copy_(torch.from_numpy(W.reshape(5, 5, 64, 128).transpose(3, 2, 0, 1).reshape(128, 1600).copy()))
        t[9].bias.copy_(torch.from_numpy(b))
        W, b = dense[1].get_weights()
        t[11].weight.copy_(torch.from_numpy(W.T.copy()))
        t[11].bias.copy_(torch.from_numpy(b))
    return t


def model_flops(m, training=False):
    """FLOPs of the matrix products per sample (what the sgemm limit bounds): the
    forward ones, and for training also dW and dX of each layer but dX of the first
    (nobody needs the gradient of the data, so neither framework computes it)."""
    shape, total, first = m.input_shape, 0, None
    for l in m.layers:
        if isinstance(l, (layers.Dense, layers.Conv2D)):
            f = l.flops(shape)
            total += 3 * f if training else f
            first = f if first is None else first
        shape = l.compute_output_shape(shape)
    return total - first if training else total


# ---------------------------------------------------------------- workloads
def train_workload(kind, batch, steps):
    nb.utils.set_random_seed(0)
    m = mlp_nb() if kind == "mlp" else cnn_nb()
    m.build((None, 784) if kind == "mlp" else (None, 28, 28, 1))
    rng = np.random.default_rng(0)
    n = batch * steps
    x = rng.standard_normal((n,) + m.input_shape[1:], dtype=np.float32)
    y = rng.integers(0, 10, n)
    flops = model_flops(m, training=True) * n
    m.compile(nb.optimizers.Adam(learning_rate=1e-3),
              nb.losses.SparseCategoricalCrossentropy(from_logits=True))

    def run_nb():
        m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    if torch is None:
        return run_nb, None, n, flops, None
    t = mlp_torch(m) if kind == "mlp" else cnn_torch(m)
    xt = torch.from_numpy(x if kind == "mlp" else x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y)
    xb = [xt[i:i + batch] for i in range(0, n, batch)]
    yb = [yt[i:i + batch] for i in range(0, n, batch)]
    opt = torch.optim.Adam(t.parameters(), lr=1e-3)
    t.train()

    def run_torch():
        for a, b in zip(xb, yb):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(t(a), b).backward()
            opt.step()

    return run_nb, run_torch, n, flops, None


def predict_workload(batch, steps):
    nb.utils.set_random_seed(0)
    m = mlp_nb()
    m.build((None, 784))
    n = batch * steps
    x = np.random.default_rng(0).standard_normal((n, 784), dtype=np.float32)
    if torch is None:
        return (lambda: m.predict(x, batch_size=batch)), None, n, model_flops(m) * n, None
    t = mlp_torch(m).eval()
    xt = torch.from_numpy(x)

    def run_torch():
        with torch.no_grad():
            for i in range(0, n, batch):
                t(xt[i:i + batch])

    return (lambda: m.predict(x, batch_size=batch)), run_torch, n, model_flops(m) * n, None


def batchnorm_workload(shape, steps):
    nb.utils.set_random_seed(0)
    layer = layers.BatchNormalization()
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    dy = np.random.default_rng(1).standard_normal(shape, dtype=np.float32)

    def run_nb():
        for _ in range(steps):
            layer.forward(x, training=True)
            layer.backward(dy)

    nbytes = 5 * x.nbytes * steps  # fwd: read x, write y; bwd: read dy and x, write dx
    if SIDE != "torch":
        layer(x[:2])
    if torch is None:
        return run_nb, None, steps * shape[0], None, nbytes
    xt = torch.from_numpy(x if x.ndim == 2 else x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    dyt = torch.from_numpy(dy if x.ndim == 2 else dy.transpose(0, 3, 1, 2).copy())
    c = shape[-1]
    w = torch.ones(c, requires_grad=True)
    b = torch.zeros(c, requires_grad=True)
    rm, rv = torch.zeros(c), torch.ones(c)

    def run_torch():
        for _ in range(steps):
            out = F.batch_norm(xt, rm, rv, w, b, training=True, momentum=0.01, eps=1e-3)
            out.backward(dyt)

    return run_nb, run_torch, steps * shape[0], None, nbytes


def softmax_ce_workload(shape, steps):
    from nbnet.kernels.losses import softmax_ce_sparse
    logits = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    labels = np.random.default_rng(1).integers(0, shape[1], shape[0])
    grad = np.empty_like(logits)

    def run_nb():
        for _ in range(steps):
            softmax_ce_sparse(grad, logits, labels, 0.0)

    nbytes = 2 * logits.nbytes * steps
    if torch is None:
        return run_nb, None, steps * shape[0], None, nbytes
    lt = torch.from_numpy(logits.copy()).requires_grad_(True)
    yt = torch.from_numpy(labels)

    def run_torch():
        for _ in range(steps):
            lt.grad = None
            F.cross_entropy(lt, yt).backward()

    return run_nb, run_torch, steps * shape[0], None, nbytes


WORKLOADS = {
    "mlp_b32": ("MLP 784-512-256-10 BN ReLU, Adam, train b32", lambda: train_workload("mlp", 32, 40)),
    "mlp_b128": ("same, train b128", lambda: train_workload("mlp", 128, 20)),
    "mlp_b1024": ("same, train b1024", lambda: train_workload("mlp", 1024, 6)),
    "cnn_b128": ("small CNN 28x28x1, train b128", lambda: train_workload("cnn", 128, 4)),
    "predict_b1024": ("MLP predict b1024", lambda: predict_workload(1024, 8)),
    "bn_256x1024": ("batch norm fwd+bwd (256, 1024)", lambda: batchnorm_workload((256, 1024), 20)),
    "bn_nhwc": ("batch norm fwd+bwd (128, 28, 28, 32)", lambda: batchnorm_workload((128, 28, 28, 32), 3)),
    "ce_1024x10": ("softmax-CE fwd+bwd (1024, 10)", lambda: softmax_ce_workload((1024, 10), 200)),
    "ce_1024x1000": ("softmax-CE fwd+bwd (1024, 1000)", lambda: softmax_ce_workload((1024, 1000), 10)),
}


def timed(fn):
    fn()  # untimed: caches, clock and thread pools warm again after the other framework's round
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Local:
    """Both frameworks in this process."""

    def __init__(self, side):
        load(side)
        self.side, self.fn = side, None

    def call(self, cmd, *args):
        if cmd == "info":
            from nbnet.machine import _cpu_name
            return {"cpu": _cpu_name(), "nbnet": nb.__version__, "numpy": np.__version__,
                    "torch": torch.__version__ if torch is not None else None}
        if cmd == "threads":
            if self.side != "torch":
                nb.set_num_threads(args[0])
            if torch is not None:
                torch.set_num_threads(args[0])
            return None
        if cmd == "limits":
            from nbnet.machine import measure_sgemm, measure_triad
            return measure_sgemm(), measure_triad()
        if cmd == "setup":
            run_nb, run_torch, samples, flops, nbytes = WORKLOADS[args[0]][1]()
            self.fn = {"nbnet": run_nb, "torch": run_torch}.get(self.side, (run_nb, run_torch))
            for f in (self.fn if isinstance(self.fn, tuple) else (self.fn,)):
                f()  # warm-up: JIT, buffers, caches
            return samples, flops, nbytes
        if cmd == "round":  # one timed round (one side; or nbnet then torch in one process)
            fns = self.fn if isinstance(self.fn, tuple) else (self.fn,)
            return [timed(f) for f in fns]
        raise ValueError(cmd)


def serve(conn, side):
    """A worker process: answers Local(side).call(...) over a pipe until told to stop."""
    worker = Local(side)
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(worker.call(*msg))


class Remote:
    def __init__(self, ctx, side):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, side), daemon=True)
        self.proc.start()

    def call(self, *msg):
        self.conn.send(msg)
        return self.conn.recv()

    def close(self):
        self.conn.send(None)
        self.proc.join()


def run(names, threads, repeats, one_process=False):
    if one_process:
        both = Local("both")
        nbw = tw = None
        info = both.call("info")
    else:
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")  # a clean process: no inherited runtime
        nbw, tw = Remote(ctx, "nbnet"), Remote(ctx, "torch")
        info = nbw.call("info")
        info["torch"] = tw.call("info")["torch"]
    print(f"# {time.strftime('%Y-%m-%d')} {platform.node()} {info['cpu']}, nbnet {info['nbnet']}, "
          f"torch {info['torch']}, numpy {info['numpy']}, "
          f"{'one process' if one_process else 'one worker process per framework'}", flush=True)
    rows = []
    for t in threads:
        for w in ((both,) if one_process else (nbw, tw)):
            w.call("threads", t)
        gflops, gbps = (both if one_process else nbw).call("limits")
        print(f"# {t} thread(s): sgemm {gflops:.1f} GFLOP/s, triad {gbps:.1f} GB/s", flush=True)
        for name in names:
            label = WORKLOADS[name][0]
            tn, tt = [], []
            if one_process:
                samples, flops, nbytes = both.call("setup", name)
                for _ in range(repeats):  # interleaved rounds
                    a, b = both.call("round")
                    tn.append(a)
                    tt.append(b)
            else:
                samples, flops, nbytes = nbw.call("setup", name)
                tw.call("setup", name)
                for _ in range(repeats):  # interleaved rounds
                    tn += nbw.call("round")
                    tt += tw.call("round")
            mn, mt = statistics.median(tn), statistics.median(tt)
            row = {"workload": name, "label": label, "threads": t,
                   "nbnet_per_s": samples / mn, "torch_per_s": samples / mt, "ratio": mt / mn,
                   "nbnet_s": mn, "torch_s": mt, "one_process": one_process}
            if flops:
                row["nbnet_gflops"] = flops / mn / 1e9
                row["frac_of_peak"] = row["nbnet_gflops"] / gflops
                row["limit_per_s"] = samples / (flops / (gflops * 1e9))
            if nbytes:
                row["nbnet_gbps"] = nbytes / mn / 1e9
                row["frac_of_peak"] = row["nbnet_gbps"] / gbps
            row["sgemm_gflops"], row["triad_gbps"] = gflops, gbps
            rows.append(row)
            print(f"{label:48s} {t:2d}T  nbnet {samples / mn:10,.0f}/s  torch {samples / mt:10,.0f}/s  "
                  f"ratio {mt / mn:5.2f}x  {100 * row.get('frac_of_peak', 0):5.1f}% of limit", flush=True)
    if not one_process:
        nbw.close()
        tw.close()
    return rows


def markdown(rows):
    out = ["| workload | threads | nbnet /s | torch /s | nbnet/torch | nbnet time | % of limit |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        unit = "GFLOP/s" if "nbnet_gflops" in r else "GB/s"
        val = r.get("nbnet_gflops", r.get("nbnet_gbps"))
        out.append(f"| {r['label']} | {r['threads']} | {r['nbnet_per_s']:,.0f} | {r['torch_per_s']:,.0f} | "
                   f"**{r['ratio']:.2f}x** | {r['nbnet_s'] * 1e3:.2f} ms ({val:.1f} {unit}) | "
                   f"{100 * r['frac_of_peak']:.0f}% |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=7, help="rounds per workload (median; default 7)")
    p.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workload names")
    p.add_argument("--one-process", action="store_true",
                   help="run both frameworks in this process (they then share one OpenMP runtime)")
    p.add_argument("--json", help="also write the rows as JSON here")
    a = p.parse_args()
    names = [n for n in a.only.split(",") if n]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {unknown}; known: {', '.join(WORKLOADS)}")
    threads = [int(t) for t in a.threads.split(",")]
    rows = run(names, threads, a.repeats, a.one_process)
    print()
    print(markdown(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
