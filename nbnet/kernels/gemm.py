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


@njit(cache=True, parallel=True)
def gemm(C, A, B, ta, tb, beta, fns, ilp64, cores):
    """C = op(A) @ op(B) + beta * C, op(X) = X.T when the flag is set; A, B, C
    C-contiguous 2-D of one float dtype. fns: int64 (4,) = addresses of cblas_sgemm,
    cblas_dgemm, openblas_set_num_threads and openblas_get_num_threads."""
    M, N = C.shape
    K = A.shape[0] if ta else A.shape[1]
    lda, ldb, ldc = A.shape[1], B.shape[1], C.shape[1]
    tm, tn = tiles(M, N, K, cores)
    nti, ntj = (M + tm - 1) // tm, (N + tn - 1) // tn
    isz = C.itemsize
    pa, pb, pc = A.ctypes.data, B.ctypes.data, C.ctypes.data
    old = few_threads(M * N * K // 32)  # a tile of 2^14 * 32 multiply-adds is ~20 us
    blas_threads = _call_int(fns[3])
    _call_int_int(fns[2], 1)  # no tile call may thread (it would nest in this loop)
    for t in prange(nti * ntj):
        i0 = (t // ntj) * tm
        j0 = (t % ntj) * tn
        m = min(tm, M - i0)
        n = min(tn, N - j0)
        a = pa + (i0 if ta else i0 * lda) * isz
        b = pb + (j0 * ldb if tb else j0) * isz
        c = pc + (i0 * ldc + j0) * isz
        tra = _TRANS if ta else _NO_TRANS
        trb = _TRANS if tb else _NO_TRANS
        if C.itemsize == 4:
            if ilp64:
                _sgemm64(fns[0], tra, trb, m, n, K, 1.0, a, lda, b, ldb, beta, c, ldc)
            else:
                _sgemm32(fns[0], tra, trb, m, n, K, 1.0, a, lda, b, ldb, beta, c, ldc)
        else:
            if ilp64:
                _dgemm64(fns[1], tra, trb, m, n, K, 1.0, a, lda, b, ldb, beta, c, ldc)
            else:
                _dgemm32(fns[1], tra, trb, m, n, K, 1.0, a, lda, b, ldb, beta, c, ldc)
    _call_int_int(fns[2], blas_threads)
    restore_threads(old)


def _find_cblas():
    """(addresses, ilp64) of numpy's OpenBLAS cblas_sgemm, cblas_dgemm,
    openblas_set_num_threads and openblas_get_num_threads, or None."""
    from .. import blas
    lib = blas.numpy_openblas_library()
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
_lock = threading.Lock()
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
    with _lock:
        gemm(out, A, B, ta, tb, float(beta), fns, ilp64, _CORES)
    return out
