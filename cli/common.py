"""Shared pieces of the command line: the one-line error convention, option parsers,
and turning a DATA argument (CSV file, image folder, bundled data set name) into a
Dataset through the library. No maths here: nbnet.data does the loading and checks."""
import contextlib
import json
import numbers
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


# ---------------------------------------------------------------------- errors naming the data
@contextlib.contextmanager
def naming(path):
    """A DataError raised inside (by fit / evaluate / predict on the arrays read from
    `path`) is raised again with the file or folder named first."""
    try:
        yield
    except nb.DataError as e:
        msg = str(e)
        if msg.startswith(f"{path}:"):
            raise
        for api, cli in (("fit (validation_data): ", "validation rows: "),
                         ("fit: ", "training rows: ")):
            if msg.startswith(api):
                msg = cli + msg[len(api):]
        raise nb.DataError(f"{path}: {msg}") from None


# ---------------------------------------------------------------------- model.extra
_ROLES = ("numeric", "categorical", "identifier", "constant", "ignored")


def check_extra(model, path):
    """What `nbnet train` stored in the model file (model.extra), checked before evaluate /
    predict use it: a wrong type is a ModelFileError naming the file and the field."""
    extra = model.extra
    if extra is None:
        return {}

    def bad(field, want):
        raise nb.ModelFileError(f"{path}: invalid field extra.{field} in the model file "
                                f"(expected {want})")
    if not isinstance(extra, dict):
        bad("", "an object")
    kind = extra.get("kind")
    if kind not in (None, "images", "tabular"):
        bad("kind", "'images' or 'tabular'")
    if extra.get("task") not in (None, "classification", "regression"):
        bad("task", "'classification' or 'regression'")
    names = extra.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) < 2
                              or not all(isinstance(n, str) for n in names)):
        bad("class_names", "a list of at least 2 class names")
    if names is not None:
        shape = getattr(model, "output_shape", None)
        units = shape[-1] if isinstance(shape, tuple) and shape else None
        if units is not None and units not in (len(names), 1 if len(names) == 2 else len(names)):
            bad("class_names", f"one name per output unit; the model has {units} units and "
                               f"{len(names)} names")
    size = extra.get("image_size")
    if size is not None and (not isinstance(size, list) or len(size) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 16 for v in size)):
        bad("image_size", "[height, width] of positive integers")
    if extra.get("color_mode") not in (None, "grayscale", "rgb"):
        bad("color_mode", "'grayscale' or 'rgb'")
    if kind == "tabular" and "encoder" not in extra and "preprocessor" not in extra:
        bad("encoder", "the column encoding of the training data")
    if "encoder" in extra:
        _check_encoder(extra["encoder"], bad)
    elif "preprocessor" in extra:
        pre = extra["preprocessor"]
        if not isinstance(pre, dict) or not all(_numbers(pre.get(k)) for k in ("mean", "std")) \
                or not isinstance(pre.get("feature_names"), list) \
                or not len(pre["feature_names"]) == len(pre["mean"]) == len(pre["std"]):
            bad("preprocessor", "means, standard deviations and feature names")
    return extra


def _numbers(v):
    return isinstance(v, list) and all(isinstance(f, numbers.Real) and not isinstance(f, bool)
                                       for f in v)


def _check_encoder(enc, bad):
    if not isinstance(enc, dict) or not isinstance(enc.get("columns"), list):
        bad("encoder", "an object with a list of columns")
    if enc.get("missing") not in ("auto", "error", "drop", "mean"):
        bad("encoder.missing", "auto, error, drop or mean")
    if not isinstance(enc.get("max_categories"), int) or enc["max_categories"] < 2:
        bad("encoder.max_categories", "an integer >= 2")
    num = lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)  # noqa: E731
    for k, c in enumerate(enc["columns"]):
        where = f"encoder.columns[{k}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) \
                or c.get("role") not in _ROLES or not isinstance(c.get("missing", 0), int):
            bad(where, "an object with a name and a role")
        if c["role"] == "numeric" and not (num(c.get("fill")) and num(c.get("mean")) and
                                           num(c.get("std")) and c["std"] != 0 and
                                           isinstance(c.get("indicator"), bool)):
            bad(where, "fill, mean, std (non-zero) and indicator of a numeric column")
        if c["role"] == "categorical" and not (
                isinstance(c.get("levels"), list) and all(isinstance(v, str) for v in c["levels"])
                and isinstance(c.get("other"), bool) and isinstance(c.get("missing_level"), bool)
                and c.get("codes") in ("number", "text")
                and (c.get("merged_levels") is None or isinstance(c["merged_levels"], list))):
            bad(where, "levels, other, missing_level and codes of a categorical column")
