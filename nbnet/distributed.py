"""Data-parallel training on MPI (optional extra: pip install "nbnet[mpi]").

    mpiexec -n 4 python -m mpi4py -m nbnet.cli train --distributed ...
    model.fit(x, y, batch_size=256, distributed=True)     # in a script run by mpiexec

Every rank holds the whole data set and computes the same seeded permutation each
epoch; each GLOBAL batch [s, e) of it is split into contiguous, nearly equal shards,
one per rank. The gradient of the loss on a rank's shard is scaled by
(shard size / global batch), and ONE in-place Allreduce (sum) of the flat gradient
buffer gives every rank the gradient of the global-batch mean; the optimizer step is
then the same on every rank, so the weights stay bitwise identical. Batch normalisation
reduces its per-channel sums across ranks (mean, then the biased variance, then the
two sums of the backward pass), so the result equals one process on the global batch.

Rank 0 runs the callbacks, prints and writes files; after every batch and epoch it
broadcasts `stop_training` and the learning rate, so callbacks steer all ranks alike.
The model file does not depend on the number of ranks: resuming with another -n works.
`python -m mpi4py` aborts the whole job when one rank raises, instead of hanging.

The trainer sees all of this as one strategy object (the end of this module): fit's
`distributed=True` gives DataParallel, an ordinary fit SingleProcess, whose hooks are
no-ops; the training loop calls the same hooks either way.
"""
import os

import numpy as np

from .errors import DataError
from .training import concat_data, copy_data

_COMM = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError("distributed training needs MPI: install nbnet[mpi] "
                           "(pip install 'nbnet[mpi]')") from None
    return MPI


