"""Entry point of the `nbnet` console script: train, evaluate, predict, summary, datasets.

Bad input of any kind (data, model file, spec, flags) ends with ONE line
"Error: <message>" on stderr and exit code 2. Everything else ends in one line too,
with exit code 1: an OSError of the system (disk full, permission) names its file, a
MemoryError says so, and any other exception, a bug, is reported as "Error: unexpected
<type>: <message>" with a request to report it (NBNET_TRACEBACK=1 shows the traceback
instead). Outputs are written atomically, so no failure leaves a half-written file.
Python and NumPy warnings are shown as one "Warning: ..." line each (once per place)."""
import csv
import io
import os
import sys
import warnings

import click
import numpy as np

import nbnet as nb
from nbnet.cli.common import (EXIT_BAD_INPUT, CliError, check_extra, check_out_path, data_kind,
                              load_model_or_spec, naming, one_input_one_output)
from nbnet.cli.profile import profile
from nbnet.cli.tabular import inference_data, report
from nbnet.cli.train import train
from nbnet.fileio import atomic_write
from nbnet.training import raw_input


# click >= 8.2 raises this for a bare `nbnet`; older versions print the help themselves.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _Group(click.Group):
    """A click group whose errors are one line on stderr with exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        for stream in (sys.stdout, sys.stderr):   # file names that are not UTF-8 print too
            try:
                stream.reconfigure(errors="backslashreplace")
            except (AttributeError, ValueError, OSError):
                pass
        with warnings.catch_warnings():
            warnings.simplefilter("default")   # each warning once per place it comes from
            warnings.showwarning = _show_warning
            try:
                rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, **extra)
            except _NO_ARGS_IS_HELP as e:  # bare `nbnet`: show the help
                click.echo(e.ctx.get_help())
                sys.exit(0)
            except click.exceptions.Exit as e:
                sys.exit(e.exit_code)
            except click.exceptions.Abort:
                click.echo("Error: aborted", err=True)
                sys.exit(1)
            except click.ClickException as e:
                _fail(e.format_message())
            except (nb.DataError, nb.ModelFileError) as e:
                _fail(str(e))
            except BrokenPipeError:   # `nbnet predict ... | head`: the reader is gone
                sys.stderr.flush()
                os._exit(1)
            except Exception as e:  # noqa: BLE001  the last resort: one line, exit 1
                if os.environ.get("NBNET_TRACEBACK"):
                    raise
                _fail(_unexpected(e), code=1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _unexpected(e):
    """The one-line message of an exception that is not a bad-input error."""
    if isinstance(e, MemoryError):
        return ("out of memory" + (f" ({e})" if str(e) else "") + "; try less data, a smaller "
                "--batch-size or --image-size, or a smaller model")
    if isinstance(e, OSError) and e.strerror:   # the system's: disk full, permission, ...
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    return (f"unexpected {type(e).__name__}: {e} -- this is a bug in nbnet; please report it "
            f"with the command line (NBNET_TRACEBACK=1 shows the traceback)")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning for the CLI: one line, no source line."""
    click.echo("Warning: " + _one_line(f"{category.__name__}: {message}"), err=True)


_MAX_MESSAGE = 2000   # characters of an error line (a cell may be megabytes long)


def _one_line(message):
    text = " ".join(str(message).split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


def _fail(message, code=EXIT_BAD_INPUT):
    click.echo("Error: " + _one_line(message), err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           "show_default": True})
@click.version_option(package_name="nbnet")
def main():
    """nbnet: fast neural networks on multicore CPUs.

    Train on a CSV file, a folder of class subfolders of images, or a bundled data set;
    then evaluate, predict and inspect the saved model. Run `nbnet COMMAND --help` for
    the options of each command."""


main.add_command(train)
main.add_command(profile)


