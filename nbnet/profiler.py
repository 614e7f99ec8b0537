"""Where a training step's time goes: per layer, against this machine's limits.

    prof = nb.profiler.profile(model, batch_size=128, steps=20)
    print(prof.table())
    prof.to_chrome_trace("trace.json")            # open in https://ui.perfetto.dev
    print(nb.profiler.scaling(model, threads=[1, 2, 4]).table())

Each layer's forward and backward is timed around the same calls the model's training
step makes (median over `steps`); the optimizer update and the loss are rows of their
own. FLOPs come from `layer.flops`: backward counts its forward once for dW (layers with
weights) and once for dL/dx (unless it is the first layer, whose dL/dx nobody needs).
Memory rooflines are DRAM bandwidth: a layer whose data stay in cache can exceed 100 %. Bytes are an estimate of the memory traffic: forward reads the input and the
parameters and writes the output; backward reads dL/dy, the input and the parameters and
writes dL/dx and the parameter gradients. Each row is compared with the roofline of
this machine (`nbnet.machine.peaks`: sgemm GFLOP/s and STREAM-triad GB/s at the current
thread count): "compute" or "memory" by which roofline time is larger, "overhead" when
the measured time is more than 5x that larger roofline time.
"""
import json
import statistics
import time

import numpy as np

from . import losses as L
from .machine import peaks
from .threads import get_num_threads, set_num_threads
from .training import raw_input
from .training import nrows, rows

OVERHEAD_FACTOR = 5.0


def _median(xs):
    return statistics.median(xs) if xs else 0.0


def synthetic_data(model, n, seed=0):
    """Inputs shaped like the model's, and targets that fit its loss (lists of them for
    a model with several inputs / outputs)."""
    rng = np.random.default_rng(seed)
    multi_in, multi_out = model._multi_in, model._multi_out
    xs = []
    for i, shape in enumerate(model.input_shape if multi_in else [model.input_shape]):
        raw, reader = raw_input(model, i)
        if raw is None:
            xs.append(rng.standard_normal((n,) + tuple(shape[1:])).astype(model.dtype))
        else:
            xs.append(_tokens(rng, reader, (n,) + tuple(shape[1:]), raw))
    ys = [_targets(rng, loss, tuple(shape[1:]), n, model.dtype)
          for loss, shape in zip(model._losses, model._output_tensor_shapes())]
    return (xs if multi_in else xs[0]), (ys if multi_out else ys[0])


def _tokens(rng, reader, size, dtype):
    """Synthetic raw inputs: tokens of the reading layer's vocabulary (where it has
    one) and an unseen one; sentences of 8 of them for TextVectorization."""
    vocab = []
    if hasattr(reader, "get_vocabulary"):
        try:
            vocab = list(reader.get_vocabulary(include_special_tokens=False))
        except (TypeError, RuntimeError):
            vocab = []
    if dtype != np.dtype(object):
        pool = np.array(vocab + [max(vocab, default=0) + 1], dtype=np.int64)
        return pool[rng.integers(0, len(pool), size)].astype(dtype)
    words = [str(v) for v in vocab] or [f"w{k}" for k in range(100)]
    words.append("unseen-token")
    picks = rng.integers(0, len(words), size + ((8,) if type(reader).__name__ ==
                                                 "TextVectorization" else ()))
    out = np.empty(picks.shape, dtype=object)
    for idx, k in np.ndenumerate(picks):
        out[idx] = words[k]
    if out.ndim > len(size):
        joined = np.empty(size, dtype=object)
        for idx in np.ndindex(*size):
            joined[idx] = " ".join(out[idx])
        out = joined
    return out


def _targets(rng, loss, out, n, dtype):
    k = out[-1] if out else 1
    if loss.target == "sparse":
        return rng.integers(0, k, n)
    if loss.target == "categorical":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    if loss.target == "binary":
        return rng.integers(0, 2, (n,) + out).astype(dtype)
    return rng.standard_normal((n,) + out).astype(dtype)


def _ensure_compiled(model):
    """An uncompiled model is compiled with Adam and, per output, a loss fitting it:
    sparse cross-entropy (from logits unless it ends in softmax) for several units,
    MSE for one."""
    if model.compiled:
        return
    losses = []
    for runner, shape in zip(model._output_runners(), model._output_tensor_shapes()):
        k = shape[-1]
        act = getattr(runner, "final_activation", None)
        losses.append(L.SparseCategoricalCrossentropy(from_logits=act != "softmax")
                      if k and k > 1 else L.MeanSquaredError())
    model.compile("adam", losses if model._multi_out else losses[0])


