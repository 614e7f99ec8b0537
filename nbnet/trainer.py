"""The trainer: compile, fit, evaluate, predict and the training step, for every model.

A model (nbnet.model's Sequential, nbnet.functional's Model) is the container: layers,
weights packed in flat buffers, the execution plan, forward and backward through it.
Trainer, a base class of both, drives it (as Keras 3's Trainer): compile makes one head
per output (loss, loss weight, metrics); a step is forward, the heads' losses and
gradients, backward, one optimizer update over the flat buffer; fit runs epochs of such
steps over shuffled batches, with callbacks, validation and the distributed strategy.

Sample weights (fit / evaluate / train_on_batch `sample_weight`, fit's `class_weight`)
follow Keras 3: a batch's loss is sum_n w_n l_n / N ("sum_over_batch_size", divided
by the batch size, not by sum w), so the gradient is the unweighted one with row n
scaled by w_n; compile's `weighted_metrics` are weighted means, sum w v / sum w, its
`metrics` ignore the weights (Keras 3). Without weights the training step is the
unweighted fast path, untouched.
"""
import contextlib
from time import perf_counter

import numba
import numpy as np

from . import callbacks as cbks
from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from . import random as nbrandom
from .distributed import SingleProcess, strategy_for
from .errors import DataError
from .pydataset import BatchSource, is_batch_source, split_batch
from .kernels.threads import small_parallel
from .training import (apply_output_activation, check_x, check_y, fused_loss_for,
                       merge_tail)
from .training import copy_data as _copy
from .training import nrows as _nrows
from .training import rows as _rows


SINGLE = SingleProcess()   # the strategy outside a fit (train_on_batch, the profiler)


