"""Reading CSV text: a checked table of cells, and each column parsed to numbers once.

`read_table(path)` checks the whole file (encoding, ragged rows, duplicate names) with
the csv module, which keeps exact line numbers, then holds it column by column; pandas'
C parser reads the all-number columns fast. Errors are `nbnet.DataError` naming the file
and the line (1-based, the header on line 1).
"""
import codecs
import csv
import io
import os
import re

import numpy as np

from .errors import DataError

# Cell texts (compared lower-cased, stripped) that mean "no value": pandas' defaults, and
# "?" as the UCI files write it.
NA_TOKENS = {"", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "<na>", "#n/a", "?"}
NAN_TOKENS = {"nan", "-nan", "+nan"}  # a NaN written literally, not an empty cell
_STR = getattr(np, "strings", np.char)   # numpy >= 2: np.strings; older: np.char
_NUMBER_START = set("0123456789+-.iInN")   # what a text float() reads can start with
# Kinds of a cell once parsed (Table.numbers): what each code means.
NUMBER, MISSING, NAN, INF, TEXT = 0, 1, 2, 3, 4
_PROGRESS_MIN_BYTES = 32 << 20   # a progress bar (on a TTY) for files from this size on
_FAST_MIN_BYTES = 4 << 20        # pandas' parser for files from this size on
_CHUNK_ROWS, _PROGRESS_MIN_ROWS, _PROBE_ROWS = 100_000, 200_000, 10_000


