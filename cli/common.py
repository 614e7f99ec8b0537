"""Shared pieces of the command line: the one-line error convention, option parsers,
and turning a DATA argument (CSV file, image folder, bundled data set name) into a
Dataset through the library. No maths here: nbnet.data does the loading and checks."""
import json
import os

import click

import nbnet as nb

# Every bad-input failure exits with this code and one "Error: ..." line on stderr.
EXIT_BAD_INPUT = 2


class CliError(click.ClickException):
    """A bad-input error found by the CLI itself (exit code 2, one line)."""
    exit_code = EXIT_BAD_INPUT


# ---------------------------------------------------------------------- option parsers
def parse_hidden(ctx, param, value):
    """'256,128' -> (256, 128); '' or 'none' -> () (no hidden layer)."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of layer sizes "
                                 f"such as 256,128") from None
    if any(s < 1 for s in sizes):
        raise click.BadParameter(f"{value!r}: layer sizes must be positive integers")
    return sizes


def parse_image_size(ctx, param, value):
    """'28x28' or '28' -> (28, 28)."""
    if value is None:
        return None
    parts = value.lower().replace("*", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HEIGHTxWIDTH, e.g. 28x28") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise click.BadParameter(f"{value!r} is not HEIGHTxWIDTH with positive sizes, e.g. 28x28")
    return dims


def check_optimizer(ctx, param, value):
    try:
        nb.optimizers.get(value)
    except (ValueError, TypeError, KeyError) as e:
        raise click.BadParameter(_one_line(e)) from None
    return value


def check_loss(ctx, param, value):
    if value is None:
        return None
    try:
        nb.losses.get(value)
    except (ValueError, TypeError, KeyError) as e:
        raise click.BadParameter(_one_line(e)) from None
    return value


def check_out_path(ctx, param, value):
    """An output file whose folder exists (checked before any work starts)."""
    if value is None:
        return None
    folder = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(folder):
        raise click.BadParameter(f"folder {folder!r} of {value!r} does not exist")
    if os.path.isdir(value):
        raise click.BadParameter(f"{value!r} is a directory")
    return value


def _one_line(e):
    return " ".join(str(e).split())


# ---------------------------------------------------------------------- data
def data_kind(data):
    """'images' for a folder, 'csv' for a file, 'bundled' for a bundled data set name."""
    if os.path.isdir(data):
        return "images"
    if os.path.exists(data):
        return "csv"
    if data in nb.datasets.list_datasets():
        return "bundled"
    names = ", ".join(sorted(nb.datasets.list_datasets()))
    raise nb.DataError(f"{data}: no such file or folder, and not a bundled data set "
                       f"(bundled: {names})")


def load_spec(path):
    """A model spec file -> unbuilt Sequential; errors name the file."""
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except UnicodeDecodeError as e:
        raise CliError(f"{path}: model spec is not UTF-8 text ({e.reason} at byte "
                       f"{e.start})") from None
    except json.JSONDecodeError as e:
        raise CliError(f"{path}: invalid JSON in model spec, line {e.lineno} column {e.colno}: "
                       f"{e.msg}") from None
    except OSError as e:
        raise CliError(f"{path}: cannot read model spec ({e.strerror})") from None
    if isinstance(spec, dict) and "model" in spec and "layers" not in spec:
        spec = spec["model"]  # a config.json taken out of a model file
    if not isinstance(spec, (list, dict)):
        raise CliError(f"{path}: a model spec is a JSON list of layer specs or an object "
                       f"with a 'layers' list")
    try:
        return nb.models.model_from_config(spec)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise CliError(f"{path}: invalid model spec: {_one_line(e)}") from None


def one_input_one_output(model, path, command):
    """nbnet train / evaluate / predict read one table or image folder: a model with
    several inputs or outputs is for Python scripts."""
    ins, outs = getattr(model, "inputs", [None]), getattr(model, "outputs", [None])
    if len(ins) > 1 or len(outs) > 1:
        raise CliError(f"{path}: nbnet {command} takes models with one input and one output; "
                       f"this one has {len(ins)} inputs {model.input_names} and {len(outs)} "
                       f"outputs {model.output_names} (train and use it from Python)")
    return model


def load_model_or_spec(path):
    """`nbnet summary` accepts a model file or a JSON spec."""
    if path.lower().endswith(".json"):
        return load_spec(path)
    return nb.load_model(path)


def class_counts(y, class_names):
    """'name: count' for each class, in class order."""
    counts = [int((y == i).sum()) for i in range(len(class_names))]
    return ", ".join(f"{name}: {c}" for name, c in zip(class_names, counts))