class Trainer:
    """compile / fit / evaluate / predict over the model hooks (_forward, _backward,
    _make_plan, _runners, _output_runners ...) that a model class provides."""
    _strategy = SINGLE
    _regularized = _constrained = ()

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, **kwargs):
        """Keras' compile. As in Keras 3, `metrics` ignore sample / class weights and
        `weighted_metrics` use them (logged as "weighted_<name>" where <name> is taken).
        A model with several outputs takes `loss`, `loss_weights`, `metrics` and
        `weighted_metrics` per output, as a list in output order or a dict by output
        name (one loss alone applies to every output); the loss trained is
        sum_k loss_weights[k] * loss_k."""
        if kwargs:
            unsupported = ", ".join(sorted(kwargs))
            raise TypeError(f"compile() got unsupported argument(s): {unsupported}")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        names = self._output_names()
        losses = per_output(loss, names, "loss")
        missing = [n for n, l in zip(names, losses) if l is None]
        if missing:
            raise ValueError(f"compile(): no loss for output(s) {missing}; give one loss per "
                             f"output {names}")
        self.optimizer = optimizers_mod.get(optimizer)
        self._losses = [losses_mod.get(l) for l in losses]
        self.loss = self._losses[0] if len(names) == 1 else list(self._losses)
        weights = per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
        self._loss_weights = [_check_loss_weight(w, n) for w, n in zip(weights, names)]
        self._metric_ids = per_output_metrics(metrics, names, "metrics")
        self._weighted_metric_ids = per_output_metrics(weighted_metrics, names, "weighted_metrics")
        for m in (m for ids in self._metric_ids + self._weighted_metric_ids for m in ids):
            # an unknown metric fails here, at compile, not at the first fit
            if not isinstance(m, (str, dict, metrics_mod.Metric)) and not callable(m):
                raise TypeError(f"compile(): metrics must be metric names or "
                                f"nbnet.metrics.Metric objects, got {type(m).__name__} {m!r:.80}")
            metrics_mod.METRICS.lookup(m) if isinstance(m, str) else metrics_mod.get(m)
        self._heads = None
        self.compiled = True
        self._packed = False
        if self.built:
            self._ensure_packed()

    def _compile_config(self):
        if not self.compiled:
            return None
        def names(metric_ids):
            ids = [m if isinstance(m, str) else getattr(m, "name", None) for m in metric_ids]
            return [m for m in ids if m]
        multi = len(self._losses) > 1
        def per(items):
            return items if multi else items[0]
        cfg = {"optimizer": optimizers_mod.serialize(self.optimizer),
               "loss": per([losses_mod.serialize(l) for l in self._losses]),
               "metrics": per([names(ids) for ids in self._metric_ids])}
        if any(self._weighted_metric_ids):
            cfg["weighted_metrics"] = per([names(ids) for ids in self._weighted_metric_ids])
        if any(w != 1.0 for w in self._loss_weights):
            cfg["loss_weights"] = per(list(self._loss_weights))
        return cfg

    def _check_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"call model.compile(optimizer, loss) before model.{what}()")

    def _prepare_loss(self):
        """One head per output: its loss, and the fused softmax/sigmoid + cross-entropy
        path when the output's layer allows it (and nothing else reads that output);
        build the metric objects (they depend on the output shape)."""
        runners, shapes = self._output_runners(), self._output_tensor_shapes()
        fused = [fused_loss_for(r, l) if self._sole_use(k) and
                 getattr(r, "activity_regularizer", None) is None else (None, None)
                 for k, (r, l) in enumerate(zip(runners, self._losses))]
        self._make_plan([r for r, (f, _) in zip(runners, fused) if f is not None])
        self._emit = [(f is not None, act) for f, act in fused]
        if self._heads is None:
            def build(ids, k):
                return [metrics_mod.get(m, loss=self._losses[k], output_shape=shapes[k]) for m in ids]
            self._heads = [
                _Head(k, name, runners[k], self._losses[k], self._loss_weights[k],
                      build(self._metric_ids[k], k), build(self._weighted_metric_ids[k], k))
                for k, name in enumerate(self._output_names())]
            self._all_metrics = [m for h in self._heads for m in h.metrics + h.weighted]
        for h, (f, act) in zip(self._heads, fused):
            h.runner, h.active, h.fused, h.final_act = runners[h.index], f or h.loss, f is not None, act
        self._loss_tracker = metrics_mod.Mean(name="loss")
        self._collect_regularization()

    def _collect_regularization(self):
        """The trainable weights with a regularizer (its penalty joins the loss, its
        gradient the weight's) and those with a constraint (applied after each step)."""
        trainable = {id(w) for w in self.trainable_weights}
        self._regularized = [(w, w.regularizer) for w in self.weights
                             if w.regularizer is not None and id(w) in trainable]
        self._constrained = [(w, w.constraint) for w in self.weights
                             if w.constraint is not None and id(w) in trainable]

    def _penalties(self, add_gradients=False):
        """Sum of the regularization penalties (float64); with add_gradients, each
        penalty's gradient is added to its weight's gradient."""
        total = 0.0
        for w, reg in self._regularized:
            total += reg(w.value)
            if add_gradients:
                reg.add_gradient(w.grad, w.value)
        return total

    @property
    def losses(self):
        """The regularization penalties of the model's weights, one float each (Keras'
        model.losses)."""
        return [reg(w.value) for w in self.weights for reg in [w.regularizer]
                if reg is not None]

    def _prepare_inference(self):
        if self.compiled:
            self._prepare_loss()
        else:  # no loss to fuse with, but BatchNormalization + ReLU still fuse
            self._emit = [(False, None)] * len(self._output_names())
            self._make_plan()

    # ------------------------------------------------------------------ steps
    def _predict_batch(self, x):
        """Forward without training; applies the output activation the fused path skips."""
        out = self._forward(x, training=False)
        outs = [apply_output_activation(act, o) if emits else o
                for o, (emits, act) in zip(out if self._multi_out else [out], self._emit)]
        return outs if self._multi_out else outs[0]

    def _train_step(self, xb, yb, global_batch=None, sample_weight=None, hook=None):
        """One optimizer step. With global_batch (a distributed fit), xb is this rank's
        shard: its loss gradient is weighted by len(xb) / global_batch, and one
        Allreduce of the flat gradient buffer gives the gradient of the global mean.
        sample_weight (N,), the model's dtype: the loss is sum_n w_n l_n / N.
        hook(phase, runner index or None, t_start, t_end), when given, times each part
        ("forward", "backward" per runner, "loss", "update"): nbnet.profiler's view."""
        self._ctx.step = self.optimizer.iterations
        self._ctx.activity = 0.0
        out = self._forward(xb, training=True, hook=hook)
        t = perf_counter() if hook is not None else 0.0
        loss, grads = self._loss_and_grads(out, yb, sample_weight, True)
        loss += self._ctx.activity
        if hook is not None:
            hook("loss", None, t, perf_counter())
        if global_batch is not None:
            share = _nrows(xb) / global_batch
            for grad in grads:
                grad *= grad.dtype.type(share)
            parts = [loss] + ([h.last for h in self._heads] if self._multi_out else [])
            parts = self._strategy.allreduce_(np.array(parts) * share)
            loss = float(parts[0])
            for h, v in zip(self._heads if self._multi_out else [], parts[1:]):
                h.last = float(v)
        self._backward(grads if self._multi_out else grads[0], hook)
        n = self._n_trainable
        if global_batch is not None:
            self._strategy.allreduce_(self._flat_g[:n])
        if self._regularized:   # after the Allreduce: every rank adds the same penalty
            loss += self._penalties(add_gradients=True)
        t = perf_counter() if hook is not None else 0.0
        if n:
            self.optimizer.step(self._flat_w[:n], self._flat_g[:n])
            for w, c in self._constrained:   # Keras: constraints after each update
                w.value[...] = c(w.value)
        if hook is not None:
            hook("update", None, t, perf_counter())
        return loss, out

    def _loss_and_grads(self, out, yb, wb=None, scale_grads=False):
        """The batch's loss, sum_k loss_weights[k] * loss_k over the heads (each head's in
        head.last), and dL/d output per head in the heads' buffers. With sample weights
        wb (N,), Keras' "sum_over_batch_size": loss_k = sum_n w_n l_n / N, from the
        loss's per-sample values (float64), and (scale_grads) the gradient's row n is
        scaled by w_n: d/dout_n of that loss is w_n * the unweighted mean's row n."""
        total, grads = 0.0, []
        masks = self._output_masks if self._masking else None
        for h, o, y in zip(self._heads, out if self._multi_out else [out],
                           yb if self._multi_out else [yb]):
            grad = h.runner.buffer(("_loss_grad", h.index), o.shape)
            loss = h.active.forward_backward(grad, o, y)
            rw = _step_weights(masks[h.index], o, wb) if masks is not None else None
            if rw is not None:   # a masked sequence output: weights per (sample, step)
                o2, y2, w2 = _as_step_rows(o, y, rw)
                loss = float(np.dot(h.active.per_sample(y2, o2), w2) / len(w2))
                if scale_grads:
                    grad *= rw.reshape(rw.shape + (1,) * (grad.ndim - rw.ndim)).astype(grad.dtype)
            elif wb is not None:
                loss = float(np.dot(h.active.per_sample(y, o), wb) / len(wb))
                if scale_grads:
                    grad *= wb.reshape((-1,) + (1,) * (grad.ndim - 1))
            if h.weight != 1.0:
                grad *= grad.dtype.type(h.weight)
            h.last = loss
            total += h.weight * loss
            grads.append(grad)
        return total, grads

    # ------------------------------------------------------------------ data checks
    def _prepare_x(self, x, what):
        if not self.built:
            arr = check_x(x, None, self.dtype, what)
            self._build_from(arr.shape)
        return check_x(x, self.input_shape, self.dtype, what)

    def _prepare_xy(self, x, y, what):
        x = self._prepare_x(x, what)
        n, names = _nrows(x), self._output_names()
        if not self._multi_out:
            return x, check_y(y, n, self._losses[0], self.output_shape, self.dtype, what)
        ys = by_position_or_name(y, names, what, "y", "output")
        return x, [check_y(yk, n, loss, shape, self.dtype, f"{what} (output {name!r})")
                   for yk, loss, shape, name in zip(ys, self._losses, self._output_tensor_shapes(),
                                                    names)]

    def _prepare_weights(self, sample_weight, class_weight, y, what):
        """sample_weight (N,), or class_weight {class: weight} turned into one weight per
        sample of y (not both, as Keras) -> the model's dtype (N,), or None."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError(f"{what}: give sample_weight or class_weight, not both (as Keras)")
        if class_weight is not None:
            if self._multi_out:
                raise ValueError(f"{what}: class_weight is only supported for models with a "
                                 f"single output (as Keras); give sample_weight instead")
            w = class_weight_to_sample_weight(y, _check_class_weight(class_weight, what), what)
        elif sample_weight is not None:
            if isinstance(sample_weight, (list, dict)) and self._multi_out:
                raise ValueError(f"{what}: give one sample_weight array (N,) for all outputs; "
                                 f"weights per output are not supported")
            w = losses_mod.check_sample_weight(sample_weight, _nrows(y), what)
        else:
            return None
        return np.ascontiguousarray(w, dtype=self.dtype)

    # ------------------------------------------------------------------ training
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, distributed=False, **kwargs):
        """Keras' fit. sample_weight (N,) or class_weight {class index: weight} (not
        both) weigh each sample's loss and the weighted_metrics; validation_data is
        (x_val, y_val) or (x_val, y_val, val_sample_weight); validation_split splits
        sample_weight too (class_weight weighs the training data only, as Keras).
        distributed=True trains data-parallel over the ranks of an MPI job (see
        nbnet.distributed; run the script under mpiexec); a strategy object from
        nbnet.distributed is taken as it is.
        x may also be a generator or a PyDataset (nbnet.utils.PyDataset) of (x, y) or
        (x, y, sample_weight) batches (y then None): steps_per_epoch batches an epoch
        (a PyDataset: len() by default, its batch order shuffled per epoch when shuffle;
        a generator: until it ends), validation_data likewise; validation_steps limits
        the validation batches, validation_freq validates every that many epochs."""
        if kwargs:
            raise TypeError(f"fit() got unsupported argument(s): {', '.join(sorted(kwargs))}")
        self._check_compiled("fit")
        strategy = strategy_for(distributed)
        batch_size = _check_batch_size(batch_size)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        if isinstance(validation_split, (bool, str)) or not isinstance(
                validation_split, (int, float, np.integer, np.floating)):
            raise TypeError(f"fit(): validation_split must be a number in [0, 1), got "
                            f"{type(validation_split).__name__} {validation_split!r:.80}")
        if not (0.0 <= float(validation_split) < 1.0):
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
        callbacks, verbose = cbks.check_callbacks(callbacks, "fit"), cbks.check_verbose(verbose, "fit")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
                or initial_epoch < 0:
            raise (ValueError if isinstance(initial_epoch, (int, np.integer)) else TypeError)(
                f"fit(): initial_epoch must be a non-negative integer, got {initial_epoch!r:.80}")
        if validation_data is not None and not is_batch_source(validation_data) \
                and not isinstance(validation_data, (tuple, list)):
            raise TypeError(f"fit(): validation_data must be a tuple (x_val, y_val[, "
                            f"sample_weight]) or a generator / PyDataset, got "
                            f"{type(validation_data).__name__}")
        _check_steps(steps_per_epoch, "steps_per_epoch")
        _check_steps(validation_steps, "validation_steps")
        if isinstance(validation_freq, bool) or not isinstance(validation_freq, (int, np.integer)) \
                or validation_freq < 1:
            raise ValueError(f"validation_freq must be a positive integer, got {validation_freq!r}")
        verbose = 1 if verbose == "auto" else int(verbose)
        source = None
        if is_batch_source(x):
            source = self._batch_source(x, y, sample_weight, "fit")
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; with a generator or a "
                                 "PyDataset give validation_data")
            if not isinstance(strategy, SingleProcess) or type(strategy) is not SingleProcess:
                raise ValueError("fit: a distributed fit needs arrays (every rank takes its "
                                 "shard of the same batches), not a generator or a PyDataset")
            x = y = sw = None
        else:
            x, y = self._prepare_xy(x, y, "fit")
            sw = self._prepare_weights(sample_weight, class_weight, y, "fit")
        strategy.configure_threads()
        xv = yv = vsw = None
        if validation_data is not None and is_batch_source(validation_data):
            xv = self._batch_source(validation_data, None, None, "fit (validation_data)")
        elif validation_data is not None:
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or "
                                 "(x_val, y_val, val_sample_weight)")
            what = "fit (validation_data)"
            xv, yv = self._prepare_xy(validation_data[0], validation_data[1], what)
            if len(validation_data) == 3:
                vsw = self._prepare_weights(validation_data[2], None, yv, what)
        elif validation_split:
            total = _nrows(x)
            split = int(total * (1.0 - validation_split))
            if split < 1 or split >= total:
                raise DataError(f"validation_split={validation_split} leaves no training or no "
                                f"validation samples out of {total}")
            x, xv = _rows(x, 0, split), _rows(x, split, total)
            y, yv = _rows(y, 0, split), _rows(y, split, total)
            if sw is not None:
                sw, vsw = sw[:split], (sw[split:] if sample_weight is not None else None)
        self._ensure_packed()
        self._prepare_loss()
        if self._shuffle_seed is None:
            self._shuffle_seed = int(nbrandom.generator().integers(2**63 - 1))
        if source is None:
            bounds = strategy.batches(_nrows(x), batch_size, self._has_batchnorm(), merge_tail)
            if steps_per_epoch:
                bounds = bounds[:steps_per_epoch]
            strategy.check_batches(bounds)
            steps, samples = len(bounds), (bounds[-1][1] if bounds else 0)
        else:
            bounds, n_batches = None, source.num_batches()
            steps = steps_per_epoch or n_batches
            samples = None
        if not strategy.is_chief:  # only the chief (rank 0) runs callbacks, prints and writes
            callbacks, verbose = [], 0
        # As Keras: the user's callbacks first, then History and the progress bar, so
        # that what a callback adds to the epoch logs (learning_rate) is recorded.
        self.history = cbks.History()
        cb_list = list(callbacks or []) + [self.history]
        if verbose:
            cb_list.append(cbks.ProgbarLogger(verbose=verbose))
        params = {"epochs": epochs, "steps": steps, "samples": samples, "verbose": verbose,
                  "batch_size": batch_size}
        cbl = cbks.CallbackList(cb_list, self, params)
        self.stop_training = False
        self._interrupted = True
        self._initial_epoch = None
        xb_buf = {}
        cbl.on_train_begin()
        start = self._initial_epoch if self._initial_epoch is not None else initial_epoch
        start = strategy.begin(self, start)
        self._strategy, self._ctx.comm = strategy, strategy.comm
        try:
            with self._kernel_threads(strategy.local_batch_size(batch_size)):
                train = (x, y, sw) if source is None else (source, class_weight, steps_per_epoch)
                logs = self._fit_epochs(train, (xv, yv, vsw), bounds, batch_size, shuffle,
                                        start, epochs, cbl, xb_buf,
                                        (validation_steps, int(validation_freq),
                                         _check_batch_size(validation_batch_size or batch_size)))
        finally:
            self._strategy, self._ctx.comm, self._ctx.step = SINGLE, None, None
        self._interrupted = False
        if self._n_trainable and epochs > start:   # use_ema: the averaged weights (Keras)
            self.optimizer.finalize_variable_values(self._flat_w[:self._n_trainable])
        cbl.on_train_end(logs)
        strategy.end(self)
        return self.history

    # ------------------------------------------------------------------ batch sources
    def _batch_source(self, x, y, sample_weight, what):
        """A generator / PyDataset given as x -> BatchSource; the model is built from its
        first batch when it is not built yet."""
        if y is not None or sample_weight is not None:
            raise ValueError(f"{what}: y and sample_weight must not be given when x is a "
                             f"generator or a PyDataset: its batches are (x, y) or "
                             f"(x, y, sample_weight)")
        source = BatchSource(x, what)
        if not self.built:
            first, _, _ = split_batch(source.peek(), what)
            self._prepare_x(first, what)
        return source

    def _prepare_batch(self, batch, class_weight, what, need_y=True):
        """One batch of a generator / PyDataset -> (x, y, sample weights or None), checked
        as arrays are."""
        xb, yb, wb = split_batch(batch, what)
        if not need_y:
            return self._prepare_x(xb, what), None, None
        if yb is None:
            raise ValueError(f"{what}: a batch has no targets; it must be (x, y) or "
                             f"(x, y, sample_weight)")
        xb, yb = self._prepare_xy(xb, yb, what)
        return xb, yb, self._prepare_weights(wb, class_weight, yb, what)

    def _fit_epochs(self, train, val, bounds, batch_size, shuffle, start, epochs, cbl, xb_buf,
                    validation=(None, 1, 32)):
        """train: (x, y, sample weights or None), or (BatchSource, class_weight,
        steps_per_epoch); val: (x, y, sample weights or None) or (BatchSource, None,
        None); its x is None without validation. validation: (validation_steps,
        validation_freq, validation batch size). Returns the last epoch's logs, val_*
        included."""
        (xv, yv, vsw), (val_steps, val_freq, val_batch) = val, validation
        logs = epoch_logs = {}
        for epoch in range(start, epochs):
            self._epoch = epoch
            self._reset_metrics()
            self._samples_seen = 0
            cbl.on_epoch_begin(epoch)
            batches = (self._array_batches(train, bounds, shuffle, epoch, xb_buf)
                       if not isinstance(train[0], BatchSource) else
                       self._source_batches(train, shuffle, epoch))
            strategy = self._strategy
            with contextlib.closing(batches):
                for step, (xb, yb, wb, global_batch, seen) in enumerate(batches):
                    cbl.on_train_batch_begin(step)
                    # NOTE: global_batch and sample_weight are passed only when there are
                    # some, so that the plain step is the call it always was.
                    kw = {} if global_batch is None else {"global_batch": global_batch}
                    if wb is not None:
                        kw["sample_weight"] = wb
                    loss, out = self._train_step(xb, yb, **kw)
                    out, yb, wb = strategy.gather(out, yb, wb, seen - self._samples_seen,
                                                  bool(self._all_metrics))
                    self._update_metrics(loss, out, yb, wb)
                    self._samples_seen = seen
                    logs = self._logs()
                    cbl.on_train_batch_end(step, logs)
                    strategy.sync_flags(self)
                    if self.stop_training:
                        break
            if isinstance(train[0], BatchSource):
                train[0].on_epoch_end()
            epoch_logs = dict(logs)
            if xv is not None and (epoch + 1) % val_freq == 0:
                if isinstance(xv, BatchSource):
                    val = self._evaluate_source(xv, val_steps, cbl)
                elif _nrows(xv):
                    val = self._evaluate_arrays(xv, yv, val_batch, vsw, cbl, val_steps)
                else:
                    val = {}
                epoch_logs.update({"val_" + k: v for k, v in val.items()})
            cbl.on_epoch_end(epoch, epoch_logs)
            strategy.sync_flags(self)
            if self.stop_training:
                break
        return epoch_logs

    def _array_batches(self, train, bounds, shuffle, epoch, xb_buf):
        """An epoch of array batches: (xb, yb, wb, global batch or None, samples seen)."""
        x, y, sw = train
        order = (np.random.default_rng([self._shuffle_seed, epoch]).permutation(_nrows(x))
                 if shuffle else None)
        for s, e in bounds:
            a, b, global_batch = self._strategy.shard(s, e)   # this process's rows of [s, e)
            xb, yb, wb = _gather(x, y, order, a, b, xb_buf, sw)
            yield xb, yb, wb, global_batch, e

    def _source_batches(self, train, shuffle, epoch):
        """An epoch of batches from a generator or a PyDataset (its batch order shuffled
        per epoch from the fit's seed when shuffle, as Keras shuffles a PyDataset)."""
        source, class_weight, steps = train
        n = source.num_batches()
        order = None
        if shuffle and n is not None:
            order = np.random.default_rng([self._shuffle_seed, epoch]).permutation(n).tolist()
        source.on_epoch_begin()
        seen = 0
        with contextlib.closing(source.epoch(order, steps)) as batches:
            for batch in batches:
                xb, yb, wb = self._prepare_batch(batch, class_weight, "fit")
                seen += _nrows(xb)
                yield xb, yb, wb, None, seen

    @contextlib.contextmanager
    def _kernel_threads(self, batch_size):
        """Numba kernels on one thread for the duration when every activation of the
        model at this batch size is under kernels.threads.small_parallel() elements:
        waking threads would cost more than it saves (measured on 2 cores with a
        sleeping pool, cut-off 2^20: MLP 784-512-256-10 at batch 32, 21k -> 26k
        samples/s). The batch norm, softmax cross-entropy and matrix-product kernels
        also decide this for themselves, per call. Results are bitwise the same."""
        largest = 0
        for shape in self._output_shapes():
            size = batch_size
            for d in shape[1:]:
                size *= d or 1
            largest = max(largest, size)
        old = numba.get_num_threads()
        if largest < small_parallel() and old > 1:
            numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(old)

    def _has_batchnorm(self):
        return any(type(l).__name__ == "BatchNormalization" for l in self._layers)

    def _reset_metrics(self):
        self._loss_tracker.reset_state()
        for h in self._heads:
            h.tracker.reset_state()
        for m in self._all_metrics:
            m.reset_state()

    def _update_metrics(self, loss, out, yb, wb=None):
        """The loss trackers weigh each batch's (weighted) loss by the batch size, as
        Keras; the weighted metrics get the sample weights wb (N,), when there are some."""
        n = _nrows(yb)
        self._loss_tracker.update_state(loss, sample_weight=n)
        multi = self._multi_out
        masks = self._output_masks if self._masking else None
        for h, o, y in zip(self._heads, out if multi else [out], yb if multi else [yb]):
            if multi:
                h.tracker.update_state(h.last, sample_weight=n)
            if not (h.metrics or h.weighted):
                continue
            pred = apply_output_activation(h.final_act, o) if h.fused else o
            rw = _step_weights(masks[h.index], o, wb, keras_scale=False) \
                if masks is not None else None
            if rw is not None:   # a masked sequence output: the metrics see the real steps
                pred, y, rw = _as_step_rows(pred, y, rw)
                for m in h.metrics + h.weighted:
                    m.update_state(y, pred, sample_weight=rw)
                continue
            for m in h.metrics:
                m.update_state(y, pred)
            for m in h.weighted:
                if wb is None:
                    m.update_state(y, pred)
                else:
                    m.update_state(y, pred, sample_weight=wb)

    def _logs(self):
        """Keras 3's names: "loss", and for several outputs "<output>_loss" per output;
        the metrics by name, prefixed "<output>_" for several outputs."""
        logs = {"loss": float(self._loss_tracker.result())}
        multi = self._multi_out
        if multi:
            for h in self._heads:
                logs[h.name + "_loss"] = float(h.tracker.result())
        for h in self._heads:
            prefix = h.name + "_" if multi else ""
            for m in h.metrics:
                logs[prefix + m.name] = float(m.result())
            for m in h.weighted:  # Keras 3 CompileMetrics.result names
                key = prefix + m.name
                logs[key if key not in logs else prefix + "weighted_" + m.name] = float(m.result())
        return logs

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One optimizer step on (x, y); returns the loss of that batch (before the step),
        weighted as in fit when sample_weight or class_weight is given."""
        self._check_compiled("train_on_batch")
        x, y = self._prepare_xy(x, y, "train_on_batch")
        w = self._prepare_weights(sample_weight, class_weight, y, "train_on_batch")
        self._ensure_packed()
        self._prepare_loss()
        loss, _ = self._train_step(x, y) if w is None else self._train_step(x, y, sample_weight=w)
        return float(loss)

    # ------------------------------------------------------------------ inference
    def _evaluate_arrays(self, x, y, batch_size, sw=None, cbl=None, steps=None):
        """Logs over (x, y) in batches; sw: sample weights (N,) or None; cbl: the
        callbacks whose on_test_* hooks run (evaluate's, or fit's for validation)."""
        n = _nrows(x)
        def batches():
            for s in range(0, n, batch_size):
                e = min(s + batch_size, n)
                yield _rows(x, s, e), _rows(y, s, e), (None if sw is None else sw[s:e])
        return self._test_loop(batches(), cbl, steps)

    def _evaluate_source(self, source, steps, cbl=None):
        source.on_epoch_begin()
        def batches():
            with contextlib.closing(source.epoch(None, steps)) as it:
                for batch in it:
                    yield self._prepare_batch(batch, None, "evaluate")
        logs = self._test_loop(batches(), cbl, None)
        source.on_epoch_end()
        return logs

    def _test_loop(self, batches, cbl, steps):
        self._reset_metrics()
        cbl = cbl if cbl is not None else cbks.CallbackList([], self, {})
        cbl.on_test_begin()
        logs = {}
        with contextlib.closing(batches):
            for step, (xb, yb, wb) in enumerate(batches):
                if steps is not None and step >= steps:
                    break
                cbl.on_test_batch_begin(step)
                self._ctx.activity = 0.0
                out = self._forward(xb, training=False)
                loss, _ = self._loss_and_grads(out, yb, wb)
                loss += self._ctx.activity
                if self._regularized:
                    loss += self._penalties()
                self._update_metrics(loss, out, yb, wb)
                logs = self._logs()
                cbl.on_test_batch_end(step, logs)
        logs = self._logs() if self._heads is not None else logs
        cbl.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        """Keras' evaluate; sample_weight (N,) weighs the loss (sum_n w_n l_n / N per
        batch) and the weighted_metrics (sum w v / sum w). x may be a generator or a
        PyDataset of (x, y) / (x, y, sample_weight) batches; steps: at most that many
        batches; callbacks get the on_test_* hooks."""
        if kwargs:
            raise TypeError(f"evaluate() got unsupported argument(s): {', '.join(sorted(kwargs))}")
        self._check_compiled("evaluate")
        batch_size = _check_batch_size(batch_size)
        _check_steps(steps, "steps")
        callbacks = cbks.check_callbacks(callbacks, "evaluate")
        verbose = cbks.check_verbose(verbose, "evaluate")
        source = None
        if is_batch_source(x):
            source = self._batch_source(x, y, sample_weight, "evaluate")
        else:
            x, y = self._prepare_xy(x, y, "evaluate")
            sw = self._prepare_weights(sample_weight, None, y, "evaluate")
        self._ensure_packed()
        self._prepare_loss()
        cbl = cbks.CallbackList(list(callbacks or []), self,
                                {"steps": steps, "verbose": verbose, "batch_size": batch_size})
        with self._kernel_threads(batch_size):
            logs = (self._evaluate_source(source, steps, cbl) if source is not None else
                    self._evaluate_arrays(x, y, batch_size, sw, cbl, steps))
        if verbose == 1 or verbose == 2:
            print(cbks.format_logs(logs))
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Keras' predict: the outputs for x (arrays, or a generator / PyDataset whose
        batches are x or (x, ...): the rest is ignored); steps: at most that many
        batches; callbacks get the on_predict_* hooks (logs {"outputs": ...})."""
        batch_size = _check_batch_size(batch_size)
        _check_steps(steps, "steps")
        callbacks = cbks.check_callbacks(callbacks, "predict")
        verbose = cbks.check_verbose(verbose, "predict")
        cbl = cbks.CallbackList(list(callbacks or []), self,
                                {"steps": steps, "verbose": verbose, "batch_size": batch_size})
        if is_batch_source(x):
            source = self._batch_source(x, None, None, "predict")
            self._prepare_inference()
            source.on_epoch_begin()
            def batches():
                with contextlib.closing(source.epoch(None, steps)) as it:
                    for batch in it:
                        yield self._prepare_batch(batch, None, "predict", need_y=False)[0]
            parts = self._predict_loop(batches(), cbl, batch_size)
            source.on_epoch_end()
            if not parts:
                raise ValueError("predict: the generator / PyDataset gave no batch")
            outs = [np.concatenate(col) for col in zip(*parts)]
            return outs if self._multi_out else outs[0]
        x = self._prepare_x(x, "predict")
        self._prepare_inference()
        n = _nrows(x)
        if steps is not None:
            n = min(n, steps * batch_size)
        outs = [None]
        def batches():
            for s in range(0, n, batch_size):
                yield _rows(x, s, min(s + batch_size, n))
        def into(step, ybs):
            if outs[0] is None:
                outs[0] = [np.empty((n,) + b.shape[1:], dtype=b.dtype) for b in ybs]
            s = step * batch_size
            for o, b in zip(outs[0], ybs):
                o[s:s + len(b)] = b
        self._predict_loop(batches(), cbl, batch_size, into)
        return outs[0] if self._multi_out else outs[0][0]

    def _predict_loop(self, batches, cbl, batch_size, into=None):
        """Run the batches; into(step, outputs) stores them (else they are collected and
        returned, copied, as lists per batch)."""
        parts = []
        cbl.on_predict_begin()
        with self._kernel_threads(batch_size), contextlib.closing(batches):
            for step, xb in enumerate(batches):
                cbl.on_predict_batch_begin(step)
                yb = self._predict_batch(xb)
                ybs = yb if self._multi_out else [yb]
                if into is not None:
                    into(step, ybs)
                else:
                    parts.append([np.array(b, copy=True) for b in ybs])
                cbl.on_predict_batch_end(step, {"outputs": yb})
        cbl.on_predict_end()
        return parts

    def predict_on_batch(self, x):
        x = self._prepare_x(x, "predict_on_batch")
        self._prepare_inference()
        return _copy(self._predict_batch(x))

    def __call__(self, x, training=False):
        x = self._prepare_x(x, "call")
        if training:   # the plain outputs (no logits handed to a loss), as predict
            self._make_plan()
            return _copy(self._forward(x, training=True))
        return self.predict_on_batch(x)


