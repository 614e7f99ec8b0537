"""The model file: one zip holding config.json and .npy arrays; nothing pickled.

    config.json          {"format": "nbnet.model", "format_version": 1, "nbnet_version",
                          "model": Sequential config, "compile": {...} or null,
                          "training": {"shuffle_seed", "epoch"}, "extra": {...}}
    weights/00000.npy    every weight of model.weights, in order
    optimizer/<key>.npy  the optimizer state (so fit resumes exactly)

Writes go to a temporary file in the same folder, are fsync'ed, then renamed over the
target: a crash mid-save leaves the previous file intact. Reading uses
np.load(allow_pickle=False) only, and every failure becomes a ModelFileError naming
the file.
"""
import io
import json
import os
import zipfile

import numpy as np

from ._version import __version__
from .errors import ModelFileError
from .fileio import atomic_write, atomic_write_text  # noqa: F401  (also used from here)

FORMAT = "nbnet.model"
FORMAT_VERSION = 1


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)  # keeps 0-d arrays 0-d
    return buf.getvalue()


def write_archive(path, config, arrays):
    """config: JSON-able dict; arrays: dict name -> ndarray (names become zip members)."""
    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("config.json", json.dumps(config, indent=1))
            for name, arr in arrays.items():
                z.writestr(name + ".npy", _npy_bytes(arr))
    atomic_write(path, write)


def read_archive(path):
    """-> (config dict, {name: ndarray}); ModelFileError for anything wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a directory, not a model file")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise ModelFileError(f"{path}: not an nbnet model file (no config.json)")
            try:
                config = json.loads(z.read("config.json").decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ModelFileError(f"{path}: corrupt model file (config.json: {e})") from None
            if not isinstance(config, dict) or config.get("format") != FORMAT:
                raise ModelFileError(f"{path}: not an nbnet model file (format is "
                                     f"{config.get('format') if isinstance(config, dict) else None!r})")
            if config.get("format_version", 0) > FORMAT_VERSION:
                raise ModelFileError(f"{path}: written by a newer nbnet (format version "
                                     f"{config['format_version']}); upgrade nbnet to read it")
            arrays = {}
            for name in sorted(names):
                if name.endswith(".npy"):
                    with z.open(name) as f:
                        arrays[name[:-4]] = np.load(io.BytesIO(f.read()), allow_pickle=False)
    except ModelFileError:
        raise
    except zipfile.BadZipFile:
        raise ModelFileError(f"{path}: not an nbnet model file, or truncated/corrupt "
                             f"(not a readable zip archive)") from None
    except (ValueError, OSError, EOFError, KeyError, zipfile.LargeZipFile) as e:
        raise ModelFileError(f"{path}: corrupt model file ({e})") from None
    return config, arrays


def _weight_arrays(model):
    return {f"weights/{i:05d}": w.value for i, w in enumerate(model.weights)}


def _load_weights_into(model, arrays, path):
    keys = sorted(k for k in arrays if k.startswith("weights/"))
    weights = model.weights
    if len(keys) != len(weights):
        raise ModelFileError(f"{path}: holds {len(keys)} weight arrays, the model has {len(weights)}")
    for w, k in zip(weights, keys):
        a = arrays[k]
        if a.shape != w.shape:
            raise ModelFileError(f"{path}: weight {w.path!r} has shape {a.shape} in the file, "
                                 f"{w.shape} in the model")
        w.value[...] = a


def save_model(model, path, extra=None):
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "nbnet_version": __version__,
              "model": model.get_config(), "compile": model._compile_config(),
              "training": model._training_state(),
              "extra": extra if extra is not None else getattr(model, "extra", {})}
    arrays = _weight_arrays(model)
    if model.optimizer is not None and model._packed:
        for k, v in model.optimizer.get_state().items():
            arrays[f"optimizer/{k}"] = v
    write_archive(path, config, arrays)


def read_model(path, from_config, compile=True):
    """Rebuild a model from a model file: architecture (from_config(spec) makes the
    model; nbnet.models.load_model gives the one for Sequential and functional models),
    weights, compile settings and optimizer state. Never runs code from the file."""
    path = os.fspath(path)
    config, arrays = read_archive(path)
    try:
        model = from_config(config["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: invalid model configuration ({e})") from None
    if not model.built:
        raise ModelFileError(f"{path}: the saved model has no input shape")
    _load_weights_into(model, arrays, path)
    model.extra = config.get("extra") or {}
    model._set_training_state(config.get("training") or {})
    if compile and config.get("compile"):
        c = config["compile"]
        try:
            model.compile(optimizer=c["optimizer"], loss=c["loss"], metrics=c.get("metrics"),
                          loss_weights=c.get("loss_weights"),
                          weighted_metrics=c.get("weighted_metrics"))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: invalid compile configuration ({e})") from None
        state = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        if state:
            model._ensure_packed()
            try:
                model.optimizer.set_state(state)
            except (KeyError, ValueError) as e:
                raise ModelFileError(f"{path}: optimizer state does not fit the model ({e})") from None
    return model


def restore_training_state(model, path):
    """Load weights, optimizer state and training counters from a model file into an
    existing compiled model (BackupAndRestore, --resume)."""
    config, arrays = read_archive(path)
    _load_weights_into(model, arrays, path)
    model._set_training_state(config.get("training") or {})
    state = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
    if state and model.optimizer is not None:
        model._ensure_packed()
        model.optimizer.set_state(state)


def save_weights(model, path):
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "nbnet_version": __version__,
              "weights_only": True, "weight_names": [w.path for w in model.weights]}
    write_archive(path, config, _weight_arrays(model))


def load_weights(model, path):
    _, arrays = read_archive(path)
    _load_weights_into(model, arrays, os.fspath(path))
