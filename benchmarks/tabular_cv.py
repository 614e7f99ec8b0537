"""Cross-validation of `nbnet train` (no flag) against scikit-learn's MLP on tabular data.

For each data set of benchmarks/tabular_data.py and each of the same k folds
(StratifiedKFold for classification, KFold for regression; shuffle=True,
random_state=0), both systems see the same rows:

* nbnet: the training fold (with the target) and the test fold (without it) are
  written as CSV files, as a user would have them; `nbnet train TRAIN.csv --target T
  --out M` runs with no other flag (plus --nbnet-args / --seed-per-fold if asked),
  then `nbnet predict M TEST.csv --out P.csv`; the `prediction` column is scored.
* scikit-learn (benchmark-only dependency): a Pipeline of a ColumnTransformer
  (numeric: SimpleImputer(median) + StandardScaler; categorical: SimpleImputer
  (constant "(missing)") + OneHotEncoder(handle_unknown="ignore"); identifier, name,
  date and free-text columns dropped, as tabular_data.py lists them) and
  MLPClassifier() / MLPRegressor() with their defaults (random_state = fold). It
  reads the same training CSV back with pandas. For regression a second, clearly
  labelled variant wraps the regressor in TransformedTargetRegressor(StandardScaler)
  (MLPRegressor's defaults do not scale the target and stop at 200 iterations, which
  leaves it far from converged on targets in the hundreds or thousands).

Scores: accuracy (classification) or MAE (regression) on the held-out fold; the table
shows mean (sd) over the folds, the difference (accuracy) or ratio (MAE) and the
verdict of issue 12: nbnet accuracy >= sklearn - 0.01, nbnet MAE <= 1.05 x sklearn's,
against the default MLP (the comparison the issue asks for) and, for regression, also
against the scaled-target variant. "baseline" is the majority class / the training
median, to show what learning nothing scores.

    python benchmarks/tabular_cv.py                          # every data set, 5 folds
    python benchmarks/tabular_cv.py --datasets iris,adult --out results.json
    python benchmarks/tabular_cv.py --nbnet-args="--epochs 50" --seed-per-fold

nbnet runs in this process by default (its kernels compile once; click's
standalone_mode=False), or as /path/to/nbnet subprocesses with --subprocess. Its output
goes to a log file (--log, default in the temp folder's parent), never to the screen. A
failed nbnet run is recorded as "failed: <last line of its stderr>" and the other data
sets go on.
"""
import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tabular_data  # noqa: E402

DEFAULT_DATASETS = list(tabular_data.LOADERS)


