"""Matrix products whose bits do not depend on the thread count.

OpenBLAS splits a threaded product among its threads and blocks the inner sums
differently than on one thread, so `x @ W` differs in the last bits between 1 and 2
threads (measured: (128, 784) @ (784, 512), up to 2e-6), and Adam turns such bits
into different weights. nbnet instead cuts every product C = op(A) @ op(B) into tiles
of C whose size depends on the shapes and the machine's core count, never on the
thread count in use, and runs one single-threaded OpenBLAS call (numpy's own library,
through its CBLAS entry point) per tile, the tiles in a parallel loop on Numba's pool.
A tile's bits are the same whoever computes it, so the product is too. (On another
machine the tiles, like the BLAS kernels, may differ.)

OpenBLAS is held at one thread while the tiles run (its "local" thread count is
process-wide in the pthreads build numpy ships): a threaded call from inside the
parallel loop would nest, and OpenBLAS's jobs would wait for each other forever. A
lock keeps two Python threads from interleaving that.

Where numpy's BLAS is not an OpenBLAS with those entry points, matmul() falls back to
np.dot (bitwise across thread counts only for products too small to thread).
"""
import ctypes
import os
import threading

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from .threads import few_threads, restore_threads

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _make_gemm_call(double, ilp64):
    flt = ir.DoubleType() if double else ir.FloatType()
    blasint = ir.IntType(64) if ilp64 else ir.IntType(32)
    ptr = flt.as_pointer()
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, blasint, blasint, blasint, flt, ptr,
                                           blasint, ptr, blasint, flt, ptr, blasint])

    @intrinsic
    def call(typingctx, fn, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc):
        sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64,
                         types.int64, types.float64, types.int64, types.int64, types.int64,
                         types.int64, types.float64, types.int64, types.int64)

        def codegen(context, builder, signature, args):
            (fn_, ta_, tb_, m_, n_, k_, al_, a_, lda_, b_, ldb_, be_, c_, ldc_) = args
            f = builder.inttoptr(fn_, fnty.as_pointer())

            def bi(v):
                return v if ilp64 else builder.trunc(v, i32)

            def fl(v):
                return v if double else builder.fptrunc(v, flt)
            builder.call(f, [ir.Constant(i32, _ROW_MAJOR), builder.trunc(ta_, i32),
                             builder.trunc(tb_, i32), bi(m_), bi(n_), bi(k_), fl(al_),
                             builder.inttoptr(a_, ptr), bi(lda_), builder.inttoptr(b_, ptr),
                             bi(ldb_), fl(be_), builder.inttoptr(c_, ptr), bi(ldc_)])
            return context.get_dummy_value()
        return sig, codegen
    return call


_sgemm32, _sgemm64 = _make_gemm_call(False, False), _make_gemm_call(False, True)
_dgemm32, _dgemm64 = _make_gemm_call(True, False), _make_gemm_call(True, True)


@intrinsic
def _call_int_int(typingctx, fn, n):
    """void fn(int) through the pointer fn (openblas_set_num_threads)."""
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        f = builder.inttoptr(args[0], ir.FunctionType(ir.VoidType(), [i32]).as_pointer())
        builder.call(f, [builder.trunc(args[1], i32)])
        return context.get_dummy_value()
    return types.void(types.int64, types.int64), codegen


@intrinsic
def _call_int(typingctx, fn):
    """int fn(void) through the pointer fn (openblas_get_num_threads)."""
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        f = builder.inttoptr(args[0], ir.FunctionType(i32, []).as_pointer())
        return builder.sext(builder.call(f, []), ir.IntType(64))
    return types.int64(types.int64), codegen