class _Head:
    """One output of a compiled model: its loss, weight, metrics and loss tracker; the
    runner producing it, the loss actually computed (active: the fused from-logits one
    when fused) and the last batch's loss (last)."""

    def __init__(self, index, name, runner, loss, weight, metrics, weighted):
        self.index, self.name, self.runner, self.loss, self.weight = index, name, runner, loss, weight
        self.metrics, self.weighted = metrics, weighted
        self.tracker = metrics_mod.Mean(name=name + "_loss")
        self.active, self.fused, self.final_act, self.last = loss, False, None, 0.0


def per_output(value, names, what):
    """compile's per-output argument -> one entry per output name: a dict by output
    name, a list / tuple in output order, or one value for every output."""
    if isinstance(value, dict) and not ("class_name" in value and "class_name" not in names):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile(): {what} names unknown output(s) {unknown}; the "
                             f"model's outputs are {names}")
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"compile(): {what} is a list of {len(value)}, but the model has "
                             f"{len(names)} outputs {names}; give one per output or a dict")
        return list(value)
    if isinstance(value, (list, tuple)) and what == "loss_weights":
        if len(value) != 1:
            raise ValueError(f"compile(): loss_weights is a list of {len(value)} for a model "
                             f"with one output")
        return list(value)
    return [value] * len(names)