class Profile:
    """Result of profile(): .rows (dicts), .step_s (measured un-instrumented step),
    .parts_s (sum of the rows), .compile_s, .batch_size, .threads, .peaks, .events."""

    def __init__(self, rows, step_s, compile_s, batch_size, threads, machine, events):
        self.rows, self.step_s, self.compile_s = rows, step_s, compile_s
        self.batch_size, self.threads, self.peaks, self.events = batch_size, threads, machine, events
        self.parts_s = sum(r["forward_s"] + r["backward_s"] for r in rows)

    def table(self):
        p = self.peaks
        head = (f"batch {self.batch_size}, {self.threads} thread(s); this machine: sgemm "
                f"{p['gflops']:.1f} GFLOP/s, triad {p['gbps']:.1f} GB/s")
        cols = ("layer", "forward ms", "backward ms", "% step", "GFLOP/s", "GB/s", "% roof", "bound")
        lines = []
        for r in self.rows:
            t = r["forward_s"] + r["backward_s"]
            lines.append((r["name"], f"{r['forward_s'] * 1e3:.3f}", f"{r['backward_s'] * 1e3:.3f}",
                          f"{100 * t / self.step_s:.1f}", f"{r['gflops']:.1f}", f"{r['gbps']:.1f}",
                          f"{100 * r['peak_fraction']:.0f}", r["bound"]))
        widths = [max(len(c), *(len(l[i]) for l in lines)) for i, c in enumerate(cols)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        out = [head, fmt(cols), fmt(["-" * w for w in widths])] + [fmt(l) for l in lines]
        out.append(f"sum of parts {self.parts_s * 1e3:.3f} ms, measured step {self.step_s * 1e3:.3f} ms "
                   f"(ratio {self.parts_s / self.step_s:.2f}); {self.batch_size / self.step_s:,.0f} samples/s")
        out.append(f"JIT compile (first step minus a warm one): {self.compile_s:.2f} s")
        return "\n".join(out)

    def to_chrome_trace(self, path=None):
        """Chrome trace JSON (Perfetto, chrome://tracing): one event per layer phase per
        profiled step. Returns the JSON text; writes it atomically when path is given."""
        text = json.dumps({"traceEvents": self.events, "displayTimeUnit": "ms",
                           "otherData": {"batch_size": self.batch_size, "threads": self.threads}})
        if path is not None:
            from .fileio import atomic_write_text
            atomic_write_text(path, text)
        return text


def _classify(seconds, flops, nbytes, machine):
    t_compute = flops / (machine["gflops"] * 1e9)
    t_memory = nbytes / (machine["gbps"] * 1e9)
    roof = max(t_compute, t_memory)
    if seconds > OVERHEAD_FACTOR * roof:
        return "overhead", roof / seconds if seconds else 0.0
    return ("compute" if t_compute >= t_memory else "memory"), roof / seconds if seconds else 0.0


def profile(model, x=None, y=None, batch_size=128, steps=20, threads=None, trace=None, warmup=3):
    """Profile `steps` training steps of `model` at `batch_size` (see the module doc)."""
    if batch_size < 1 or steps < 1:
        raise ValueError("batch_size and steps must be positive")
    old_threads = get_num_threads()
    if threads is not None:
        set_num_threads(int(threads))
    try:
        _ensure_compiled(model)
        if x is None:
            if not model.built:
                raise ValueError("profile() without data needs a built model (an Input shape)")
            x, y = synthetic_data(model, batch_size)
        x, y = model._prepare_xy(x, y, "profile")
        model._ensure_packed()
        model._prepare_loss()
        xb, yb = _first_rows(x, batch_size), _first_rows(y, batch_size)
        n_threads = get_num_threads()  # the user's count (small steps lower Numba's inside)
        with model._kernel_threads(batch_size):
            return _profile(model, xb, yb, steps, warmup, trace, n_threads)
    finally:
        set_num_threads(old_threads)


def _first_rows(data, n):
    part = rows(data, 0, n)
    return [np.ascontiguousarray(d) for d in part] if isinstance(part, list) else np.ascontiguousarray(part)


def _profile(model, xb, yb, steps, warmup, trace, n_threads):
    runners = list(model._runners())
    names = [f"{l.name} ({type(l).__name__})" for l in runners]
    t0 = time.perf_counter()
    model._train_step(xb, yb)  # compiles what is not cached yet
    first = time.perf_counter() - t0
    for _ in range(warmup):
        model._train_step(xb, yb)
    fwd = [[] for _ in runners]
    bwd = [[] for _ in runners]
    loss_t, opt_t, measured, events = [], [], [], []
    start = model._backward_from()
    n_tr = model._n_trainable
    clock0 = time.perf_counter()
    step = 0
    parts = {"forward": fwd, "backward": bwd}
    labels = {"loss": ("loss", loss_t), "update": ("optimizer update", opt_t)}

    def hook(phase, i, t_a, t_b):
        """The model's own training step calls this around each part."""
        if i is None:
            name, times = labels[phase]
            cat = phase
        else:
            name, times, cat = names[i], parts[phase][i], phase
        times.append(t_b - t_a)
        events.append({"name": name, "cat": cat, "ph": "X", "pid": 1, "tid": 1,
                       "ts": (t_a - clock0) * 1e6, "dur": (t_b - t_a) * 1e6,
                       "args": {"step": step}})

    for step in range(steps):
        # the un-instrumented step, for comparison, then the same step timed part by part
        t_a = time.perf_counter()
        model._train_step(xb, yb)
        measured.append(time.perf_counter() - t_a)
        model._train_step(xb, yb, hook=hook)

    machine = peaks(n_threads)
    B = nrows(xb)
    item = model.dtype.itemsize
    rows = []
    plan = model._current_plan()
    for i, (layer, shape, out_shape) in enumerate(zip(runners, model._input_shapes(),
                                                      model._output_shapes())):
        shapes_in = shape if isinstance(shape, list) else [shape]
        n_in = B * sum(int(np.prod(sh[1:])) for sh in shapes_in)
        n_out = B * int(np.prod(out_shape[1:]))
        n_par = layer.count_params()
        f_fwd = B * layer.flops(shape)
        has_w = bool(layer.trainable_weights)
        # backward: dW (if weights) and dL/dx (if a layer before needs it)
        f_bwd = (f_fwd * (int(has_w) + int(plan[i].need_dx))) if i >= start else 0
        b_fwd = (n_in + n_out + n_par) * item
        b_bwd = (2 * n_out + n_in + 2 * n_par) * item if i >= start else 0
        tf, tb = _median(fwd[i]), _median(bwd[i])
        t = tf + tb
        bound, frac = _classify(t, f_fwd + f_bwd, b_fwd + b_bwd, machine)
        if plan[i].name == "fused":  # done by the previous kernel (nbnet.plan)
            f_fwd = f_bwd = b_fwd = b_bwd = 0
            bound, frac = "fused", 0.0
        rows.append({"name": names[i], "forward_s": tf, "backward_s": tb, "flops": f_fwd + f_bwd,
                     "bytes": b_fwd + b_bwd, "gflops": (f_fwd + f_bwd) / t / 1e9 if t else 0.0,
                     "gbps": (b_fwd + b_bwd) / t / 1e9 if t else 0.0, "peak_fraction": frac,
                     "bound": bound})
    k = sum(int(np.prod(shape[1:])) for shape in model._output_tensor_shapes())
    t = _median(loss_t)
    nb_loss = 2 * B * k * item
    bound, frac = _classify(t, 0, nb_loss, machine)
    rows.append({"name": "loss", "forward_s": t, "backward_s": 0.0, "flops": 0, "bytes": nb_loss,
                 "gflops": 0.0, "gbps": nb_loss / t / 1e9 if t else 0.0, "peak_fraction": frac,
                 "bound": bound})
    t = _median(opt_t)
    state = sum(v.size for k_, v in model.optimizer.get_state().items()
                if k_ not in ("iterations", "learning_rate"))
    nb_opt = (2 * n_tr + n_tr + 2 * state) * item  # read+write w, read g, read+write state
    bound, frac = _classify(t, 0, nb_opt, machine)
    rows.append({"name": "optimizer update", "forward_s": 0.0, "backward_s": t, "flops": 0,
                 "bytes": nb_opt, "gflops": 0.0, "gbps": nb_opt / t / 1e9 if t else 0.0,
                 "peak_fraction": frac, "bound": bound})
    step_s = _median(measured)
    prof = Profile(rows, step_s, max(0.0, first - step_s), B, n_threads, machine, events)
    if trace is not None:
        prof.to_chrome_trace(trace)
    return prof


class Scaling:
    """Result of scaling(): .profiles (one per thread count) and .table()."""

    def __init__(self, profiles):
        self.profiles = profiles

    def table(self):
        base = self.profiles[0]
        t0 = base.threads
        head = ["layer"] + [f"{p.threads}T ms" for p in self.profiles] + \
               [f"{p.threads}T speedup/eff" for p in self.profiles[1:]]
        names = [r["name"] for r in base.rows] + ["whole step"]

        def times(p):
            return [r["forward_s"] + r["backward_s"] for r in p.rows] + [p.step_s]

        cols = [times(p) for p in self.profiles]
        lines = []
        for j, name in enumerate(names):
            cells = [name] + [f"{c[j] * 1e3:.3f}" for c in cols]
            for p, c in zip(self.profiles[1:], cols[1:]):
                sp = cols[0][j] / c[j] if c[j] else 0.0
                cells.append(f"{sp:.2f}x / {100 * sp / (p.threads / t0):.0f}%")
            lines.append(cells)
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        return "\n".join([f"thread scaling at batch {base.batch_size} (speedup and efficiency "
                          f"against {t0} thread(s))", fmt(head), fmt(["-" * w for w in widths])]
                         + [fmt(l) for l in lines])


def scaling(model, x=None, y=None, threads=(1, 2), batch_size=128, steps=20, **kw):
    """profile() at each thread count; speedup and efficiency per layer and per step."""
    return Scaling([profile(model, x, y, batch_size=batch_size, steps=steps, threads=t, **kw)
                    for t in threads])
