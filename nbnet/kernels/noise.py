"""Noise kernels with counter-based random numbers (GaussianNoise, GaussianDropout,
AlphaDropout, SpatialDropout2D).

Random numbers are pure functions of (seed, element index), as in dropout.py: u_i in
[0, 1) is the splitmix64 output for counter i (top 53 bits), so the noise is the same
at any thread count and with any chunking, and element i does not depend on the array
length. Standard normal numbers come in pairs by Box-Muller: pair p = i // 2 takes
u = u_{2p}, v = u_{2p+1} and

    r = sqrt(-2 log(1 - u))        (1 - u in (0, 1]: never log 0)
    z_{2p} = r cos(2 pi v),   z_{2p+1} = r sin(2 pi v)

    gaussian_noise_forward     y = x + stddev * z                        (dx = dy)
    gaussian_dropout_forward   noise = 1 + stddev * z;  y = x * noise
    alpha_dropout_forward      keep = u_i >= rate;  y = a * (keep ? x : alpha_p) + b,
                               factor = a * keep                      (dx = dy * factor)
    spatial_dropout_forward    x (N, S, C), mask (N, C): mask[n, c] = (u_{n*C+c} >= rate)
                               / (1 - rate);  y[n, s, c] = x[n, s, c] * mask[n, c]
    scale_backward             dx = dy * factor          (GaussianDropout, AlphaDropout)
    spatial_dropout_backward   dx[n, s, c] = dy[n, s, c] * mask[n, c]

Arrays are 1-D C-contiguous unless stated (callers ravel); outputs are OVERWRITTEN.
Random draws and arithmetic run in float64, stored in the arrays' dtype.
"""
import numpy as np
from numba import njit, prange

_CHUNK = 4096  # elements per parallel task (a constant, even: pairs never straddle)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2^-53
_TWO_PI = 2.0 * np.pi


@njit(inline="always")
def _uniform(seed, i):
    """u in [0, 1): splitmix64 of counter i (the scheme of dropout.py, kept here so
    Numba's per-file cache sees every helper a kernel uses)."""
    z = seed + (np.uint64(i) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _TWO_M53


@njit(inline="always")
def _normal_pair(seed, p):
    """(z_{2p}, z_{2p+1}): two independent standard normal numbers (Box-Muller)."""
    u = _uniform(seed, 2 * p)
    v = _uniform(seed, 2 * p + 1)
    r = np.sqrt(-2.0 * np.log(1.0 - u))
    t = _TWO_PI * v
    return r * np.cos(t), r * np.sin(t)


@njit(cache=True, parallel=True)
def standard_normal(z, seed):
    """z (N,): z_i, the standard normal numbers of the module docstring."""
    n = z.shape[0]
    s = np.uint64(seed)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        i0 = c * _CHUNK
        i1 = min(n, i0 + _CHUNK)
        for i in range(i0, i1, 2):
            a, b = _normal_pair(s, i // 2)
            z[i] = a
            if i + 1 < i1:
                z[i + 1] = b


@njit(cache=True, parallel=True)
def gaussian_noise_forward(y, x, stddev, seed):
    """x, y (N,): y = x + stddev * z. seed: a non-negative int below 2^63."""
    n = x.shape[0]
    s = np.uint64(seed)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        i0 = c * _CHUNK
        i1 = min(n, i0 + _CHUNK)
        for i in range(i0, i1, 2):
            a, b = _normal_pair(s, i // 2)
            y[i] = x[i] + stddev * a
            if i + 1 < i1:
                y[i + 1] = x[i + 1] + stddev * b


@njit(cache=True, parallel=True)
def gaussian_dropout_forward(y, noise, x, stddev, seed):
    """x, y, noise (N,): noise = 1 + stddev * z (stored); y = x * noise."""
    n = x.shape[0]
    s = np.uint64(seed)
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        i0 = c * _CHUNK
        i1 = min(n, i0 + _CHUNK)
        for i in range(i0, i1, 2):
            a, b = _normal_pair(s, i // 2)
            noise[i] = 1.0 + stddev * a
            y[i] = x[i] * noise[i]
            if i + 1 < i1:
                noise[i + 1] = 1.0 + stddev * b
                y[i + 1] = x[i + 1] * noise[i + 1]


@njit(cache=True, parallel=True)
def alpha_dropout_forward(y, factor, x, rate, a, b, alpha_p, seed):
    """x, y, factor (N,): keep_i = u_i >= rate; y = a * x + b where kept, else
    a * alpha_p + b; factor = a where kept, else 0 (dy/dx)."""
    n = x.shape[0]
    s = np.uint64(seed)
    dropped = a * alpha_p + b
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            if _uniform(s, i) >= rate:
                factor[i] = a
                y[i] = a * x[i] + b
            else:
                factor[i] = 0.0
                y[i] = dropped


@njit(cache=True, parallel=True)
def scale_backward(dx, dy, factor):
    """dy, factor, dx (N,): dx = dy * factor (overwrites dx)."""
    n = dy.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            dx[i] = dy[i] * factor[i]


@njit(cache=True, parallel=True)
def spatial_dropout_forward(y, mask, x, rate, seed):
    """x, y (N, S, C); mask (N, C) = (u_{n*C+c} >= rate) / (1 - rate);
    y = x * mask[:, None, :]. Parallel over images."""
    N, S, C = x.shape
    scale = 1.0 / (1.0 - rate)
    s = np.uint64(seed)
    for n in prange(N):
        for c in range(C):
            mask[n, c] = scale if _uniform(s, n * C + c) >= rate else 0.0
        for k in range(S):
            for c in range(C):
                y[n, k, c] = x[n, k, c] * mask[n, c]


@njit(cache=True, parallel=True)
def spatial_dropout_backward(dx, dy, mask):
    """dy, dx (N, S, C); mask (N, C): dx = dy * mask[:, None, :] (overwrites dx)."""
    N, S, C = dy.shape
    for n in prange(N):
        for k in range(S):
            for c in range(C):
                dx[n, k, c] = dy[n, k, c] * mask[n, c]
