"""1-D convolution kernels (Conv1D, channels last): im2col over time with strides and
dilation, its adjoint col2im, whole convolutions chunk by chunk, and the masked mean
over time (GlobalAveragePooling1D with a mask).

x (N, T, C), kernel W (K, C, F), stride S, dilation D, P zeros before the first step
(and as many after as the output length OT needs). Window o covers the steps
o*S - P + j*D, j = 0..K-1, so Conv1D is one matrix product once every window is
unrolled into a row:

    cols[n, o, j*C + c] = x[n, o*S - P + j*D, c]       (0 where the step is outside 0..T-1)
    z = cols.reshape(N*OT, K*C) @ W.reshape(K*C, F)

Backward: dcols = dz @ W^T and dx = col2im(dcols), the adjoint of im2col: dx[n, t, c] is
the sum of the dcols entries that im2col copied from x[n, t, c]. Paddings (Keras; see
nbnet.layers.conv1d.conv1d_geometry, with the window's span E = D*(K-1) + 1):
"valid" P = 0, OT = (T - E) // S + 1; "same" OT = ceil(T / S), P = half (rounded down)
of max((OT - 1)*S + E - T, 0); "causal" P = D*(K-1), OT = (T - 1) // S + 1. The kernels
take P and read OT from the shape of cols (N, OT, K*C).

Determinism: im2col only copies; col2im is parallel over blocks of a fixed number of
input rows (n, t), each row summed serially in float64 in a fixed order (j ascending);
conv1d_forward / conv1d_backward are the 1-D versions of nbnet.kernels.conv's
conv_forward / conv_backward (chunks of a fixed number of sequences, one single-threaded
BLAS call per product, dW summed over chunks in chunk order in float64); the masked mean
is parallel over sequences. Results are bitwise identical at any thread count.
"""
import numpy as np
from numba import get_thread_id, njit, prange

from . import FASTMATH as _FASTMATH
from .activations import bias_act_rows, dact_rows
from .gemm import blas_single_begin, blas_single_end, gemm_call
from .threads import few_threads, restore_threads

FASTMATH = set(_FASTMATH)  # numba wants a set
_ROWS_PER_TASK = 64        # col2im1d: input rows per parallel task (fixed: not the thread count)


@njit(inline="always", fastmath=FASTMATH)
def _im2col1d_row(col, x, n, o, s, d, pad):
    """col (K*C,) = window o of sequence n of x (N, T, C): col[j*C + c] = x[n, o*S - P + j*D, c]."""
    T, C = x.shape[1], x.shape[2]
    KC = col.shape[0]
    K = KC // C
    t0 = o * s - pad
    if d == 1 and t0 >= 0 and t0 + K <= T:  # one contiguous run of K*C values
        xf = x.reshape(x.size)
        src = (n * T + t0) * C
        for k in range(KC):
            col[k] = xf[src + k]
        return
    for j in range(K):
        t = t0 + j * d
        base = j * C
        if t < 0 or t >= T:
            for c in range(C):
                col[base + c] = 0.0
        else:
            for c in range(C):
                col[base + c] = x[n, t, c]


