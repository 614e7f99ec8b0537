"""Keras 3 callbacks: empty hooks receiving a `logs` dict; they steer training only by
setting `model.stop_training`, changing `model.optimizer.learning_rate`, or saving."""
import csv
import json
import math
import os
import sys
import time

import numpy as np


class Callback:
    """Base class with the Keras hook names; every hook is a no-op."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass
    # Keras 2 names, still called by some user code
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


_HOOKS = ("set_model", "set_params", "on_train_begin", "on_epoch_end")


def check_callbacks(callbacks, what="fit"):
    """The `callbacks` argument of fit / evaluate / predict -> a list. None, one
    Callback (as Keras 3, which flattens it) or a list / tuple of Callback objects (or
    objects with the Callback hooks); anything else is a TypeError naming the argument."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"{what}(): callbacks must be a list of nbnet.callbacks.Callback "
                        f"objects, got {type(callbacks).__name__} {callbacks!r:.80}")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback) and not all(callable(getattr(cb, h, None))
                                                    for h in _HOOKS):
            raise TypeError(f"{what}(): callbacks[{i}] must be a nbnet.callbacks.Callback, "
                            f"got {type(cb).__name__} {cb!r:.80}")
    return list(callbacks)


def check_verbose(verbose, what="fit"):
    """`verbose` of fit / evaluate / predict -> "auto" or an int 0, 1 or 2 (bools are
    ints, as in Keras); anything else raises TypeError / ValueError naming it."""
    if verbose == "auto" and isinstance(verbose, str):
        return verbose
    if isinstance(verbose, str) or not isinstance(verbose, (int, np.integer)):
        raise TypeError(f"{what}(): verbose must be 'auto', 0, 1 or 2, got "
                        f"{type(verbose).__name__} {verbose!r:.80}")
    if not 0 <= verbose <= 2:
        raise ValueError(f"{what}(): verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


class CallbackList:
    """Calls one hook on every callback in order. As Keras 3, every hook receives a
    logs dict (an empty one where there is nothing to report), never None."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        indexed = "epoch" in hook or "batch" in hook   # hooks that take (index, logs)

        def call(*args, logs=None):
            if indexed:
                index = args[0]
                logs = args[1] if len(args) > 1 else logs
            else:
                logs = args[0] if args else logs
            logs = {} if logs is None else logs
            head = (index,) if indexed else ()
            for cb in self.callbacks:
                getattr(cb, hook)(*head, logs)
                if hook == "on_train_batch_begin":
                    cb.on_batch_begin(index, logs)
                elif hook == "on_train_batch_end":
                    cb.on_batch_end(index, logs)
        return call


class LambdaCallback(Callback):
    """Keras' LambdaCallback: the given functions as hooks (on_epoch_begin(epoch, logs),
    on_epoch_end, on_train_batch_begin(batch, logs), on_train_batch_end, on_train_begin(
    logs), on_train_end; also the test / predict hooks), others no-ops."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback got an unknown hook {name!r}")
            if fn is not None:
                setattr(self, name, fn)


