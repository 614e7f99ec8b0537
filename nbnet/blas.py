"""numpy's matrix products on Numba's thread pool: one pool for all of nbnet's work.

Left alone, OpenBLAS (numpy's BLAS) runs its threads and Numba its OpenMP threads, and
each pool's idle threads spin for a while after their work and take the cores from
the other's: on 2 cores a batch-norm kernel after a matrix product got no speed-up
from its second thread. OpenBLAS (0.3.27 and later, which numpy's wheels carry) can
hand the jobs of each threaded call to a callback instead; ours runs them as one
parallel loop on Numba's pool. With a single pool its threads may spin between
kernels, so nbnet leaves OMP_WAIT_POLICY alone and lets small kernels use every
thread (kernels/threads.py: SPINNING). Measured on the 2-core machine at 2 threads:
small CNN 3.8k -> 5.5k samples/s, MLP b1024 88k -> 96k, batch norm (256, 1024) 680k
-> 1.0M rows/s.

Where that is not possible (another BLAS, an older OpenBLAS, a threading layer other
than OpenMP, or NBNET_BLAS_THREADS=openblas), nbnet falls back to OpenBLAS's own
threads and to OMP_WAIT_POLICY=PASSIVE for Numba's, which must be set before Numba
starts its pool: so `prepare()` runs first thing in `import nbnet`, `install()` once
the kernels are imported.

Every job of one call must run at the same time (OpenBLAS's threads wait for each
other's packed panels), so the loop runs on as many threads as there are jobs. The
callback is registered only with numpy's own OpenBLAS, never with one that jitted
code calls from inside a parallel loop (nested, the jobs would run one after another
and wait forever), and a forked child goes back to OpenBLAS's threads (GNU OpenMP
does not survive a fork).
"""
import ctypes
import os

from .kernels.openblas import numpy_openblas_library

_NAMES = ("scipy_openblas_set_threads_callback_function64_",
          "scipy_openblas_set_threads_callback_function",
          "openblas_set_threads_callback_function64_",
          "openblas_set_threads_callback_function")

_setters = []      # numpy's OpenBLAS entry points found by prepare()
_installed = False


def _numpy_openblas_setters():
    lib = numpy_openblas_library()
    for name in _NAMES if lib is not None else ():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.argtypes, fn.restype = [ctypes.c_void_p], None
            return [fn]
    return []


def prepare():
    """Before Numba starts its pool: find numpy's OpenBLAS callback, else make Numba's
    threads sleep when idle (unless the user chose OMP_WAIT_POLICY)."""
    global _setters
    if os.environ.get("NBNET_BLAS_THREADS", "numba").lower() != "openblas":
        try:
            _setters = _numpy_openblas_setters()
        except Exception:  # pragma: no cover - no threadpoolctl info: fall back
            _setters = []
    if not _setters:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def install():
    """Register the callback (after prepare(), once the kernels are importable)."""
    global _installed
    import numba
    from .kernels import threads
    if not _setters or numba.threading_layer() != "omp":
        threads.set_small_parallel(threads.PASSIVE)
        return False
    from .kernels.blasjobs import callback_address
    address = callback_address()
    for fn in _setters:
        fn(address)
    _installed = True
    threads.set_small_parallel(threads.SPINNING)
    os.register_at_fork(after_in_child=_uninstall_in_child)
    return True


def _uninstall_in_child():
    global _installed
    from .kernels import threads
    for fn in _setters:
        fn(None)
    _installed = False
    threads.set_small_parallel(threads.PASSIVE)


def installed():
    """Whether numpy's matrix products run on Numba's pool in this process."""
    return _installed
