"""Small work on one thread, decided inside a kernel.

Waking the other threads of Numba's pool costs tens of microseconds on a shared
machine (OMP_WAIT_POLICY=PASSIVE, which nbnet sets: see nbnet/__init__.py), more than
a whole pass over a small array. A kernel that calls few_threads(n) first runs its
parallel loops on the calling thread alone when it touches fewer than SMALL_PARALLEL
elements, and restore_threads(old) at its end. Results do not change: reductions sum
fixed chunks in a fixed order at any thread count.
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.ufunc.parallel import _launch_threads

SMALL_PARALLEL = 1 << 20

# Numba registers its pool's `get_num_threads` / `set_num_threads` as symbols when it
# starts the pool; calls by those names (not through the ctypes pointers that
# numba.set_num_threads and the checks of numba.get_num_threads use inside jitted
# code) let the kernels that call them be cached.
_launch_threads()


@intrinsic
def _get_num_threads(typingctx):
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(cgutils.intp_t, [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "get_num_threads")
        return builder.call(fn, [])
    return types.intp(), codegen


@intrinsic
def _set_num_threads(typingctx, n):
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "set_num_threads")
        builder.call(fn, [builder.trunc(args[0], ir.IntType(32))])
        return context.get_dummy_value()
    return types.void(types.int64), codegen


@njit(cache=True)
def few_threads(n):
    """Limit this thread's parallel loops to one thread when n < SMALL_PARALLEL;
    returns the count to give restore_threads."""
    old = _get_num_threads()
    if n < SMALL_PARALLEL and old > 1:
        _set_num_threads(1)
    return old


@njit(cache=True)
def restore_threads(old):
    _set_num_threads(old)
