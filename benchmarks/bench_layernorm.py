"""LayerNormalization kernels against torch.nn.LayerNorm on the CPU, side by side.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_layernorm.py --threads 1,2

For each shape (rows, features), float32: the forward kernel alone (training and
inference are the same maths) and forward + backward (dx, dgamma, dbeta), in nbnet
(nbnet/kernels/layernorm.py, called directly, preallocated outputs) and in PyTorch
(torch.nn.LayerNorm, the same epsilon). As benchmarks/bench.py: each framework in its
own worker process, the same thread count, rounds interleaved (nbnet, torch, ...),
each timed round after one untimed call, medians over the rounds, ratio = torch time /
nbnet time (> 1: nbnet faster). Bandwidth: bytes the work must move at least (forward:
read x, write y; backward: read dy and x, write dx) over nbnet's time, and that as a
fraction of the STREAM-triad bandwidth measured in the same run (above 100 %: the
data stayed in cache).
"""
import argparse
import statistics
import sys
import time

import numpy as np

SHAPES = [(32 * 50, 128), (128 * 50, 512), (32 * 128, 768), (256, 4096)]
STEPS = {(32 * 50, 128): 200, (128 * 50, 512): 10, (32 * 128, 768): 12, (256, 4096): 20}


def setup(side, shape, mode):
    """A function running STEPS[shape] calls of `mode` ("fwd" / "fwdbwd") on `side`."""
    steps = STEPS[shape]
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape, dtype=np.float32) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    m, d = shape
    if side == "nbnet":
        from nbnet.kernels import layernorm as K
        gamma, beta = np.ones(d, np.float32), np.zeros(d, np.float32)
        y, dx = np.empty_like(x), np.empty_like(x)
        dg, db = np.empty(d, np.float32), np.empty(d, np.float32)
        mean, inv_std = np.empty(m), np.empty(m)

        def run():
            for _ in range(steps):
                K.layernorm_forward(y, mean, inv_std, x, gamma, beta, 1e-3, False)
                if mode == "fwdbwd":
                    K.layernorm_backward(dx, dg, db, dy, x, mean, inv_std, gamma, False)
        return run
    import torch
    ln = torch.nn.LayerNorm(d, eps=1e-3)
    xt = torch.from_numpy(x.copy()).requires_grad_(mode == "fwdbwd")
    dyt = torch.from_numpy(dy.copy())

    def run_torch():
        if mode == "fwd":
            with torch.no_grad():
                for _ in range(steps):
                    ln(xt)
            return
        for _ in range(steps):
            xt.grad = None
            ln.weight.grad = ln.bias.grad = None
            ln(xt).backward(dyt)
    return run_torch


def serve(conn, side):
    if side == "torch":
        import torch
        torch.zeros(64).add_(1)
    import nbnet as nb
    fn = None
    while True:
        msg = conn.recv()
        if msg is None:
            return
        cmd, *args = msg
        if cmd == "threads":
            nb.set_num_threads(args[0])
            if side == "torch":
                import torch
                torch.set_num_threads(args[0])
            conn.send(None)
        elif cmd == "triad":
            from nbnet.machine import measure_triad
            conn.send(measure_triad())
        elif cmd == "setup":
            fn = setup(side, *args)
            fn()  # warm-up: JIT, caches
            conn.send(None)
        elif cmd == "round":
            fn()  # untimed: caches and threads warm again after the other side's round
            t0 = time.perf_counter()
            fn()
            conn.send(time.perf_counter() - t0)


class Worker:
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:  # pragma: no cover
        sys.exit("the benchmark compares with PyTorch: pip install torch==2.13.0")
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    nbw, tw = Worker(ctx, "nbnet"), Worker(ctx, "torch")
    rows = []
    for t in (int(s) for s in a.threads.split(",")):
        nbw.call("threads", t)
        tw.call("threads", t)
        triad = nbw.call("triad")
        print(f"# {t} thread(s): triad {triad:.1f} GB/s", flush=True)
        for shape in SHAPES:
            for mode in ("fwd", "fwdbwd"):
                nbw.call("setup", shape, mode)
                tw.call("setup", shape, mode)
                tn, tt = [], []
                for _ in range(a.repeats):
                    tn.append(nbw.call("round"))
                    tt.append(tw.call("round"))
                mn, mt = statistics.median(tn), statistics.median(tt)
                steps = STEPS[shape]
                nbytes = (2 if mode == "fwd" else 5) * shape[0] * shape[1] * 4 * steps
                gbps = nbytes / mn / 1e9
                row = (f"| {shape} | {mode} | {t} | {mn / steps * 1e6:,.1f} | {mt / steps * 1e6:,.1f} "
                       f"| **{mt / mn:.2f}x** | {gbps:.1f} GB/s | {100 * gbps / triad:.0f}% |")
                rows.append(row)
                print(row, flush=True)
    nbw.close()
    tw.close()
    print()
    print("| shape (rows, features) | work | threads | nbnet us/call | torch us/call | torch/nbnet "
          "| nbnet bandwidth | % of triad |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
