"""`nbnet profile`: per-layer times, FLOP/s and roofline of a training step."""
import click

import nbnet as nb
from nbnet.cli.common import CliError, load_model_or_spec


def _thread_list(ctx, param, value):
    try:
        threads = [int(t) for t in value.split(",") if t.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated thread counts like 1,2,4, got {value!r}")
    if not threads or any(t < 1 for t in threads):
        raise click.BadParameter(f"thread counts must be positive integers, got {value!r}")
    return threads


@click.command(context_settings={"show_default": True})
@click.argument("path", metavar="MODEL|SPEC")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, help="Batch size of the profiled steps.")
@click.option("--steps", type=click.IntRange(min=1), default=20, help="Profiled steps (medians are reported).")
@click.option("--threads", default=None, callback=lambda c, p, v: None if v is None else _thread_list(c, p, v),
              help="Comma-separated thread counts, e.g. 1,2,4; several print a scaling table "
                   "[default: all cores].")
@click.option("--trace", type=click.Path(dir_okay=False), default=None,
              help="Write a Chrome trace (open in Perfetto) of the first thread count's run "
                   "[default: none].")
def profile(path, batch_size, steps, threads, trace):
    """Profile training steps of a model file or a JSON spec on synthetic data: per
    layer forward / backward time, GFLOP/s, GB/s, fraction of this machine's measured
    peak and the bound (compute, memory, overhead); a thread-scaling table for several
    --threads."""
    model = load_model_or_spec(path)
    if not model.built:
        raise CliError(f"{path}: the spec has no input shape; add \"input_shape\": [...]")
    threads = threads or [nb.get_num_threads()]
    most = nb.threads.default_num_threads()
    over = [t for t in threads if t > most]
    if over:  # Numba's pool has one thread per core: more would silently run `most`
        click.echo(f"note: --threads {','.join(map(str, over))}: this machine runs at most "
                   f"{most} thread(s) (one per core); left out", err=True)
        threads = [t for t in threads if t <= most] or [most]
    runs = nb.profiler.scaling(model, threads=threads, batch_size=batch_size, steps=steps)
    click.echo(runs.profiles[0].table())
    if len(threads) > 1:
        click.echo()
        click.echo(runs.table())
    if trace:
        runs.profiles[0].to_chrome_trace(trace)
        click.echo(f"trace written to {trace}")