# ----------------------------------------------------------------------------- nbnet
class NbnetRunner:
    """Runs `nbnet ARGS...` in this process or as a subprocess, output to a log file.
    run() -> (ok, last stderr line or '')."""

    def __init__(self, log, subprocess_mode=False, executable=None):
        self.log = log
        self.subprocess_mode = subprocess_mode
        self.executable = executable or shutil.which("nbnet") or os.path.join(
            os.path.dirname(sys.executable), "nbnet")
        self._main = None

    def run(self, args):
        self.log.write(f"\n$ nbnet {' '.join(shlex.quote(a) for a in args)}\n")
        self.log.flush()
        if self.subprocess_mode:
            p = subprocess.run([self.executable] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            code, out, err = p.returncode, p.stdout, p.stderr
        else:
            code, out, err = self._in_process(args)
        self.log.write(out)
        if err:
            self.log.write("[stderr]\n" + err)
        self.log.write(f"[exit {code}]\n")
        self.log.flush()
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        # tqdm may write progress to stderr; prefer the "Error: ..." line if there is one.
        errors = [ln for ln in lines if ln.startswith("Error:")]
        last = errors[-1] if errors else (lines[-1] if lines else f"exit code {code}")
        return code == 0, ("" if code == 0 else last)

    def _in_process(self, args):
        if self._main is None:
            from nbnet.cli.main import main
            self._main = main
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rv = self._main(args, prog_name="nbnet", standalone_mode=False)
                code = rv if isinstance(rv, int) else 0
            except SystemExit as e:  # the group turns bad input into sys.exit(2)
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException as e:  # a bug: keep the traceback in the log
                if isinstance(e, KeyboardInterrupt):
                    raise
                code = 1
                err.write(traceback.format_exc())
                err.write(f"{type(e).__name__}: {' '.join(str(e).split())}\n")
        return code, out.getvalue(), err.getvalue()


def _norm_label(v):
    """Compare class labels as text: 1, 1.0 and '1' are the same class."""
    s = str(v).strip()
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if np.isfinite(f) and f == int(f) else s


def nbnet_fold(runner, table, train_csv, test_csv, truth, folder, extra_args, seed):
    """Train on train_csv, predict test_csv (no target column) -> (score, seconds,
    error or None)."""
    model = os.path.join(folder, "model.nbnet")
    preds = os.path.join(folder, "preds.csv")
    for f in (model, preds):
        if os.path.exists(f):
            os.remove(f)
    args = ["train", train_csv, "--target", table.target, "--out", model] + list(extra_args)
    if seed is not None:
        args += ["--seed", str(seed)]
    t0 = time.perf_counter()
    def short(e):  # the temp paths say nothing in a table
        return e.replace(train_csv, "TRAIN.csv").replace(test_csv, "TEST.csv").replace(
            model, "MODEL")

    ok, err = runner.run(args)
    if not ok:
        return None, time.perf_counter() - t0, f"train failed: {short(err)}"
    ok, err = runner.run(["predict", model, test_csv, "--out", preds])
    seconds = time.perf_counter() - t0
    if not ok:
        return None, seconds, f"predict failed: {short(err)}"
    try:
        p = pd.read_csv(preds, keep_default_na=False)
        pred = p["prediction"].to_numpy()
    except (OSError, KeyError, pd.errors.ParserError) as e:
        return None, seconds, f"predict output unreadable: {e}"
    if len(pred) != len(truth):
        return None, seconds, f"predict wrote {len(pred)} rows for {len(truth)}"
    if table.task == "classification":
        score = float(np.mean([_norm_label(a) == _norm_label(b) for a, b in zip(pred, truth)]))
    else:
        score = float(np.mean(np.abs(pred.astype(float) - truth.astype(float))))
    return score, seconds, None


# ----------------------------------------------------------------------------- sklearn
def _sklearn_frame(table, df):
    """Features as scikit-learn gets them: categorical cells as text (NaN kept)."""
    x = df[table.numeric + table.categorical].copy()
    for c in table.categorical:
        col = x[c]
        x[c] = col.astype(object).where(col.notna(), np.nan).map(
            lambda v: v if (isinstance(v, float) and np.isnan(v)) else str(v))
    for c in table.numeric:
        x[c] = pd.to_numeric(x[c], errors="coerce").astype(float)
    return x


def sklearn_model(table, fold, scaled_target=False):
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    parts = []
    if table.numeric:
        parts.append(("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                                       ("scale", StandardScaler())]), table.numeric))
    if table.categorical:
        parts.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
            ("onehot", OneHotEncoder(handle_unknown="ignore"))]), table.categorical))
    pre = ColumnTransformer(parts, remainder="drop")
    if table.task == "classification":
        return Pipeline([("pre", pre), ("mlp", MLPClassifier(random_state=fold))])
    reg = MLPRegressor(random_state=fold)
    if scaled_target:
        reg = TransformedTargetRegressor(regressor=reg, transformer=StandardScaler())
    return Pipeline([("pre", pre), ("mlp", reg)])


def sklearn_fold(table, train_df, test_df, fold, scaled_target=False):
    """-> (score, seconds, convergence warnings)."""
    from sklearn.exceptions import ConvergenceWarning
    t0 = time.perf_counter()
    model = sklearn_model(table, fold, scaled_target)
    y = train_df[table.target].to_numpy()
    if table.task == "classification":
        y = np.array([_norm_label(v) for v in y])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(_sklearn_frame(table, train_df), y)
        pred = model.predict(_sklearn_frame(table, test_df))
    seconds = time.perf_counter() - t0
    n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    truth = test_df[table.target].to_numpy()
    if table.task == "classification":
        score = float(np.mean([a == _norm_label(b) for a, b in zip(pred, truth)]))
    else:
        score = float(np.mean(np.abs(pred.astype(float) - truth.astype(float))))
    return score, seconds, n_warn


def baseline_fold(table, train_df, test_df):
    y, truth = train_df[table.target], test_df[table.target]
    if table.task == "classification":
        majority = _norm_label(y.map(_norm_label).value_counts().idxmax())
        return float(np.mean([_norm_label(t) == majority for t in truth]))
    return float(np.mean(np.abs(truth.astype(float) - float(np.median(y.astype(float))))))


# ----------------------------------------------------------------------------- driver
def folds_for(table, k, repeats=1):
    """[(train rows, test rows)]: repeat r shuffles with random_state=r (repeat 0 is the
    plain StratifiedKFold / KFold(shuffle=True, random_state=0))."""
    from sklearn.model_selection import KFold, StratifiedKFold
    df = table.frame
    out = []
    for r in range(repeats):
        if table.task == "classification":
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=r)
            out += list(cv.split(df, df[table.target].map(_norm_label)))
        else:
            out += list(KFold(n_splits=k, shuffle=True, random_state=r).split(df))
    return out


