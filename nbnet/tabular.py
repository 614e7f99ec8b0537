"""From a table of cells to model features: column roles, encoding, missing values.

`TableEncoder` does what scikit-learn's ColumnTransformer does in the usual tabular
pipeline, fitted on the training rows and kept as plain JSON data (get_config), so that a
saved model reads raw CSV files again:

- roles, inferred (overridable): numeric; categorical (text, booleans, and integer codes:
  3-10 distinct non-contiguous integers, each seen 5+ times on average); identifier (text
  unique or nearly unique per row; integers one per row that increase down the file or
  sit in a column named like an id: left out); constant (one value or none: left out);
- numeric columns: missing cells filled with the training median plus a 0/1 "was missing"
  indicator column where training had gaps (missing="auto"), or the mean (missing="mean"),
  then standardised (x - mean) / std (std 0 -> 1) when standardize=True;
- values beyond the range of the training dtype (1e308 in float32) are an error naming
  the file, line and column (max_abs, default that of nbnet.config.floatx()); means,
  standard deviations and medians of huge float64 values are computed without overflow;
- categorical columns: one-hot over the levels, at most max_categories columns: the rarest
  levels beyond it share one "(other)" column; a "(missing)" level where training had
  gaps; a level never seen in training goes to "(other)" (all zeros when training had no
  "(other)"), counted in a note.
Columns are matched by name when transforming (any order); extra columns are ignored with
a note; a missing column is a DataError naming it.
"""
import re

import numpy as np

from .config import standardize_dtype
from .csvread import INF, MISSING, NAN, NUMBER, TEXT
from .errors import DataError

MAX_CATEGORIES = 20
OTHER, MISSING_LEVEL = "(other)", "(missing)"
MISSING_MODES = ("auto", "error", "drop", "mean")
_BOOLEANS = {"true", "false", "yes", "no", "t", "f", "y", "n"}
# A column name that says "identifier": id, ID, user_id, PassengerId, "customer id".
_ID_NAME = re.compile(r"(^|[_\s-])(id|ID|Id)$|[a-z]Id$|^(id|ID)[_\s-]")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_HINT = "; pass --missing auto (the CLI's default) or missing='auto' to fill it"