def per_output_metrics(value, names, what):
    """metrics / weighted_metrics -> a list of metric identifiers per output. One
    output: the list as given. Several: a dict by output name or a list with one entry
    (a metric or a list of metrics) per output, as Keras 3 requires."""
    if value is None:
        return [[] for _ in names]
    if len(names) == 1:
        if isinstance(value, dict):
            value = per_output(value, names, what)[0] or []
        return [list(value) if isinstance(value, (list, tuple)) else [value]]
    if not isinstance(value, (dict, list, tuple)) or (
            isinstance(value, (list, tuple)) and len(value) != len(names)):
        raise ValueError(f"compile(): {what} for a model with outputs {names} must be a dict "
                         f"by output name or a list with one entry per output, got {value!r}")
    entries = per_output(value, names, what)
    return [[] if e is None else list(e) if isinstance(e, (list, tuple)) else [e] for e in entries]


def _check_loss_weight(w, name):
    try:
        v = float(w)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(w, bool) or not np.isfinite(v) or v < 0:
        raise ValueError(f"compile(): loss_weights for output {name!r} must be a finite "
                         f"number >= 0, got {w!r}")
    return v


def by_position_or_name(data, names, what, arg, kind):
    """x or y of a model with several inputs / outputs: a list / tuple in order or a
    dict by name -> a list in order."""
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise DataError(f"{what}: {arg} has no entry for {kind}(s) {missing}; the model's "
                            f"{kind}s are {names}")
        return [data[n] for n in names]
    if isinstance(data, (list, tuple)) and len(data) == len(names):
        return list(data)
    got = f"a list of {len(data)}" if isinstance(data, (list, tuple)) else type(data).__name__
    raise DataError(f"{what}: the model has {len(names)} {kind}s {names}; give {arg} as a list "
                    f"of {len(names)} arrays or a dict by {kind} name, got {got}")


