"""Embedding kernels: index check, gather (forward), scatter-add (backward).

    forward    y[i, :] = W[idx[i], :]                       W: (V, D), idx: (M,), y: (M, D)
    backward   dW[v, :] = sum_{i : idx[i] == v} dy[i, :]    (no gradient for the indices)

The backward is race-free and reduced in a fixed order: a stable counting sort groups
the token positions by vocabulary entry (serial, O(M + V)), then fixed blocks of _VB
entries run in parallel, each entry summing its tokens in increasing position in
float64. Every entry of dW is written by one thread in an order that depends on idx
only: bitwise identical at any thread count.
"""
import numpy as np
from numba import njit, prange

from .threads import few_threads as _few_threads, restore_threads as _restore_threads

_VB = 16   # vocabulary entries per parallel block of the backward


@njit(cache=True)
def embedding_indices(idx, x, input_dim):
    """x: (M,) float (the model's dtype); idx: (M,) int64, overwritten with x as
    integers. Returns -1 when every x is an integer in [0, input_dim), else the position
    of the first value that is not (NaN and non-integral values included); idx is then
    incomplete. NOTE: float32 holds every integer only up to 2**24."""
    for i in range(x.shape[0]):
        v = x[i]
        if not (v >= 0.0 and v < input_dim) or v != np.floor(v):
            return i
        idx[i] = np.int64(v)
    return -1


@njit(cache=True, parallel=True)
def embedding_forward(y, W, idx):
    """y: (M, D) overwritten; W: (V, D); idx: (M,) int64, each in [0, V) (checked by
    the caller). y[i] = W[idx[i]]."""
    M, D = y.shape
    old = _few_threads(M * D)
    for i in prange(M):
        row = W[idx[i]]
        yi = y[i]
        for j in range(D):
            yi[j] = row[j]
    _restore_threads(old)


@njit(cache=True, parallel=True)
def embedding_backward(dW, start, order, dy, idx):
    """dW: (V, D), OVERWRITTEN: dW[v] = sum of dy[i] over the i with idx[i] == v, in
    increasing i (float64 sums), zero for entries no token uses. dy: (M, D); idx: (M,)
    int64 in [0, V). start: (V + 1,) and order: (M,) int64 scratch, overwritten with the
    counting sort (the tokens of v are order[start[v]:start[v + 1]])."""
    V, D = dW.shape
    M = idx.shape[0]
    old = _few_threads(V * D + M * D)
    for v in range(V + 1):
        start[v] = 0
    for i in range(M):                 # counts, shifted by one
        start[idx[i] + 1] += 1
    for v in range(V):                 # start[v] = first slot of v
        start[v + 1] += start[v]
    for i in range(M):                 # stable placement; start[v] moves to v's end
        v = idx[i]
        order[start[v]] = i
        start[v] += 1
    for v in range(V, 0, -1):          # back to first slots
        start[v] = start[v - 1]
    start[0] = 0
    nblocks = (V + _VB - 1) // _VB
    for b in prange(nblocks):
        acc = np.empty(D)
        for v in range(b * _VB, min(V, (b + 1) * _VB)):
            row = dW[v]
            if start[v] == start[v + 1]:
                for j in range(D):
                    row[j] = 0.0
                continue
            for j in range(D):
                acc[j] = 0.0
            for k in range(start[v], start[v + 1]):
                dyi = dy[order[k]]
                for j in range(D):
                    acc[j] += np.float64(dyi[j])
            for j in range(D):
                row[j] = acc[j]
    _restore_threads(old)
