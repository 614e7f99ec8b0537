"""The model file: one zip holding config.json and .npy arrays; nothing pickled.

    config.json          {"format": "nbnet.model", "format_version": 1, "nbnet_version",
                          "model": Sequential config, "compile": {...} or null,
                          "training": {"shuffle_seed", "epoch"}, "extra": {...}}
    weights/00000.npy    every weight of model.weights, in order
    optimizer/<key>.npy  the optimizer state (so fit resumes exactly)

Writes go to a temporary file in the same folder, are fsync'ed, then renamed over the
target (nbnet.fileio): a crash mid-save leaves the previous file intact.

Reading validates before it allocates, in this order: the path is a regular file
(opened non-blocking, so a FIFO never blocks; a device such as /dev/zero is refused);
the zip directory (members stored uncompressed, not encrypted, each inside the file);
config.json (at most MAX_CONFIG bytes, nested at most modelcheck.MAX_DEPTH levels, every
field's type and range: nbnet.modelcheck); the .npy headers (little-endian float32 /
float64 only, C order, header + data exactly the member's size). The model is then
built under a weight budget (the elements the file's weight arrays hold: `units: 1e12`
is refused before anything is allocated), each array's header is compared with the
shape and dtype of the weight it fills (no cast), and the data is read in chunks
straight into the model's weights and the optimizer's state. Memory: the model's own
arrays plus one chunk. Every failure is a ModelFileError naming the file and the field.
"""
import io
import json
import os
import re
import stat
import struct
import zipfile

import numpy as np

from ._version import __version__
from . import modelcheck
from .errors import ModelFileError
from .fileio import atomic_write, atomic_write_text  # noqa: F401  (also used from here)
from .layers.base import WEIGHT_BUDGET

FORMAT = "nbnet.model"
FORMAT_VERSION = 1
MAX_CONFIG = 64 * 2 ** 20                 # bytes of config.json
_CHUNK = 2 ** 18                          # bytes read at a time into an array
_MEMBER = re.compile(r"(weights|optimizer)/[A-Za-z0-9_.-]{1,200}\.npy\Z")
# The dtypes of weight arrays: floats, and the int64 / int32 of the lookup layers'
# non-trainable tables; each must also equal its weight's dtype in the built model.
_FLOATS = ("<f4", "<f8", "<i8", "<i4")
_SCALARS = {"optimizer/iterations": "<i8", "optimizer/learning_rate": "<f8"}
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, KeyError,
               struct.error, OverflowError, NotImplementedError, RuntimeError)


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


