"""The CLI's tabular path: a CSV file or a bundled data set -> encoded training and
validation arrays, the column table and notes printed for the user, and the same
encoding applied again at evaluate / predict time from what the model file stores.
The encoding itself is nbnet.tabular's; this module only wires and prints."""
import click
import numpy as np

import nbnet as nb
from nbnet.csvread import Table, read_table
from nbnet.data import (check_target_present, resolve_target, dropped_note,
                        prepare_csv_for_model, table_labels)
from nbnet.tabular import TableEncoder, format_columns


def parse_columns(ctx, param, value):
    """'a,b' -> ('a', 'b'); None or '' -> ()."""
    if not value:
        return ()
    names = tuple(s.strip() for s in value.split(",") if s.strip())
    if not names:
        raise click.BadParameter(f"{value!r} names no column")
    return names


def _table(o, kind):
    """DATA -> (table, target column index or None, forced numeric names, labels):
    labels (y, class_names, task) for a bundled data set, else None (read from the
    table's target column)."""
    if kind == "csv":
        table = read_table(o.data)
        return table, resolve_target(o.data, table.header, o.target), (), None
    if o.target is not None:
        raise click.BadParameter("--target applies to CSV files only", param_hint="--target")
    ds = nb.datasets.load(o.data, dtype="float64")
    table = Table.from_array(ds.x.reshape(len(ds.x), -1), ds.feature_names, o.data)
    # bundled: every feature is a number
    return table, None, tuple(ds.feature_names), (ds.y, ds.class_names, ds.task, ds.target)


def tabular_data(o, kind):
    """-> ((xtr, ytr), (xv, yv), info) with info stored in the model file (model.extra)."""
    table, t, bundled, labels = _table(o, kind)
    if labels is None:
        if len(table.header) < 2:
            raise nb.DataError(f"{o.data}: no feature columns besides the target "
                               f"{table.header[t]!r} (is the file comma-separated?)")
        check_target_present(table, t)
        y, class_names, task = table_labels(table, t, o.task)
        target = table.header[t]
    else:
        y, class_names, task, target = labels
    n = len(table)
    n_val = int(n * o.validation_split)
    if n_val < 1 or n_val >= n:
        raise nb.DataError(f"{o.data}: --validation-split {o.validation_split} of {n} rows leaves "
                           f"no {'validation' if n_val < 1 else 'training'} rows")
    # A seeded shuffle before the split: files are often sorted by class.
    order = np.random.default_rng(o.seed).permutation(n)
    tr, va = np.sort(order[n_val:]), np.sort(order[:n_val])
    try:
        enc = TableEncoder(o.missing, standardize=True, drop_constant=not bundled,
                           categorical=o.categorical, numeric=o.numeric or bundled,
                           ignore=o.ignore)
        enc.fit(table, t, tr)
    except ValueError as e:
        if isinstance(e, nb.DataError):
            raise
        raise click.UsageError(str(e)) from None
    enc.target, enc.task, enc.class_names = target, task, class_names
    if not enc.feature_names:
        raise nb.DataError(f"{o.data}: every feature column is left out (see the table above); "
                           f"give roles with --numeric / --categorical")
    xtr, keep_tr, notes = enc.transform(table, tr)
    xv, keep_v, notes_v = enc.transform(table, va)
    ytr, yv = y[tr], y[va]
    if keep_tr is not None:   # --missing drop
        gone = np.sort(np.r_[tr[~keep_tr], va[~keep_v]])
        if len(gone):
            notes.append(dropped_note(o.data, table.lines[gone]))
        xtr, ytr, xv, yv = xtr[keep_tr], ytr[keep_tr], xv[keep_v], yv[keep_v]
        if len(xtr) < 2 or len(xv) < 1:
            raise nb.DataError(f"{o.data}: too few rows left after dropping rows with missing "
                               f"values ({len(xtr)} training, {len(xv)} validation)")
    if kind == "csv":
        info = f"{len(class_names)} classes" if class_names else "regression"
        click.echo(format_columns(enc, target, info))
        for note in enc.notes + notes + notes_v:
            click.echo("Note: " + note)
    if task == "classification" and len(np.unique(ytr)) < 2:
        raise nb.DataError(f"{o.data}: the training rows hold a single class; classification "
                           f"needs at least 2")
    dt = nb.config.floatx()
    info = {"kind": "tabular", "task": task, "class_names": _names(class_names),
            "feature_names": enc.feature_names, "encoder": enc.get_config()}
    return (xtr.astype(dt), ytr), (xv.astype(dt), yv), info


def inference_data(model, data, kind, need_y):
    """DATA -> (x, y or None) encoded as the model's training data, from model.extra."""
    extra = model.extra
    enc = TableEncoder.from_config(extra["encoder"])
    if kind == "csv":
        ds = prepare_csv_for_model(data, enc)
        for note in ds.notes:
            click.echo("Note: " + note, err=True)
        x, y = ds.x, ds.y
    else:
        ds = nb.datasets.load(data, dtype="float64")
        table = Table.from_array(ds.x.reshape(len(ds.x), -1), ds.feature_names, data)
        x, _, _ = enc.transform(table)
        x, y = x.astype(nb.config.floatx()), ds.y
        if ds.class_names != enc.class_names:
            raise nb.DataError(f"{data}: its classes differ from the model's")
    if need_y and y is None:
        raise nb.DataError(f"{data}: no target column {enc.target!r}; evaluate needs the "
                           f"true labels or values")
    return x, y


def _names(names):
    return None if names is None else [str(n) for n in names]


def report(model, x, y, task, class_names, batch_size, title):
    """The per-class table and confusion matrix (classification) or MAE / RMSE / R^2."""
    from nbnet import report as R
    out = model.predict(x, batch_size=batch_size, verbose=0)
    out = out.reshape(len(out), -1)
    click.echo(title)
    if task == "classification":
        pred = (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
        rep = R.classification_report(np.asarray(y).reshape(-1).astype(np.int64), pred,
                                      class_names)
        click.echo(R.format_classification_report(rep))
    else:
        click.echo(R.format_regression_report(R.regression_report(y, out)))
