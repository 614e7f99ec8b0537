"""Pure @njit kernels: arrays in, preallocated arrays out; no classes, no state.

Conventions (see STYLE.md): outputs first, then inputs, then scalars; shapes in each
docstring; scalars passed as Python float / int / bool so that each kernel compiles one
version per dtype. Reductions sum fixed-size chunks and combine them in a fixed order,
so results are bitwise identical at any thread count.
"""

# Fast-math without `nnan` / `ninf`: a NaN must propagate to TerminateOnNaN.
# NOTE: and without `contract` (FMA fusion): with it, the code Numba compiles in a
# process and the code it loads from its cache round differently (measured: Adam
# weights differ after two steps), so a first, compiling run of `nbnet train` was not
# bitwise equal to the next one.
FASTMATH = {"nsz", "arcp", "reassoc"}
