"""One thread count for Numba's pool and the BLAS pool together.

The two pools never run at the same time (a layer calls BLAS, then a Numba kernel),
so giving both the same count uses every core without oversubscribing them.
"""
import os

import numba
from threadpoolctl import threadpool_limits

_limiter = None
_user_set = False


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_num_threads(n):
    """Use `n` threads in Numba kernels and in BLAS (numpy's matrix products)."""
    global _limiter, _user_set
    _user_set = True
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of threads must be a positive integer, got {n!r}")
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    if _limiter is not None:
        _limiter.restore_original_limits()
    _limiter = threadpool_limits(limits=n, user_api="blas")


def get_num_threads():
    """The thread count of Numba kernels (BLAS is kept at the same count)."""
    return numba.get_num_threads()


def default_num_threads():
    return min(_cores(), numba.config.NUMBA_NUM_THREADS)


def user_set_threads():
    """Whether set_num_threads was called (a distributed fit then keeps the count)."""
    return _user_set
