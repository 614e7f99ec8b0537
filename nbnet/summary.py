"""model.summary(): Keras 3's table, plus the forward FLOPs of each layer."""


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def _fmt_flops(n):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def _shape(s):
    return "(" + ", ".join("None" if d is None else str(d) for d in s) + (",)" if len(s) == 1 else ")")


def _graph_rows(model):
    """A functional model: one row per layer, with Keras' "Connected to" (the tensors
    each call reads, as layer[node][tensor])."""
    rows = []
    for layer in model.layers:
        nodes = [n for n in model._nodes if n.layer is layer]
        out = nodes[0].outputs[0].shape
        flops = sum(_layer_flops(layer, [t.shape for t in n.inputs] if n.multi_input else n.inputs[0].shape)
                    for n in nodes if n.inputs)
        links = [f"{t.node.layer.name}[{t.node.layer._inbound_nodes.index(t.node)}][{t.index}]"
                 for n in nodes for t in n.inputs]
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape(out),
                     f"{layer.count_params():,}", _fmt_flops(flops), flops,
                     ", ".join(links) or "-"))
    return rows


def _layer_flops(layer, shape):
    """layer.flops(shape), 0 where the shape has unknown axes beyond the batch (sequences
    of any length: the work per sample is not known before the data)."""
    shapes = shape if isinstance(shape, list) else [shape]
    if any(d is None for s in shapes for d in tuple(s)[1:]):
        return 0
    return layer.flops(shape)


def summary_rows(model):
    """[(name (type), output shape, params, flops per sample)] for each layer (and the
    "Connected to" column for a functional model)."""
    if hasattr(model, "_nodes"):
        return _graph_rows(model)
    rows = []
    shape = model.input_shape
    for layer in model.layers:
        if shape is not None and layer.built:
            out = layer.compute_output_shape(shape)
            flops = _layer_flops(layer, shape)
            rows.append((f"{layer.name} ({type(layer).__name__})", _shape(out),
                         f"{layer.count_params():,}", _fmt_flops(flops), flops))
            shape = out
        else:
            rows.append((f"{layer.name} ({type(layer).__name__})", "?", "0 (unbuilt)", "?", 0))
    return rows


def summary_text(model):
    rows = summary_rows(model)
    graph = bool(rows) and len(rows[0]) == 6
    heads = ("Layer (type)", "Output Shape", "Param #", "FLOPs") + (("Connected to",) if graph else ())
    cols = [0, 1, 2, 3] + ([5] if graph else [])
    widths = [max([len(heads[k])] + [len(r[i]) for r in rows]) + 2 for k, i in enumerate(cols)]
    widths[0] = max(widths[0], 33)
    widths[1] = max(widths[1], 24)
    widths[2] = max(widths[2], 13)
    widths[3] = max(widths[3], 10)

    def line(l, m, r, fill="━"):
        return l + m.join(fill * w for w in widths) + r

    def row(cells, heavy=False):
        bar = "┃" if heavy else "│"
        parts = [f" {cells[0]:<{widths[0] - 2}} ", f" {cells[1]:<{widths[1] - 2}} ",
                 f" {cells[2]:>{widths[2] - 2}} ", f" {cells[3]:>{widths[3] - 2}} "]
        if graph:
            parts.append(f" {cells[-1]:<{widths[4] - 2}} ")
        return bar + bar.join(parts) + bar

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓"), row(heads, heavy=True),
           line("┡", "╇", "┩")]
    for i, r in enumerate(rows):
        out.append(row(r[:4] + r[5:]))
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    itemsize = model.dtype.itemsize
    total = model.count_params()
    trainable = sum(w.size for w in model.trainable_weights)
    flops = sum(r[4] for r in rows)
    out.append(f" Total params: {total:,} ({_fmt_bytes(total * itemsize)})")
    out.append(f" Trainable params: {trainable:,} ({_fmt_bytes(trainable * itemsize)})")
    out.append(f" Non-trainable params: {total - trainable:,} ({_fmt_bytes((total - trainable) * itemsize)})")
    out.append(f" Forward FLOPs per sample: {_fmt_flops(flops)} "
               f"(training step ~{_fmt_flops(3 * flops)} per sample)")
    return "\n".join(out)
