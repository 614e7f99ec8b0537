"""numpy's own OpenBLAS library, found once (a ctypes handle, no Numba): the matrix-product
kernels call into it and nbnet.blas registers its threads callback with it."""
import ctypes
import os

_lib, _lib_looked = None, False


def numpy_openblas_library():
    """ctypes handle of numpy's own OpenBLAS (the copy its wheels carry, in numpy.libs/
    or numpy/.libs/), or None when numpy uses another BLAS."""
    global _lib, _lib_looked
    if _lib_looked:
        return _lib
    _lib_looked = True
    import numpy
    from threadpoolctl import threadpool_info
    here = os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__)))
    for info in threadpool_info():
        path = os.path.abspath(info.get("filepath") or "")
        if info.get("internal_api") == "openblas" and path.startswith(
                (os.path.join(here, "numpy.libs"), os.path.join(here, "numpy"))):
            try:
                _lib = ctypes.CDLL(path)
            except OSError:  # pragma: no cover - a library threadpoolctl just listed
                pass
            break
    return _lib