class History(Callback):
    """Records the epoch logs: `history.history["loss"]` is a list over epochs."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
                      for k, v in logs.items())


class ProgbarLogger(Callback):
    """A tqdm bar per epoch (verbose=1) showing samples/s, loss and metrics, or one line
    per epoch (verbose=2)."""

    def __init__(self, verbose=1, file=None):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self._bar = None

    def _out(self):
        return self.file or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        if self.verbose == 1:
            from tqdm.auto import tqdm
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", file=self._out())
            # a generator's epoch length is known after the first epoch
            total = self.params.get("samples") or getattr(self, "_seen_last_epoch", None)
            self._bar = tqdm(total=total, unit=" samples", unit_scale=True,
                             file=self._out(), leave=True, mininterval=0.25, dynamic_ncols=True,
                             bar_format="{n_fmt}/{total_fmt} |{bar:20}| {elapsed} "
                                        "{rate_fmt}{postfix}")

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            seen = self.model._samples_seen
            self._bar.update(seen - self._bar.n)
            if batch % 8 == 0 or seen == self._bar.total:
                self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        dt = time.perf_counter() - self._t0
        self._seen_last_epoch = self.model._samples_seen or None
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            rate = self.model._samples_seen / max(dt, 1e-9)
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {dt:.2f}s - "
                  f"{rate:,.0f} samples/s - {format_logs(logs or {})}", file=self._out())

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Monitor(Callback):
    """Shared 'is this value better' logic of EarlyStopping / ModelCheckpoint / ReduceLR."""

    def _set_mode(self, monitor, mode, min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.best = np.inf if mode == "min" else -np.inf

    def _better(self, current, reference):
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _value(self, logs):
        v = (logs or {}).get(self.monitor)
        if v is None:
            import warnings
            warnings.warn(f"{type(self).__name__}: metric {self.monitor!r} is not available; "
                          f"available: {', '.join(logs or {})}", stacklevel=3)
        return v


class EarlyStopping(_Monitor):
    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self._set_mode(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = np.inf if self.mode == "min" else -np.inf
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model (or its weights) after every epoch, or only on improvement.
    `filepath` may hold `{epoch:02d}` (1-based, as Keras) and `{val_loss:.2f}` fields."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch' or a positive integer, got {save_freq!r}")
        self._set_mode(monitor, mode)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only, self.save_freq = save_best_only, save_weights_only, save_freq
        if initial_value_threshold is not None:
            self.best = initial_value_threshold
        self._batches = 0

    def _save(self, epoch, logs):
        path = self.filepath.format(epoch=epoch + 1, **(logs or {}))
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        return path

    def on_train_batch_end(self, batch, logs=None):
        if isinstance(self.save_freq, int):
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self.model._epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq != "epoch":
            return
        if self.save_best_only:
            current = self._value(logs)
            if current is None or not self._better(current, self.best):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {self.filepath.format(epoch=epoch + 1, **logs)}")
            self.best = current
        path = self._save(epoch, logs)
        if self.verbose > 0 and not self.save_best_only:
            print(f"Epoch {epoch + 1}: saving model to {path}")


class ReduceLROnPlateau(_Monitor):
    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0")
        self._set_mode(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.wait = self.cooldown_counter = 0
        self.best = np.inf if self.mode == "min" else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self._value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class TerminateOnNaN(Callback):
    """Stop training on the batch where the loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Stream epoch results to a CSV file: epoch, then the logs' keys in sorted order."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys = None
        self._file = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._header_done = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.writer(self._file, delimiter=self.sep)
            if not self._header_done:
                self._writer.writerow(["epoch"] + self.keys)
        self._writer.writerow([epoch] + [logs.get(k, "NA") for k in self.keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from schedule(epoch, lr)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # schedule(epoch) only
            lr = self.schedule(epoch)
        lr = float(lr)
        if not math.isfinite(lr):
            raise ValueError(f"the learning-rate schedule returned {lr} at epoch {epoch}")
        self.model.optimizer.learning_rate = lr
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class BackupAndRestore(Callback):
    """Save the whole training state at the end of every epoch into `backup_dir`; a later
    fit() with the same callback resumes from it (bitwise as if never interrupted).
    The backup is deleted when training ends normally (delete_checkpoint=True)."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch":
            raise NotImplementedError("BackupAndRestore supports save_freq='epoch' only")
        self.backup_dir, self.delete_checkpoint = os.fspath(backup_dir), delete_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.nbnet")
        self._meta = os.path.join(self.backup_dir, "training_metadata.json")

    def on_train_begin(self, logs=None):
        if os.path.exists(self._path) and os.path.exists(self._meta):
            from .saving import restore_training_state
            restore_training_state(self.model, self._path)
            with open(self._meta) as f:
                self.model._initial_epoch = int(json.load(f)["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        from .fileio import atomic_write_text
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save(self._path)
        atomic_write_text(self._meta, json.dumps({"epoch": epoch + 1}))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and not self.model._interrupted:
            for p in (self._path, self._meta):
                if os.path.exists(p):
                    os.remove(p)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass


class SwapEMAWeights(Callback):
    """Keras 3's SwapEMAWeights: with an optimizer built with use_ema=True, evaluation
    and prediction (fit's validation included) run on the moving-average weights, which
    are swapped in at on_test_begin / on_predict_begin and out again at the end. With
    swap_on_epoch=True they are also in the model between epochs (so that callbacks
    after this one, e.g. ModelCheckpoint, see them), and after the last epoch the
    average is set to the final weights as Keras does. (Keras 3.15's on_predict_end
    tests the flag the wrong way round and leaves the average in; here it is swapped
    out, as for evaluation.)"""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._in_model = False

    def _pair(self):
        model, opt = self.model, self.model.optimizer
        if opt is None or not getattr(opt, "use_ema", False):
            raise ValueError("SwapEMAWeights needs an optimizer with use_ema=True")
        model._ensure_packed()
        n = model._n_trainable
        opt.build(n, model.dtype)
        return model._flat_w[:n], opt._state["average"]

    def _swap(self):
        w, avg = self._pair()
        tmp = w.copy()
        w[...] = avg
        avg[...] = tmp
        self._in_model = not self._in_model

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._in_model:
            self._swap()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._in_model:
            self._swap()
            if epoch == self.params.get("epochs", 0) - 1:
                w, avg = self._pair()
                avg[...] = w

    def on_test_begin(self, logs=None):
        if not self._in_model:
            self._swap()

    def on_test_end(self, logs=None):
        if self._in_model:
            self._swap()

    on_predict_begin = on_test_begin
    on_predict_end = on_test_end
