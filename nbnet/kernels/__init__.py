"""Pure @njit kernels: arrays in, preallocated arrays out; no classes, no state.

Conventions (see STYLE.md): outputs first, then inputs, then scalars; shapes in each
docstring; scalars passed as Python float / int / bool so that each kernel compiles one
version per dtype. Reductions sum fixed-size chunks and combine them in a fixed order,
so results are bitwise identical at any thread count.
"""
import os
import time

# Fast-math without `nnan` / `ninf`: a NaN must propagate to TerminateOnNaN.
# NOTE: and without `contract` (FMA fusion): with it, the code Numba compiles in a
# process and the code it loads from its cache round differently (measured: Adam
# weights differ after two steps), so a first, compiling run of `nbnet train` was not
# bitwise equal to the next one.
FASTMATH = {"nsz", "arcp", "reassoc"}


def drop_stale_caches(directory):
    """Remove Numba cache indexes (__pycache__/*.nbi) older than the newest .py file of
    `directory`. Numba checks only the file that defines a kernel, but kernels here
    inline helpers from other files (threads.py, gemm.py, activations.py): after such a
    file changes, every kernel must recompile or some keep the old helper. Installed
    files do not change, so for users this never removes anything."""
    cache = os.path.join(directory, "__pycache__")
    try:
        newest = max(os.stat(os.path.join(directory, f)).st_mtime
                     for f in os.listdir(directory) if f.endswith(".py"))
        if newest > time.time():  # a source dated in the future: every index would
            return                # look stale on every import; trust Numba's own check
        for f in os.listdir(cache):
            path = os.path.join(cache, f)
            if f.endswith(".nbi") and os.stat(path).st_mtime < newest:
                os.remove(path)
    except (OSError, ValueError):  # no cache yet, read-only install, another process
        pass


drop_stale_caches(os.path.dirname(os.path.abspath(__file__)))