class Table:
    """A CSV file's cells by column. header: column names; lines: (N,) 1-based line of
    each row; header_line; columns[j]: the N cells of column j (str, as written).
    numbers(j) parses column j once: (values float64 (N,), kind int8 (N,)) with kind one
    of NUMBER, MISSING (empty / NA), NAN (written literally), INF, TEXT."""

    def __init__(self, path, header, columns, lines, header_line, text=None):
        self.path, self.header, self.columns = path, header, columns
        self.lines, self.header_line = lines, header_line
        self._text, self._fast, self._parsed = text, None, {}

    @classmethod
    def from_array(cls, x, names, path):
        """A Table of numbers already parsed: x (N, F) finite floats, one name per column
        (lines count from 2 as if a header came first)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        table = cls(path, list(names), None, np.arange(2, len(x) + 2), 1)
        table._parsed = {j: (x[:, j], np.zeros(len(x), np.int8)) for j in range(x.shape[1])}
        return table

    def __len__(self):
        return len(self.lines)

    def index(self, name):
        return self.header.index(name)

    def numbers(self, j):
        if j not in self._parsed:
            if self._fast is None:
                self._fast = _fast_numeric(self._text, self.columns) if self._text else {}
            if j in self._fast:
                values = self._fast.pop(j)
                kind = np.zeros(len(values), np.int8)
                for i in np.flatnonzero(~np.isfinite(values)):  # only inf / nan need a look
                    kind[i] = NAN if self.columns[j][i].strip().lower() in NAN_TOKENS else INF
            else:
                codes, uniq = self.factorized(j)
                values, kind = parse_cells(uniq)
                values, kind = values[codes], kind[codes]
            self._parsed[j] = (values, kind)
        return self._parsed[j]

    def factorized(self, j):
        """Column j as (codes int64 (N,), distinct cells stripped (object array)): row i
        holds distinct[codes[i]]. Computed once (pandas' hash table)."""
        key = ("factorized", j)
        if key not in self._parsed:
            import pandas as pd
            codes, uniq = pd.factorize(np.asarray(self.columns[j], dtype=object))
            stripped = np.array([u.strip() for u in uniq], dtype=object)
            if len(set(stripped)) < len(stripped):   # ' a' and 'a': one value
                codes2, stripped = pd.factorize(stripped)
                codes = np.asarray(codes2)[codes]
            self._parsed[key] = (np.asarray(codes, np.int64), np.asarray(stripped, dtype=object))
        return self._parsed[key]

    def strings(self, j):
        """Column j's cells stripped (object array of str)."""
        codes, uniq = self.factorized(j)
        return uniq[codes]

    def where(self, i, j):
        """'PATH: line L, column NAME' for row i, column j."""
        return f"{self.path}: line {self.lines[i]}, column {self.header[j]!r}"


def read_table(path, fast=None):
    """CSV file -> Table: every row as long as the header; blank lines are skipped;
    a UTF-8 BOM is dropped; empty header names become 'Unnamed: i'.

    fast (default: for files of 4 MB and more): read with pandas' C parser instead of
    the csv module, when the file allows an exact check of its rows without it (no quoted
    field spanning lines, no whitespace-only line); a file that fails a check is read
    again the exact way, which gives the message."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a CSV file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); "
                        f"save the file as UTF-8") from None
    if fast is None:
        fast = len(raw) >= _FAST_MIN_BYTES
    del raw
    if fast:
        table = _read_fast(path, text)
        if table is not None:
            return table
    header, rows, lines, header_line = _records(path, text)
    columns = list(zip(*rows))   # tuples of the same str objects: no copy of the cells
    del rows
    return Table(path, header, columns, np.array(lines, dtype=np.int64), header_line, text)


def _records(path, text):
    """The csv module over the text -> (header, rows, lines, header_line)."""
    from tqdm.auto import tqdm
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream)
    header, rows, lines, start, header_line = None, [], [], 1, 1
    size = len(text)
    bar = tqdm(total=size, desc="Reading CSV", unit="B", unit_scale=True,
               disable=None if size >= _PROGRESS_MIN_BYTES else True)
    done = 0
    try:
        for rec in reader:
            line, start = start, reader.line_num + 1   # a quoted field may span lines
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue
            if header is None:
                header, header_line = [c.strip() for c in rec], line
            elif len(rec) != len(header):
                raise DataError(f"{path}: line {line}: expected {len(header)} fields (as in the "
                                f"header on line {header_line}), found {len(rec)}")
            else:
                rows.append(rec)
                lines.append(line)
                if not len(rows) & 0xFFFF and not bar.disable:   # every 65,536 rows
                    pos = stream.tell()
                    bar.update(pos - done)
                    done = pos
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num}: {e}") from None
    finally:
        bar.update(size - done)
        bar.close()
    header = [h or f"Unnamed: {i}" for i, h in enumerate(header)]
    _check_header(path, header, header_line)
    if not rows:
        raise DataError(f"{path}: no data rows, only a header (line {header_line})")
    return header, rows, lines, header_line


def _fast_numeric(text, columns):
    """pandas' C parser on the checked text: {column index: float64 values} for the
    columns it reads as all numbers; {} when its rows do not line up with the csv
    module's (the slow path then parses every cell itself)."""
    import pandas as pd
    n_cols, n_rows = len(columns), len(columns[0])
    try:
        df = pd.read_csv(io.StringIO(text), header=0, names=list(range(n_cols)),
                         na_filter=False, low_memory=False)
    except Exception:  # noqa: BLE001  any disagreement: use the slow path
        return {}
    if len(df) != n_rows:
        return {}
    out = {}
    for c in range(n_cols):
        if df[c].dtype.kind in "fiu":
            v = df[c].to_numpy(np.float64)
            try:  # cheap alignment check against the csv module's first and last rows
                if float(columns[c][0]) == v[0] and float(columns[c][-1]) == v[-1]:
                    out[c] = v
            except ValueError:
                pass
    return out


def parse_cells(cells):
    """N str -> (values float64 (N,), kind int8 (N,)): NaN where not a number; kind as in
    Table.numbers. Numbers are read by Python's float (correctly rounded)."""
    kind = np.zeros(len(cells), np.int8)
    try:
        values = np.fromiter(map(float, cells), np.float64, count=len(cells))
    except ValueError:
        values = np.full(len(cells), np.nan)
        u = _STR.strip(np.asarray(cells, dtype=str))
        na = np.isin(_STR.lower(u), list(NA_TOKENS))
        kind[:] = np.where(na, MISSING, TEXT)
        # float() raising is slow: try only the cells that can start a number
        for i in np.flatnonzero(np.isin(u.astype("U1"), list(_NUMBER_START)) & ~na):
            try:
                values[i] = float(u[i])
                kind[i] = NUMBER
            except ValueError:
                pass
        nan_cells = na & np.isin(_STR.lower(u), list(NAN_TOKENS))
        values[nan_cells], kind[nan_cells] = np.nan, NUMBER   # literal NaN: see below
    bad = np.flatnonzero(~np.isfinite(values) & (kind == NUMBER))
    kind[bad] = np.where(np.isnan(values[bad]), NAN, INF)
    return values, kind


class _NumberCells:
    """The cells of a column pandas read as numbers, as text again (for messages)."""

    def __init__(self, values):
        self.values = values

    def __len__(self):
        return len(self.values)

    def __getitem__(self, i):
        v = self.values[i]
        return "" if np.isnan(v) else repr(float(v))


def _na_variants():
    """The NA tokens as pandas must be told them (it compares exactly)."""
    return sorted({v for t in NA_TOKENS - NAN_TOKENS for v in (t, t.upper(), t.capitalize())})


def _read_fast(path, text):
    """pandas' C parser over the text -> Table, or None when the rows cannot be checked
    without the csv module (it then reads the file and gives any message)."""
    import pandas as pd
    if "\r" in text:
        return None
    quoted = '"' in text
    plain = re.sub(r'"(?:[^"\n]|"")*"', "Q", text) if quoted else text
    if quoted and '"' in plain:   # a quoted field spans lines, or a stray quote
        return None
    b = np.frombuffer(plain.encode("utf-8"), np.uint8)
    ends = np.flatnonzero(b == 10)
    if not len(ends) or ends[-1] != len(b) - 1:
        ends = np.r_[ends, len(b)]
    starts = np.r_[0, ends[:-1] + 1]
    blank = ends == starts
    # commas per line; a line of spaces has none, so it fails the check below and the
    # csv module (for which it is blank) reads the file
    commas = np.flatnonzero(b == 44)
    del b
    n_commas = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    del commas
    rec = np.flatnonzero(~blank)
    if len(rec) < 2:
        return None
    first = rec[0]
    header = next(csv.reader([text.split("\n", first + 1)[first]]))
    if len(header) < 2 or (n_commas[rec] != len(header) - 1).any():
        return None
    columns, parsed = _pandas_columns(text, len(header), len(rec) - 1)
    if columns is None:
        return None
    header = [h.strip() or f"Unnamed: {i}" for i, h in enumerate(header)]
    _check_header(path, header, first + 1)
    table = Table(path, header, columns, rec[1:].astype(np.int64) + 1, int(first) + 1)
    table._fast, table._parsed = {}, parsed
    return table


def _pandas_columns(text, n_cols, n_rows):
    """pandas' C parser over the text, in chunks (a progress bar on a TTY for large
    files) -> (columns, parsed) as Table holds them, or (None, None) if its rows do not
    line up. Column types come from the first 10,000 rows; a column typed as numbers that
    holds text further down makes every column text (then parsed as cells)."""
    import pandas as pd
    from tqdm.auto import tqdm
    opts = dict(header=0, names=list(range(n_cols)), keep_default_na=False,
                na_values=_na_variants(), low_memory=False, skip_blank_lines=True)
    try:
        probe = pd.read_csv(io.StringIO(text), nrows=_PROBE_ROWS, **opts)
        kinds = {j: np.float64 if probe[j].dtype.kind in "fiu" else object for j in range(n_cols)}
        parts = []
        for dtypes in (kinds, object):
            try:
                reader = pd.read_csv(io.StringIO(text), dtype=dtypes, chunksize=_CHUNK_ROWS, **opts)
                with tqdm(total=n_rows, desc="Reading CSV", unit=" rows", unit_scale=True,
                          disable=None if n_rows >= _PROGRESS_MIN_ROWS else True) as bar:
                    parts = []
                    for chunk in reader:
                        parts.append(chunk)
                        bar.update(len(chunk))
                break
            except ValueError:   # text in a column the probe took for numbers
                parts = []
    except Exception:  # noqa: BLE001  any disagreement: the exact reader decides
        return None, None
    if not parts or sum(len(p) for p in parts) != n_rows:
        return None, None
    columns, parsed = [], {}
    for j in range(n_cols):
        col = [p[j] for p in parts]
        if all(c.dtype.kind in "fiu" for c in col):
            values = np.concatenate([c.to_numpy(np.float64) for c in col])
            kind = np.where(np.isnan(values), MISSING, np.where(np.isinf(values), INF, NUMBER))
            parsed[j] = (values, kind.astype(np.int8))
            columns.append(_NumberCells(values))
        else:
            cells = np.concatenate([c.to_numpy(dtype=object, na_value="") for c in col])
            if pd.api.types.infer_dtype(cells, skipna=False) != "string":
                cells = np.array([c if isinstance(c, str) else str(c) for c in cells], object)
            columns.append(cells)
    return columns, parsed


def _check_header(path, header, header_line):
    seen = {}
    for i, h in enumerate(header):
        if h in seen:
            raise DataError(f"{path}: line {header_line}: duplicate column name {h!r} "
                            f"(columns {seen[h] + 1} and {i + 1})")
        seen[h] = i


def is_missing(cell):
    return cell.strip().lower() in NA_TOKENS
