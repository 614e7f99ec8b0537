"""`nbnet train`: load data, build a default model (or a JSON spec), fit, save.

Everything that can be wrong with the input (data, flags, spec) is checked before any
file is written: a failed run leaves --out, --log and the checkpoint untouched."""
import os
import sys

import click
import numpy as np

import nbnet as nb
from nbnet.cli.common import (CliError, check_loss, check_optimizer, check_out_path,
                              class_counts, data_kind, load_spec, naming, one_input_one_output,
                              parse_hidden, parse_image_size)
from nbnet.cli.models import (build_default_model, check_cnn_image_size, choose_loss,
                              fold_target_scale, output_spec)
from nbnet.cli.tabular import parse_columns, report, tabular_data
from nbnet.saving import read_archive, restore_training_state

# Arguments that must match between a run and its --resume (epochs may grow).
_RESUME_KEYS = ("data", "target", "task", "model", "hidden", "dropout", "loss", "optimizer",
                "lr", "batch_size", "validation_split", "seed", "missing", "image_size",
                "color_mode", "categorical", "numeric", "ignore", "class_weight")
# --epochs auto: early stopping on val_loss after this many epochs without improvement,
# the best weights restored, and at most this many epochs or samples seen.
AUTO_PATIENCE, AUTO_MAX_EPOCHS, AUTO_MAX_SAMPLES = 20, 500, 10_000_000
# --refit (default for --epochs auto up to this many rows): train again on all rows.
REFIT_MAX_ROWS = 50_000


def parse_epochs(ctx, param, value):
    """'auto' -> 'auto'; a positive integer -> int."""
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not 'auto' or a positive integer") from None
    if n < 1:
        raise click.BadParameter(f"{value!r}: the number of epochs must be at least 1")
    return n


class _EveryNEpochs(nb.callbacks.Callback):
    """Save a resumable checkpoint (weights, optimizer state, epoch) every n epochs;
    model.save writes atomically, so a kill mid-save keeps the previous checkpoint."""

    def __init__(self, path, every):
        super().__init__()
        self.path, self.every = path, every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.model.save(self.path)


@click.command(context_settings={"show_default": True})
@click.argument("data", required=False, default="digits")
@click.option("--target", default=None,
              help="CSV target column: a name or a 0-based index (negative counts from the "
                   "end). Default: the last column.")
@click.option("--task", type=click.Choice(["classification", "regression"]), default=None,
              help="Force the task. Default: inferred from the target (string or few "
                   "integer values: classification).")
@click.option("--model", "spec", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON model spec (a list of layer configs, or {'layers': [...]}) used "
                   "instead of the default MLP/CNN; it must end in the output layer. Default: the "
                   "built-in MLP (tabular data) or CNN (images).")
@click.option("--hidden", default="128,64", callback=parse_hidden,
              help="MLP hidden layer sizes (Dense + BatchNormalization + ReLU each); "
                   "'none' for a linear model.")
@click.option("--dropout", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.1,
              help="Dropout rate after each hidden layer of the MLP (0: no Dropout layer).")
@click.option("--image-size", default="28x28", callback=parse_image_size,
              help="HEIGHTxWIDTH images are resized to (image folders only; at least 10x10 for "
                   "the default CNN). Read: .png .jpg .jpeg .bmp .gif .tif .tiff .webp (first "
                   "frame); other files, and FIFOs, devices or dangling links, are skipped and "
                   "counted in a note; images over PIL.Image.MAX_IMAGE_PIXELS pixels refused.")
@click.option("--color-mode", type=click.Choice(["grayscale", "rgb"]), default="grayscale",
              help="Channels images are converted to (image folders only).")
@click.option("--loss", default=None, callback=check_loss,
              help="Loss: " + ", ".join(nb.losses.LOSSES.names()) + ". Default: "
                   "sparse_categorical_crossentropy for classification, mse for regression.")
@click.option("--optimizer", default="adam", callback=check_optimizer,
              help="Optimizer: " + ", ".join(nb.optimizers.OPTIMIZERS.names()) + ".")
@click.option("--lr", type=click.FloatRange(0.0, min_open=True), default=None,
              help="Learning rate. Default: the optimizer's own (adam 0.001).")
