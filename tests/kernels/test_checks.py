"""all_finite against np.isfinite(...).all()."""
import numpy as np
import pytest

from nbnet.kernels.checks import _CHUNK, all_finite


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, _CHUNK - 1, _CHUNK, _CHUNK + 1, 5 * _CHUNK + 3])
def test_all_finite_matches_numpy(rng, dtype, n):
    x = rng.normal(size=n).astype(dtype) * 1e30  # large but finite: x * 0 must stay 0
    assert all_finite(x)
    for bad in (np.nan, np.inf, -np.inf):
        for where in {0, n // 2, n - 1} if n else ():
            y = x.copy()
            y[where] = bad
            assert not all_finite(y)
            assert all_finite(y) == bool(np.isfinite(y).all())


def test_all_finite_on_the_largest_floats():
    for dtype in (np.float32, np.float64):
        big = np.finfo(dtype).max
        assert all_finite(np.array([big, -big, big], dtype))