def _canon_number(v):
    """A number as one level name: 3.0 -> '3', 2.5 -> '2.5'."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))


class TableEncoder:
    """Fit on a Table's training rows, then transform any Table with the same columns.

    missing: "auto" | "error" | "drop" | "mean" (see the module docstring); "drop" makes
    transform return a mask of the rows kept. categorical / numeric / ignore: column
    names whose role is forced. standardize: scale numeric columns. drop_constant: leave
    constant columns out (when their role was inferred). After fit: columns (one dict of
    fitted data per input column), feature_names (one per output column), notes."""

    def __init__(self, missing="auto", max_categories=MAX_CATEGORIES, standardize=True,
                 drop_constant=True, categorical=(), numeric=(), ignore=()):
        if missing not in MISSING_MODES:
            raise ValueError(f"missing must be one of {', '.join(MISSING_MODES)}, got {missing!r}")
        if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 2:
            raise ValueError(f"max_categories must be an integer >= 2, got {max_categories!r}")
        self.missing, self.max_categories = missing, max_categories
        self.standardize, self.drop_constant = bool(standardize), bool(drop_constant)
        self.forced = {}
        for role, names in (("categorical", categorical), ("numeric", numeric), ("ignored", ignore)):
            for name in names or ():
                if name in self.forced and self.forced[name] != role:
                    raise ValueError(f"column {name!r} is given two roles: {self.forced[name]} "
                                     f"and {role}")
                self.forced[name] = role
        self.columns, self.notes = None, []
        self.target = self.task = self.class_names = None
        self.dtype = None   # the dtype x is cast to afterwards (None: floatx()); not saved

    # ------------------------------------------------------------------ fit
    def fit(self, table, target=None, rows=None):
        """Infer roles and fit the encodings on `rows` (default all) of `table`, leaving
        out the column index `target`."""
        rows = np.arange(len(table)) if rows is None else np.asarray(rows)
        unknown = [n for n in self.forced if n not in table.header]
        if unknown:
            raise DataError(f"{table.path}: no column {unknown[0]!r} (named in a role override); "
                            f"columns: {', '.join(table.header[:30])}")
        if target is not None and table.header[target] in self.forced:
            raise DataError(f"{table.path}: column {table.header[target]!r} is the target; it "
                            f"cannot also be given a feature role")
        errors, self.columns = [], []
        for j, name in enumerate(table.header):
            if j == target:
                continue
            spec = self._fit_column(table, j, rows, errors)
            self.columns.append(spec)
        _raise_first(errors)
        self.target = None if target is None else table.header[target]
        if self.missing == "drop":   # fit again on the rows that are kept
            keep = self.transform(table, rows)[1]
            if not keep.all():
                return self.fit(table, target, rows[keep])
        self.notes = [n for c in self.columns for n in _fit_notes(c)]
        return self

    def _fit_column(self, table, j, rows, errors):
        name = table.header[j]
        values, kind = (a[rows] for a in table.numbers(j))
        forced = self.forced.get(name)
        n_missing = int(np.count_nonzero((kind == MISSING) | (kind == NAN)))
        spec = {"name": name, "missing": n_missing}
        if forced == "ignored":
            return dict(spec, role="ignored", why="--ignore", distinct=None)
        text = kind == TEXT
        if not text.any() and (kind == INF).any():   # never a level, never filled
            errors.append(_cell_error(table, rows[int(np.argmax(kind == INF))], j, self.missing))
            return dict(spec, role="numeric")
        thousands = False
        if text.any() and forced == "numeric":
            values, kind, thousands = _thousands(table.strings(j), rows, values, kind)
            text = kind == TEXT
        if forced is None and text.any():
            stray = _stray_text(table, j, rows, kind)
            if stray:
                errors.append(stray)
                return dict(spec, role="numeric")
        if forced == "categorical" or (forced is None and text.any()):
            return self._fit_categorical(table, j, rows, spec, forced, errors)
        if text.any():   # forced numeric, and still text
            i = rows[int(np.argmax(text))]
            errors.append((i, j, f"{table.where(i, j)}: non-numeric value "
                                 f"{table.columns[j][i].strip()!r} in a column given as --numeric"))
            return dict(spec, role="numeric")
        present = values[kind == NUMBER]
        uniq = np.unique(present)
        spec["distinct"] = int(len(uniq))
        if forced is None:
            role, why = _numeric_role(name, uniq, present, n_missing, len(rows),
                                      self.drop_constant)
            if role == "categorical":
                return self._fit_categorical(table, j, rows, spec, None, errors, why)
            if role != "numeric":
                return dict(spec, role=role, why=why)
        self._check_cells(table, j, rows, kind, errors)
        if _check_range(table, j, rows, values, kind, self.dtype, errors):
            return dict(spec, role="numeric")
        if not len(present):
            errors.append((rows[0], j, f"{table.path}: column {name!r} has no values "
                                       f"(every cell is missing)"))
            return dict(spec, role="numeric")
        # The fill value is kept even without gaps in training: gaps met later use it.
        fill = _mean_std(present)[0] if self.missing == "mean" else _median(present)
        filled = np.where(kind == NUMBER, values, fill)
        mean, std = 0.0, 1.0
        if self.standardize:
            mean, std = _mean_std(filled)
            std = std if std > 0 else 1.0
        return dict(spec, role="numeric", why=forced and "--numeric" or "numbers",
                    fill=fill, indicator=bool(n_missing and self.missing == "auto"),
                    mean=mean, std=std, thousands=thousands)

    def _fit_categorical(self, table, j, rows, spec, forced, errors, why=None):
        kind = table.numbers(j)[1][rows]
        numeric_codes = not (kind == TEXT).any()
        codes, names = _row_levels(table, j, rows, numeric_codes)
        counts = np.bincount(codes[codes >= 0], minlength=len(names))
        d, n_present = len(names), int(np.count_nonzero(codes >= 0))
        spec["distinct"] = int(d)
        if why is None:
            why = ("--categorical" if forced else "true/false"
                   if d and all(n in _BOOLEANS for n in names) else "text")
        if forced is None and (d >= 0.9 * n_present and n_present >= 10
                               or d > self.max_categories and d >= 0.5 * n_present):
            return dict(spec, role="identifier", why="unique per row" if d == n_present
                        else f"{d} distinct values in {n_present} rows")
        if forced is None and self.drop_constant and d <= 1 and not spec["missing"]:
            return dict(spec, role="constant", why="one value" if d else "no values")
        if spec["missing"] and self.missing == "error":
            self._check_cells(table, j, rows, kind, errors)
        order = sorted(range(d), key=lambda k: (-counts[k], names[k]))   # most frequent first
        keep = order if d <= self.max_categories else order[:self.max_categories - 1]
        kept = sorted(names[k] for k in keep)
        merged = sorted(names[k] for k in order[len(keep):])
        return dict(spec, role="categorical", why=why, levels=kept, other=bool(merged),
                    merged=len(merged), merged_levels=merged if len(merged) <= 1000 else None,
                    missing_level=bool(spec["missing"] and self.missing != "drop"),
                    codes="number" if numeric_codes else "text")

    def _check_cells(self, table, j, rows, kind, errors):
        """Cells that are an error whatever the rule (inf), or under missing="error"."""
        bad = (kind == INF) | ((kind == MISSING) | (kind == NAN)) & (self.missing == "error")
        if bad.any():
            errors.append(_cell_error(table, rows[int(np.argmax(bad))], j, self.missing))

    # ------------------------------------------------------------------ transform
    @property
    def feature_names(self):
        names = []
        for c in self._used():
            if c["role"] == "numeric":
                names += [c["name"]] + ([c["name"] + " " + MISSING_LEVEL] if c["indicator"] else [])
            else:
                names += [f"{c['name']}={v}" for v in _outputs(c)]
        return names

    def _used(self):
        if self.columns is None:
            raise ValueError("TableEncoder used before fit")
        return [c for c in self.columns if c["role"] in ("numeric", "categorical")]

    def transform(self, table, rows=None):
        """Table -> (x float64 (n, F), keep bool (n,) or None, notes list of str). Columns
        are found by name; keep is the mask of rows without a missing value for
        missing="drop" (x still has every row)."""
        used = self._used()
        rows = np.arange(len(table)) if rows is None else np.asarray(rows)
        where = {name: j for j, name in enumerate(table.header)}
        absent = [c["name"] for c in used if c["name"] not in where]
        if absent:
            raise DataError(f"{table.path}: line {table.header_line}: column"
                            f"{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))} "
                            f"missing; the model was trained with "
                            f"{'them' if len(absent) > 1 else 'it'}")
        known = {c["name"] for c in self.columns} | {self.target}
        notes = []
        extra = [h for h in table.header if h not in known]
        if extra:
            notes.append(f"{table.path}: ignored column{'s' if len(extra) > 1 else ''} not in "
                         f"the training data: {', '.join(map(repr, extra))}")
        x = np.zeros((len(rows), len(self.feature_names)))
        keep = np.ones(len(rows), bool) if self.missing == "drop" else None
        errors, at = [], 0
        for c in used:
            j = where[c["name"]]
            width = (1 + c["indicator"]) if c["role"] == "numeric" else len(_outputs(c))
            fn = _numeric_out if c["role"] == "numeric" else _categorical_out
            fn(x[:, at:at + width], c, table, j, rows, self.missing, keep, errors, notes,
               self.dtype)
            at += width
        _raise_first(errors)
        return x, keep, notes

    # ------------------------------------------------------------------ reporting / config
    def describe(self):
        """One row per input column: (name, role, missing, distinct, encoding)."""
        return [(c["name"], c["role"], c["missing"], c.get("distinct"), _encoding(c, self))
                for c in self.columns]

    def get_config(self):
        return {"missing": self.missing, "max_categories": self.max_categories,
                "standardize": self.standardize, "drop_constant": self.drop_constant,
                "columns": self.columns, "target": self.target, "task": self.task,
                "class_names": self.class_names}

    @classmethod
    def from_config(cls, config):
        enc = cls(config["missing"], config["max_categories"], config["standardize"],
                  config["drop_constant"])
        enc.columns = [dict(c) for c in config["columns"]]
        enc.target, enc.task = config.get("target"), config.get("task")
        enc.class_names = config.get("class_names")
        return enc


# ---------------------------------------------------------------------- helpers
def _numeric_role(name, uniq, present, n_missing, n_rows, drop_constant):
    """(role, why) of an all-number column: uniq its distinct values, present its
    numbers in row order."""
    d, n_present = len(uniq), len(present)
    if d <= 1 and (not n_missing or not d) and drop_constant:
        return "constant", "one value" if d else "no values"
    integral = d and bool(np.all(uniq == np.round(uniq)))
    if integral and d == n_rows and n_rows >= 10:
        with np.errstate(over="ignore"):   # the sign of a difference survives overflow
            increasing = bool(np.all(np.diff(present) > 0))
        if increasing:
            return "identifier", "row number: increasing, one per row"
        if _ID_NAME.search(name):
            return "identifier", "an id: one per row"
    if integral and 3 <= d <= 10 and float(uniq[-1]) - float(uniq[0]) + 1 != d \
            and n_present >= 5 * d:   # Python floats: a huge range is inf, not a warning
        return "categorical", "integer codes"
    return "numeric", "numbers"


def dtype_limit(dtype=None):
    """(largest finite magnitude, dtype name) of the dtype data are cast to (None: floatx())."""
    dt = standardize_dtype(dtype)
    return float(np.finfo(dt).max), dt.name


def _check_range(table, j, rows, values, kind, dtype, errors):
    """Append an error for the first number of column j (at `rows`) that the training
    dtype cannot hold (it would become inf); True if there is one."""
    limit, name = dtype_limit(dtype)
    big = (kind == NUMBER) & (np.abs(values) > limit)
    if not big.any():
        return False
    i = rows[int(np.argmax(big))]
    errors.append((i, j, f"{table.where(i, j)}: value {table.columns[j][i].strip()!r} is too "
                         f"large for {name}, the training data type (largest {limit:.3g})"))
    return True


def _mean_std(v):
    """(mean, std) of float64 values, without overflow for values near the float64 limit
    (the plain formulas first: the usual case gives the usual bits)."""
    if not len(v):
        return 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(np.mean(v)), float(np.std(v))
    if np.isfinite(mean) and np.isfinite(std):
        return mean, std
    s = float(np.max(np.abs(v)))
    z = v / s
    return float(np.mean(z)) * s, float(np.std(z)) * s


def _median(v):
    """The median; the two middle values of an even count averaged as a/2 + b/2 when
    (a + b) / 2 overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        m = float(np.median(v))
    if np.isfinite(m):
        return m
    a, b = np.partition(v, [(len(v) - 1) // 2, len(v) // 2])[[(len(v) - 1) // 2, len(v) // 2]]
    return float(a / 2 + b / 2)


def _stray_text(table, j, rows, kind):
    """An error for a column of numbers holding text: numbers written with thousands
    separators, or a few text cells (at most 5 %) among numbers; else None."""
    text = np.flatnonzero(kind == TEXT)
    n_numbers = int(np.count_nonzero(kind == NUMBER))
    name, i = table.header[j], rows[text[0]]
    first = table.columns[j][i].strip()
    codes, distinct = table.factorized(j)
    if all(_THOUSANDS.fullmatch(c.replace(" ", "")) for c in distinct[np.unique(codes[rows[text]])]):
        return i, j, (f"{table.where(i, j)}: {first!r} looks like a number with thousands "
                      f"separators; pass --numeric {name} (numeric=[{name!r}]) to read the "
                      f"column as numbers, or --categorical {name}")
    if n_numbers and len(text) <= max(1, 0.05 * (n_numbers + len(text))):
        return i, j, (f"{table.where(i, j)}: non-numeric value {first!r} in a column of "
                      f"numbers; fix the cell, or pass --categorical {name} to treat the "
                      f"column as categories")
    return None


def _level(cell, value, numeric_codes):
    if numeric_codes:
        return _canon_number(value)
    return cell.lower() if cell.lower() in _BOOLEANS else cell


def _thousands(cells, rows, values, kind):
    """--numeric on text such as '1,234': read it without the separators."""
    values, kind = values.copy(), kind.copy()
    for pos in np.flatnonzero(kind == TEXT):
        s = cells[rows[pos]].replace(" ", "")
        if _THOUSANDS.fullmatch(s):
            values[pos], kind[pos] = float(s.replace(",", "")), NUMBER
    return values, kind, True


def _outputs(c):
    return c["levels"] + ([OTHER] if c["other"] else []) + \
        ([MISSING_LEVEL] if c["missing_level"] else [])


def _cell_error(table, i, j, missing):
    cell = table.columns[j][i].strip()
    lower = cell.lower()
    if lower in ("inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"):
        return i, j, f"{table.where(i, j)}: infinite value {cell!r}"
    if lower in ("nan", "-nan", "+nan"):
        return i, j, f"{table.where(i, j)}: NaN value {cell!r}{_HINT}"
    return i, j, f"{table.where(i, j)}: missing value" + (f" {cell!r}" if cell else "") + _HINT


def _raise_first(errors):
    """The first error in file order (row, then column)."""
    if errors:
        raise DataError(min(errors, key=lambda e: (e[0], e[1]))[2])


def _numeric_out(out, c, table, j, rows, missing, keep, errors, notes, dtype=None):
    values, kind = (a[rows] for a in table.numbers(j))
    text = kind == TEXT
    if text.any() and c.get("thousands"):
        values, kind, _ = _thousands(table.strings(j), rows, values, kind)
        text = kind == TEXT
    if text.any():
        i = rows[int(np.argmax(text))]
        errors.append((i, j, f"{table.where(i, j)}: non-numeric value "
                             f"{table.columns[j][i].strip()!r} (the column held numbers in "
                             f"training)"))
        return
    gaps = (kind == MISSING) | (kind == NAN)
    bad = (kind == INF) | (gaps & (missing == "error"))
    if bad.any():
        errors.append(_cell_error(table, rows[int(np.argmax(bad))], j, missing))
        return
    if _check_range(table, j, rows, values, kind, dtype, errors):
        return
    fill = c["fill"]
    if gaps.any() and missing == "drop":
        keep &= ~gaps
    elif gaps.any() and not c["missing"]:
        notes.append(f"{table.path}: column {c['name']!r}: {int(gaps.sum())} missing value(s) "
                     f"filled with the training {'mean' if missing == 'mean' else 'median'} "
                     f"{fill:.6g} (training had none)")
    filled = np.where(gaps, fill, values)
    with np.errstate(over="ignore", invalid="ignore"):
        out[:, 0] = (filled - c["mean"]) / c["std"]
    if not np.isfinite(out[:, 0]).all():   # huge float64 values: x/s - m/s cannot overflow
        out[:, 0] = filled / c["std"] - c["mean"] / c["std"]
    if c["indicator"]:
        out[:, 1] = gaps


def _row_levels(table, j, rows, numeric_codes):
    """Column j at `rows` -> (codes int64 (n,), names list of str): row i holds level
    names[codes[i]], -1 where the cell is missing. Integer codes are named as numbers
    ('3.0' is '3'), true/false words lower-cased; only levels of present cells count."""
    import pandas as pd
    values, kind = (a[rows] for a in table.numbers(j))
    gap = (kind == MISSING) | (kind == NAN)
    if numeric_codes:
        codes, uniq = pd.factorize(np.where(gap, np.nan, values))   # NaN -> -1
        names = [_canon_number(v) for v in uniq]
    else:
        all_codes, distinct = table.factorized(j)
        sub = np.where(gap, -1, all_codes[rows])
        codes, used = pd.factorize(sub)
        names = [distinct[u] if u >= 0 else None for u in used]
        names = [n.lower() if n is not None and n.lower() in _BOOLEANS else n for n in names]
    codes = np.asarray(codes, dtype=np.int64)
    if None in names:   # the gaps' own code: no level
        k = names.index(None)
        codes = np.where(codes == k, -1, np.where(codes > k, codes - 1, codes))
        names = names[:k] + names[k + 1:]
    if len(set(names)) < len(names):   # e.g. 'True' and 'true': one level
        merged = {}
        first = [merged.setdefault(n, len(merged)) for n in names]
        codes = np.where(codes >= 0, np.array(first + [-1], dtype=np.int64)[codes], -1)
        names = list(merged)
    codes[gap] = -1
    return codes, names


def _categorical_out(out, c, table, j, rows, missing, keep, errors, notes, dtype=None):
    kind = table.numbers(j)[1][rows]
    numeric_codes = c["codes"] == "number" and not (kind == TEXT).any()
    codes, names = _row_levels(table, j, rows, numeric_codes)
    gap = codes < 0
    if gap.any() and missing == "error":
        errors.append(_cell_error(table, rows[int(np.argmax(gap))], j, missing))
        return
    index = {v: k for k, v in enumerate(c["levels"])}
    other = len(c["levels"]) if c["other"] else -1
    known = set(c["merged_levels"] or ()) if c["other"] else set()
    column = np.array([index.get(n, other) for n in names] + [-1], dtype=np.int64)
    if c["missing_level"]:
        column[-1] = len(_outputs(c)) - 1
    elif missing != "drop":
        column[-1] = other
    col = column[codes]   # codes -1 -> the last entry: the gap's column
    hit = np.flatnonzero(col >= 0)
    out[hit, col[hit]] = 1.0
    if gap.any() and missing == "drop":
        keep &= ~gap
    new = [k for k, n in enumerate(names) if n not in index and n not in known]
    if new and (c["other"] is False or c["merged_levels"] is not None):
        unseen = int(np.isin(codes, new).sum())
        dest = f"'{OTHER}'" if c["other"] else "no level (all zeros)"
        shown = ", ".join(repr(names[k]) for k in new[:3]) + (", ..." if len(new) > 3 else "")
        notes.append(f"{table.path}: column {c['name']!r}: {unseen} row(s) with a value not "
                     f"seen in training ({shown}) -> {dest}")


def _encoding(c, enc):
    role = c["role"]
    if role == "numeric":
        parts = []
        if c.get("thousands"):
            parts.append("thousands separators removed")
        if c["missing"] and enc.missing in ("auto", "mean"):
            how = "median" if enc.missing == "auto" else "mean"
            parts.append(f"gaps -> {how} {c['fill']:.4g}" + (" + indicator" if c["indicator"] else ""))
        parts.append("standardised" if enc.standardize else "as is")
        return ", ".join(parts)
    if role == "categorical":
        n = len(_outputs(c))
        text = f"one-hot, {n} column{'s' if n > 1 else ''}"
        if c["other"]:
            text += f" ({c['merged']} rarest levels -> {OTHER})"
        if c["missing_level"]:
            text += f", gaps -> {MISSING_LEVEL}"
        return text + (f" [{c['why']}]" if c["why"] != "text" else "")
    return f"left out ({c['why']})"


def _fit_notes(c):
    if c["role"] == "numeric" and c["missing"] and "fill" in c:
        return [f"{c['name']}: {c['missing']} missing value(s) filled with {c['fill']:.6g}"
                + (f", indicator column '{c['name']} {MISSING_LEVEL}'" if c["indicator"] else "")]
    if c["role"] == "categorical" and c["missing_level"]:
        return [f"{c['name']}: {c['missing']} missing value(s) -> level '{MISSING_LEVEL}'"]
    return []


def format_columns(encoder, target=None, target_info=""):
    """The column table printed before training (plain text, aligned)."""
    rows = [("Column", "Role", "Missing", "Distinct", "Encoding")]
    rows += [(n, r, str(m), "-" if d is None else str(d), e) for n, r, m, d, e in encoder.describe()]
    if target is not None:
        rows.append((target, "target", "0", "-", target_info))
    widths = [min(28, max(len(r[k]) for r in rows)) for k in range(4)]
    cut = lambda s, w: s if len(s) <= w else s[:w - 1] + "\u2026"  # noqa: E731
    lines = []
    for k, r in enumerate(rows):
        cells = [cut(r[0], widths[0]).ljust(widths[0]), r[1].ljust(widths[1]),
                 r[2].rjust(widths[2]), r[3].rjust(widths[3]), r[4]]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)