def run_dataset(table, args, runner, workdir):
    """Cross-validate one data set -> result dict."""
    df = table.frame
    res = {"dataset": table.name, "rows": int(len(df)), "columns": len(table.features),
           "task": table.task, "metric": "accuracy" if table.task == "classification" else "MAE",
           "source": table.source, "nbnet": [], "sklearn": [], "baseline": [],
           "nbnet_seconds": 0.0, "sklearn_seconds": 0.0, "sklearn_convergence_warnings": 0,
           "nbnet_error": None}
    if table.task == "regression":
        res.update({"sklearn_scaled_y": [], "sklearn_scaled_y_seconds": 0.0})
    folder = os.path.join(workdir, table.name)
    os.makedirs(folder, exist_ok=True)
    # fold counts on over the repeats: it seeds sklearn's MLP (and nbnet with
    # --seed-per-fold), so repeat 0 uses random_state 0..k-1.
    for fold, (tr, te) in enumerate(folds_for(table, args.folds, args.repeats)):
        train_df, test_df = df.iloc[tr], df.iloc[te]
        # The CSV files both systems read, as a user's files would be.
        train_csv = os.path.join(folder, "train.csv")
        test_csv = os.path.join(folder, "test.csv")
        train_df.to_csv(train_csv, index=False)
        test_df.drop(columns=[table.target]).to_csv(test_csv, index=False)
        train_read = pd.read_csv(train_csv)
        test_read = pd.read_csv(test_csv)
        test_read[table.target] = test_df[table.target].to_numpy()  # truth, for scoring

        if not args.skip_nbnet and res["nbnet_error"] is None:
            seed = fold if args.seed_per_fold else None
            score, secs, err = nbnet_fold(runner, table, train_csv, test_csv,
                                          test_df[table.target].to_numpy(), folder,
                                          args.nbnet_extra, seed)
            res["nbnet_seconds"] += secs
            if err:
                res["nbnet_error"] = f"fold {fold}: {err}"
                res["nbnet"] = []
            else:
                res["nbnet"].append(score)
        if not args.skip_sklearn:
            score, secs, n_warn = sklearn_fold(table, train_read, test_read, fold)
            res["sklearn"].append(score)
            res["sklearn_seconds"] += secs
            res["sklearn_convergence_warnings"] += n_warn
            if table.task == "regression":
                score, secs, _ = sklearn_fold(table, train_read, test_read, fold, True)
                res["sklearn_scaled_y"].append(score)
                res["sklearn_scaled_y_seconds"] += secs
        res["baseline"].append(baseline_fold(table, train_read, test_read))
    res["verdict"] = verdict(res, "sklearn")
    if table.task == "regression":
        res["verdict_scaled_y"] = verdict(res, "sklearn_scaled_y")
    return res


def verdict(res, key):
    nb, sk = res["nbnet"], res.get(key) or []
    if res["nbnet_error"]:
        return "failed: " + res["nbnet_error"]
    if not nb or not sk:
        return "n/a"
    if res["task"] == "classification":
        return "meets" if np.mean(nb) >= np.mean(sk) - 0.01 else "below"
    return "meets" if np.mean(nb) <= 1.05 * np.mean(sk) else "below"


def _ms(v, fmt):
    if not v:
        return "-"
    return f"{np.mean(v):{fmt}} ({np.std(v):{fmt}})"


def table_rows(results):
    head = ["data set", "rows", "cols", "task", "metric", "nbnet mean (sd)",
            "sklearn MLP mean (sd)", "nbnet - sk / nbnet/sk", "verdict",
            "sklearn scaled-y (sd)", "vs scaled-y", "baseline", "nbnet s", "sklearn s"]
    rows = []
    for r in results:
        cls = r["task"] == "classification"
        fmt = ".3f" if cls else ".1f"
        nb, sk = r["nbnet"], r["sklearn"]
        if nb and sk:
            rel = (f"{np.mean(nb) - np.mean(sk):+.3f}" if cls
                   else f"{np.mean(nb) / np.mean(sk):.2f}x")
        else:
            rel = "-"
        nb_text = _ms(nb, fmt) if not r["nbnet_error"] else "failed"
        verdict_text = r["verdict"] if not r["nbnet_error"] else r["verdict"][:140]
        scaled = r.get("sklearn_scaled_y")
        scaled_text = _ms(scaled, fmt) if scaled else ""
        vs_scaled = ""
        if scaled and nb:
            vs_scaled = f"{np.mean(nb) / np.mean(scaled):.2f}x {r['verdict_scaled_y']}"
        sk_seconds = r["sklearn_seconds"] + r.get("sklearn_scaled_y_seconds", 0.0)
        rows.append([r["dataset"], str(r["rows"]), str(r["columns"]),
                     "class." if cls else "regr.", r["metric"], nb_text, _ms(sk, fmt), rel,
                     verdict_text, scaled_text, vs_scaled,
                     f"{np.mean(r['baseline']):{fmt}}",
                     f"{r['nbnet_seconds']:.1f}", f"{sk_seconds:.1f}"])
    return head, rows


