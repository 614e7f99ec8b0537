"""STREAM triad, the memory-bandwidth probe of the profiler and the benchmarks."""
from numba import njit, prange

CHUNK = 1 << 16


@njit(cache=True, parallel=True)
def triad(a, b, c, s):
    """a = b + s * c over 1-D arrays (reads 2, writes 1 array: 3 * n * itemsize bytes)."""
    n = a.size
    nchunks = (n + CHUNK - 1) // CHUNK
    for k in prange(nchunks):
        for i in range(k * CHUNK, min(n, (k + 1) * CHUNK)):
            a[i] = b[i] + s * c[i]
