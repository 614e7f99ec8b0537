"""numpy's matrix products on Numba's pool (nbnet/blas.py): right answers, no deadlock
when Numba's count is lower than BLAS's, a forked child still multiplies, the opt-out."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import nbnet as nb

needs_callback = pytest.mark.skipif(not nb.blas.installed(),
                                    reason="numpy's BLAS is not an OpenBLAS with the threads callback")


def _run(code, env=None, timeout=120):
    """Run `code` in a fresh interpreter; a hang fails the test instead of the suite."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def test_pip_numpy_gets_the_callback():
    # numpy's wheels carry OpenBLAS >= 0.3.27: CI must exercise the callback path
    from threadpoolctl import threadpool_info
    ob = [i for i in threadpool_info() if i["internal_api"] == "openblas"
          and "numpy" in i["filepath"]]
    if not ob or tuple(int(p) for p in ob[0]["version"].split(".")[:3]) < (0, 3, 27):
        pytest.skip("numpy without its own OpenBLAS >= 0.3.27")
    if os.environ.get("NBNET_BLAS_THREADS", "").lower() == "openblas":
        pytest.skip("opted out with NBNET_BLAS_THREADS=openblas")
    assert numba.threading_layer() == "omp"
    assert nb.blas.installed()
    assert "OMP_WAIT_POLICY" not in os.environ or os.environ["OMP_WAIT_POLICY"] != "PASSIVE"


@needs_callback
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_on_two_threads_are_right_and_repeatable(rng, dtype):
    a = rng.normal(size=(301, 517)).astype(dtype)
    b = rng.normal(size=(517, 263)).astype(dtype)
    with threadpool_limits(2, user_api="blas"):
        out = [a @ b, a @ b, a.T @ (a @ b)]
    ref = a.astype(np.float64) @ b.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(out[0], ref, **tol)
    np.testing.assert_allclose(out[2], a.T.astype(np.float64) @ ref, rtol=tol["rtol"], atol=1.0)
    assert out[0].tobytes() == out[1].tobytes()


@needs_callback
def test_more_blas_jobs_than_numba_threads_does_not_hang():
    # fit() lowers Numba's count to 1 for small models while BLAS keeps 2: the callback
    # must still run the jobs side by side (they wait for each other)
    r = _run("import nbnet, numba, numpy as np\n"
             "from threadpoolctl import threadpool_limits\n"
             "numba.set_num_threads(1)\n"
             "a = np.ones((600, 600), np.float32)\n"
             "with threadpool_limits(2, user_api='blas'):\n"
             "    c = a @ a\n"
             "assert nbnet.blas.installed() and c[0, 0] == 600 and numba.get_num_threads() == 1\n"
             "print('ok')", timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


@needs_callback
def test_a_forked_child_multiplies_with_openblas_threads():
    r = _run("import os, nbnet, numpy as np\n"
             "nbnet.set_num_threads(2)\n"
             "a = np.ones((600, 600), np.float32); a @ a\n"
             "pid = os.fork()\n"
             "if pid == 0:\n"
             "    ok = (a @ a)[0, 0] == 600 and not nbnet.blas.installed()\n"
             "    os._exit(0 if ok else 3)\n"
             "_, status = os.waitpid(pid, 0)\n"
             "print('child', os.waitstatus_to_exitcode(status))", timeout=60)
    assert r.returncode == 0 and "child 0" in r.stdout, r.stdout + r.stderr


def test_opt_out_keeps_openblas_threads_and_a_sleeping_pool():
    r = _run("import os, nbnet\n"
             "print(nbnet.blas.installed(), os.environ.get('OMP_WAIT_POLICY'),"
             " nbnet.kernels.threads.small_parallel())",
             env={"NBNET_BLAS_THREADS": "openblas"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "PASSIVE", str(nb.kernels.threads.PASSIVE)]
