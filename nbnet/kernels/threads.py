"""Small work on one thread, decided inside a kernel.

Waking the other threads of Numba's pool costs more than a short pass over a small
array, how much more depends on how the pool waits: with nbnet's matrix products on
the same pool (nbnet/blas.py) its threads spin between kernels and the cut-off is low;
when they sleep (OMP_WAIT_POLICY=PASSIVE, the fallback) a wake-up costs tens of
microseconds and the cut-off is high. A kernel that calls few_threads(n) first runs its
parallel loops on the calling thread alone when n < small_parallel(), and calls
restore_threads(old) at its end. Results do not change: reductions sum fixed chunks in
a fixed order at any thread count.
"""
import ctypes

from llvmlite import binding as ll
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.ufunc.parallel import _launch_threads

SPINNING, PASSIVE = 1 << 14, 1 << 20  # the cut-offs (work units) for the two pools

# NOTE: a jitted kernel freezes Python globals as constants, and its cached machine
# code would keep them. The cut-off is a C variable instead, found by name when a
# kernel is compiled or loaded from the cache, so it can change at run time.
_small = ctypes.c_int64(PASSIVE)
ll.add_symbol("nbnet_small_parallel", ctypes.addressof(_small))

# Numba registers its pool's `get_num_threads` / `set_num_threads` as symbols when it
# starts the pool; calls by those names (not through the ctypes pointers that
# numba.set_num_threads and the checks of numba.get_num_threads use inside jitted
# code) let the kernels that call them be cached.
_launch_threads()


def small_parallel():
    """Work below which the kernels that ask run on one thread."""
    return _small.value


def set_small_parallel(n):
    _small.value = int(n)


@intrinsic
def _load_small(typingctx):
    def codegen(context, builder, signature, args):
        gv = builder.module.globals.get("nbnet_small_parallel")
        if gv is None:
            gv = ir.GlobalVariable(builder.module, ir.IntType(64), "nbnet_small_parallel")
            gv.linkage = "external"
        return builder.load(gv)
    return types.int64(), codegen


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
    """Limit this thread's parallel loops to one thread when n < small_parallel();
    returns the count to give restore_threads."""
    old = _get_num_threads()
    if n < _load_small() and old > 1:
        _set_num_threads(1)
    return old


@njit(cache=True)
def restore_threads(old):
    _set_num_threads(old)
