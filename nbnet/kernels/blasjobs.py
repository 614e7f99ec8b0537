"""The OpenBLAS threads callback (see nbnet/blas.py): run the jobs of one threaded BLAS
call as one parallel loop on Numba's pool.

OpenBLAS calls callback(sync, dojob, numjobs, jobdata_elsize, jobdata, dojob_data) and
expects dojob(thread_num, jobdata + i * jobdata_elsize, dojob_data) run for every job i,
all at the same time, each with a distinct thread_num, and done before it returns.
Pointers travel as integers (same registers on x86-64 and arm64).
"""
import numba
from llvmlite import ir
from numba import cfunc, njit, prange, types
from numba.extending import intrinsic

from .threads import _get_num_threads, _set_num_threads


@intrinsic
def _call_job(typingctx, dojob, thread_num, data, dojob_data):
    """dojob(thread_num, data, dojob_data) through the function pointer dojob."""
    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(32), i8p, ir.IntType(32)])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(fn, [builder.trunc(args[1], ir.IntType(32)), builder.inttoptr(args[2], i8p),
                          builder.trunc(args[3], ir.IntType(32))])
        return context.get_dummy_value()
    return types.void(types.intp, types.intp, types.intp, types.intp), codegen


@njit(cache=True, parallel=True)
def run_jobs(dojob, numjobs, elsize, jobdata, dojob_data):
    old = _get_num_threads()
    if old != numjobs:  # one thread per job: the jobs wait for each other
        _set_num_threads(numjobs)
    for i in prange(numjobs):
        _call_job(dojob, numba.get_thread_id(), jobdata + i * elsize, dojob_data)
    if old != numjobs:
        _set_num_threads(old)


@cfunc(types.void(types.int32, types.intp, types.int32, types.intp, types.intp, types.int32), cache=True)
def _callback(sync, dojob, numjobs, elsize, jobdata, dojob_data):
    run_jobs(dojob, numjobs, elsize, jobdata, dojob_data)


def callback_address():
    return _callback.address
