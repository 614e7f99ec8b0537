"""Every random draw in nbnet comes from generators derived from one seed.

`set_random_seed(s)` resets a root `SeedSequence`; each consumer (an initializer, a
dropout layer, the shuffling of an epoch) asks `generator()` for a fresh child
generator, so the sequence of draws is a function of the seed and the order in which
objects are created, as in Keras.
"""
import numpy as np

_root = np.random.SeedSequence()
_seed = None


def set_random_seed(seed):
    """Seed every random draw nbnet makes from now on (also seeds numpy's global RNG)."""
    global _root, _seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seed = int(seed)
    _root = np.random.SeedSequence(_seed)
    np.random.seed(_seed % 2**32)


def get_seed():
    """The seed last given to set_random_seed, or None."""
    return _seed


def generator(seed=None):
    """A new numpy Generator: from `seed` if given, else the next child of the root."""
    if seed is not None:
        return np.random.default_rng(seed)
    return np.random.default_rng(_root.spawn(1)[0])
