"""ResNet-20 (He et al. 2016, section 4.2) on 32x32x3 images: nbnet's functional API
against the same network in PyTorch CPU, side by side.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_resnet.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_resnet.py --check

The network: 3x3 conv 16 - BN - ReLU, then 3 stages of 3 basic blocks with 16, 32 and
64 filters (conv3x3-BN-ReLU-conv3x3-BN, + shortcut, Add, ReLU); the first block of
stages 2 and 3 has stride 2 and, where the shape changes, a 1x1 conv with stride 2 + BN
on the shortcut (option B: nbnet has no zero-padding shortcut); then global average
pooling and Dense(10). 0.27M parameters, 20 weighted layers on the main path (plus the
two projection shortcuts). Convolutions without bias (BN follows), He-normal kernels.

nbnet: NHWC, Conv2D(padding="same"), BatchNormalization(momentum=0.99, epsilon=1e-3)
(Keras' defaults). PyTorch: NCHW, the same initial weights copied over (kernels (kh, kw,
in, out) -> (out, in, kh, kw)), BatchNorm2d(eps=1e-3, momentum=0.01). Keras' "same" for
a 3x3 stride-2 convolution of an even size pads 0 rows/columns before and 1 after, where
torch's padding=1 pads 1 on both sides: the torch side pads explicitly,
F.pad(x, (0, 1, 0, 1)), and runs those convolutions with padding=0 (--torch-pad
symmetric times torch's usual padding=1 instead: the same FLOPs, other numbers).

Both sides train on the same seeded batch of uniform [0, 1) images and uniform labels,
softmax cross-entropy from logits, SGD momentum 0.9 lr 0.01 (PyTorch's formula, which
nbnet's SGD uses) or --optimizer adam. As benchmarks/bench.py (whose machinery this
uses): each framework in its own worker process, rounds interleaved, one untimed call
before each timed round, medians. "% of limit" is nbnet's training FLOP/s (the
convolutions' and the Dense layer's products: forward, dW and dX, no dX for the first
convolution) against numpy's sgemm measured in the same run.

After the table: the loss of each side over 20 steps on one fixed batch of 128 (does
nbnet's fall, without NaN), and nbnet.profiler's per-layer table of the nbnet model at
batch 128 for each thread count (in an nbnet-only worker process). A full run takes
about 2 minutes on the 2-core machine (3+ when it is shared).

--check (no timing, ~15 s) verifies the two sides compute the same thing: forward
outputs at float64 (inference and training mode; target 1e-8 relative), and the weights
after one optimizer step at float64 and float32. At float32 the update itself is only
good to ~1e-2 relative on either side (against a float64 step from the same float32
weights and inputs, printed as the "float32 floor"): the check asks nbnet to be no
further from it than PyTorch is.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the workers, timing and tables of the main benchmarks)

STAGES = (16, 32, 64)
BLOCKS = 3            # per stage: ResNet-20 = 6 * 3 + 2 weighted layers
CLASSES = 10
CONFIG = {"optimizer": "sgd", "torch_pad": "asymmetric"}  # set from the command line (env for workers)


# ---------------------------------------------------------------- the two networks
def resnet_nb(dtype=None):
    """ResNet-20 with nbnet's functional API. Returns (model, convs) where convs lists
    (Conv2D or Dense layer, its input shape) for the FLOP count."""
    nb, layers = bench.nb, bench.layers
    products = []

    def conv(x, filters, k, stride, name):
        layer = layers.Conv2D(filters, k, strides=stride, padding="same", use_bias=False,
                              kernel_initializer="he_normal", name=name, dtype=dtype)
        products.append((layer, x.shape))
        return layer(x)

    def bn(x, name):
        return layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=name, dtype=dtype)(x)

    def relu(x, name):
        return layers.ReLU(name=name, dtype=dtype)(x)

    inp = nb.Input(shape=(32, 32, 3), dtype=dtype, name="images")
    h = relu(bn(conv(inp, STAGES[0], 3, 1, "stem_conv"), "stem_bn"), "stem_relu")
    for s, filters in enumerate(STAGES):
        for b in range(BLOCKS):
            p = f"s{s + 1}b{b + 1}_"
            stride = 2 if s > 0 and b == 0 else 1
            r = relu(bn(conv(h, filters, 3, stride, p + "conv1"), p + "bn1"), p + "relu1")
            r = bn(conv(r, filters, 3, 1, p + "conv2"), p + "bn2")
            if stride != 1 or h.shape[-1] != filters:
                h = bn(conv(h, filters, 1, stride, p + "proj_conv"), p + "proj_bn")
            h = relu(layers.Add(name=p + "add", dtype=dtype)([r, h]), p + "relu2")
    h = layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(h)
    dense = layers.Dense(CLASSES, name="logits", dtype=dtype)
    products.append((dense, h.shape))
    out = dense(h)
    return nb.Model(inp, out, name="resnet20"), products


def resnet_torch(m, symmetric=False, dtype=None):
    """The same network in PyTorch (NCHW), with the weights of nbnet model m (in m's
    dtype unless given)."""
    torch, tnn, F = bench.torch, bench.tnn, bench.F

    class ResNet20(tnn.Module):
        def __init__(self):
            super().__init__()
            self.mods = tnn.ModuleDict()
            self.blocks = []
            self._conv("stem_conv", 3, STAGES[0], 3, 1)
            self.mods["stem_bn"] = tnn.BatchNorm2d(STAGES[0], eps=1e-3, momentum=0.01)
            c = STAGES[0]
            for s, filters in enumerate(STAGES):
                for b in range(BLOCKS):
                    p = f"s{s + 1}b{b + 1}_"
                    stride = 2 if s > 0 and b == 0 else 1
                    self._conv(p + "conv1", c, filters, 3, stride)
                    self.mods[p + "bn1"] = tnn.BatchNorm2d(filters, eps=1e-3, momentum=0.01)
                    self._conv(p + "conv2", filters, filters, 3, 1)
                    self.mods[p + "bn2"] = tnn.BatchNorm2d(filters, eps=1e-3, momentum=0.01)
                    proj = stride != 1 or c != filters
                    if proj:
                        self._conv(p + "proj_conv", c, filters, 1, stride)
                        self.mods[p + "proj_bn"] = tnn.BatchNorm2d(filters, eps=1e-3, momentum=0.01)
                    self.blocks.append((p, stride, proj))
                    c = filters
            self.mods["logits"] = tnn.Linear(c, CLASSES)

        def _conv(self, name, cin, cout, k, stride):
            # Keras "same", k=3, stride 2, even size: pad (0 before, 1 after) -> F.pad
            pad = 0 if (k == 1 or (stride == 2 and not symmetric)) else 1
            self.mods[name] = tnn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)

        def conv(self, name, x):
            mod = self.mods[name]
            if mod.kernel_size[0] == 3 and mod.stride[0] == 2 and not symmetric:
                x = F.pad(x, (0, 1, 0, 1))
            return mod(x)

        def forward(self, x):
            d = self.mods
            h = F.relu(d["stem_bn"](self.conv("stem_conv", x)))
            for p, stride, proj in self.blocks:
                r = F.relu(d[p + "bn1"](self.conv(p + "conv1", h)))
                r = d[p + "bn2"](self.conv(p + "conv2", r))
                if proj:
                    h = d[p + "proj_bn"](self.conv(p + "proj_conv", h))
                h = F.relu(r + h)
            return d["logits"](h.mean(dim=(2, 3)))

    if dtype is None:
        dtype = torch.float64 if m.dtype == np.float64 else torch.float32
    t = ResNet20().to(dtype)
    copy_weights(m, t)  # after the cast: float64 weights must not pass through float32
    return t


def copy_weights(m, t):
    """nbnet model m -> torch ResNet20 t, layer by layer by name."""
    torch, layers = bench.torch, bench.layers
    with torch.no_grad():
        for layer in m.layers:
            if isinstance(layer, layers.Conv2D):
                (W,) = layer.get_weights()
                t.mods[layer.name].weight.copy_(torch.from_numpy(W.transpose(3, 2, 0, 1).copy()))
            elif isinstance(layer, layers.BatchNormalization):
                g, b, mm, mv = layer.get_weights()
                tb = t.mods[layer.name]
                for dst, src in ((tb.weight, g), (tb.bias, b), (tb.running_mean, mm),
                                 (tb.running_var, mv)):
                    dst.copy_(torch.from_numpy(src))
            elif isinstance(layer, layers.Dense):
                W, b = layer.get_weights()
                t.mods[layer.name].weight.copy_(torch.from_numpy(W.T.copy()))
                t.mods[layer.name].bias.copy_(torch.from_numpy(b))


def torch_state_as_nb(m, t):
    """{nbnet layer name: [arrays in nbnet's layout and order]} from the torch model."""
    layers = bench.layers
    out = {}
    for layer in m.layers:
        if isinstance(layer, layers.Conv2D):
            out[layer.name] = [t.mods[layer.name].weight.detach().numpy().transpose(2, 3, 1, 0)]
        elif isinstance(layer, layers.BatchNormalization):
            tb = t.mods[layer.name]
            out[layer.name] = [v.detach().numpy() for v in (tb.weight, tb.bias, tb.running_mean,
                                                            tb.running_var)]
        elif isinstance(layer, layers.Dense):
            tl = t.mods[layer.name]
            out[layer.name] = [tl.weight.detach().numpy().T, tl.bias.detach().numpy()]
    return out


def train_flops(products):
    """Matrix-product FLOPs per training sample: 3x forward, less the first layer's dX."""
    f = [layer.flops(shape) for layer, shape in products]
    return 3 * sum(f) - f[0]


def make_optimizers(t):
    nb, torch = bench.nb, bench.torch
    if CONFIG["optimizer"] == "adam":
        return nb.optimizers.Adam(learning_rate=1e-3), torch.optim.Adam(t.parameters(), lr=1e-3)
    return (nb.optimizers.SGD(learning_rate=0.01, momentum=0.9),
            torch.optim.SGD(t.parameters(), lr=0.01, momentum=0.9))


def data(n, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, 32, 32, 3)).astype(dtype)
    y = rng.integers(0, CLASSES, n)
    return x, y


def _config_from_env():
    CONFIG["optimizer"] = os.environ.get("BENCH_RESNET_OPT", CONFIG["optimizer"])
    CONFIG["torch_pad"] = os.environ.get("BENCH_RESNET_PAD", CONFIG["torch_pad"])


# ---------------------------------------------------------------- the timed workload
def resnet_workload(batch, steps):
    """(run_nb, run_torch, samples, flops, None) as bench.py's workloads: one round is
    `steps` training steps at `batch` (one epoch of fit over batch * steps images)."""
    _config_from_env()
    nb, torch, F = bench.nb, bench.torch, bench.F
    nb.utils.set_random_seed(0)
    m, products = resnet_nb()
    n = batch * steps
    x, y = data(n)
    flops = train_flops(products) * n
    run_nb = run_torch = None
    if bench.SIDE != "torch":
        opt_nb = (nb.optimizers.Adam(learning_rate=1e-3) if CONFIG["optimizer"] == "adam"
                  else nb.optimizers.SGD(learning_rate=0.01, momentum=0.9))
        m.compile(opt_nb, nb.losses.SparseCategoricalCrossentropy(from_logits=True))

        def run_nb():
            m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    if torch is not None and bench.SIDE != "nbnet":
        t = resnet_torch(m, symmetric=CONFIG["torch_pad"] == "symmetric")
        _, opt = make_optimizers(t)
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
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


# registered at import, so that bench.py's worker processes (spawned: they import this
# file again as __mp_main__) know the workloads too
WORKLOADS = {
    "resnet20_b128": ("ResNet-20 32x32x3, train b128", lambda: resnet_workload(128, 2)),
    "resnet20_b32": ("ResNet-20 32x32x3, train b32", lambda: resnet_workload(32, 6)),
}
bench.WORKLOADS.update(WORKLOADS)


# ---------------------------------------------------------------- checks
def _maxrel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check_forward(x64):
    nb, torch = bench.nb, bench.torch
    nb.config.set_floatx("float64")
    try:
        nb.utils.set_random_seed(0)
        m, _ = resnet_nb()
        t = resnet_torch(m, symmetric=False).eval()
        xt = torch.from_numpy(x64.transpose(0, 3, 1, 2).copy())
        with torch.no_grad():
            inf_t = t(xt).numpy()
        inf_nb = m.predict(x64, batch_size=len(x64), verbose=0)
        t.train()
        with torch.no_grad():
            tr_t = t(xt).numpy()
        tr_nb = m(x64, training=True)
        # torch's symmetric padding=1 on the strided convolutions: other numbers
        ts = resnet_torch(m, symmetric=True).eval()
        with torch.no_grad():
            sym_t = ts(xt).numpy()
    finally:
        nb.config.set_floatx("float32")
    return _maxrel(inf_nb, inf_t), _maxrel(tr_nb, tr_t), _maxrel(inf_nb, sym_t)


def check_step(x, y, dtype, steps=1):
    """nbnet and torch after `steps` optimizer steps from the same weights on the same
    batch, compared tensor by tensor as max|a - b| / max|b|: "weights" over the kernels,
    gammas and the Dense kernel (the betas and the bias start at 0, so for them the
    weight is the update), "update" over the change of every trainable tensor from its
    initial value, the moving means, and the moving variances (torch's running_var takes
    the unbiased batch variance, Keras' the biased one: torch's first update is rescaled
    by (m - 1) / m, m = N*H*W, before comparing; only after one step). At float32, a
    float64 torch copy of the same float32 weights and inputs is the reference: "floor"
    gives each side's float32 update against it, how far float32 itself is from exact."""
    nb, torch, F, layers = bench.nb, bench.torch, bench.F, bench.layers
    nb.config.set_floatx("float64" if dtype == np.float64 else "float32")
    x = x.astype(dtype)
    try:
        nb.utils.set_random_seed(0)
        m, _ = resnet_nb()
        models = [resnet_torch(m, symmetric=False)]
        if dtype == np.float32:   # the exact reference: same weights and inputs, float64
            models.append(resnet_torch(m, symmetric=False, dtype=torch.float64))
        opts = [make_optimizers(t) for t in models]
        m.compile(opts[0][0], nb.losses.SparseCategoricalCrossentropy(from_logits=True))
        w0 = {l.name: [w.astype(np.float64) for w in l.get_weights()]
              for l in m.layers if l.get_weights()}
        yt = torch.from_numpy(y)
        inputs = [torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(next(t.parameters()).dtype)
                  for t in models]
        for t in models:
            t.train()
        losses = []
        for _ in range(steps):
            row = [m.train_on_batch(x, y)]
            for t, (_, opt), xt in zip(models, opts, inputs):
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(t(xt), yt)
                loss.backward()
                opt.step()
                row.append(loss.item())
            losses.append(row)
        states = [torch_state_as_nb(m, t) for t in models]
    finally:
        nb.config.set_floatx("float32")
    res = {"weights": 0.0, "update": 0.0, "moving_mean": 0.0, "moving_variance": 0.0,
           "worst": "", "floor_nb": 0.0, "floor_torch": 0.0, "losses": losses}
    ref = states[0]
    for layer in m.layers:
        if layer.name not in ref:
            continue
        nbw, tw = layer.get_weights(), ref[layer.name]
        if isinstance(layer, layers.BatchNormalization):
            trainable, (mm_nb, mv_nb), (mm_t, mv_t) = [0, 1], nbw[2:], tw[2:]
            res["moving_mean"] = max(res["moving_mean"], _maxrel(mm_nb, mm_t))
            if steps == 1:
                mom = 0.01
                rows = _bn_rows(layer, len(x))
                mv_t = (1 - mom) * 1.0 + (mv_t - (1 - mom) * 1.0) * (rows - 1) / rows
            res["moving_variance"] = max(res["moving_variance"], _maxrel(mv_nb, mv_t))
        else:
            trainable = list(range(len(nbw)))
        for i in trainable:
            start = w0[layer.name][i]
            if np.any(start != 0):
                res["weights"] = max(res["weights"], _maxrel(nbw[i], tw[i]))
            u = _maxrel(nbw[i] - start, tw[i] - start)
            if u > res["update"]:
                res["worst"] = f"{layer.name}[{i}]"
            res["update"] = max(res["update"], u)
            if len(states) > 1:
                exact = states[1][layer.name][i] - start
                res["floor_nb"] = max(res["floor_nb"], _maxrel(nbw[i] - start, exact))
                res["floor_torch"] = max(res["floor_torch"], _maxrel(tw[i] - start, exact))
    return res


def _bn_rows(layer, n):
    """N*H*W of the input of BatchNormalization `layer` (its inbound tensor's shape)."""
    shape = layer._inbound_nodes[0].inputs[0].shape
    return n * int(np.prod(shape[1:-1]))


def run_check():
    bench.load("both")
    torch = bench.torch
    torch.set_num_threads(2)
    bench.nb.set_num_threads(2)
    x, y = data(32, np.float64, seed=1)
    inf, tr, sym = check_forward(x)
    print(f"forward, float64, batch 32: max relative difference nbnet vs torch "
          f"inference {inf:.2e}, training mode {tr:.2e} (target 1e-8)")
    print(f"  (torch with symmetric padding=1 on the strided 3x3 convs instead: {sym:.2e}, "
          f"the padding matters)")
    ok = inf < 1e-8 and tr < 1e-8
    for dtype in (np.float64, np.float32):
        r = check_step(x, y, dtype)
        name = np.dtype(dtype).name
        print(f"one {CONFIG['optimizer']} step, {name}, batch 32, max relative difference "
              f"nbnet vs torch: weights {r['weights']:.2e}, the update {r['update']:.2e} "
              f"(worst {r['worst']}), moving mean {r['moving_mean']:.2e}, moving variance "
              f"{r['moving_variance']:.2e}; loss nbnet {r['losses'][0][0]:.8f} torch "
              f"{r['losses'][0][1]:.8f}")
        if dtype == np.float32:
            print(f"  float32 floor: each side's update against a float64 torch step from the "
                  f"same float32 weights and inputs: nbnet {r['floor_nb']:.2e}, torch "
                  f"{r['floor_torch']:.2e}")
            # as exact as float32 allows: nbnet no further from the float64 step than torch
            # (Adam's first step is lr * g / (|g| + eps): a tiny g whose sign rounding flips
            # moves by 2 lr either way, so only this criterion applies to it)
            ok = ok and r["floor_nb"] < 2 * r["floor_torch"] + 1e-6
            if CONFIG["optimizer"] == "sgd":
                ok = ok and r["weights"] < 1e-4
        else:   # Adam divides tiny gradients by their own size: looser on the update
            ok = ok and r["weights"] < 1e-9 and r["update"] < (1e-9 if CONFIG["optimizer"] == "sgd" else 1e-6)
    r = check_step(x, y, np.float32, steps=5)
    print("5 steps, float32, losses nbnet / torch / torch float64: " +
          ", ".join(f"{a:.6f}/{b:.6f}/{c:.6f}" for a, b, c in r["losses"]) +
          f"; weights {r['weights']:.2e}, updates {r['update']:.2e} (float32 floor: nbnet "
          f"{r['floor_nb']:.2e}, torch {r['floor_torch']:.2e})")
    print("check:", "PASS" if ok else "FAIL")
    return ok


def loss_trajectory(steps=20, batch=128, threads=2):
    """`steps` optimizer steps on one fixed seeded batch, both frameworks (this process):
    the losses before each step."""
    nb, torch, F = bench.nb, bench.torch, bench.F
    nb.set_num_threads(threads)
    torch.set_num_threads(threads)
    nb.utils.set_random_seed(0)
    m, _ = resnet_nb()
    t = resnet_torch(m, symmetric=CONFIG["torch_pad"] == "symmetric")
    opt_nb, opt_t = make_optimizers(t)
    m.compile(opt_nb, nb.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data(batch, seed=2)
    xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    t.train()
    ln, lt = [], []
    for _ in range(steps):
        ln.append(m.train_on_batch(x, y))
        opt_t.zero_grad(set_to_none=True)
        loss = F.cross_entropy(t(xt), yt)
        loss.backward()
        opt_t.step()
        lt.append(loss.item())
    return m, ln, lt


def profile_table(threads, optimizer, steps=5):
    """nbnet.profiler's table of the nbnet model at batch 128 (in a worker process that
    loads nbnet only)."""
    CONFIG["optimizer"] = optimizer
    if bench.nb is None:
        bench.load("nbnet")
    nb = bench.nb
    nb.utils.set_random_seed(0)
    m, _ = resnet_nb()
    opt = (nb.optimizers.Adam(learning_rate=1e-3) if optimizer == "adam"
           else nb.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    m.compile(opt, nb.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data(128, seed=3)
    return nb.profiler.profile(m, x, y, batch_size=128, steps=steps, threads=threads).table()


def markdown(rows):
    out = ["| workload | threads | nbnet samples/s | torch samples/s | nbnet/torch | "
           "nbnet step | nbnet GFLOP/s (% of sgemm) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        steps = 2 if r["workload"].endswith("b128") else 6
        out.append(f"| {r['label']} | {r['threads']} | {r['nbnet_per_s']:,.0f} | "
                   f"{r['torch_per_s']:,.0f} | **{r['ratio']:.2f}x** | "
                   f"{r['nbnet_s'] / steps * 1e3:.1f} ms | {r['nbnet_gflops']:.1f} "
                   f"({100 * r['frac_of_peak']:.0f}%) |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per workload (median; default 5)")
    p.add_argument("--batches", default="128,32", help="batch sizes (128 and/or 32)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd: momentum 0.9, lr 0.01 (default); adam: lr 1e-3")
    p.add_argument("--torch-pad", choices=("asymmetric", "symmetric"), default="asymmetric",
                   help="torch's strided 3x3 convs: F.pad (0, 1) as Keras' 'same' (default), "
                        "or torch's usual padding=1 (same FLOPs, other numbers)")
    p.add_argument("--check", action="store_true", help="check numerical agreement, no timing")
    p.add_argument("--profile", action="store_true", default=True,
                   help="print nbnet.profiler's table for the nbnet model (default on)")
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument("--one-process", action="store_true", help="both frameworks in this process")
    p.add_argument("--json", help="also write the rows and the losses as JSON here")
    a = p.parse_args()
    CONFIG["optimizer"], CONFIG["torch_pad"] = a.optimizer, a.torch_pad
    os.environ["BENCH_RESNET_OPT"], os.environ["BENCH_RESNET_PAD"] = a.optimizer, a.torch_pad
    if a.check:
        sys.exit(0 if run_check() else 1)
    names = [f"resnet20_b{b}" for b in a.batches.split(",") if b]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"batch sizes must be 128 and/or 32, got {a.batches}")
    threads = [int(t) for t in a.threads.split(",")]
    t0 = time.perf_counter()
    rows = bench.run(names, threads, a.repeats, a.one_process)
    print()
    print(f"optimizer {a.optimizer}, torch padding {a.torch_pad}; median of {a.repeats} rounds")
    print(markdown(rows))
    # the loss over 20 steps (this process, both frameworks; not timed)
    if bench.nb is None:
        bench.load("both")
    _, ln, lt = loss_trajectory(threads=max(threads))
    finite = bool(np.all(np.isfinite(ln)))
    falls = finite and ln[-1] < ln[0] and statistics.mean(ln[-5:]) < statistics.mean(ln[:5])
    print(f"\nloss over 20 steps on one batch of 128 ({a.optimizer}): nbnet "
          f"{ln[0]:.4f} -> {ln[-1]:.4f} ({'falls' if falls else 'does NOT fall'}, "
          f"{'no NaN/inf' if finite else 'NaN/inf!'}); torch {lt[0]:.4f} -> {lt[-1]:.4f}")
    print("  nbnet: " + " ".join(f"{v:.3f}" for v in ln))
    print("  torch: " + " ".join(f"{v:.3f}" for v in lt))
    if a.profile:
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")  # nbnet alone, as in its timing worker
        with ctx.Pool(1) as pool:
            for t in threads:
                print(f"\nnb.profiler.profile(model, x, y, batch_size=128), {t} thread(s), "
                      f"{a.optimizer}:")
                print(pool.apply(profile_table, (t, a.optimizer)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "loss_nbnet": ln, "loss_torch": lt}, f, indent=1)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
