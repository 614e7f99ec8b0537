"""Input checks that read the data once, in parallel, without allocating."""
import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH
from .threads import few_threads, restore_threads

FASTMATH = set(_FASTMATH)  # without nnan / ninf: x * 0 stays NaN for NaN and +-Inf

_CHUNK = 1 << 14  # elements per parallel task (fixed)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def all_finite(x):
    """Whether the 1-D float array x holds no NaN and no +-Inf (x * 0 is NaN exactly
    for those, and a sum of such products is NaN as soon as one is)."""
    n = x.shape[0]
    old = few_threads(n)
    nch = (n + _CHUNK - 1) // _CHUNK
    bad = np.zeros(nch, np.bool_)
    for k in prange(nch):
        v = x[k * _CHUNK:min(n, (k + 1) * _CHUNK)]
        acc = v.dtype.type(0.0)
        for i in range(v.shape[0]):
            acc += v[i] * v.dtype.type(0.0)
        bad[k] = acc != acc
    restore_threads(old)
    for k in range(nch):
        if bad[k]:
            return False
    return True
