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
"""
import os

import numpy as np

from .errors import DataError

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