def markdown(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def environment():
    import sklearn
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "numpy": np.__version__, "pandas": pd.__version__,
            "sklearn": sklearn.__version__}
    try:
        from importlib.metadata import version
        info["nbnet"] = version("nbnet")
    except Exception:  # noqa: BLE001 - informative only
        pass
    try:
        repo = os.path.dirname(HERE)
        info["nbnet_commit"] = subprocess.run(
            ["git", "-C", repo, "log", "-1", "--format=%h %s"], capture_output=True,
            text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "nbnet",
                                "cli"], capture_output=True, text=True).stdout.strip()
        info["nbnet_worktree_modified"] = bool(dirty)
    except OSError:
        pass
    return info


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DEFAULT_DATASETS),
                    help="comma-separated subset of: " + ", ".join(DEFAULT_DATASETS)
                    + " (default: all)")
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="repeat the k-fold split with other shuffles (random_state 0, 1, "
                         "...) to shrink the noise of the means (default 1)")
    ap.add_argument("--nbnet-args", default="",
                    help='extra arguments for `nbnet train`, for experiments; write it with "=", '
                         'e.g. --nbnet-args="--epochs 50" (default: none: the issue '
                         'measures no flag)')
    ap.add_argument("--seed-per-fold", action="store_true",
                    help="pass --seed FOLD to nbnet train (default: nbnet's own default seed)")
    ap.add_argument("--subprocess", action="store_true",
                    help="run nbnet as a subprocess per command instead of in this process")
    ap.add_argument("--nbnet", default=None, help="nbnet executable for --subprocess "
                    "(default: the one next to this Python, or on PATH)")
    ap.add_argument("--skip-nbnet", action="store_true", help="only scikit-learn")
    ap.add_argument("--skip-sklearn", action="store_true", help="only nbnet")
    ap.add_argument("--out", default=None, help="write the results (per fold) as JSON here")
    ap.add_argument("--log", default=None,
                    help="nbnet's output goes here (default: nbnet_tabular_cv.log in the "
                         "system temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder of CSV files")
    args = ap.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in args.datasets if d not in tabular_data.LOADERS]
    if unknown:
        ap.error(f"unknown data sets {unknown}; known: {', '.join(DEFAULT_DATASETS)}")
    if args.folds < 2:
        ap.error("--folds must be at least 2")
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    args.nbnet_extra = shlex.split(args.nbnet_args)
    return args


def main(argv=None):
    args = parse_args(argv)
    log_path = args.log or os.path.join(tempfile.gettempdir(), "nbnet_tabular_cv.log")
    workdir = tempfile.mkdtemp(prefix="nbnet_tabular_cv_")
    env = environment()
    print(f"nbnet {env.get('nbnet', '?')} ({env.get('nbnet_commit', '?')}"
          f"{', working tree modified' if env.get('nbnet_worktree_modified') else ''}), "
          f"scikit-learn {env['sklearn']}, {env['cpus']} CPUs; {args.folds}-fold CV"
          f"{f' x {args.repeats} repeats' if args.repeats > 1 else ''}; "
          f"nbnet train args: {args.nbnet_args or '(none)'}"
          f"{' + --seed FOLD' if args.seed_per_fold else ''}; "
          f"nbnet {'subprocess' if args.subprocess else 'in-process'}; log: {log_path}")
    results, skipped = [], []
    t_all = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        runner = NbnetRunner(log, args.subprocess, args.nbnet)
        for name in args.datasets:
            table = tabular_data.load(name)
            if table is None:
                note = tabular_data.skip_reason.get(name, "not available")
                skipped.append({"dataset": name, "reason": note})
                print(f"{name}: skipped ({note})")
                continue
            t0 = time.perf_counter()
            res = run_dataset(table, args, runner, workdir)
            res["wall_seconds"] = time.perf_counter() - t0
            results.append(res)
            head, rows = table_rows([res])
            print("  ".join(f"{h}: {v}" for h, v in zip(head, rows[0]) if v))
            sys.stdout.flush()
    total = time.perf_counter() - t_all
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"CSV files kept in {workdir}")
    head, rows = table_rows(results)
    print()
    print(markdown(head, rows))
    print(f"\nTotal wall time {total:.0f} s. Verdict: accuracy >= sklearn - 0.01; "
          f"MAE <= 1.05 x sklearn's (default MLPRegressor; 'vs scaled-y' against "
          f"TransformedTargetRegressor(StandardScaler)).")
    for s in skipped:
        print(f"Skipped {s['dataset']}: {s['reason']}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"environment": env, "folds": args.folds, "repeats": args.repeats,
                       "nbnet_args": args.nbnet_args, "seed_per_fold": args.seed_per_fold,
                       "total_seconds": total, "results": results, "skipped": skipped},
                      f, indent=1)
        print(f"Results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