@click.option("--epochs", default="auto", callback=parse_epochs,
              help="Epochs to train, or 'auto': stop once val_loss has not improved for "
                   f"{AUTO_PATIENCE} epochs and keep the best weights (at most "
                   f"{AUTO_MAX_EPOCHS} epochs and {AUTO_MAX_SAMPLES:,} samples seen).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, help="Batch size.")
@click.option("--validation-split", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
              default=0.2, help="Fraction of the samples held out (at random, from --seed) "
                                "for validation.")
@click.option("--seed", type=click.IntRange(min=0), default=0,
              help="Random seed: the same seed and arguments give bitwise-identical models.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for the kernels and BLAS. Default: all cores.")
@click.option("--out", default="model.nbnet", callback=check_out_path,
              help="Model file to write (atomically).")
@click.option("--log", default=None, type=click.Path(dir_okay=False), callback=check_out_path,
              help="Write per-epoch metrics to this CSV file. Default: no log.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
              help="Save a resumable checkpoint to OUT.ckpt every N epochs. Default: never.")
@click.option("--resume", is_flag=True, default=False,
              help="Continue from OUT.ckpt (weights, optimizer state, epoch); the result is "
                   "bitwise identical to an uninterrupted run with the same arguments. "
                   "Default: off (start from scratch).")
@click.option("--early-stopping", type=click.IntRange(min=1), default=None,
              help="Stop after PATIENCE epochs without a lower val_loss and keep the best "
                   "weights. Default: off.")
@click.option("--missing", type=click.Choice(["auto", "error", "drop", "mean"]), default="auto",
              help="Missing CSV values: auto fills numbers with the training median plus a "
                   "0/1 'was missing' column and gives categories a '(missing)' level; error "
                   "fails; drop drops the rows; mean fills numbers with the column mean.")
@click.option("--categorical", default=None, callback=parse_columns,
              help="CSV columns (comma-separated names) to one-hot encode as categories. "
                   "Default: inferred (text, true/false, integer codes).")
@click.option("--numeric", default=None, callback=parse_columns,
              help="CSV columns to read as numbers (thousands separators such as 1,234 "
                   "allowed). Default: inferred.")
@click.option("--ignore", default=None, callback=parse_columns,
              help="CSV columns to leave out. Default: none besides the identifier and "
                   "constant columns found.")
@click.option("--class-weight", type=click.Choice(["none", "balanced"]), default="none",
              help="balanced: weight each class by n / (classes * its count) in the loss, "
                   "as scikit-learn's class_weight='balanced'.")
@click.option("--refit/--no-refit", default=None,
              help="After training with --epochs auto, train a new model on all rows "
                   "(training and validation) for the best number of epochs found, and save "
                   f"that one; the validation figures shown stay those of the held-out rows. "
                   f"Default: on for --epochs auto with at most {REFIT_MAX_ROWS:,} rows.")
@click.option("--distributed", is_flag=True, default=False,
              help="Data-parallel over the ranks of an MPI job: run as `mpiexec -n 4 python -m "
                   "mpi4py -m nbnet.cli train --distributed ...` (needs nbnet[mpi]); rank 0 "
                   "prints and writes [default: off].")
def train(**opts):
    """Train a model on DATA: a CSV file, a folder of class subfolders of images, or a
    bundled data set name (see `nbnet datasets`). Default DATA: digits."""
    o = _Opts(opts)
    ckpt = o.out + ".ckpt"
    if o.resume and not os.path.exists(ckpt):
        raise CliError(f"--resume: no checkpoint {ckpt} to resume from (train with "
                       f"--checkpoint-every N first)")
    if o.threads:
        nb.set_num_threads(o.threads)
    nb.utils.set_random_seed(o.seed)
    rank0 = True
    if o.distributed:
        try:
            rank0 = nb.distributed.rank() == 0
        except RuntimeError as e:
            raise CliError(f"--distributed: {e}") from None
        if not rank0:  # only rank 0 prints; callbacks and files are rank 0's too
            sys.stdout = open(os.devnull, "w")

    # 1. Data (every DataError surfaces here, before anything is written).
    kind = data_kind(o.data)
    if kind == "images" and not o.spec:
        check_cnn_image_size(o.image_size)
    if kind == "images":
        (xtr, ytr), (xv, yv), info = _image_data(o)
    else:
        (xtr, ytr), (xv, yv), info = tabular_data(o, kind)
    task, class_names = info["task"], info["class_names"]
    click.echo(f"Task: {task}" + (f" ({len(class_names)} classes)" if class_names else ""))
    what = (f"images of {'x'.join(str(d) for d in xtr.shape[1:])}" if kind == "images"
            else f"samples x {xtr.shape[1]} features")
    click.echo(f"Data: {len(xtr) + len(xv)} {what} ({len(xtr)} training, {len(xv)} validation)")
    if class_names:
        click.echo("Classes: " + class_counts(np.concatenate([ytr, yv]), class_names))

    # 2. Model, loss, optimizer (bad spec / loss combination: exit 2, nothing written).
    loss = choose_loss(task, class_names, o.loss)
    model = _make_model(o, kind, task, class_names, loss, xtr.shape[1:])
    ytr, yv, scale = _maybe_scale_target(model, task, ytr, yv)
    class_weight = None
    if o.class_weight == "balanced" and task == "classification":
        counts = np.bincount(ytr, minlength=len(class_names))
        class_weight = {k: len(ytr) / (len(class_names) * c) for k, c in enumerate(counts) if c}
    weights = {"class_weight": class_weight} if class_weight else {}
    model.extra = dict(info, train_args=o.resume_args())
    if scale:  # informative: the saved model has it folded into its last layer
        model.extra["target_scale"] = {"mean": scale[0], "std": scale[1]}
    model.summary(print_fn=click.echo)

    # 3. Resume: weights, optimizer state, shuffle seed and epoch from the checkpoint.
    initial_epoch = 0
    if o.resume:
        initial_epoch = _restore(model, ckpt, o)
        click.echo(f"Resuming from {ckpt} after epoch {initial_epoch}")

    callbacks = []
    if o.log:
        callbacks.append(nb.callbacks.CSVLogger(o.log, append=o.resume))
    if o.checkpoint_every:
        callbacks.append(_EveryNEpochs(ckpt, o.checkpoint_every))
    epochs = o.epochs
    patience = o.early_stopping
    if epochs == "auto":
        epochs = max(1, min(AUTO_MAX_EPOCHS, AUTO_MAX_SAMPLES // len(xtr)))
        patience = patience or AUTO_PATIENCE
        click.echo(f"Epochs: auto (at most {epochs}; stop after {patience} epochs without a "
                   f"lower val_loss, keep the best weights)")
    if patience:
        # nbnet's EarlyStopping restores the best weights at the end of training, also
        # when the last epoch is reached without an early stop.
        callbacks.append(nb.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                    restore_best_weights=True))
    with naming(o.data):
        model.fit(xtr, ytr, batch_size=o.batch_size, epochs=epochs, verbose=1,
                  callbacks=callbacks, validation_data=(xv, yv), initial_epoch=initial_epoch,
                  distributed=o.distributed, **weights)
    refit = o.refit if o.refit is not None else (
        o.epochs == "auto" and len(xtr) + len(xv) <= REFIT_MAX_ROWS)
    refit = refit and not (o.distributed or o.resume or o.checkpoint_every)

    # 4. Final model: predictions in the target's own units, then metrics and save.
    y_val = yv * scale[1] + scale[0] if scale else yv
    final = model
    if refit:   # all rows, for the number of epochs that was best on the held-out ones
        best = _best_epochs(model, epochs)
        click.echo(f"Refit: training a new model on all {len(xtr) + len(xv)} rows for "
                   f"{best} epochs, the best number above")
        nb.utils.set_random_seed(o.seed)
        final = _make_model(o, kind, task, class_names, loss, xtr.shape[1:])
        final.extra = model.extra
        xall, yall = np.concatenate([xtr, xv]), np.concatenate([ytr, yv])
        with naming(o.data):
            final.fit(xall, yall, batch_size=o.batch_size, epochs=best, verbose=1, **weights)
        if scale:
            fold_target_scale(final, *scale)
    if scale:
        fold_target_scale(model, *scale)
    # the validation figures come from the model that did not see the validation rows
    with naming(o.data):
        logs = model.evaluate(xv, y_val, batch_size=o.batch_size, verbose=0, return_dict=True)
    if rank0:
        final.save(o.out)
        with naming(o.data):
            report(model, xv, y_val, task, class_names, o.batch_size,
                   f"Validation report ({len(xv)} held-out rows):")
    metrics = " - ".join(f"val_{k}: {v:.4f}" for k, v in logs.items())
    click.echo(f"Done: {metrics} - model written to {o.out}")


def _make_model(o, kind, task, class_names, loss, input_shape):
    """The --model spec or the default MLP / CNN, compiled with --optimizer and --lr."""
    if o.spec:
        model = one_input_one_output(load_spec(o.spec), o.spec, "train")
        try:
            model.build((None,) + tuple(input_shape))
        except (ValueError, TypeError) as e:
            raise CliError(f"{o.spec}: the model spec does not fit the data of shape "
                           f"{tuple(input_shape)}: {' '.join(str(e).split())}") from None
    else:
        units, activation = output_spec(task, class_names, loss)
        model = build_default_model(kind, input_shape, o.hidden, o.dropout, units, activation)
    optimizer = nb.optimizers.get(o.optimizer)
    if o.lr is not None:
        optimizer.learning_rate = o.lr
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=["accuracy"] if task == "classification" else ["mae"])
    return model


def _best_epochs(model, epochs):
    """The number of epochs that gave the lowest val_loss in model.history."""
    val = model.history.history.get("val_loss") or []
    return int(np.argmin(val)) + 1 if val else epochs


class _Opts:
    """The command's options as attributes (o.epochs, o.out, ...)."""

    def __init__(self, opts):
        self.__dict__.update(opts)

    def resume_args(self):
        """The arguments a --resume must repeat, JSON-able (stored in the checkpoint)."""
        args = {k: getattr(self, k if k != "model" else "spec") for k in _RESUME_KEYS}
        if self.data and os.path.exists(self.data):
            args["data"] = os.path.abspath(self.data)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}


