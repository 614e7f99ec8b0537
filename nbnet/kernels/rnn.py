"""Recurrent kernels: SimpleRNN, LSTM and GRU (Keras 3 gate order and formulas).

Layout: time-major. xt (T, N, F) is the input in processing order (reversed in time
for go_backwards, times the input-dropout mask); Z (T, N, G*U) receives the input
projection Z[t] = xt[t] @ W (W = kernel (F, G*U), G = 1, 4, 3), then the gates.

The recurrence runs each fixed chunk of batch rows through all T steps on one thread
(rows do not interact): per step the chunk's input projection and its product with the
recurrent kernel R (U, G*U), single-threaded BLAS calls on small tiles (see _prod: no
repacking of R per call), then one fused pass for all gates, the cell and the output.
The projection is done per step rather than as one large product beforehand: its tile
is then still in cache for the recurrent product and the gate pass (measured 1.3 ms of
5.5 for the LSTM forward at batch 32 as one product).
With a step mask m (T, N) a masked step keeps the previous state (h, c); the output
at step t is om[t, n] * h_t, om = 1 without a mask (see the layer for Keras' rule).

    SimpleRNN  h = act(z + h_prev' @ R + b)
    LSTM       a = z + h_prev' @ R + b;  i, f, o = ract(a_i, a_f, a_o), g = act(a_c)
               c = f * c_prev + i * g;   h = o * act(c)
    GRU        (reset_after) ah = h_prev' @ R + b1;  a = z + b0
               zg = ract(a_z + ah_z), r = ract(a_r + ah_r), hh = act(a_h + r * ah_h)
               h = zg * h_prev + (1 - zg) * hh
    GRU1       (reset_after=False, one bias) zg, r = ract(z_zr + h_prev' @ R_zr + b_zr),
               rh = r * h_prev', hh = act(z_h + rh @ R_h + b_h): two products per step,
               the second after the gates it reads; h as the GRU

h_prev' = h_prev * rmask (recurrent dropout, one mask per sample) or h_prev.
Per-gate masks (Keras' implementation 1, which Keras 3 uses whenever recurrent_dropout
> 0): the input xt (T, N, G*F) holds one masked copy of x per gate and rmask / Hd
(N / T, N, G*U) one per gate; gate g then reads x_g @ W_g and h'_g @ R_g (one product
per gate instead of one for all). The kernels read the group count off the shapes.
The forward pass overwrites Z[t] with the gate values (i, f, g, o / zg, r, hh / h),
which backpropagation through time reads in reverse. Backward writes dZ (T, N, G*U),
dL/d(pre-activations) on the input side, and for the GRU dZh, the recurrent side (they
differ in the candidate gate: dZh_h = dZ_h * r); the caller then forms the weight
gradients as few large products, dW = xt^T dZ and dR = Hprev'^T dZh over all steps, and
dxt = dZ @ W^T.

Determinism: chunks depend on N and the machine's core count only, the product tiles
on the shapes only, each chunk is computed by one thread in a fixed order, the column
sums (bias gradients) run over all rows serially per column: bitwise identical at any
thread count.

Speed (1 thread, batch 32, LSTM forward, measured against the first version): the
kernels use error_model="numpy" (Python's tests every division for zero, so no gate
loop vectorised: 10x slower activations), the product tiles (65 -> 111 GFLOP/s per
step), the projection per step, float32 activations for float32 arrays, and the
backward's dZ @ R.T against a transposed copy of R (39 -> 75 GFLOP/s in OpenBLAS).
"""
import math

import numpy as np
from numba import njit, prange

from . import FASTMATH as _FASTMATH
from .gemm import blas_single_begin, blas_single_end, gemm_call

FASTMATH = set(_FASTMATH)  # numba wants a set

SIMPLE, LSTM, GRU, GRU1 = 0, 1, 2, 3
GATES = (1, 4, 3, 3)
# Activation codes, the same numbers as nbnet.kernels.activations.
LINEAR, RELU, SIGMOID, TANH, HARD_SIGMOID = 0, 1, 2, 3, 12
SUPPORTED = (LINEAR, RELU, SIGMOID, TANH, HARD_SIGMOID)


