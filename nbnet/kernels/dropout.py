"""Inverted dropout with a counter-based random number generator.

Each element i draws u_i in [0, 1) from splitmix64(seed, i), a pure function of the
seed and the index: the mask is the same for a given seed at any thread count and
with any chunking, and no RNG state is shared between threads.

    mask_i = (u_i >= rate) / (1 - rate)        (kept with probability 1 - rate)
    y_i    = x_i * mask_i                      (E[y] = x)
    dx_i   = dy_i * mask_i
"""
import numpy as np
from numba import njit, prange

_CHUNK = 4096  # elements per parallel task (a constant)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2^-53


@njit(inline="always")
def _uniform(seed, i):
    """u in [0, 1): the splitmix64 output for counter i (Steele et al. 2014), top
    53 bits as a double. All arithmetic is uint64, wrapping modulo 2^64."""
    z = seed + (np.uint64(i) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _TWO_M53


@njit(cache=True, parallel=True)
def dropout_forward(y, mask, x, rate, seed):
    """x, y, mask: (N,). mask = (u >= rate) / (1 - rate); y = x * mask.
    rate in [0, 1); seed: a non-negative int below 2^63."""
    n = x.shape[0]
    scale = 1.0 / (1.0 - rate)
    s = np.uint64(seed)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            m = scale if _uniform(s, i) >= rate else 0.0
            mask[i] = m
            y[i] = x[i] * mask[i]


@njit(cache=True, parallel=True)
def dropout_backward(dx, dy, mask):
    """dy, mask, dx: (N,). dx = dy * mask (overwrites dx)."""
    n = dy.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            dx[i] = dy[i] * mask[i]