class Communicator:
    """The few collective operations nbnet needs, over MPI.COMM_WORLD."""

    def __init__(self):
        MPI = _mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def allreduce_(self, arr):
        """In-place sum over ranks of a contiguous array."""
        self.comm.Allreduce(self.MPI.IN_PLACE, arr, op=self.MPI.SUM)
        return arr

    def bcast_(self, arr, root=0):
        """In-place broadcast of a contiguous array from `root`."""
        self.comm.Bcast(arr, root=root)
        return arr

    def bcast(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def allgather(self, obj):
        return self.comm.allgather(obj)


def communicator():
    """The process-wide communicator (MPI is initialised on first use)."""
    global _COMM
    if _COMM is None:
        _COMM = Communicator()
    return _COMM


def rank():
    return communicator().rank


def size():
    return communicator().size


def default_threads(n_ranks):
    """Cores per rank on this machine, so ranks never oversubscribe it."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, n_ranks))


def shard(s, e, rank, size):
    """This rank's contiguous part [a, b) of the global batch [s, e)."""
    n = e - s
    q, r = divmod(n, size)
    a = s + rank * q + min(rank, r)
    return a, a + q + (1 if rank < r else 0)


def check_batches(bounds, size):
    """Every global batch must give each rank at least one sample."""
    small = [e - s for s, e in bounds if e - s < size]
    if small:
        raise DataError(f"distributed fit: a global batch of {small[0]} samples cannot be "
                        f"split over {size} ranks; use batch_size >= {size} and data whose "
                        f"last batch has at least {size} samples")


def sync_model(model, comm):
    """Rank 0's weights, optimizer state and shuffle seed on every rank."""
    for w in model.weights:
        comm.bcast_(w.value)
    state = model.optimizer.get_state() if model.optimizer is not None else {}
    if state:
        state = {k: comm.bcast_(np.array(v)) for k, v in state.items()}  # 0-d stays 0-d
        model.optimizer.set_state(state)
    model._shuffle_seed = comm.bcast(model._shuffle_seed)


# ---------------------------------------------------------------------- strategies
class SingleProcess:
    """The strategy of an ordinary fit: one process, every hook a no-op. The trainer
    (nbnet.trainer) calls the same hooks whatever the strategy, so its loop has no
    branch for distributed training."""
    comm = None
    size = 1
    is_chief = True   # runs the callbacks, prints and writes files

    def configure_threads(self):
        pass

    def local_batch_size(self, batch_size):
        return batch_size

    def batches(self, n, batch_size, has_batchnorm, merge_tail):
        """Global batch bounds [(s, e)]: a last batch of one sample is merged into the
        previous one when the model has batch normalisation (no batch variance)."""
        return merge_tail(n, batch_size, has_batchnorm, 2)

    def check_batches(self, bounds):
        pass

    def begin(self, model, start_epoch):
        """Called after the callbacks' on_train_begin: the epoch to start from."""
        return start_epoch

    def shard(self, s, e):
        """(a, b, global batch): this process's rows [a, b) of the global batch [s, e),
        and the global batch size the loss is scaled by (None: not scaled)."""
        return s, e, None

    def allreduce_(self, arr):
        return arr

    def gather(self, out, yb, wb, n, needed):
        """The whole global batch's outputs, targets and weights, for the metrics."""
        return out, yb, wb

    def sync_flags(self, model):
        pass

    def end(self, model):
        pass


class DataParallel(SingleProcess):
    """Data-parallel training over the ranks of an MPI job (the module doc): shards of
    each global batch, one Allreduce of the gradients, rank 0's callbacks."""

    def __init__(self, comm=None):
        self.comm = comm if comm is not None else communicator()
        self.size, self.rank = self.comm.size, self.comm.rank
        self.is_chief = self.rank == 0

    def configure_threads(self):
        from .threads import set_num_threads, user_set_threads
        if not user_set_threads():
            set_num_threads(default_threads(self.size))

    def local_batch_size(self, batch_size):
        return batch_size // self.size

    def batches(self, n, batch_size, has_batchnorm, merge_tail):
        """As one process, but a last batch too small to give every rank a sample is
        merged into the previous one."""
        return merge_tail(n, batch_size, True, self.size)

    def check_batches(self, bounds):
        check_batches(bounds, self.size)

    def begin(self, model, start_epoch):
        """Rank 0's state (after BackupAndRestore) and start epoch on every rank."""
        sync_model(model, self.comm)
        return self.comm.bcast(start_epoch)

    def shard(self, s, e):
        a, b = shard(s, e, self.rank, self.size)
        return a, b, e - s

    def allreduce_(self, arr):
        return self.comm.allreduce_(arr)

    def gather(self, out, yb, wb, n, needed):
        if not needed:   # only the number of samples counts
            placeholder = np.empty(n)
            return out, ([placeholder] * len(yb) if isinstance(yb, list) else placeholder), wb
        parts = self.comm.allgather((copy_data(out), copy_data(yb),
                                     None if wb is None else np.array(wb)))
        wb = None if wb is None else np.concatenate([p[2] for p in parts])
        return concat_data([p[0] for p in parts]), concat_data([p[1] for p in parts]), wb

    def sync_flags(self, model):
        """Rank 0's stop_training and learning rate on every rank (callbacks run there)."""
        opt = model.optimizer
        stop, lr = self.comm.bcast((model.stop_training, float(opt.learning_rate)))
        model.stop_training = stop
        if lr != float(opt.learning_rate):
            opt.learning_rate = lr

    def end(self, model):
        """Rank 0's weights everywhere (e.g. EarlyStopping restored the best ones)."""
        for w in model.weights:
            self.comm.bcast_(w.value)


def strategy_for(distributed):
    """fit's `distributed`: False -> SingleProcess(), True -> DataParallel() over MPI,
    or a strategy object, used as it is."""
    if distributed is True:
        return DataParallel()
    if distributed is False or distributed is None:
        return SingleProcess()
    if isinstance(distributed, SingleProcess):
        return distributed
    raise ValueError(f"distributed must be True, False or a strategy "
                     f"(nbnet.distributed.SingleProcess / DataParallel), got {distributed!r}")
