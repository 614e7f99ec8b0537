import numba
import numpy as np
import pytest

from nbnet.kernels.stream import triad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 65537, 200003])
def test_triad_matches_numpy(dtype, n):
    rng = np.random.default_rng(n)
    b = rng.standard_normal(n).astype(dtype)
    c = rng.standard_normal(n).astype(dtype)
    a = np.empty(n, dtype)
    triad(a, b, c, 3.0)
    # the scalar is a Python float: the sum is formed in float64, rounded once
    ref = (b.astype(np.float64) + 3.0 * c.astype(np.float64)).astype(dtype)
    np.testing.assert_array_equal(a, ref)


def test_triad_bitwise_at_1_and_2_threads():
    rng = np.random.default_rng(0)
    b, c = rng.standard_normal(300001), rng.standard_normal(300001)
    out = []
    old = numba.get_num_threads()
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            a = np.empty_like(b)
            triad(a, b, c, 1.5)
            out.append(a)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(out[0], out[1])
