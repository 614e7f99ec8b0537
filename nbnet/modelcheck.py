"""What a model file's config.json may hold, checked before anything is built from it.

    parse_config(data, path)   bytes -> dict: UTF-8, JSON nested at most MAX_DEPTH levels
                               (counted on the brackets outside strings, before parsing:
                               no RecursionError), a JSON object
    check_config(cfg, path)    the type and range of every field nbnet reads: format,
                               format_version, model (layers, layer specs and their common
                               fields, input shape), compile, training, extra
    check_extra(extra, model, path)  what `nbnet train` stored (class names, image size,
                               the table encoder ...) against the built model
    WeightBudget               the elements the file's weight arrays hold; every add_weight
                               while the model is built from the file takes from it, so
                               `units: 1e12` is refused before anything is allocated

Every problem is a ModelFileError "PATH: FIELD: what is wrong". A layer's own
arguments are checked by its constructor (nbnet.saving turns its errors into
ModelFileError too).
"""
import math
import re

import numpy as np

from .errors import ModelFileError

MAX_DEPTH = 64               # a functional model nests ~7 levels per nested model
MAX_LAYERS = 2048            # per model (the functional rebuild is quadratic in it)
MAX_DIM = 2 ** 31 - 1        # one dimension of an input shape
MAX_SAMPLE = 2 ** 28         # elements of one sample's input or of any layer's output
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def fail(path, field, what):
    raise ModelFileError(f"{path}: {field}: {what}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _type(v):
    return "null" if v is None else type(v).__name__


def parse_config(data, path, what="config.json"):
    """The bytes of config.json -> a dict (ModelFileError when it is not one)."""
    import json
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    if brackets:
        step = np.frombuffer(brackets, np.uint8)
        depth = np.cumsum(np.where((step == ord("[")) | (step == ord("{")), 1, -1)).max()
        if depth > MAX_DEPTH:
            fail(path, what, f"JSON nested {int(depth)} levels deep (at most {MAX_DEPTH})")
    try:
        cfg = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        fail(path, what, f"not UTF-8 text ({e})")
    except (ValueError, RecursionError) as e:   # JSONDecodeError, an int of 5,000 digits
        fail(path, what, f"not valid JSON ({e})")
    if not isinstance(cfg, dict):
        fail(path, what, f"must be a JSON object, got {_type(cfg)}")
    return cfg


# ---------------------------------------------------------------------- the file
def check_config(cfg, path, format_name, format_version):
    """The top level, then model, compile, training and extra (structure only)."""
    if cfg.get("format") != format_name:
        fail(path, "format", f"not an nbnet model file (format is {cfg.get('format')!r})")
    v = cfg.get("format_version", 1)
    if not _is_int(v) or v < 1:
        fail(path, "format_version", f"must be a positive integer, got {v!r}")
    if v > format_version:
        raise ModelFileError(f"{path}: written by a newer nbnet (format version {v}); "
                             f"upgrade nbnet to read it")
    _opt(cfg, "nbnet_version", str, path)
    if cfg.get("weights_only", False) is not False:
        if cfg["weights_only"] is not True:
            fail(path, "weights_only", f"must be true or false, got {cfg['weights_only']!r}")
        names = cfg.get("weight_names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            fail(path, "weight_names", "must be a list of strings")
        return
    if "model" not in cfg:
        fail(path, "model", "missing")
    check_model(cfg["model"], path, "model")
    check_compile(cfg.get("compile"), path)
    training = cfg.get("training")
    if training is not None:
        if not isinstance(training, dict):
            fail(path, "training", f"must be an object, got {_type(training)}")
        seed = training.get("shuffle_seed")
        if seed is not None and (not _is_int(seed) or not 0 <= seed < 2 ** 63):
            fail(path, "training/shuffle_seed", f"must be an integer in [0, 2**63), got {seed!r}")
        epoch = training.get("epoch", 0)
        if not _is_int(epoch) or not 0 <= epoch < 2 ** 31:
            fail(path, "training/epoch", f"must be a non-negative integer, got {epoch!r}")
    extra = cfg.get("extra")
    if extra is not None and not isinstance(extra, dict):
        fail(path, "extra", f"must be an object, got {_type(extra)}")


def _opt(d, key, types, path, field=None):
    if d.get(key) is not None and not isinstance(d[key], types):
        fail(path, field or key, f"must be {getattr(types, '__name__', types)}, "
                                 f"got {_type(d[key])}")


def check_shape(shape, path, field, allow_none=True):
    if not isinstance(shape, list):
        fail(path, field, f"must be a list of positive integers, got {_type(shape)}")
    n = 1
    for s in shape:
        if s is None and allow_none:
            continue
        if not _is_int(s) or not 1 <= s <= MAX_DIM:
            fail(path, field, f"must hold positive integers (at most {MAX_DIM}), got {s!r}")
        n *= s
    if n > MAX_SAMPLE:
        fail(path, field, f"{n} elements per sample (at most {MAX_SAMPLE})")


def check_model(model, path, field):
    """A Sequential config ({"layers": [...], "input_shape"}) or a functional one
    ({"layers", "input_layers", "output_layers"}), nested models included."""
    from .layers.base import LAYERS
    if not isinstance(model, dict):
        fail(path, field, f"must be an object, got {_type(model)}")
    _opt(model, "name", str, path, f"{field}/name")
    layers = model.get("layers", [])
    if not isinstance(layers, list):
        fail(path, f"{field}/layers", f"must be a list, got {_type(layers)}")
    if len(layers) > MAX_LAYERS:
        fail(path, f"{field}/layers", f"{len(layers)} layers (at most {MAX_LAYERS})")
    functional = "input_layers" in model
    if model.get("input_shape") is not None:
        check_shape(model["input_shape"], path, f"{field}/input_shape")
    _opt(model, "input_dtype", str, path, f"{field}/input_dtype")
    if model.get("trainable", True) not in (True, False):
        fail(path, f"{field}/trainable", "must be true or false")
    for i, spec in enumerate(layers):
        where = f"{field}/layers[{i}]"
        if not isinstance(spec, dict):
            fail(path, where, f"must be an object, got {_type(spec)}")
        cls, cfg = spec.get("class_name"), spec.get("config")
        if not isinstance(cls, str):
            fail(path, f"{where}/class_name", f"must be a string, got {_type(cls)}")
        if not isinstance(cfg, dict):
            fail(path, f"{where}/config", f"must be an object, got {_type(cfg)}")
        if cls in ("Functional", "Sequential"):   # a model used as a layer
            check_model(cfg, path, f"{where}/config")
        else:
            try:
                LAYERS.lookup(cls)
            except ValueError:
                fail(path, f"{where}/class_name", f"unknown layer {cls!r}")
            _check_layer_config(cfg, path, f"{where}/config")
        if functional:
            _opt(spec, "name", str, path, f"{where}/name")
            nodes = spec.get("inbound_nodes", [])
            if not isinstance(nodes, list) or not all(isinstance(n, list) for n in nodes):
                fail(path, f"{where}/inbound_nodes", "must be a list of lists")
            for node in nodes:
                for ref in node:
                    _check_ref(ref, path, f"{where}/inbound_nodes")
    if functional:
        for key in ("input_layers", "output_layers"):
            refs = model.get(key)
            if not isinstance(refs, list) or not refs:
                fail(path, f"{field}/{key}", f"must be a non-empty list, got {_type(refs)}")
            for ref in refs:
                _check_ref(ref, path, f"{field}/{key}")


def _check_ref(ref, path, field):
    if not (isinstance(ref, list) and len(ref) >= 3 and isinstance(ref[0], str)
            and _is_int(ref[1]) and _is_int(ref[2]) and ref[1] >= 0 and ref[2] >= 0):
        fail(path, field, f"each reference must be [layer name, node index, tensor index], "
                          f"got {ref!r}")


def _check_layer_config(cfg, path, field):
    """The fields every layer shares; the others are its constructor's to check."""
    _opt(cfg, "name", str, path, f"{field}/name")
    if cfg.get("trainable", True) not in (True, False):
        fail(path, f"{field}/trainable", f"must be true or false, got {cfg['trainable']!r}")
    dtype = cfg.get("dtype")
    # float32 / float64; an InputLayer of raw strings or integers records those (a
    # layer that cannot take them refuses them in its constructor: a ModelFileError too)
    if dtype is not None and dtype not in ("float32", "float64", "string", "int32", "int64"):
        fail(path, f"{field}/dtype", f"must be float32 or float64 (or string, int32, "
                                     f"int64 for an input), got {dtype!r}")
    for key in ("input_shape", "shape", "batch_input_shape"):
        if cfg.get(key) is not None and not _is_int(cfg[key]):
            check_shape(cfg[key], path, f"{field}/{key}")


def check_compile(c, path):
    if c is None:
        return
    if not isinstance(c, dict):
        fail(path, "compile", f"must be an object or null, got {_type(c)}")
    for key in ("optimizer", "loss"):
        if key not in c:
            fail(path, f"compile/{key}", "missing")
    _check_ident(c["optimizer"], path, "compile/optimizer", lists=False)
    _check_ident(c["loss"], path, "compile/loss")
    for key in ("metrics", "weighted_metrics"):
        if c.get(key) is not None:
            _check_ident(c[key], path, f"compile/{key}")
    lw = c.get("loss_weights")
    if lw is not None:
        values = lw if isinstance(lw, list) else list(lw.values()) if isinstance(lw, dict) else [lw]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(path, "compile/loss_weights", f"must be finite numbers, got {v!r}")


def _check_ident(v, path, field, lists=True):
    """A name, a {"class_name", "config"} object, or (lists) lists / dicts of them."""
    if isinstance(v, str):
        return
    if isinstance(v, dict) and "class_name" in v:
        if not isinstance(v["class_name"], str) or not isinstance(v.get("config", {}), dict):
            fail(path, field, "a {class_name, config} object needs a string and an object")
        return
    if lists and isinstance(v, list):
        for item in v:
            if item is not None:
                _check_ident(item, path, field)
        return
    if lists and isinstance(v, dict):
        for item in v.values():
            if item is not None:
                _check_ident(item, path, field)
        return
    fail(path, field, f"must be a name or a {{class_name, config}} object, got {_type(v)}")


def check_metrics(c, path):
    """Every metric compile names is a known metric (checked before compile)."""
    from . import metrics as metrics_mod

    def walk(v, field):
        if isinstance(v, list):
            for item in v:
                walk(item, field)
        elif isinstance(v, dict) and "class_name" not in v:
            for item in v.values():
                walk(item, field)
        elif v is not None:
            try:
                if isinstance(v, str):
                    metrics_mod.METRICS.lookup(v)
                else:
                    metrics_mod.deserialize(v)
            except Exception as e:  # noqa: BLE001 - any failure is a bad file
                fail(path, field, f"{type(e).__name__}: {e}")
    for key in ("metrics", "weighted_metrics"):
        walk(c.get(key), f"compile/{key}")


# ---------------------------------------------------------------------- extra
def check_extra(extra, model, path):
    """What `nbnet train` stores for evaluate / predict, against the built model."""
    if not extra:
        return
    kind = extra.get("kind")
    if kind not in (None, "tabular", "images"):
        fail(path, "extra/kind", f"must be 'tabular' or 'images', got {kind!r}")
    task = extra.get("task")
    if task not in (None, "classification", "regression"):
        fail(path, "extra/task", f"must be 'classification' or 'regression', got {task!r}")
    out = getattr(model, "output_shape", None)
    units = out[-1] if isinstance(out, tuple) and out and _is_int(out[-1]) else None
    names = extra.get("class_names")
    if names is not None:
        if (not isinstance(names, list) or not names
                or not all(isinstance(n, str) for n in names)):
            fail(path, "extra/class_names", "must be a non-empty list of strings")
        if units is not None and len(names) != units and not (units == 1 and len(names) == 2):
            fail(path, "extra/class_names", f"{len(names)} classes for a model with "
                                            f"{units} outputs")
    for key in ("feature_names",):
        v = extra.get(key)
        if v is not None and (not isinstance(v, list) or not all(isinstance(n, str) for n in v)):
            fail(path, f"extra/{key}", "must be a list of strings")
    ins = getattr(model, "input_shape", None)
    if kind == "images":
        size, mode = extra.get("image_size"), extra.get("color_mode")
        if size is not None and not (isinstance(size, list) and len(size) == 2 and
                                     all(_is_int(s) and 1 <= s <= 65536 for s in size)):
            fail(path, "extra/image_size", f"must be [height, width], got {size!r}")
        if mode not in (None, "rgb", "grayscale"):
            fail(path, "extra/color_mode", f"must be 'rgb' or 'grayscale', got {mode!r}")
        if not (isinstance(ins, tuple) and len(ins) == 4):
            fail(path, "extra/kind", f"'images' for a model whose input is {ins}, not images")
        else:
            want = tuple(size or ins[1:3]) + ((3 if mode == "rgb" else 1) if mode else ins[3],)
            if want != tuple(ins[1:]):
                fail(path, "extra/image_size", f"images of {want} for a model input of {ins[1:]}")
    scale = extra.get("target_scale")
    if scale is not None:
        if not isinstance(scale, dict) or not all(
                isinstance(scale.get(k), (int, float)) and not isinstance(scale.get(k), bool)
                and math.isfinite(scale[k]) for k in ("mean", "std")) or scale["std"] <= 0:
            fail(path, "extra/target_scale", "must be {mean, std} with finite numbers, std > 0")
    args = extra.get("train_args")
    if args is not None and not isinstance(args, dict):
        fail(path, "extra/train_args", f"must be an object, got {_type(args)}")
    width = ins[-1] if isinstance(ins, tuple) and len(ins) == 2 else None
    if "encoder" in extra:
        n = _check_encoder(extra["encoder"], path)
        if width is not None and n != width:
            fail(path, "extra/encoder", f"encodes {n} features for a model input of {width}")
    elif kind == "tabular" and "preprocessor" in extra:
        _check_preprocessor(extra["preprocessor"], path, width)


_ROLES = ("numeric", "categorical", "identifier", "constant", "ignored")


def _check_encoder(enc, path):
    """A TableEncoder config -> the number of features it makes."""
    from .tabular import MISSING_MODES
    f = "extra/encoder"
    if not isinstance(enc, dict):
        fail(path, f, f"must be an object, got {_type(enc)}")
    if enc.get("missing") not in MISSING_MODES:
        fail(path, f"{f}/missing", f"must be one of {', '.join(MISSING_MODES)}")
    if not _is_int(enc.get("max_categories")) or enc["max_categories"] < 1:
        fail(path, f"{f}/max_categories", "must be a positive integer")
    for key in ("standardize", "drop_constant"):
        if enc.get(key) not in (True, False):
            fail(path, f"{f}/{key}", "must be true or false")
    _opt(enc, "target", str, path, f"{f}/target")
    cols = enc.get("columns")
    if not isinstance(cols, list):
        fail(path, f"{f}/columns", f"must be a list, got {_type(cols)}")
    n = 0
    for i, c in enumerate(cols):
        where = f"{f}/columns[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            fail(path, where, "must be an object with a string name")
        role = c.get("role")
        if role not in _ROLES:
            fail(path, f"{where}/role", f"must be one of {', '.join(_ROLES)}, got {role!r}")
        if not _is_int(c.get("missing", 0)):
            fail(path, f"{where}/missing", "must be an integer")
        if role == "numeric":
            for key in ("fill", "mean", "std"):
                v = c.get(key)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    fail(path, f"{where}/{key}", f"must be a finite number, got {v!r}")
            if c["std"] == 0:
                fail(path, f"{where}/std", "must not be 0")
            if c.get("indicator") not in (True, False):
                fail(path, f"{where}/indicator", "must be true or false")
            n += 1 + c["indicator"]
        elif role == "categorical":
            levels, merged = c.get("levels"), c.get("merged_levels")
            if not isinstance(levels, list) or not all(isinstance(v, str) for v in levels):
                fail(path, f"{where}/levels", "must be a list of strings")
            if merged is not None and (not isinstance(merged, list) or
                                       not all(isinstance(v, str) for v in merged)):
                fail(path, f"{where}/merged_levels", "must be a list of strings or null")
            for key in ("other", "missing_level"):
                if c.get(key) not in (True, False):
                    fail(path, f"{where}/{key}", "must be true or false")
            if c.get("codes") not in ("number", "text"):
                fail(path, f"{where}/codes", "must be 'number' or 'text'")
            n += len(levels) + c["other"] + c["missing_level"]
    return n


def _check_preprocessor(pre, path, width):
    f = "extra/preprocessor"
    if not isinstance(pre, dict):
        fail(path, f, f"must be an object, got {_type(pre)}")
    for key in ("mean", "std"):
        v = pre.get(key)
        if (not isinstance(v, list) or (width is not None and len(v) != width) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in v)):
            fail(path, f"{f}/{key}", f"must be a list of {width or 'the'} finite numbers")


# ---------------------------------------------------------------------- weights
class WeightBudget:
    """The elements a model built from the file may give its weights: those the file's
    weight arrays hold. Called by Layer.add_weight before it allocates."""

    def __init__(self, path, elements):
        self.path, self.left = path, int(elements)

    def __call__(self, name, shape):
        if not isinstance(shape, (tuple, list)) or not all(_is_int(s) or isinstance(s, np.integer)
                                                           and not isinstance(s, bool) for s in shape):
            fail(self.path, "model", f"weight {name!r} has shape {shape!r}, not integers")
        n = math.prod(int(s) for s in shape)
        if min((int(s) for s in shape), default=0) < 0 or n > self.left:
            fail(self.path, "model", f"weight {name!r} of shape {tuple(shape)} needs {n} "
                                     f"elements; the file's weight arrays hold {self.left} more")
        self.left -= n
