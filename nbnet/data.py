"""Loading data: CSV files, folders of class subfolders of images, and the Dataset they give.

Every problem with the data raises `nbnet.DataError` with one message that names the
file (and the line, 1-based with the header on line 1, and the column) or the folder.
Bad *arguments* (an unknown `task`, a `subset` without `validation_split`) raise a plain
ValueError, as Keras does.
"""
import os
import re
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .config import floatx, standardize_dtype
from .csvread import NUMBER, TEXT, is_missing, parse_cells, read_table
from .errors import DataError
from .tabular import TableEncoder, dtype_limit

# Task inference: integer labels with at most this many distinct values are classes.
MAX_INFERRED_CLASSES = 20
# Read by load_images (the first frame of an animated GIF / multi-page TIFF); files with
# other extensions are counted in a note. Pillow decodes them all.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_PARALLEL_MIN_FILES = 64     # decode in threads from this many files on
_PROGRESS_MIN_FILES = 1000   # show a progress bar (on a TTY) from this many files on


class Dataset:
    """Arrays loaded from a file or folder: x (N, ...) float, y (N,) int64 class indices
    (classification) or float (regression) or None, and where they apply class_names,
    feature_names, task ("classification" | "regression"), source (the path).
    `x, y = ds` works. Also kept: target (the target column's name), fill_values (the
    column means used by missing="mean"), lines (the 1-based line of each CSV row),
    file_paths (the image of each sample), encoder (the fitted nbnet.tabular.TableEncoder
    of a CSV) and notes (what loading filled, merged or left out)."""

    def __init__(self, x, y=None, class_names=None, feature_names=None, task=None,
                 source=None, *, target=None, fill_values=None, lines=None, file_paths=None,
                 encoder=None):
        self.x, self.y = x, y
        self.class_names = None if class_names is None else list(class_names)
        self.feature_names = None if feature_names is None else list(feature_names)
        self.task, self.source, self.target = task, source, target
        self.fill_values, self.lines, self.file_paths = fill_values, lines, file_paths
        self.encoder, self.notes = encoder, []

    def __len__(self):
        return len(self.x)

    def __iter__(self):
        yield self.x
        yield self.y

    def subset(self, index):
        """The samples at `index` (int array or bool mask), keeping all the metadata."""
        take = lambda a: None if a is None else np.asarray(a)[index]  # noqa: E731
        paths = None if self.file_paths is None else list(take(self.file_paths))
        return Dataset(self.x[index], take(self.y), self.class_names, self.feature_names,
                       self.task, self.source, target=self.target,
                       fill_values=self.fill_values, lines=take(self.lines), file_paths=paths,
                       encoder=self.encoder)

    def __repr__(self):
        y = None if self.y is None else self.y.shape
        return f"Dataset(x={self.x.shape}, y={y}, task={self.task!r}, source={self.source!r})"


def _missing_target(table, t, rows=None):
    """Row indices whose target cell is empty / NA (all rows, or those in `rows`)."""
    codes, distinct = table.factorized(t)
    gap = np.array([is_missing(c) for c in distinct], dtype=bool)[codes]
    idx = np.arange(len(table)) if rows is None else np.asarray(rows)
    return idx[gap[idx]].tolist()


def check_target_present(table, t):
    bad = _missing_target(table, t)
    if bad:
        raise DataError(f"{table.path}: line {table.lines[bad[0]]}: missing target value in "
                        f"column {table.header[t]!r}")