@njit(cache=True)
def tiles(M, N, K, cores):
    """Tile shape (tm, tn) of C for an (M, K) @ (K, N) product: a function of the
    shapes and of the machine's core count, never of the thread count in use. Up to
    the power of two >= cores tiles, each of at least 2^21 multiply-adds; the larger
    side of the tile is halved first (splitting rows re-packs B, splitting columns
    re-packs A, in OpenBLAS); sides are multiples of 16 (the kernels' unroll)."""
    target = 1
    while target < cores:
        target *= 2
    while target > 1 and M * N * K // target < (1 << 21):
        target //= 2
    nm = nn = 1
    while nm * nn < target:
        rm, rn = (M + nm - 1) // nm, (N + nn - 1) // nn
        if rm >= rn and rm >= 32:
            nm *= 2
        elif rn >= 32:
            nn *= 2
        elif rm >= 32:
            nm *= 2
        else:
            break
    tm = ((M + nm - 1) // nm + 15) // 16 * 16
    tn = ((N + nn - 1) // nn + 15) // 16 * 16
    return max(tm, 1), max(tn, 1)


def swap_pays(M, N, ta):
    """Whether C = op(A) @ op(B) is faster computed as C.T = op(B).T @ op(A).T into a
    scratch buffer and transposed back: when C has few rows (a small batch) and A is
    not transposed (the forward x @ W and dx = dz @ W.T of a dense layer, not dW),
    OpenBLAS then streams the large operand as its packed "A" panel. Measured at 1
    thread, float32, weights out of L2 as after an optimizer step: (32, 784) @ (784,
    512) 0.35 -> 0.25 ms, (32, 256) @ (256, 512).T 0.14 -> 0.09 ms; no gain from
    about 128 rows on, a loss for dW = x.T @ dz (2.1x slower)."""
    return (not ta) and M <= 96 and N >= 32


@njit(cache=True)
def _transpose_into(C, c0, ldc, S, m, n, beta):
    """C[c0 + i * ldc + j] = S[j * m + i] + beta * C[...] for i < m, j < n (flat views),
    in 16 x 16 blocks."""
    for i0 in range(0, m, 16):
        i1 = min(m, i0 + 16)
        for j0 in range(0, n, 16):
            j1 = min(n, j0 + 16)
            for i in range(i0, i1):
                r = c0 + i * ldc
                if beta == 0.0:
                    for j in range(j0, j1):
                        C[r + j] = S[j * m + i]
                else:
                    for j in range(j0, j1):
                        C[r + j] = S[j * m + i] + beta * C[r + j]


@njit(inline="always")
def gemm_call(fns, ilp64, double, ta, tb, M, N, K, a, lda, b, ldb, beta, c, ldc):
    """One single-threaded cblas_?gemm (row-major) on raw addresses a, b, c:
    C (M, N) = op(A) @ op(B) + beta * C; for kernels that run their own products
    between blas_single_begin and blas_single_end."""
    tra = _TRANS if ta else _NO_TRANS
    trb = _TRANS if tb else _NO_TRANS
    if double:
        if ilp64:
            _dgemm64(fns[1], tra, trb, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc)
        else:
            _dgemm32(fns[1], tra, trb, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc)
    elif ilp64:
        _sgemm64(fns[0], tra, trb, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc)
    else:
        _sgemm32(fns[0], tra, trb, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc)


@njit(cache=True)
def blas_single_begin(fns):
    """Hold OpenBLAS at one thread (a threaded call from inside a parallel loop would
    nest, and OpenBLAS's jobs would wait for each other forever); returns the count
    to give blas_single_end."""
    old = _call_int(fns[3])
    _call_int_int(fns[2], 1)
    return old


@njit(cache=True)
def blas_single_end(fns, old):
    _call_int_int(fns[2], old)


@njit(cache=True, parallel=True)
def gemm(C, A, B, ta, tb, beta, fns, ilp64, cores, S):
    """C = op(A) @ op(B) + beta * C, op(X) = X.T when the flag is set; A, B, C
    C-contiguous 2-D of one float dtype. fns: int64 (4,) = addresses of cblas_sgemm,
    cblas_dgemm, openblas_set_num_threads and openblas_get_num_threads. S: scratch of
    C's dtype, 1-D; when it holds at least one (tm, tn) block per tile, each tile is
    computed transposed into it and copied back (see swap_pays), else S may be empty."""
    M, N = C.shape
    K = A.shape[0] if ta else A.shape[1]
    lda, ldb, ldc = A.shape[1], B.shape[1], C.shape[1]
    tm, tn = tiles(M, N, K, cores)
    nti, ntj = (M + tm - 1) // tm, (N + tn - 1) // tn
    swap = S.shape[0] >= nti * ntj * tm * tn
    isz = C.itemsize
    double = isz == 8
    pa, pb, pc, ps = A.ctypes.data, B.ctypes.data, C.ctypes.data, S.ctypes.data
    Cf = C.reshape(M * N)
    old = few_threads(M * N * K // 32)  # a tile of 2^14 * 32 multiply-adds is ~20 us
    blas_threads = blas_single_begin(fns)  # no tile call may thread
    for t in prange(nti * ntj):
        i0 = (t // ntj) * tm
        j0 = (t % ntj) * tn
        m = min(tm, M - i0)
        n = min(tn, N - j0)
        a = pa + (i0 if ta else i0 * lda) * isz
        b = pb + (j0 * ldb if tb else j0) * isz
        if swap:  # S_t (n, m) = op(B)[:, j0:].T @ op(A)[i0:].T: same pointers, flags flipped
            s0 = t * tm * tn
            gemm_call(fns, ilp64, double, not tb, not ta, n, m, K, b, ldb, a, lda, 0.0,
                      ps + s0 * isz, m)
            _transpose_into(Cf, i0 * ldc + j0, ldc, S[s0:], m, n, beta)
        else:
            gemm_call(fns, ilp64, double, ta, tb, m, n, K, a, lda, b, ldb, beta,
                      pc + (i0 * ldc + j0) * isz, ldc)
    blas_single_end(fns, blas_threads)
    restore_threads(old)


def _find_cblas():
    """(addresses, ilp64) of numpy's OpenBLAS cblas_sgemm, cblas_dgemm,
    openblas_set_num_threads and openblas_get_num_threads, or None."""
    from .openblas import numpy_openblas_library
    lib = numpy_openblas_library()
    if lib is None:
        return None
    for pre, suf, ilp64 in (("scipy_", "64_", True), ("", "64_", True), ("scipy_", "", False), ("", "", False)):
        names = (f"{pre}cblas_sgemm{suf}", f"{pre}cblas_dgemm{suf}",
                 f"{pre}openblas_set_num_threads{suf}", f"{pre}openblas_get_num_threads{suf}")
        fns = [getattr(lib, n, None) for n in names]
        if all(f is not None for f in fns):
            addr = [ctypes.cast(f, ctypes.c_void_p).value for f in fns]
            return np.array(addr, dtype=np.int64), ilp64
    return None


_cblas = None
_looked = False
blas_lock = threading.Lock()  # one Python thread at a time holds OpenBLAS at one thread
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cblas():
    """(addresses, ilp64) of numpy's OpenBLAS entry points (see gemm), or None when
    numpy's BLAS is not such an OpenBLAS. Callers of kernels that use them hold
    blas_lock."""
    return _cblas if available() else None


def available():
    global _cblas, _looked
    if not _looked:
        _cblas, _looked = _find_cblas(), True
    return _cblas is not None


def matmul(out, a, b, beta=0.0):
    """out = a @ b + beta * out, bitwise the same at any thread count. a and b are
    C-contiguous 2-D arrays or transposes (.T) of C-contiguous ones; out C-contiguous."""
    if not available() or a.dtype != out.dtype or b.dtype != out.dtype:
        if beta == 0.0:
            np.dot(a, b, out=out)
        else:
            out *= beta
            out += a @ b
        return out
    ta = not a.flags.c_contiguous
    tb = not b.flags.c_contiguous
    A = a.T if ta else a
    B = b.T if tb else b
    if not (A.flags.c_contiguous and B.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("matmul: operands must be C-contiguous or transposes of C-contiguous arrays")
    fns, ilp64 = _cblas
    M, N = out.shape
    with blas_lock:
        S = _no_scratch[out.dtype.itemsize]
        if swap_pays(M, N, ta):
            K = a.shape[1]
            tm, tn = tiles(M, N, K, _CORES)
            S = _scratch(out.dtype, ((M + tm - 1) // tm) * ((N + tn - 1) // tn) * tm * tn)
        gemm(out, A, B, ta, tb, float(beta), fns, ilp64, _CORES, S)
    return out


_no_scratch = {4: np.empty(0, np.float32), 8: np.empty(0, np.float64)}
_scratches = {}


def _scratch(dtype, n):
    """A reused scratch buffer of at least n elements (grown, never shrunk)."""
    buf = _scratches.get(dtype.itemsize)
    if buf is None or buf.shape[0] < n:
        buf = _scratches[dtype.itemsize] = np.empty(n, dtype)
    return buf