def row_chunk(N, cores):
    """Rows per chunk of the recurrence: a function of the batch size and the machine's
    core count, never of the thread count in use (a multiple of 8)."""
    per = -(-N // max(1, cores))
    return max(8, -(-per // 8) * 8)


# Eigen's rational tanh for float32 (clamped to [-9, 9]), mul / add / div only, so the
# gate loops vectorise (no SVML here for exp / tanh). Evaluated in float32 (float32
# arrays): absolute error 3.3e-7 (about 5 float32 ulp), sigmoid = (1 + tanh(x/2)) / 2
# 2.3e-7, measured against float64 on [-12, 12]; twice the speed of evaluating it in
# float64 (error 5.4e-8), which the first version did: 0.4 ms per million values.
_A1, _A3, _A5 = 4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05
_A7, _A9 = 5.12229709037114e-08, -8.60467152213735e-11
_A11, _A13 = 2.00018790482477e-13, -2.76076847742355e-16
_B0, _B2, _B4 = 4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04
_B6 = 1.19825839466702e-06
_F32 = tuple(np.float32(c) for c in (_A1, _A3, _A5, _A7, _A9, _A11, _A13, _B0, _B2, _B4,
                                     _B6, 9.0, 0.5))


@njit(inline="always")
def _tanh_fast32(v):
    a1, a3, a5, a7, a9, a11, a13, b0, b2, b4, b6, lim, _ = _F32
    x = min(max(v, -lim), lim)
    x2 = x * x
    p = ((((((a13 * x2 + a11) * x2 + a9) * x2 + a7) * x2 + a5) * x2 + a3) * x2 + a1) * x
    q = ((b6 * x2 + b4) * x2 + b2) * x2 + b0
    return p / q


@njit(inline="always")
def _sigmoid(v):
    v = np.float64(v)
    if v >= 0.0:  # exp of a non-positive number only
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _act_row(v, code, fast):
    """v = f(v) in place on a 1-D view. fast (float32 arrays): tanh and sigmoid =
    (1 + tanh(x/2)) / 2 from _tanh_fast32; else exact float64 maths. The branches stay
    outside the loops, so these vectorise (the kernels use error_model="numpy": with
    Python's, every division tests for zero and nothing vectorises, 10x slower)."""
    n = v.shape[0]
    half = _F32[12]
    if code == TANH:
        if fast:
            for j in range(n):
                v[j] = _tanh_fast32(v[j])
        else:
            for j in range(n):
                v[j] = math.tanh(np.float64(v[j]))
    elif code == SIGMOID:
        if fast:
            for j in range(n):
                v[j] = half + half * _tanh_fast32(half * v[j])
        else:
            for j in range(n):
                v[j] = _sigmoid(v[j])
    elif code == RELU:
        for j in range(n):
            x = v[j]
            v[j] = 0.0 if x < 0.0 else x
    elif code == HARD_SIGMOID:
        for j in range(n):
            x = np.float64(v[j])
            v[j] = 0.0 if x < -3.0 else (1.0 if x > 3.0 else (x + 3.0) / 6.0)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _dact_row(d, y, code):
    """d *= f'(x) in place, from y = f(x) (1-D views of one length)."""
    n = d.shape[0]
    if code == TANH:
        for j in range(n):
            w = y[j]
            d[j] = d[j] * (1.0 - w * w)
    elif code == SIGMOID:
        for j in range(n):
            w = y[j]
            d[j] = d[j] * (w * (1.0 - w))
    elif code == RELU:
        for j in range(n):
            d[j] = d[j] if y[j] > 0.0 else 0.0
    elif code == HARD_SIGMOID:
        for j in range(n):
            w = y[j]
            d[j] = d[j] / 6.0 if 0.0 < w < 1.0 else 0.0


# The per-step products are cut into tiles of C of at most _TILE_MNK multiply-adds
# (rows by _TILE_ROWS, columns by a multiple of 16): OpenBLAS's small-matrix kernels
# (M * N * K <= 100^3 on AVX-512 builds) then compute them straight from the operands,
# without packing the recurrent kernel on every call. Measured, 1 thread, float32,
# (16, 128) @ (128, 512): one call 65 GFLOP/s, four column tiles of 128 111 GFLOP/s.
# The tiling depends on the shapes only, so the bits do not depend on the thread count.
_TILE_ROWS = 32
_TILE_MNK = 1 << 19


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _prod(fns, ilp64, C, A, B, tb, beta):
    """C = A @ op(B) + beta * C on 2-D views with contiguous rows (op(B) = B.T if tb;
    column slices such as R[:, :2U] too): single-threaded BLAS calls on tiles of C (see
    _TILE_MNK), or plain loops where no CBLAS was found (fns empty)."""
    M, Nc = C.shape
    K = A.shape[1]
    if fns.shape[0] > 0:
        isz = C.itemsize
        rb = min(M, _TILE_ROWS)
        cb = max(16, (_TILE_MNK // max(1, rb * K)) // 16 * 16)
        cb = min(cb, Nc)
        lda, ldb, ldc = A.strides[0] // isz, B.strides[0] // isz, C.strides[0] // isz
        pa, pb, pc = A.ctypes.data, B.ctypes.data, C.ctypes.data
        for i0 in range(0, M, rb):
            m = min(rb, M - i0)
            for j0 in range(0, Nc, cb):
                n = min(cb, Nc - j0)
                b = pb + (j0 * ldb if tb else j0) * isz
                gemm_call(fns, ilp64, isz == 8, False, tb, m, n, K, pa + i0 * lda * isz, lda,
                          b, ldb, beta, pc + (i0 * ldc + j0) * isz, ldc)
        return
    for m in range(M):
        for j in range(Nc):
            s = 0.0
            for k in range(K):
                s += np.float64(A[m, k]) * np.float64(B[j, k] if tb else B[k, j])
            C[m, j] = s + beta * C[m, j] if beta != 0.0 else s


@njit(cache=True)
def _prod_gates(fns, ilp64, C, A, B, wa, U, g0, g1, beta):
    """Per-gate masks: C_g = A_g @ B_g + beta * C_g for gates g0 <= g < g1, where C_g, B_g
    are the g-th blocks of U columns and A_g the g-th block of wa columns of A."""
    for g in range(g0, g1):
        c0, c1 = g * U, (g + 1) * U
        _prod(fns, ilp64, C[:, c0:c1], A[:, g * wa:(g + 1) * wa], B[:, c0:c1], False, beta)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def rnn_forward(y, Z, Hs, Cs, TC, AH, Hd, S, xt, W, R, b0, b1, mk, om, rmask, cell, act,
                ract, has_mask, has_rdrop, seq, chunk, fns, ilp64):
    """The recurrence (see the module doc). xt (T, N, F) and W (F, GU): the input
    projection Z[t] = xt[t] @ W is computed step by step, each chunk's tile just before
    its recurrent product (while it is in cache). Z (T, N, GU): out, the gates.
    Hs (T+1, N, U): Hs[0] = h0 in, Hs[t+1] = h_t out; Cs (T+1, N, U) likewise for the
    LSTM cell (else empty). TC (T, N, U): LSTM act(c_t) (else empty). AH (T, N, U): GRU
    h_prev' @ R_h + b1_h, GRU1 r * h_prev' (else empty). Hd (T, N, U or G*U): h_prev'
    when has_rdrop (else empty). S (chunks, chunk, GU) scratch. R (U, GU); b0 (GU,)
    input bias (zeros without one), b1 (GU,) GRU recurrent bias. mk (T, N) bool and
    om (T, N) read when has_mask. rmask (N, U or G*U) when has_rdrop. xt (T, N, F or
    G*F). y: (N, T, U) if seq else (N, 1, U), y = om * h."""
    T, N, GU = Z.shape
    U = Hs.shape[2]
    G, FX = GU // U, W.shape[0]
    mgx = xt.shape[2] // FX                    # input mask groups: 1 or G
    mgh = Hd.shape[2] // U if has_rdrop else 1  # recurrent mask groups: 1 or G
    hoff = (mgh - 1) * U                       # the candidate gate's h' (GRU1)
    nch = (N + chunk - 1) // chunk
    fast = Z.itemsize == 4
    blas = blas_single_begin(fns) if fns.shape[0] > 0 else 0
    for k in prange(nch):
        r0 = np.int64(k) * chunk
        r1 = min(N, r0 + chunk)
        s = S[k, :r1 - r0]
        for t in range(T):
            if has_rdrop:
                for n in range(r0, r1):
                    for g in range(mgh):
                        for j in range(U):
                            Hd[t, n, g * U + j] = Hs[t, n, j] * rmask[n, g * U + j]
                hp = Hd[t, r0:r1]
            else:
                hp = Hs[t, r0:r1]
            if mgx == 1:
                _prod(fns, ilp64, Z[t, r0:r1], xt[t, r0:r1], W, False, 0.0)
            else:
                _prod_gates(fns, ilp64, Z[t, r0:r1], xt[t, r0:r1], W, FX, U, 0, G, 0.0)
            if cell == GRU:
                if mgh == 1:
                    _prod(fns, ilp64, s, hp, R, False, 0.0)
                else:
                    _prod_gates(fns, ilp64, s, hp, R, U, U, 0, G, 0.0)
            elif cell == GRU1:  # zg, r first; then rh = r * h_prev' @ R_h
                if mgh == 1:
                    _prod(fns, ilp64, Z[t, r0:r1, :2 * U], hp, R[:, :2 * U], False, 1.0)
                else:
                    _prod_gates(fns, ilp64, Z[t, r0:r1], hp, R, U, U, 0, 2, 1.0)
                for n in range(r0, r1):
                    z, rh = Z[t, n], AH[t, n]
                    hq = Hd[t, n, hoff:hoff + U] if has_rdrop else Hs[t, n]
                    for j in range(2 * U):
                        z[j] = z[j] + b0[j]
                    _act_row(z[:2 * U], ract, fast)
                    for j in range(U):
                        rh[j] = z[U + j] * hq[j]
                _prod(fns, ilp64, Z[t, r0:r1, 2 * U:], AH[t, r0:r1], R[:, 2 * U:], False, 1.0)
            elif mgh == 1:  # the recurrent term is added to the projection in place
                _prod(fns, ilp64, Z[t, r0:r1], hp, R, False, 1.0)
            else:
                _prod_gates(fns, ilp64, Z[t, r0:r1], hp, R, U, U, 0, G, 1.0)
            for n in range(r0, r1):
                z = Z[t, n]
                keep = has_mask and not mk[t, n]
                hp, hn = Hs[t, n], Hs[t + 1, n]
                if cell == GRU1:
                    for j in range(2 * U, GU):
                        z[j] = z[j] + b0[j]
                else:
                    for j in range(GU):
                        z[j] = z[j] + b0[j]
                if cell == LSTM:
                    _act_row(z[:2 * U], ract, fast)          # i, f
                    _act_row(z[2 * U:3 * U], act, fast)      # g
                    _act_row(z[3 * U:], ract, fast)          # o
                    cp, cn, tc = Cs[t, n], Cs[t + 1, n], TC[t, n]
                    for j in range(U):
                        tc[j] = z[U + j] * cp[j] + z[j] * z[2 * U + j]
                    if keep:
                        for j in range(U):
                            cn[j] = cp[j]
                    else:
                        for j in range(U):
                            cn[j] = tc[j]
                    _act_row(tc, act, fast)
                    if keep:
                        for j in range(U):
                            hn[j] = hp[j]
                    else:
                        for j in range(U):
                            hn[j] = z[3 * U + j] * tc[j]
                elif cell == GRU or cell == GRU1:
                    if cell == GRU:   # (GRU1 has its zg, r and candidate sum already)
                        sr = s[n - r0]
                        ah = AH[t, n]
                        for j in range(GU):
                            sr[j] = sr[j] + b1[j]
                        for j in range(2 * U):
                            z[j] = z[j] + sr[j]
                        _act_row(z[:2 * U], ract, fast)      # zg, r
                        for j in range(U):
                            ah[j] = sr[2 * U + j]
                            z[2 * U + j] = z[2 * U + j] + z[U + j] * ah[j]
                    _act_row(z[2 * U:], act, fast)           # hh
                    if keep:
                        for j in range(U):
                            hn[j] = hp[j]
                    else:
                        for j in range(U):
                            zg = z[j]
                            hn[j] = zg * hp[j] + (1.0 - zg) * z[2 * U + j]
                else:
                    _act_row(z, act, fast)
                    if keep:
                        for j in range(U):
                            hn[j] = hp[j]
                    else:
                        for j in range(U):
                            hn[j] = z[j]
                if seq:
                    w = om[t, n] if has_mask else 1.0
                    for j in range(U):
                        y[n, t, j] = w * Hs[t + 1, n, j]
        if not seq:
            for n in range(r0, r1):
                w = om[T - 1, n] if has_mask else 1.0
                for j in range(U):
                    y[n, 0, j] = w * Hs[T, n, j]
    if fns.shape[0] > 0:
        blas_single_end(fns, blas)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def rnn_backward(dZ, dZh, dHc, dC, S, dyseq, Z, Hs, Cs, TC, AH, Hd, RT, mk, om, rmask, cell,
                 act, ract, has_mask, has_rdrop, seq, chunk, fns, ilp64):
    """Backpropagation through time of rnn_forward, steps in reverse. On entry dHc (N, U)
    = dL/dh_T (including the last output's gradient when not seq) and dC (N, U) =
    dL/dc_T (LSTM, else empty); on exit dL/dh0 and dL/dc0. dyseq (N, T, U): dL/dy when
    seq (else empty). Overwrites dZ (T, N, GU) (dL/d pre-activations, input side; zero
    at masked steps) and, for the GRU, dZh (T, N, GU) (recurrent side; else pass dZ).
    S (chunks, chunk, U) scratch ((chunks, chunk, 2U) for GRU1). RT (GU, U): the
    recurrent kernel TRANSPOSED, C-contiguous
    (the product dZ_t @ RT without a transposed operand: measured 2x faster in OpenBLAS
    at 16 rows). Other arrays as rnn_forward left them."""
    T, N, GU = Z.shape
    U = Hs.shape[2]
    G = GU // U
    mgh = Hd.shape[2] // U if has_rdrop else 1
    hoff = (mgh - 1) * U
    nch = (N + chunk - 1) // chunk
    blas = blas_single_begin(fns) if fns.shape[0] > 0 else 0
    for k in prange(nch):
        r0 = np.int64(k) * chunk
        r1 = min(N, r0 + chunk)
        s = S[k, :r1 - r0]
        for t in range(T - 1, -1, -1):
            for n in range(r0, r1):
                z = Z[t, n]
                d = dZ[t, n]
                w = om[t, n] if has_mask else 1.0
                if has_mask and not mk[t, n]:  # the state passed through: dh, dc stay
                    if seq:
                        for j in range(U):
                            dHc[n, j] = dHc[n, j] + w * dyseq[n, t, j]
                    for j in range(GU):
                        d[j] = 0.0
                    if cell == GRU:
                        dh_ = dZh[t, n]
                        for j in range(GU):
                            dh_[j] = 0.0
                    continue
                dh = dHc[n]
                if seq:
                    for j in range(U):
                        dh[j] = dh[j] + w * dyseq[n, t, j]
                if cell == LSTM:
                    tc, cp, dc = TC[t, n], Cs[t, n], dC[n]
                    for j in range(U):
                        d[3 * U + j] = dh[j] * tc[j]              # do
                        d[2 * U + j] = dh[j] * z[3 * U + j]       # d tc
                    _dact_row(d[3 * U:], z[3 * U:], ract)
                    _dact_row(d[2 * U:3 * U], tc, act)
                    for j in range(U):
                        dcj = dc[j] + d[2 * U + j]
                        d[j] = dcj * z[2 * U + j]                 # di
                        d[U + j] = dcj * cp[j]                    # df
                        d[2 * U + j] = dcj * z[j]                 # dg
                        dc[j] = dcj * z[U + j]
                        dh[j] = 0.0
                    _dact_row(d[:2 * U], z[:2 * U], ract)
                    _dact_row(d[2 * U:3 * U], z[2 * U:3 * U], act)
                elif cell == GRU or cell == GRU1:
                    hp = Hs[t, n]
                    for j in range(U):
                        zg = z[j]
                        d[j] = dh[j] * (hp[j] - z[2 * U + j])
                        d[2 * U + j] = dh[j] * (1.0 - zg)
                        dh[j] = dh[j] * zg
                    _dact_row(d[:U], z[:U], ract)
                    _dact_row(d[2 * U:], z[2 * U:], act)      # d(a_h + r * ah_h)
                    if cell == GRU:   # (GRU1: dr after the product with R_h, below)
                        dr_, ah = dZh[t, n], AH[t, n]
                        for j in range(U):
                            d[U + j] = d[2 * U + j] * ah[j]
                        _dact_row(d[U:2 * U], z[U:2 * U], ract)
                        for j in range(2 * U):
                            dr_[j] = d[j]
                        for j in range(U):
                            dr_[2 * U + j] = d[2 * U + j] * z[U + j]
                else:
                    for j in range(U):
                        d[j] = dh[j]
                        dh[j] = 0.0
                    _dact_row(d, z, act)
            if cell == GRU1:
                # d(rh) = d(a_h) @ R_h^T; dr = d(rh) * h_prev'; then
                # dh_prev += ([dzg, dr] @ R_zr^T + d(rh) * r) * rmask
                sa, sb = s[:, :U], s[:, U:]
                _prod(fns, ilp64, sa, dZ[t, r0:r1, 2 * U:], RT[2 * U:], False, 0.0)
                for n in range(r0, r1):
                    if has_mask and not mk[t, n]:
                        continue
                    d, z = dZ[t, n], Z[t, n]
                    hq = Hd[t, n, hoff:hoff + U] if has_rdrop else Hs[t, n]
                    for j in range(U):
                        d[U + j] = sa[n - r0, j] * hq[j]
                    _dact_row(d[U:2 * U], z[U:2 * U], ract)
                if mgh == 1:
                    _prod(fns, ilp64, sb, dZ[t, r0:r1, :2 * U], RT[:2 * U], False, 0.0)
                    for n in range(r0, r1):
                        z = Z[t, n]
                        for j in range(U):
                            v = sb[n - r0, j] + sa[n - r0, j] * z[U + j]
                            dHc[n, j] = dHc[n, j] + (v * rmask[n, j] if has_rdrop else v)
                else:   # per-gate masks: each gate's share of dh_prev times its mask
                    for n in range(r0, r1):
                        z = Z[t, n]
                        for j in range(U):
                            dHc[n, j] = dHc[n, j] + sa[n - r0, j] * z[U + j] * rmask[n, hoff + j]
                    for g in range(2):
                        c0, c1 = g * U, (g + 1) * U
                        _prod(fns, ilp64, sb, dZ[t, r0:r1, c0:c1], RT[c0:c1], False, 0.0)
                        for n in range(r0, r1):
                            for j in range(U):
                                dHc[n, j] = dHc[n, j] + sb[n - r0, j] * rmask[n, c0 + j]
                continue
            # dh_prev += (dZh_t @ R^T) * rmask
            if mgh == 1:
                if cell == GRU:
                    _prod(fns, ilp64, s, dZh[t, r0:r1], RT, False, 0.0)
                else:
                    _prod(fns, ilp64, s, dZ[t, r0:r1], RT, False, 0.0)
                for n in range(r0, r1):
                    sr = s[n - r0]
                    if has_rdrop:
                        for j in range(U):
                            dHc[n, j] = dHc[n, j] + sr[j] * rmask[n, j]
                    else:
                        for j in range(U):
                            dHc[n, j] = dHc[n, j] + sr[j]
            else:
                for g in range(G):
                    c0, c1 = g * U, (g + 1) * U
                    if cell == GRU:
                        _prod(fns, ilp64, s, dZh[t, r0:r1, c0:c1], RT[c0:c1], False, 0.0)
                    else:
                        _prod(fns, ilp64, s, dZ[t, r0:r1, c0:c1], RT[c0:c1], False, 0.0)
                    for n in range(r0, r1):
                        for j in range(U):
                            dHc[n, j] = dHc[n, j] + s[n - r0, j] * rmask[n, c0 + j]
    if fns.shape[0] > 0:
        blas_single_end(fns, blas)


@njit(cache=True, parallel=True)
def to_time_major(xt, x, dmask, has_drop, backwards):
    """x (N, T, F) -> xt (T, N, F): xt[t, n] = x[n, t'] * dmask[n] (if has_drop), with
    t' = T-1-t if backwards else t. dmask (N, F) (empty unless has_drop); or, per-gate
    masks, xt (T, N, G*F) and dmask (N, G*F): one masked copy per gate."""
    N, T, F = x.shape
    for t in prange(T):
        src = T - 1 - np.int64(t) if backwards else np.int64(t)
        for n in range(N):
            if has_drop:
                for g in range(xt.shape[2] // F):
                    for f in range(F):
                        xt[t, n, g * F + f] = x[n, src, f] * dmask[n, g * F + f]
            else:
                for f in range(F):
                    xt[t, n, f] = x[n, src, f]


@njit(cache=True, parallel=True)
def from_time_major(dx, dxt, dmask, has_drop, backwards):
    """The adjoint of to_time_major: dx (N, T, F) from dxt (T, N, F) or (T, N, G*F), the
    per-gate copies summed in gate order (overwrites)."""
    N, T, F = dx.shape
    mg = dxt.shape[2] // F
    for n in prange(N):
        for t in range(T):
            src = T - 1 - t if backwards else t
            if has_drop:
                for f in range(F):
                    dx[n, src, f] = dxt[t, n, f] * dmask[n, f]
                for g in range(1, mg):
                    for f in range(F):
                        dx[n, src, f] += dxt[t, n, g * F + f] * dmask[n, g * F + f]
            else:
                for f in range(F):
                    dx[n, src, f] = dxt[t, n, f]


@njit(cache=True)
def step_masks(mk, om, mask, backwards, zero_output):
    """mask (N, T) bool -> mk (T, N) bool in processing order, and the output factor
    om (T, N): mk itself if zero_output, else 1 from the first real step on (Keras 3
    repeats the previous output at a masked step, zeros before any real one)."""
    N, T = mask.shape
    for n in range(N):
        seen = False
        for t in range(T):
            m = mask[n, T - 1 - t] if backwards else mask[n, t]
            mk[t, n] = m
            seen = seen or m
            om[t, n] = 1.0 if (m if zero_output else seen) else 0.0


@njit(cache=True, parallel=True)
def column_sums(out, a):
    """a (M, K) -> out (K,) = sum over rows, each column summed serially in float64 in
    row order (overwrites out; same bits at any thread count)."""
    M, K = a.shape
    nb = (K + 63) // 64
    for c in prange(nb):
        acc = np.zeros(64)
        k0, k1 = c * 64, min(K, c * 64 + 64)
        for m in range(M):
            for k in range(k0, k1):
                acc[k - k0] += a[m, k]
        for k in range(k0, k1):
            out[k] = acc[k - k0]