@main.command(context_settings={"show_default": True})
@click.argument("model_path", metavar="MODEL")
@click.argument("data")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, help="Batch size.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for the kernels and BLAS. Default: all cores.")
def evaluate(model_path, data, batch_size, threads):
    """Print the loss and metrics of MODEL on DATA (a CSV file with the target column,
    an image folder, or a bundled data set name)."""
    if threads:
        nb.set_num_threads(threads)
    model = one_input_one_output(nb.load_model(model_path), model_path, "evaluate")
    check_extra(model, model_path)
    x, y, class_names, _ = _inference_data(model, data, need_y=True)
    with naming(data):
        logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    click.echo(f"{data}: {len(x)} samples - " +
               " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    task = (model.extra or {}).get("task") or ("classification" if class_names else None)
    if task is not None:
        with naming(data):
            report(model, x, y, task, class_names, batch_size, "Report:")


@main.command(context_settings={"show_default": True})
@click.argument("model_path", metavar="MODEL")
@click.argument("data")
@click.option("--out", default=None, callback=check_out_path,
              help="CSV file to write the predictions to. Default: standard output.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, help="Batch size.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for the kernels and BLAS. Default: all cores.")
def predict(model_path, data, out, batch_size, threads):
    """Predict DATA with MODEL: one CSV row per input row, the predicted class name (or
    value) followed, for classifiers, by one probability column per class."""
    if threads:
        nb.set_num_threads(threads)
    model = one_input_one_output(nb.load_model(model_path), model_path, "predict")
    check_extra(model, model_path)
    x, _, class_names, files = _inference_data(model, data, need_y=False)
    with naming(data):
        outputs = model.predict(x, batch_size=batch_size)
    outputs = outputs.reshape(len(outputs), -1)
    if class_names is not None:
        if outputs.shape[1] == 1:  # one sigmoid unit: P(class 1)
            outputs = np.concatenate([1.0 - outputs, outputs], axis=1)
        header = ["prediction"] + [f"prob_{name}" for name in class_names]
        rows = [[class_names[int(np.argmax(p))]] + [f"{v:.6g}" for v in p] for p in outputs]
    else:
        k = outputs.shape[1]
        header = ["prediction"] if k == 1 else [f"prediction_{i}" for i in range(k)]
        rows = [[f"{v:.9g}" for v in p] for p in outputs]
    if files is not None:  # images: say which file each row is about
        header, rows = ["file"] + header, [[f] + r for f, r in zip(files, rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if out is None:
        click.echo(buf.getvalue(), nl=False)
    else:
        # surrogateescape: a file name that is not UTF-8 is written as its own bytes
        text = buf.getvalue().encode("utf-8", "surrogateescape")
        atomic_write(out, lambda f: f.write(text))
        click.echo(f"Wrote {len(x)} predictions to {out}", err=True)


@main.command(context_settings={"show_default": True})
@click.argument("path", metavar="MODEL|SPEC")
def summary(path):
    """Print the layers, output shapes, parameter counts and FLOPs of a model file or
    of a JSON model spec (which must declare its input shape)."""
    model = load_model_or_spec(path)
    if not model.built:
        raise CliError(f"{path}: the spec has no input shape; add \"input_shape\": [...] "
                       f"or an InputLayer first")
    model.summary(print_fn=click.echo)


@main.command()
def datasets():
    """List the data sets bundled with nbnet (usable as DATA by train/evaluate/predict)."""
    table = nb.datasets.list_datasets()
    width = max([len("Name")] + [len(n) for n in table])
    click.echo(f"{'Name':<{width}}  Description")
    for name, description in sorted(table.items()):
        click.echo(f"{name:<{width}}  {description}")


def _inference_data(model, data, need_y):
    """DATA -> (x, y or None, class names or None, image files or None), prepared as at
    training time from what `nbnet train` stored in model.extra."""
    extra = model.extra or {}
    kind = data_kind(data)
    saved = extra.get("kind")
    class_names = extra.get("class_names")
    if saved == "images" or (saved is None and kind == "images"):
        if kind != "images":
            raise nb.DataError(f"{data}: the model was trained on images; DATA must be a "
                               f"folder of class subfolders")
        size = extra.get("image_size") or list(model.input_shape[1:3])
        mode = extra.get("color_mode") or ("rgb" if model.input_shape[-1] == 3 else "grayscale")
        ds = nb.data.load_images(data, image_size=tuple(size), color_mode=mode)
        for note in ds.notes:
            click.echo("Note: " + note, err=True)
        if class_names is not None and list(ds.class_names) != list(class_names):
            if need_y:
                raise nb.DataError(f"{data}: class folders {list(ds.class_names)} differ from "
                                   f"the model's classes {class_names}")
        return ds.x, ds.y, class_names or list(ds.class_names), ds.file_paths
    if kind == "images":
        raise nb.DataError(f"{data}: the model was trained on tabular data; DATA must be a "
                           f"CSV file or a bundled data set name")
    if saved is None and kind == "csv" and raw_input(model)[0] is not None:
        x, y = _raw_csv(model, data, need_y)     # strings / integers for the model's own
        return x, y, None, None                  # preprocessing layers (TextVectorization...)
    if saved is None:  # a model saved from Python: raw CSV, target in the last column
        ds = nb.data.load_csv(data) if kind == "csv" else nb.datasets.load(data)
        return ds.x, ds.y, ds.class_names, None
    if "encoder" in extra:
        x, y = inference_data(model, data, kind, need_y)
        return x, y, class_names, None
    pre = nb.data.Preprocessor.from_config(extra["preprocessor"])  # nbnet 0.1 model files
    if kind == "csv":
        ds = nb.data.prepare_csv_for_model(data, pre)
    else:
        ds = nb.datasets.load(data)
        if list(ds.feature_names) != list(pre.feature_names):
            raise nb.DataError(f"{data}: its features differ from the model's "
                               f"({len(ds.feature_names)} vs {len(pre.feature_names)} columns)")
    if need_y and ds.y is None:
        raise nb.DataError(f"{data}: no target column {getattr(pre, 'target', '')!r}; "
                           f"evaluate needs the true labels or values")
    return pre.transform(ds.x), ds.y, class_names, None


def _raw_csv(model, path, need_y):
    """A CSV for a model with a raw input: its first k columns as written (strings, or
    integers), k from the model's input shape, and the column after them, if there is
    one, as the target (numbers)."""
    from nbnet.csvread import NUMBER, read_table
    dtype = raw_input(model)[0]
    table = read_table(path)
    shape = tuple(model.input_shape or (None,))
    if len(shape) > 2 or (len(shape) == 2 and shape[1] is None):
        raise nb.DataError(f"{path}: a CSV row gives one value per column; this model's "
                           f"input has shape {shape}")
    k = shape[1] if len(shape) == 2 else 1
    ncol = len(table.header)
    if ncol not in (k, k + 1):
        raise nb.DataError(f"{path}: {ncol} columns; the model reads {k} "
                           f"({'string' if dtype == np.dtype(object) else 'integer'} input of "
                           f"shape {shape}), followed by at most one target column")
    if need_y and ncol == k:
        raise nb.DataError(f"{path}: no target column after the model's {k} input column(s); "
                           f"evaluate needs the true labels or values")
    if dtype == np.dtype(object):
        x = np.empty((len(table.lines), k), dtype=object)
        for j in range(k):
            x[:, j] = table.columns[j]
    else:
        x = np.empty((len(table.lines), k), dtype=dtype)
        for j in range(k):
            values, kinds = table.numbers(j)
            bad = np.flatnonzero((kinds != NUMBER) | (values != np.floor(values)))
            if bad.size:
                i = bad[0]
                raise nb.DataError(f"{table.where(i, j)}: {table.columns[j][i]!r} is not an "
                                   f"integer (this model's input takes integers)")
            x[:, j] = values
    if len(shape) == 1:
        x = x[:, 0]
    y = None
    if ncol == k + 1:
        values, kinds = table.numbers(k)
        bad = np.flatnonzero(kinds != NUMBER)
        if bad.size and need_y:
            i = bad[0]
            raise nb.DataError(f"{table.where(i, k)}: {table.columns[k][i]!r} is not a number "
                               f"(a model saved from Python takes its targets as numbers: "
                               f"class indices or values)")
        y = values if not bad.size else None
    return x, y


if __name__ == "__main__":
    main()