# ---------------------------------------------------------------------- reading
def _open_regular(path):
    """A regular file, opened for reading (never blocks) -> (file object, size)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read it ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError(f"{path}: is a directory, not a model file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = None
    if stat.S_ISREG(st.st_mode):
        try:
            fd = os.open(path, flags)
            st = os.fstat(fd)   # what was opened, not what the name pointed to before
        except OSError as e:
            if fd is not None:
                os.close(fd)
            raise ModelFileError(f"{path}: cannot read it ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        if fd is not None:
            os.close(fd)
        what = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device"
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise ModelFileError(f"{path}: is {what}, not a model file (model files are "
                             f"regular files)")
    return os.fdopen(fd, "rb"), st.st_size


class Archive:
    """An opened model file whose zip directory and config.json have been checked."""

    def __init__(self, path):
        self.path = path = os.fspath(path)
        self._f, self.size = _open_regular(path)
        try:
            self._zip = zipfile.ZipFile(self._f)
            self.members = self._check_directory()
            self.config = self._read_config()
        except ModelFileError:
            self.close()
            raise
        except _ZIP_ERRORS + (OSError,) as e:
            self.close()
            raise _corrupt(path, e) from None
        self._headers = {}

    def close(self):
        z = getattr(self, "_zip", None)
        if z is not None:
            z.close()
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_directory(self):
        """{"config.json" | array key: ZipInfo} for the members nbnet reads; others are
        never read."""
        out = {}
        for info in self._zip.infolist():
            name = info.filename
            if name != "config.json" and not _MEMBER.match(name):
                continue
            key = name if name == "config.json" else name[:-4]
            if key in out:
                self._fail(name, "appears twice in the zip directory")
            if info.flag_bits & 0x1:
                self._fail(name, "is encrypted (nbnet model files are not)")
            if info.compress_type != zipfile.ZIP_STORED:
                self._fail(name, f"uses compression method {info.compress_type} (nbnet model "
                                 f"files store members uncompressed)")
            if (info.compress_size != info.file_size or
                    info.header_offset + 30 + info.file_size > self.size):
                self._fail(name, f"declares {info.file_size} bytes, more than the file holds "
                                 f"(truncated or corrupt)")
            out[key] = info
        if "config.json" not in out:
            raise ModelFileError(f"{self.path}: not an nbnet model file (no config.json)")
        return out

    def _fail(self, field, what):
        modelcheck.fail(self.path, field, what)

    def _read_config(self):
        info = self.members["config.json"]
        if info.file_size > MAX_CONFIG:
            self._fail("config.json", f"{info.file_size} bytes (at most {MAX_CONFIG})")
        with self._zip.open(info) as f:
            data = f.read(MAX_CONFIG + 1)
        config = modelcheck.parse_config(data, self.path)
        modelcheck.check_config(config, self.path, FORMAT, FORMAT_VERSION)
        return config

    def keys(self, prefix):
        return sorted(k for k in self.members if k.startswith(prefix))

    def header(self, key):
        """(shape, dtype) from the .npy header of member `key`, checked against the
        member's size and the dtypes nbnet writes."""
        if key in self._headers:
            return self._headers[key][:2]
        info, field = self.members[key], key + ".npy"
        try:
            with self._zip.open(info) as f:
                major, minor = np.lib.format.read_magic(f)
                if (major, minor) not in ((1, 0), (2, 0), (3, 0)):
                    self._fail(field, f"unknown .npy version {major}.{minor}")
                read = (np.lib.format.read_array_header_1_0 if major == 1 else
                        np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read(f)
                offset = f.tell()
        except ModelFileError:
            raise
        except Exception as e:  # noqa: BLE001 - numpy's header parser: ValueError,
            # SyntaxError, tokenize.TokenError ... on a crafted header
            self._fail(field, f"unreadable .npy header ({type(e).__name__}: {e})")
        want = _SCALARS.get(key)
        if dtype.str not in ((want,) if want else _FLOATS) or dtype.fields is not None:
            self._fail(field, f"dtype {dtype} ({dtype.str}); nbnet writes "
                              f"{'a 0-d ' + want if want else 'little-endian float32 / float64 (int64 / int32 for lookup tables)'}")
        if fortran and len(shape) > 1:
            self._fail(field, "is in Fortran order (nbnet writes C order)")
        if want and shape != ():
            self._fail(field, f"must be a scalar (shape ()), has shape {shape}")
        if not all(isinstance(s, int) and s >= 0 for s in shape):
            self._fail(field, f"invalid shape {shape}")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if offset + nbytes != info.file_size:
            self._fail(field, f"header claims {shape} {dtype} ({nbytes} bytes), the member "
                              f"holds {info.file_size - offset}")
        self._headers[key] = (shape, dtype, offset)
        return shape, dtype

    def elements(self, prefix):
        return sum(int(np.prod(self.header(k)[0], dtype=object)) for k in self.keys(prefix))

    def read_into(self, key, out, what=None):
        """Fill `out` (C-contiguous, the header's exact shape and dtype) from member key."""
        shape, dtype = self.header(key)
        if shape != out.shape or dtype != out.dtype:
            self._fail(key + ".npy", f"holds {dtype}{list(shape)}; {what or 'the model'} "
                                     f"needs {out.dtype}{list(out.shape)}")
        offset = self._headers[key][2]
        buf = memoryview(out.reshape(-1).view(np.uint8)) if out.size else None
        try:
            with self._zip.open(self.members[key]) as f:
                f.read(offset)
                pos, n = 0, out.nbytes
                while pos < n:
                    chunk = f.read(min(_CHUNK, n - pos))
                    if not chunk:
                        raise EOFError("member ends early")
                    buf[pos:pos + len(chunk)] = chunk
                    pos += len(chunk)
                f.read(1)   # at the end: zipfile checks the CRC
        except _ZIP_ERRORS + (OSError,) as e:
            raise _corrupt(self.path, e, key + ".npy") from None

    def read(self, key):
        shape, dtype = self.header(key)
        out = np.empty(shape, dtype=dtype)
        self.read_into(key, out)
        return out


def _corrupt(path, e, field=None):
    if isinstance(e, zipfile.BadZipFile) and field is None:
        return ModelFileError(f"{path}: not an nbnet model file, or truncated/corrupt "
                              f"(not a readable zip archive: {e})")
    where = f"{field}: " if field else ""
    return ModelFileError(f"{path}: {where}corrupt model file ({type(e).__name__}: {e})")


def read_archive(path):
    """-> (config dict, {name: ndarray}); ModelFileError for anything wrong. The arrays
    are bounded by the file's size (members are stored uncompressed)."""
    with Archive(path) as a:
        return a.config, {k: a.read(k) for k in a.keys("weights/") + a.keys("optimizer/")}


def read_config(path):
    """config.json of a model file, checked (no array is read)."""
    with Archive(path) as a:
        return a.config


def _weight_arrays(model):
    return {f"weights/{i:05d}": w.value for i, w in enumerate(model.weights)}


def _check_weights(a, model):
    keys, weights = a.keys("weights/"), model.weights
    if len(keys) != len(weights):
        raise ModelFileError(f"{a.path}: holds {len(keys)} weight arrays, the model has "
                             f"{len(weights)}")
    for w, k in zip(weights, keys):
        shape, dtype = a.header(k)
        if shape != w.shape or dtype != w.dtype:
            raise ModelFileError(f"{a.path}: {k}.npy: weight {w.path!r} has {dtype}"
                                 f"{list(shape)} in the file, {w.dtype}{list(w.shape)} in "
                                 f"the model")
    return list(zip(weights, keys))


def _optimizer_targets(a, model):
    """[(key, array to fill)] for the optimizer state in the file (built optimizer)."""
    keys = a.keys("optimizer/")
    if not keys or model.optimizer is None:
        return []
    model._ensure_packed()
    opt = model.optimizer
    state = getattr(opt, "_state", None) or {}
    names = opt._all_state_names()
    missing = [n for n in (*names, "iterations") if f"optimizer/{n}" not in a.members]
    if missing:
        raise ModelFileError(f"{a.path}: optimizer: {type(opt).__name__} state lacks "
                             f"{', '.join(missing)}")
    for k in _SCALARS:
        if k in a.members:
            a.header(k)
    return [(f"optimizer/{n}", state[n]) for n in names]


def _read_scalars(a):
    out = {}
    for k in _SCALARS:
        if k in a.members:
            out[k[len("optimizer/"):]] = a.read(k)
    if int(out["iterations"]) < 0:
        modelcheck.fail(a.path, "optimizer/iterations.npy", "must be >= 0")
    lr = out.get("learning_rate")
    if lr is not None and not np.isfinite(lr):
        modelcheck.fail(a.path, "optimizer/learning_rate.npy", "must be finite")
    return out


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


def _build(a, from_config):
    """The model of the file's config, under the budget of its weight arrays."""
    budget = modelcheck.WeightBudget(a.path, a.elements("weights/"))
    a.elements("optimizer/")   # every header checked before anything is built
    token = WEIGHT_BUDGET.set(budget)
    try:
        model = from_config(a.config["model"])
    except (ModelFileError, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - a layer's constructor or build refused the file
        raise ModelFileError(f"{a.path}: model: invalid model configuration "
                             f"({type(e).__name__}: {e})") from None
    finally:
        WEIGHT_BUDGET.reset(token)
    if not model.built:
        raise ModelFileError(f"{a.path}: model: the saved model has no input shape")
    for layer in getattr(model, "layers", []):
        shape = getattr(layer, "output_shape", None)
        if isinstance(shape, tuple) and all(s is None or isinstance(s, int) for s in shape):
            n = int(np.prod([s for s in shape[1:] if s is not None], dtype=object))
            if n > modelcheck.MAX_SAMPLE:
                modelcheck.fail(a.path, "model", f"layer {layer.name!r} outputs {n} elements "
                                                 f"per sample (at most {modelcheck.MAX_SAMPLE})")
    return model


def read_model(path, from_config, compile=True):
    """Rebuild a model from a model file: architecture (from_config(spec) makes the
    model; nbnet.models.load_model gives the one for Sequential and functional models),
    weights, compile settings and optimizer state. Never runs code from the file."""
    with Archive(path) as a:
        path, config = a.path, a.config
        if config.get("weights_only"):
            raise ModelFileError(f"{path}: holds weights only (model.save_weights); build the "
                                 f"model and call model.load_weights")
        model = _build(a, from_config)
        pairs = _check_weights(a, model)
        modelcheck.check_extra(config.get("extra") or {}, model, path)
        targets, scalars = [], None
        if compile and config.get("compile"):
            c = config["compile"]
            modelcheck.check_metrics(c, path)
            try:
                model.compile(optimizer=c["optimizer"], loss=c["loss"], metrics=c.get("metrics"),
                              loss_weights=c.get("loss_weights"),
                              weighted_metrics=c.get("weighted_metrics"))
            except (ModelFileError, MemoryError):
                raise
            except Exception as e:  # noqa: BLE001 - whatever compile refused
                raise ModelFileError(f"{path}: compile: invalid compile configuration "
                                     f"({type(e).__name__}: {e})") from None
            targets = _optimizer_targets(a, model)
            scalars = _read_scalars(a) if targets else None
        for w, k in pairs:
            a.read_into(k, w.value)
        for k, arr in targets:
            a.read_into(k, arr, f"{type(model.optimizer).__name__}")
    if scalars is not None:
        opt = model.optimizer
        opt.set_state({**{n: opt._state[n] for n in opt._all_state_names()}, **scalars})
    model.extra = config.get("extra") or {}
    model._set_training_state(config.get("training") or {})
    return model


def _read_all(a, model, optimizer=False):
    """Every weight (and optimizer) array the model needs, checked, read into new arrays
    first (so a file that fails halfway changes nothing in the model)."""
    pairs = _check_weights(a, model)
    opt = _optimizer_targets(a, model) if optimizer else []
    scalars = _read_scalars(a) if opt else None
    state = {}
    for k, arr in opt:
        shape, dtype = a.header(k)
        if shape != arr.shape or dtype != arr.dtype:
            modelcheck.fail(a.path, k + ".npy", f"holds {dtype}{list(shape)}; the optimizer "
                                                f"needs {arr.dtype}{list(arr.shape)}")
        state[k[len("optimizer/"):]] = a.read(k)
    new = [a.read(k) for _, k in pairs]
    for (w, _), v in zip(pairs, new):
        w.value[...] = v
    if scalars is not None:
        model.optimizer.set_state({**state, **scalars})


def restore_training_state(model, path):
    """Load weights, optimizer state and training counters from a model file into an
    existing compiled model (BackupAndRestore, --resume)."""
    with Archive(path) as a:
        _read_all(a, model, optimizer=True)
        config = a.config
    model._set_training_state(config.get("training") or {})


def save_weights(model, path):
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "nbnet_version": __version__,
              "weights_only": True, "weight_names": [w.path for w in model.weights]}
    write_archive(path, config, _weight_arrays(model))


def load_weights(model, path):
    with Archive(path) as a:
        _read_all(a, model)