def _check_steps(steps, what):
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
                              or steps < 1):
        raise ValueError(f"{what} must be a positive integer or None, got {steps!r}")


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _gather(x, y, order, s, e, bufs, w=None):
    """The batch [s, e) of the (shuffled) data and of its sample weights w (N,) (None:
    none), copied into reused buffers: (xb, yb, wb). x, y: arrays or lists of arrays."""
    if order is None:
        return _rows(x, s, e), _rows(y, s, e), (None if w is None else w[s:e])
    idx = order[s:e]
    key = e - s
    xs, ys = (x if isinstance(x, list) else [x]), (y if isinstance(y, list) else [y])
    flat = xs + ys + ([] if w is None else [w])
    if key not in bufs:
        if len(bufs) >= 2:
            bufs.clear()
        bufs[key] = [np.empty((key,) + a.shape[1:], a.dtype) for a in flat]
    out = bufs[key]
    for a, b in zip(flat, out):
        np.take(a, idx, axis=0, out=b)
    xb, yb = out[:len(xs)], out[len(xs):len(xs) + len(ys)]
    return (xb if isinstance(x, list) else xb[0], yb if isinstance(y, list) else yb[0],
            None if w is None else out[-1])


def _check_class_weight(class_weight, what):
    """{class index: weight} -> {int: float}. Keys are integers (or strings of them, as
    Keras accepts after a JSON round trip); weights finite and >= 0."""
    if not hasattr(class_weight, "items"):
        raise ValueError(f"{what}: class_weight must be a dict {{class index: weight}}, "
                         f"got {type(class_weight).__name__}")
    out = {}
    for key, value in class_weight.items():
        try:
            k = int(key)
            ok = isinstance(key, str) or k == key
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{what}: class_weight keys must be integer class indices, got {key!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{what}: class_weight[{key!r}] must be a finite number >= 0, "
                             f"got {value!r}")
        out[k] = v
    return out


