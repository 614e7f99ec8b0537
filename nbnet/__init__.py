"""nbnet: fast deep learning on multicore CPUs (import nbnet as nb).

A Keras script ports by changing its imports: `import nbnet as keras`,
`from nbnet import layers`.
"""
from ._version import __version__  # noqa: F401

from . import blas as _blas

# Before anything starts Numba's thread pool: numpy's matrix products will run on that
# pool when numpy's OpenBLAS allows it, else its threads must sleep when idle.
_blas.prepare()

from . import config, initializers, random  # noqa: F401
from . import activations, callbacks, data, datasets, layers, losses, metrics  # noqa: F401
from . import constraints, optimizers, regularizers, schedules, utils  # noqa: F401
from .errors import DataError, ModelFileError  # noqa: F401
from .layers.input import Input, InputLayer  # noqa: F401
from .model import Sequential  # noqa: F401
from .functional import Model  # noqa: F401
from .models import load_model  # noqa: F401
from .threads import get_num_threads, set_num_threads  # noqa: F401
from . import distributed, machine, models, profiler  # noqa: F401,E402
from . import dataset_utils as _dataset_utils  # noqa: E402

# keras.utils.image_dataset_from_directory / text_dataset_from_directory: they read with
# nbnet.data, which nbnet.utils (a foundation) may not import, so the facade adds them.
utils.image_dataset_from_directory = _dataset_utils.image_dataset_from_directory
utils.text_dataset_from_directory = _dataset_utils.text_dataset_from_directory
utils.timeseries_dataset_from_array = _dataset_utils.timeseries_dataset_from_array

_blas.install()