@njit(inline="always", fastmath=FASTMATH)
def _col2im1d_row(dx, dcols, n, m, t, acc, s, d, pad):
    """dx[n, t, :] = sum over j (ascending) with o = (t + P - j*D) / S a whole number in
    0..OT-1 of dcols[m, o, j*C:(j+1)*C] (m: the sequence's index in dcols), summed in
    float64 in acc (C,)."""
    C = dx.shape[2]
    OT, KC = dcols.shape[1], dcols.shape[2]
    K = KC // C
    for c in range(C):
        acc[c] = 0.0
    for j in range(K):
        r = t + pad - j * d
        if r < 0:
            break  # r falls as j grows
        if r % s != 0:
            continue
        o = r // s
        if o >= OT:
            continue
        base = j * C
        for c in range(C):
            acc[c] += dcols[m, o, base + c]
    for c in range(C):
        dx[n, t, c] = acc[c]


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def im2col1d(cols, x, s, d, pad):
    """x (N, T, C) -> cols (N, OT, K*C) (overwritten; 0 for padding):
    cols[n, o, j*C + c] = x[n, o*S - P + j*D, c]. Parallel over the N*OT windows."""
    N, OT = x.shape[0], cols.shape[1]
    old = few_threads(cols.size)
    for r in prange(N * OT):
        n = r // OT
        o = r - n * OT
        _im2col1d_row(cols[n, o], x, n, o, s, d, pad)
    restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def col2im1d(dx, dcols, s, d, pad):
    """dcols (N, OT, K*C) -> dx (N, T, C), overwritten with
    dx[n, t, c] = sum over (o, j) with o*S - P + j*D = t of dcols[n, o, j*C + c]
    (the adjoint of im2col1d). Parallel over blocks of input rows; each row is summed
    serially in float64."""
    N, T, C = dx.shape
    rows = N * T
    nblk = (rows + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    old = few_threads(dcols.size)
    for b in prange(nblk):
        acc = np.empty(C)
        for r in range(b * _ROWS_PER_TASK, min(rows, (b + 1) * _ROWS_PER_TASK)):
            n = r // T
            _col2im1d_row(dx, dcols, n, n, r - n * T, acc, s, d, pad)
    restore_threads(old)


# ------------------------------------------------------------------ whole convolutions
# As nbnet.kernels.conv: chunks of `chunk` sequences (from the shapes only), each on one
# thread with its cols in that thread's row of `scratch`, one single-threaded BLAS call
# per product; the per-chunk dW terms are added in chunk order.


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def conv1d_forward(z, y, x, Wm, b, has_bias, act, alpha, s, d, pad, OT, chunk, scratch, fns,
                   ilp64):
    """z (N*OT, F) = im2col1d(x) @ Wm (+ b if has_bias), Wm (K*C, F); then y = f(z) as
    bias_act_forward (y may be z; act LINEAR or an elementwise code). scratch (threads,
    >= chunk*OT*K*C) of x's dtype; fns, ilp64: see nbnet.kernels.gemm.gemm."""
    N = x.shape[0]
    KC, F = Wm.shape
    isz = z.itemsize
    nch = (N + chunk - 1) // chunk
    old = few_threads(N * OT * KC * F // 32)
    blas = blas_single_begin(fns)
    for k in prange(nch):
        n0 = k * chunk
        nc = min(N, n0 + chunk) - n0
        buf = scratch[get_thread_id()]
        cols = buf[:nc * OT * KC].reshape((nc * OT, KC))
        for i in range(nc):
            for o in range(OT):
                _im2col1d_row(cols[i * OT + o], x, n0 + i, o, s, d, pad)
        gemm_call(fns, ilp64, isz == 8, False, False, nc * OT, F, KC, buf.ctypes.data, KC,
                  Wm.ctypes.data, F, 0.0, z.ctypes.data + n0 * OT * F * isz, F)
        bias_act_rows(z, y, b, has_bias, act, alpha, n0 * OT, (n0 + nc) * OT)
    blas_single_end(fns, blas)
    restore_threads(old)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def conv1d_backward(dWm, parts, db, dbparts, dx, dz, dy, z, y, has_bias, act, alpha, x, Wm, s,
                    d, pad, OT, chunk, scratch, fns, ilp64, need_dw, need_dx):
    """Backward of conv1d_forward: dz = dy * f'(z) (dz may be dy), db = its column sums
    if has_bias (dbparts (chunks, F) float64, always given); dWm (K*C, F) =
    im2col1d(x).T @ dz when need_dw (parts (chunks, K*C, F) of x's dtype: the per-chunk
    terms); dx (N, T, C) = col2im1d(dz @ Wm.T) when need_dx. All overwritten; per-chunk
    terms added in chunk order. Arrays a flag leaves unused may be empty."""
    N, T, C = x.shape
    KC, F = Wm.shape
    isz = dz.itemsize
    nch = (N + chunk - 1) // chunk
    old = few_threads(N * OT * KC * F // 16)
    blas = blas_single_begin(fns)
    for k in prange(nch):
        n0 = k * chunk
        nc = min(N, n0 + chunk) - n0
        dbparts[k, :] = 0.0
        dact_rows(dz, dbparts[k], dy, z, y, has_bias, act, alpha, n0 * OT, (n0 + nc) * OT)
        buf = scratch[get_thread_id()]
        cols = buf[:nc * OT * KC].reshape((nc * OT, KC))
        dzc = dz.ctypes.data + n0 * OT * F * isz
        if need_dw:
            for i in range(nc):
                for o in range(OT):
                    _im2col1d_row(cols[i * OT + o], x, n0 + i, o, s, d, pad)
            gemm_call(fns, ilp64, isz == 8, True, False, KC, F, nc * OT, buf.ctypes.data, KC,
                      dzc, F, 0.0, parts[k].ctypes.data, F)
        if need_dx:  # dcols = dz @ Wm.T into the same scratch, then col2im
            gemm_call(fns, ilp64, isz == 8, False, True, nc * OT, KC, F, dzc, F,
                      Wm.ctypes.data, F, 0.0, buf.ctypes.data, KC)
            dcols = cols.reshape((nc, OT, KC))
            acc = np.empty(C)
            for i in range(nc):
                for t in range(T):
                    _col2im1d_row(dx, dcols, n0 + i, i, t, acc, s, d, pad)
    blas_single_end(fns, blas)
    if has_bias:
        for f in range(F):
            acc_b = 0.0
            for k in range(nch):
                acc_b += dbparts[k, f]
            db[f] = acc_b
    if need_dw:  # the chunks' terms in chunk order
        for e in prange(KC):
            for f in range(F):
                acc_w = 0.0
                for k in range(nch):
                    acc_w += parts[k, e, f]
                dWm[e, f] = acc_w
    restore_threads(old)


# ------------------------------------------------------------------ masked mean over time
@njit(cache=True, parallel=True, fastmath=FASTMATH)
def masked_mean_forward(y, x, mask):
    """x (N, T, C), mask (N, T) bool -> y (N, C) (overwritten) = the sum of x[n, t, :] over
    the steps with mask[n, t] True, divided by their count (Keras 3's
    GlobalAveragePooling1D: no true step gives 0 / 0 = NaN). Float64 sums; parallel over N."""
    N, T, C = x.shape
    for n in prange(N):
        acc = np.zeros(C)
        cnt = 0
        for t in range(T):
            if mask[n, t]:
                cnt += 1
                for c in range(C):
                    acc[c] += x[n, t, c]
        for c in range(C):
            y[n, c] = acc[c] / cnt if cnt > 0 else np.nan


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def masked_mean_backward(dx, dy, mask):
    """dy (N, C), mask (N, T) -> dx (N, T, C) (overwritten): dy[n, :] / count(n) at the
    true steps, 0 at the masked ones (and everywhere when a sequence has no true step).
    Parallel over N."""
    N, T, C = dx.shape
    for n in prange(N):
        cnt = 0
        for t in range(T):
            if mask[n, t]:
                cnt += 1
        inv = 1.0 / cnt if cnt > 0 else 0.0
        for t in range(T):
            if mask[n, t]:
                for c in range(C):
                    dx[n, t, c] = dy[n, c] * inv
            else:
                for c in range(C):
                    dx[n, t, c] = 0.0
