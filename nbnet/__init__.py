"""nbnet: fast deep learning on multicore CPUs (import nbnet as nb)."""
__version__ = "0.1.0"

from . import config, initializers, random, utils  # noqa: F401
from .errors import DataError, ModelFileError  # noqa: F401
from .threads import get_num_threads, set_num_threads  # noqa: F401