def resolve_target(path, header, target):
    """Column name, int index (negative allowed) or a digit string -> column index."""
    if target is None:
        return len(header) - 1
    if isinstance(target, str) and target in header:
        return header.index(target)
    if isinstance(target, str) and re.fullmatch(r"\s*[+-]?\d+\s*", target):
        target = int(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if -len(header) <= target < len(header):
            return int(target) % len(header)
        raise DataError(f"{path}: target column index {target} is out of range for "
                        f"{len(header)} columns")
    shown = ", ".join(header[:30]) + (", ..." if len(header) > 30 else "")
    raise DataError(f"{path}: target column {target!r} not found; columns: {shown}")


def _labels(path, cells, lines, name, task, dtype=None):
    """Target cells -> (y, class_names, task), inferring the task when None (the rule is
    in load_csv's docstring). A regression target must fit `dtype` (None: floatx())."""
    values, kind = parse_cells(cells)
    numeric = not (kind == TEXT).any()
    if numeric and (kind != NUMBER).any():
        i = int(np.argmax(kind != NUMBER))
        raise DataError(f"{path}: line {lines[i]}: target {cells[i].strip()!r} in column "
                        f"{name!r} is not a finite number")
    integral = numeric and bool(np.all(values == np.round(values)))
    if task is None:
        n_distinct = len(np.unique(values)) if integral else 0
        small = n_distinct <= 2 or (n_distinct <= MAX_INFERRED_CLASSES
                                    and n_distinct <= len(cells) / 2)
        task = "classification" if not numeric or (integral and small) else "regression"
    if task == "regression":
        if not numeric:
            i = int(np.argmax(kind == TEXT))
            raise DataError(f"{path}: line {lines[i]}: target {cells[i].strip()!r} in column "
                            f"{name!r} is not a number (regression needs numeric targets)")
        _check_target_range(path, cells, lines, name, values, dtype)
        return values, None, task
    if numeric and not integral:
        i = int(np.argmax(values != np.round(values)))
        raise DataError(f"{path}: line {lines[i]}: label {cells[i].strip()!r} in column {name!r} "
                        f"is not an integer; a classification target needs classes")
    if numeric:   # integer classes, sorted by value, named as first written in the file
        uniq, first, y = np.unique(values, return_index=True, return_inverse=True)
        names = [cells[i].strip() for i in first]
    else:         # string classes, sorted as strings
        stripped = [c.strip() for c in cells]
        names = sorted(set(stripped))
        index = {n: k for k, n in enumerate(names)}
        y = np.array([index[c] for c in stripped])
    if len(names) < 2:
        raise DataError(f"{path}: target column {name!r} has a single class {names[0]!r}; "
                        f"classification needs at least 2")
    return y.astype(np.int64), names, task


def _check_target_range(path, cells, lines, name, values, dtype):
    """A regression target beyond the range of the training dtype (1e308 in float32)."""
    limit, dt_name = dtype_limit(dtype)
    big = np.abs(values) > limit
    if big.any():
        i = int(np.argmax(big))
        raise DataError(f"{path}: line {lines[i]}, column {name!r}: target {cells[i].strip()!r} "
                        f"is too large for {dt_name}, the training data type (largest "
                        f"{limit:.3g})")


def dropped_note(path, lines):
    """The note for rows left out by missing="drop", naming their first lines."""
    shown = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
    return f"{path}: dropped {len(lines)} row(s) with a missing value (line {shown})"


def table_labels(table, t, task=None, rows=None, dtype=None):
    """The target column of `table` (rows: default all) -> (y, class_names, task)."""
    cells = table.columns[t]
    if rows is not None:
        cells = [cells[i] for i in rows]
    lines = table.lines if rows is None else table.lines[rows]
    return _labels(table.path, cells, lines, table.header[t], task, dtype)


# ------------------------------------------------------------------------- load_csv
def load_csv(path, target=None, task=None, missing="error", dtype=None, *, categorical=None,
             numeric=None, ignore=None, max_categories=None, standardize=False,
             drop_constant=False):
    """Read a CSV file with a header line into a Dataset, encoding its columns by role.

    target: column name, integer index (negative allowed) or a digit string that is not
    a column name; default the last column. task: "classification", "regression" or
    None to infer it: labels that are not all numbers are classes; integer-valued labels
    are classes when they take at most 2 distinct values, or at most 20
    (MAX_INFERRED_CLASSES) and no more than half the number of rows; anything else is
    regression. Class names are the sorted labels (integers sorted by value and named as
    written in the file); y holds indices into them.
    Feature columns get roles as in nbnet.tabular (numeric; categorical: one-hot with an
    "(other)" level beyond max_categories; identifier and constant columns left out);
    categorical / numeric / ignore force roles by column name. x holds the numbers as
    written (standardize=True scales them, as `nbnet train` does; drop_constant=True
    leaves out constant columns, as `nbnet train` does). `ds.encoder` is the fitted
    nbnet.tabular.TableEncoder: `prepare_csv_for_model(other_csv, ds.encoder)` reads
    more rows the same way; `ds.notes` says what was filled or left out.
    missing: "error" (default), "auto" (numbers: the column median plus an indicator
    column; categories: a "(missing)" level), "drop" (drop rows with a missing or NaN
    feature) or "mean" (fill with the column mean, returned in `ds.fill_values`). Empty
    cells and NA tokens (NA, N/A, null, None, ?, ...) are missing; "nan" is an error unless
    missing opts in; "inf" is always an error, as is a missing target value.
    dtype: of x (and of a regression y), default nbnet.config.floatx()."""
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task must be None, 'classification' or 'regression', got {task!r}")
    from .tabular import MAX_CATEGORIES, MISSING_MODES
    if missing not in MISSING_MODES:
        raise ValueError(f"missing must be one of {', '.join(MISSING_MODES)}, got {missing!r}")
    dt = standardize_dtype(dtype)
    path = os.fspath(path)
    table = read_table(path)
    t = resolve_target(path, table.header, target)
    if len(table.header) < 2:
        raise DataError(f"{path}: no feature columns besides the target {table.header[t]!r} "
                        f"(is the file comma-separated?)")
    check_target_present(table, t)
    enc = TableEncoder(missing, max_categories or MAX_CATEGORIES, standardize, drop_constant,
                       categorical, numeric, ignore)
    enc.dtype = dt
    enc.fit(table, t)
    x, keep, notes = enc.transform(table)
    lines = table.lines
    if keep is not None and not keep.all():
        notes.append(dropped_note(path, lines[~keep]))
        x, lines = x[keep], lines[keep]
    if len(x) < 2:
        after = " left after dropping rows with missing values" if missing == "drop" else ""
        raise DataError(f"{path}: {len(x)} data row(s){after}; at least 2 are needed")
    rows = None if keep is None or keep.all() else np.flatnonzero(keep)
    y, class_names, task = table_labels(table, t, task, rows, dt)
    if task == "regression":
        y = y.astype(dt)
    enc.task, enc.class_names = task, class_names
    fill = None
    if missing == "mean":
        fill = np.array([c["fill"] for c in enc.columns if c["role"] == "numeric"])
    ds = Dataset(x.astype(dt), y, class_names, enc.feature_names, task, path,
                 target=table.header[t], fill_values=fill, lines=lines, encoder=enc)
    ds.notes = enc.notes + notes
    return ds


# --------------------------------------------------------------------- Preprocessor
class Preprocessor:
    """Standardisation fitted on training data: transform(x) = (x - mean) / std per feature
    (std 0 -> 1), NaN replaced first by the training column means when fitted with
    missing="mean". Keeps feature_names, class_names, task and target name so that a CSV
    can later be read for evaluate / predict (see prepare_csv_for_model). Model files
    written by nbnet 0.1's `nbnet train` hold one; newer ones hold a TableEncoder."""

    def __init__(self):
        self.mean = self.std = self.fill_values = None
        self.missing = "error"
        self.feature_names = self.class_names = self.task = self.target = None

    def fit(self, dataset, missing="error"):
        if missing not in ("error", "drop", "mean"):
            raise ValueError(f"missing must be 'error', 'drop' or 'mean', got {missing!r}")
        x = np.asarray(dataset.x, dtype=np.float64).reshape(len(dataset.x), -1)
        source = getattr(dataset, "source", None) or "data"
        if np.isinf(x).any() or (missing == "error" and np.isnan(x).any()):
            raise DataError(f"{source}: features contain NaN or infinite values")
        if (np.isnan(x).all(axis=0)).any():
            raise DataError(f"{source}: a feature column has no values")
        self.mean = np.nanmean(x, axis=0)
        std = np.nanstd(x, axis=0)
        self.std = np.where(std > 0, std, 1.0)
        self.fill_values = self.mean.copy() if missing == "mean" else None
        self.missing = missing
        self.feature_names = getattr(dataset, "feature_names", None)
        self.class_names = getattr(dataset, "class_names", None)
        self.task = getattr(dataset, "task", None)
        self.target = getattr(dataset, "target", None)
        return self

    def transform(self, x):
        """x (N, F) -> standardised (N, F) of x's float dtype (floatx() for other dtypes)."""
        if self.mean is None:
            raise ValueError("Preprocessor.transform called before fit")
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise DataError(f"expected data of shape (N, {len(self.mean)}), got {x.shape}")
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(floatx())
        z = x.astype(np.float64)
        if self.fill_values is not None:
            z = np.where(np.isnan(z), self.fill_values, z)
        return ((z - self.mean) / self.std).astype(dt)

    def get_config(self):
        if self.mean is None:
            raise ValueError("Preprocessor.get_config called before fit")
        floats = lambda v: None if v is None else [float(f) for f in v]  # noqa: E731
        names = lambda v: None if v is None else [str(s) for s in v]  # noqa: E731
        return {"mean": floats(self.mean), "std": floats(self.std),
                "fill_values": floats(self.fill_values), "missing": self.missing,
                "feature_names": names(self.feature_names), "class_names": names(self.class_names),
                "task": self.task, "target": self.target}

    @classmethod
    def from_config(cls, config):
        p = cls()
        p.mean = np.array(config["mean"], dtype=np.float64)
        p.std = np.array(config["std"], dtype=np.float64)
        fill = config.get("fill_values")
        p.fill_values = None if fill is None else np.array(fill, dtype=np.float64)
        p.missing = config.get("missing", "error")
        for k in ("feature_names", "class_names", "task", "target"):
            setattr(p, k, config.get(k))
        return p


def prepare_csv_for_model(path, preprocessor, dtype=None):
    """Read a CSV for evaluate / predict, as the training data was read.

    With a TableEncoder (`ds.encoder` of load_csv, or what `nbnet train` stores): columns
    matched by name in any order, extra columns ignored (said in `ds.notes`), a missing
    one an error; x is encoded exactly as in training. With a legacy Preprocessor: the
    columns must be the training features (any order), x is raw (untransformed).
    The target column may be there or not (y is None when absent); labels are mapped
    through the training class_names."""
    path = os.fspath(path)
    table = read_table(path)
    pre = preprocessor
    if isinstance(pre, TableEncoder):
        x, keep, notes = pre.transform(table)
        rows = None if keep is None or keep.all() else np.flatnonzero(keep)
        if rows is not None:
            x = x[rows]
        feats, fill = pre.feature_names, None
    else:
        if pre.feature_names is None:
            raise ValueError("the preprocessor has no feature names (not fitted on a CSV file)")
        x, rows, feats, notes = _legacy_features(table, pre)
        fill = pre.fill_values
    target = pre.target
    lines = table.lines if rows is None else table.lines[rows]
    y = None
    if target is not None and target in table.header:
        t = table.index(target)
        bad = _missing_target(table, t, rows)
        if bad:
            raise DataError(f"{path}: line {table.lines[bad[0]]}: missing target value in "
                            f"column {target!r}")
        cells = table.columns[t] if rows is None else [table.columns[t][i] for i in rows]
        y = _map_labels(path, cells, lines, target, pre.task, pre.class_names, dtype)
    dt = standardize_dtype(dtype)
    if y is not None and y.dtype.kind == "f":
        y = y.astype(dt)
    ds = Dataset(x.astype(dt), y, pre.class_names, feats, pre.task, path,
                 target=target, fill_values=fill, lines=lines,
                 encoder=pre if isinstance(pre, TableEncoder) else None)
    ds.notes = notes
    return ds


def _legacy_features(table, pre):
    """The raw numeric features for a legacy Preprocessor -> (x, kept rows or None,
    feature names, notes)."""
    feats, target, header = list(pre.feature_names), pre.target, table.header
    absent = [c for c in feats if c not in header]
    extra = [c for c in header if c not in feats and c != target]
    if absent or extra:
        parts = ([f"missing columns {absent}"] if absent else []) + \
                ([f"unexpected columns {extra}"] if extra else [])
        raise DataError(f"{table.path}: line {table.header_line}: the columns do not match "
                        f"the model's training data: {'; '.join(parts)}")
    missing = "mean" if pre.missing == "mean" else pre.missing
    enc = TableEncoder(missing, standardize=False, drop_constant=False,
                       numeric=feats)
    enc.columns = [{"name": f, "role": "numeric", "missing": 0, "fill": fv, "indicator": False,
                    "mean": 0.0, "std": 1.0, "thousands": False}
                   for f, fv in zip(feats, pre.fill_values if pre.fill_values is not None
                                    else [0.0] * len(feats))]
    enc.target = target
    x, keep, _ = enc.transform(table)
    rows = None if keep is None or keep.all() else np.flatnonzero(keep)
    return (x if rows is None else x[rows]), rows, feats, []


def _map_labels(path, cells, lines, name, task, class_names, dtype=None):
    if task != "classification":
        values, kind = parse_cells(cells)
        if (kind != NUMBER).any():
            i = int(np.argmax(kind != NUMBER))
            raise DataError(f"{path}: line {lines[i]}: target {cells[i].strip()!r} in column "
                            f"{name!r} is not a finite number")
        _check_target_range(path, cells, lines, name, values, dtype)
        return values
    index = {n: k for k, n in enumerate(class_names)}
    by_value = {}   # integer classes also match by value ("1.0" is class "1")
    for n, k in index.items():
        try:
            by_value[float(n)] = k
        except ValueError:
            pass
    y = np.empty(len(cells), np.int64)
    for i, c in enumerate(cells):
        s = c.strip()
        k = index.get(s)
        if k is None:
            try:
                k = by_value.get(float(s))
            except ValueError:
                pass
        if k is None:
            raise DataError(f"{path}: line {lines[i]}: unknown label {s!r} in column {name!r}; "
                            f"the model's classes are {class_names}")
        y[i] = k
    return y


# ---------------------------------------------------------------------- load_images
def _index_images(directory):
    """-> (paths, labels, class_names, notes): sorted class subfolders (hidden ones
    skipped), in each the image files of any depth in sorted order, as Keras'
    index_directory (symlinked folders not followed). Only regular files are read:
    FIFOs, devices, sockets and dangling or looping symlinks are skipped with a note
    (checked with os.stat, never opened), as are files of other extensions (counted)."""
    if not os.path.exists(directory):
        raise DataError(f"{directory}: no such folder")
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: not a folder (expected one subfolder of images per class)")
    try:
        entries = sorted(os.listdir(directory))
    except OSError as e:
        raise DataError(f"{directory}: cannot list the folder ({e.strerror or e})") from None
    classes = [d for d in entries if not d.startswith(".")
               and os.path.isdir(os.path.join(directory, d))]
    if not classes:
        raise DataError(f"{directory}: no class subfolders (expected one subfolder of images "
                        f"per class)")
    paths, labels, special, others = [], [], [], {}
    for k, name in enumerate(classes):
        folder = os.path.join(directory, name)
        found = []
        for path in _files_under(folder):
            ext = os.path.splitext(path)[1].lower()
            if ext not in IMAGE_EXTENSIONS:
                others[ext or "(none)"] = others.get(ext or "(none)", 0) + 1
                continue
            why = _not_regular(path)
            if why:
                special.append(f"{path} ({why})")
            else:
                found.append(path)
        if not found:
            raise DataError(f"{folder}: class folder {name!r} has no images "
                            f"({', '.join(IMAGE_EXTENSIONS)})")
        paths += found
        labels += [k] * len(found)
    notes = []
    if special:
        notes.append(f"{directory}: skipped {len(special)} file(s) that are not regular files: "
                     + ", ".join(special[:10]) + (", ..." if len(special) > 10 else ""))
    if others:
        counts = sorted(others.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{ext}: {n}" for ext, n in counts[:5]) + (", ..." if len(counts) > 5 else "")
        notes.append(f"{directory}: ignored {sum(others.values())} file(s) that are not images by "
                     f"their extension ({shown}); read: {', '.join(IMAGE_EXTENSIONS)}")
    return paths, np.array(labels, dtype=np.int64), classes, notes


def _files_under(folder):
    """Every non-folder entry under folder, any depth (iterative: no recursion limit),
    directory by directory in sorted path order, names sorted; symlinks to folders are
    entries, not followed."""
    found, stack = [], [folder]
    while stack:
        root = stack.pop()
        try:
            with os.scandir(root) as it:
                entries = list(it)
        except OSError as e:
            raise DataError(f"{root}: cannot list the folder ({e.strerror or e})") from None
        files = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            (stack.append(entry.path) if is_dir else files.append(entry.name))
        found.append((root, sorted(files)))
    found.sort(key=lambda w: w[0])
    return [os.path.join(root, f) for root, files in found for f in files]


def _not_regular(path):
    """None for a regular file (or a symlink to one), else what it is."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a dangling symlink"
    except OSError as e:
        return f"unreadable: {e.strerror or e}"
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def _open_regular(path):
    """Open a file for reading without ever blocking: O_NONBLOCK (a FIFO put in place after
    indexing opens at once), then fstat must say "regular file"."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"{path}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _decode_image(path, mode, size):
    """One file -> uint8 (h, w) or (h, w, 3); decoding errors become DataError. Images
    of more than PIL.Image.MAX_IMAGE_PIXELS pixels (Pillow's decompression-bomb limit,
    settable; None: no limit) are refused from their header, before decoding."""
    from PIL import Image
    h, w = size
    try:
        f = _open_regular(path)
    except DataError:
        raise
    except OSError as e:
        raise DataError(f"{path}: cannot read the image ({e.strerror or e})") from None
    try:
        with f, Image.open(f) as img:
            limit = Image.MAX_IMAGE_PIXELS
            if limit and img.size[0] * img.size[1] > limit:
                raise DataError(f"{path}: image of {img.size[0]}x{img.size[1]} = "
                                f"{img.size[0] * img.size[1]:,} pixels is over the limit of "
                                f"{int(limit):,} (PIL.Image.MAX_IMAGE_PIXELS), refused before "
                                f"decoding as a possible decompression bomb")
            img.load()   # inside the try: a truncated file fails here
            img = img.convert(mode)
            if img.size != (w, h):
                img = img.resize((w, h), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: image too large to decode safely ({e})") from None
    except Exception as e:  # noqa: BLE001  Pillow raises many types for bad files
        raise DataError(f"{path}: cannot decode the image ({type(e).__name__}: {e})") from None


def _decode_all(paths, mode, size, channels, dtype, scale=True):
    """Files -> x (N, h, w, channels) = pixels / 255 (scale False: the pixel values
    0-255), in the order of `paths`."""
    from tqdm.auto import tqdm
    n, (h, w) = len(paths), size
    buf = np.empty((n, h, w, channels), np.uint8)
    with tqdm(total=n, desc="Loading images", unit="img",
              disable=None if n > _PROGRESS_MIN_FILES else True) as bar:
        if n < _PARALLEL_MIN_FILES:
            decoded = (_decode_image(p, mode, size) for p in paths)
            pool = None
        else:   # Pillow releases the GIL while decoding; map keeps the input order
            pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
            decoded = pool.map(_decode_image, paths, [mode] * n, [size] * n)
        try:
            for i, arr in enumerate(decoded):
                buf[i] = arr.reshape(h, w, channels)
                bar.update(1)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    if not scale:
        return buf.astype(dtype)
    return np.divide(buf, dtype.type(255), dtype=dtype)


def load_images(directory, image_size=(256, 256), color_mode="rgb", validation_split=None,
                subset=None, seed=None, dtype=None, scale=True):
    """Folder of class subfolders of images -> Dataset (a (training, validation) pair for
    subset="both"), as Keras' image_dataset_from_directory.

    Classes are the sorted subfolder names; y holds class indices (int64). Files with
    the extensions in IMAGE_EXTENSIONS (.png .jpg .jpeg .bmp .gif .tif .tiff .webp; the
    first frame of animations) are read; others are counted in `ds.notes`, and so are
    files that are not regular files (FIFOs, devices, sockets, dangling symlinks: skipped,
    never opened). An image of more than PIL.Image.MAX_IMAGE_PIXELS pixels is refused
    from its header (a DataError naming it) before it is decoded. Each image is converted to
    grey ("grayscale") or "rgb", resized bilinearly to image_size (h, w) when it differs,
    and scaled to [0, 1]: x (N, h, w, 1 or 3). Without validation_split the samples are
    in file order (class by class, sorted). With it, as Keras: the files are shuffled by
    np.random.RandomState(seed) and the last int(validation_split * N) are the
    validation subset, so a seed must be given and both subsets share it. scale=False
    keeps the pixel values 0-255 (what Keras' image_dataset_from_directory yields)."""
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and s > 0 for s in image_size)):
        raise ValueError(f"image_size must be (height, width) of positive ints, got {image_size!r}")
    if color_mode not in ("grayscale", "rgb"):
        raise ValueError(f"color_mode must be 'grayscale' or 'rgb', got {color_mode!r}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1, got {validation_split}")
    if bool(validation_split) != (subset is not None):
        raise ValueError("if subset is set, validation_split must be set, and inversely")
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f"subset must be 'training', 'validation' or 'both', got {subset!r}")
    if validation_split and seed is None:
        raise ValueError("validation_split needs a seed, so that the training and validation "
                         "subsets do not overlap")
    directory, size = os.fspath(directory), (int(image_size[0]), int(image_size[1]))
    dt = standardize_dtype(dtype)
    paths, labels, classes, notes = _index_images(directory)
    mode, channels = ("L", 1) if color_mode == "grayscale" else ("RGB", 3)

    def make(idx):
        files = [paths[i] for i in idx]
        with warnings.catch_warnings():   # over the limit is refused: no warning first
            from PIL import Image
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            x = _decode_all(files, mode, size, channels, dt, scale)
        ds = Dataset(x, labels[idx], classes, None, "classification", directory,
                     file_paths=files)
        ds.notes = list(notes)
        return ds

    if not validation_split:
        return make(np.arange(len(paths)))
    order = np.arange(len(paths))
    np.random.RandomState(seed).shuffle(order)
    n_val = int(validation_split * len(paths))
    if n_val == 0:
        raise DataError(f"{directory}: validation_split={validation_split} of {len(paths)} "
                        f"images leaves no validation images")
    train, val = order[:len(paths) - n_val], order[len(paths) - n_val:]
    if subset == "both":
        return make(train), make(val)
    return make(train if subset == "training" else val)