def _step_weights(mask, out, wb, keras_scale=True):
    """The weights per (sample, step) of a sequence output `out` (N, T, ...) whose mask
    is `mask` (N, T), or None when there is no mask or `out` has no time axis. Keras 3
    (losses.loss.apply_mask): mask * sample weight, scaled by N*T / (masked-in steps) for
    the "sum_over_batch_size" mean, so the loss is the mean over the real steps."""
    if mask is None or out.ndim < 3 or out.shape[:2] != mask.shape:
        return None
    w = mask.astype(np.float64)
    if wb is not None:
        w = w * np.asarray(wb, dtype=np.float64)[:, None]
    if keras_scale:
        w *= mask.size / max(float(mask.sum()), 1.0)
    return w


def _as_step_rows(out, y, w):
    """A sequence output, its targets and weights (N, T) as rows: (N*T, ...), the
    targets (N*T,) for labels or (N*T, ...), and (N*T,)."""
    rows = w.size
    o2 = out.reshape((rows,) + out.shape[2:])
    y = np.asarray(y)
    y2 = y.reshape((rows,) + y.shape[2:])
    return o2, y2, w.reshape(-1)


def class_weight_to_sample_weight(y, class_weight, what="class_weight"):
    """Keras' class_weight_to_sample_weights: float64 (N,) weights class_weight[c_n],
    1.0 for a class absent from the dict. The class c_n of sample n: its integer label
    (y (N,)), the argmax of its row (one-hot or probabilities, y (N, K)), or round(y)
    of a single output (y (N, 1), binary targets)."""
    y = np.asarray(y)
    if y.ndim > 2:
        raise ValueError(f"{what}: class_weight needs one class per sample; y has shape {y.shape}")
    if y.ndim == 2:
        y = y[:, 0] if y.shape[1] == 1 else np.argmax(y, axis=1)
    classes, inverse = np.unique(np.round(y).astype(np.int64), return_inverse=True)
    table = np.array([class_weight.get(int(c), 1.0) for c in classes], dtype=np.float64)
    return table[inverse.reshape(-1)]