def _image_data(o):
    try:
        train_ds, val_ds = nb.data.load_images(o.data, image_size=o.image_size,
                                               color_mode=o.color_mode,
                                               validation_split=o.validation_split,
                                               subset="both", seed=o.seed)
    except MemoryError:
        h, w = o.image_size
        raise nb.DataError(f"{o.data}: not enough memory for its images at {h}x{w}; give a "
                           f"smaller --image-size") from None
    for note in train_ds.notes:
        click.echo("Note: " + note)
    if len(train_ds.class_names) < 2:
        raise nb.DataError(f"{o.data}: a single class folder {train_ds.class_names[0]!r}; "
                           f"classification needs at least 2 (one subfolder of images per class)")
    info = {"kind": "images", "task": "classification", "class_names": list(train_ds.class_names),
            "image_size": list(o.image_size), "color_mode": o.color_mode}
    return (train_ds.x, train_ds.y), (val_ds.x, val_ds.y), info


def _maybe_scale_target(model, task, ytr, yv):
    """Regression with a linear Dense output: train on the standardised target and fold
    the scale back into the last layer afterwards (see models.fold_target_scale)."""
    if task != "regression" or not fold_target_scale(model, None, None, check_only=True):
        return ytr, yv, None
    mean, std = float(np.mean(ytr)), float(np.std(ytr))
    std = std if std > 0 else 1.0
    return (ytr - mean) / std, (yv - mean) / std, (mean, std)


def _restore(model, ckpt, o):
    config, _ = read_archive(ckpt)
    saved = (config.get("extra") or {}).get("train_args") or {}
    now = o.resume_args()
    diff = [k for k in _RESUME_KEYS if k in saved and saved[k] != now[k]]
    if diff:
        flags = ", ".join(f"--{k.replace('_', '-')} {saved[k]!r} (now {now[k]!r})" for k in diff)
        raise CliError(f"--resume: {ckpt} was written with different arguments: {flags}")
    try:
        restore_training_state(model, ckpt)
    except (ValueError, KeyError) as e:
        raise nb.ModelFileError(f"{ckpt}: does not fit this model ({e})") from None
    return int((config.get("training") or {}).get("epoch", 0))
