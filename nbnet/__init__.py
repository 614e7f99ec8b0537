"""nbnet: fast deep learning on multicore CPUs (import nbnet as nb).

A Keras script ports by changing its imports: `import nbnet as keras`,
`from nbnet import layers`.
"""
__version__ = "0.1.0"

import os as _os

# NOTE: Numba's OpenMP threads spin after each parallel kernel and then fight the BLAS
# threads of the next matrix product for the cores (measured: 8.5 ms instead of
# 0.25 ms for a Dense step at batch 32 on 2 cores). Passive waiting ends that; it must
# be set before the OpenMP runtime starts, i.e. before the first parallel kernel.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import config, initializers, random  # noqa: F401
from . import activations, callbacks, data, datasets, layers, losses, metrics  # noqa: F401
from . import optimizers, schedules, utils  # noqa: F401
from .errors import DataError, ModelFileError  # noqa: F401
from .layers.input import Input, InputLayer  # noqa: F401
from .model import Sequential  # noqa: F401
from .saving import load_model  # noqa: F401
from .threads import get_num_threads, set_num_threads  # noqa: F401
from . import distributed, machine, profiler  # noqa: F401,E402

Model = Sequential
