"""Batches that come from Python code rather than arrays: Keras 3's PyDataset (and its
old name Sequence) and plain generators, for fit / evaluate / predict.

    class Batches(nb.utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)            # workers=, max_queue_size=
            ...
        def __len__(self):                        # batches per epoch
            return math.ceil(len(self.x) / self.batch_size)
        def __getitem__(self, idx):               # one batch: x, (x, y) or (x, y, w)
            ...

With workers > 1, batches are made by that many threads, up to max_queue_size ahead,
and handed over in order: the batches, and so the training, are the same as with one
worker. use_multiprocessing=True is run on threads too (nbnet's kernels release the
GIL; the batch code usually calls NumPy, which does as well), with a warning.
"""
import itertools
import warnings
from concurrent.futures import ThreadPoolExecutor


class PyDataset:
    """Base class of a data set that makes batches in Python (Keras 3's PyDataset)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) "
                                  f"returning one batch")

    @property
    def num_batches(self):
        """Batches per epoch (None: endless); from __len__ when there is one."""
        if hasattr(self, "__len__"):
            return len(self)
        return None

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def __iter__(self):
        n = self.num_batches
        for index in (range(n) if n is not None else itertools.count()):
            yield self[index]


Sequence = PyDataset   # Keras 2's name, still used by many scripts


def is_batch_source(x):
    """A PyDataset, a generator / iterator, or another object with __getitem__ and
    __len__ that is not array-like (Keras accepts those as Sequence-likes)."""
    if isinstance(x, PyDataset):
        return True
    if isinstance(x, (list, tuple, dict, str, bytes)) or hasattr(x, "__array__") or \
            hasattr(x, "shape"):
        return False
    return hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__"))


class BatchSource:
    """What the trainer iterates: batches of one epoch at a time, from a PyDataset
    (in the given order of indices), or from a generator (until it ends, or for
    `steps` batches)."""

    def __init__(self, data, what):
        self.data, self.what = data, what
        self.indexed = not hasattr(data, "__next__")
        self._first = None

    def __len__(self):
        n = self.num_batches()
        if n is None:
            raise TypeError("endless")
        return n

    def num_batches(self):
        if not self.indexed:
            return None
        n = self.data.num_batches if isinstance(self.data, PyDataset) else len(self.data)
        return None if n is None else int(n)

    def peek(self):
        """The first batch (to build a model before training), without losing it."""
        if self.indexed:
            return self.data[0]
        if self._first is None:
            try:
                self._first = next(self.data)
            except StopIteration:
                raise ValueError(f"{self.what}: the generator gave no batch") from None
        return self._first

    def epoch(self, order=None, steps=None):
        """The batches of one epoch: order (a permutation of the batch indices, for a
        PyDataset) or None for 0, 1, ...; steps: at most that many."""
        if not self.indexed:
            gen = self.data
            if self._first is not None:
                gen, self._first = itertools.chain([self._first], gen), None
            return _take(gen, steps)   # closing it leaves the user's generator open
        n = self.num_batches()
        if order is None:
            order = range(n) if n is not None else itertools.count()
        if steps is not None:
            order = itertools.islice(order, steps)
        return self._fetch(list(order) if n is not None or steps is not None else order)

    def _fetch(self, indices):
        data = self.data
        workers = getattr(data, "workers", 1) or 1
        if getattr(data, "use_multiprocessing", False):
            warnings.warn("nbnet runs PyDataset workers as threads; use_multiprocessing is "
                          "ignored", stacklevel=3)
            workers = max(workers, 2)
        if workers <= 1:
            for i in indices:
                yield data[i]
            return
        ahead = max(1, int(getattr(data, "max_queue_size", 10) or 10))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbnet-pydataset") as pool:
            pending = []
            it = iter(indices)
            for i in itertools.islice(it, ahead):
                pending.append(pool.submit(data.__getitem__, i))
            while pending:
                batch = pending.pop(0).result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(data.__getitem__, nxt))
                yield batch

    def on_epoch_begin(self):
        if hasattr(self.data, "on_epoch_begin"):
            self.data.on_epoch_begin()

    def on_epoch_end(self):
        if hasattr(self.data, "on_epoch_end"):
            self.data.on_epoch_end()


def _take(it, steps):
    """At most `steps` items of `it` (all with None), never one more."""
    n = 0
    while steps is None or n < steps:
        try:
            item = next(it)
        except StopIteration:
            return
        n += 1
        yield item


def split_batch(batch, what):
    """A batch as Keras takes it -> (x, y or None, sample_weight or None)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) not in (1, 2, 3):
        raise ValueError(f"{what}: a batch must be x, (x,), (x, y) or (x, y, sample_weight); "
                         f"got a tuple of {len(batch)}")
    return tuple(batch) + (None,) * (3 - len(batch))
