"""Tiled matrix products (kernels/gemm.py) against NumPy, and their bits at 1 and 2
threads."""
import numba
import numpy as np
import pytest

from nbnet.kernels import gemm as G

needs_cblas = pytest.mark.skipif(not G.available(), reason="numpy's BLAS has no OpenBLAS CBLAS entry points")

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 0, 7), (17, 33, 9), (32, 784, 512), (130, 70, 300), (301, 517, 263),
          # few rows: computed transposed into scratch (swap_pays), one tile or ragged tiles
          (40, 0, 64), (7, 300, 33), (50, 600, 1000), (96, 129, 47)]


def _operands(rng, M, K, N, ta, tb, dtype):
    A = rng.normal(size=(K, M) if ta else (M, K)).astype(dtype)
    B = rng.normal(size=(N, K) if tb else (K, N)).astype(dtype)
    return (A.T if ta else A), (B.T if tb else B)


@needs_cblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matches_numpy(rng, dtype, shape, ta, tb):
    M, K, N = shape
    a, b = _operands(rng, M, K, N, ta, tb, dtype)
    c0 = rng.normal(size=(M, N)).astype(dtype)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    # the textbook bound of a K-term dot product: |error| <= K * eps * sum_k |a_ik b_kj|
    bound = max(K, 1) * np.finfo(dtype).eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    out = np.full((M, N), np.nan, dtype)
    G.matmul(out, a, b)
    assert np.all(np.abs(out - ref) <= bound + np.finfo(dtype).tiny)
    out = c0.copy()
    G.matmul(out, a, b, beta=1.0)  # accumulate
    assert np.all(np.abs(out - (ref + c0)) <= bound + 2 * np.finfo(dtype).eps * np.abs(ref + c0)
                  + np.finfo(dtype).tiny)


@needs_cblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,ta,tb", [((128, 784, 512), False, False), ((784, 1024, 512), True, False),
                                         ((1024, 512, 784), False, True), ((32, 784, 512), False, False),
                                         ((50, 600, 1000), False, True)])
def test_bitwise_identical_at_1_and_2_threads(rng, dtype, shape, ta, tb):
    M, K, N = shape
    tm, tn = G.tiles(M, N, K, 2)
    assert ((M + tm - 1) // tm) * ((N + tn - 1) // tn) >= 2  # really split among threads
    a, b = _operands(rng, M, K, N, ta, tb, dtype)
    old = numba.get_num_threads()
    outs = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            out = np.empty((M, N), dtype)
            G.matmul(out, a, b)
            outs.append(out)
    finally:
        numba.set_num_threads(old)
    assert outs[0].tobytes() == outs[1].tobytes()


def test_the_transposed_path_is_taken_for_few_rows_only():
    # the shapes above really exercise both paths of the kernel
    assert G.swap_pays(32, 512, False) and G.swap_pays(96, 47, False) and G.swap_pays(40, 64, False)
    assert not G.swap_pays(32, 512, True)      # dW = x.T @ dz: 2x slower transposed
    assert not G.swap_pays(130, 300, False)    # many rows: no gain
    assert not G.swap_pays(17, 9, False)       # narrow C


@needs_cblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transposed_path_leaves_the_rest_of_a_larger_out_alone(rng, dtype):
    # out is a row block of a larger array (as in the convolution's per-chunk products)
    a, b = _operands(rng, 40, 100, 64, False, True, dtype)
    big = np.full((100, 64), 7.0, dtype)
    G.matmul(big[30:70], a, b)
    assert np.all(big[:30] == 7.0) and np.all(big[70:] == 7.0)
    np.testing.assert_allclose(big[30:70], a.astype(np.float64) @ b.astype(np.float64),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4 if dtype == np.float32 else 1e-12)


def test_tiles_cover_c_and_ignore_the_thread_count():
    for (M, N, K) in [(1, 1, 1), (32, 512, 784), (1024, 512, 784), (784, 512, 1024), (3, 5000, 64)]:
        for cores in (1, 2, 16):
            tm, tn = G.tiles(M, N, K, cores)
            assert tm >= 1 and tn >= 1
            n_tiles = ((M + tm - 1) // tm) * ((N + tn - 1) // tn)
            assert n_tiles <= max(1, 2 * cores)
            assert M * N * K // n_tiles >= (1 << 21) or n_tiles == 1
    assert G.tiles(1024, 512, 784, 1) == (1024, 512)   # one core: one call
    assert G.tiles(1024, 512, 784, 2) == (512, 512)    # two: rows split first
    assert G.tiles(32, 512, 784, 2) == (32, 256)       # few rows: columns split


def test_rejects_strided_operands():
    a = np.ones((8, 8))[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        G.matmul(np.empty((8, 8)), a, np.ones((4, 8)))
