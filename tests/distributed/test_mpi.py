"""Data-parallel training on MPI, run as mpiexec subprocesses (never pytest under MPI)."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("mpi4py")
HERE = os.path.dirname(os.path.abspath(__file__))
MPIEXEC = (shutil.which("mpiexec", path=os.path.dirname(sys.executable))
           or shutil.which("mpiexec"))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install nbnet[mpi])")


def mpirun(n, script, *args, timeout=180):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py", script, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def single(script, *args):
    return subprocess.run([sys.executable, script, *map(str, args)], capture_output=True,
                          text=True, timeout=180)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "two"])
def test_2_and_4_ranks_equal_one_process_on_the_global_batch(kind, tmp_path):
    worker = os.path.join(HERE, "worker.py")
    r = single(worker, "ref", kind, tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    ref = np.load(tmp_path / "ref.npz")
    for n in (2, 4):
        r = mpirun(n, worker, "dist", kind, tmp_path / f"d{n}.npz")
        # the worker asserts after EVERY step that all ranks hold bitwise-equal weights
        assert r.returncode == 0, r.stdout + r.stderr
        got = np.load(tmp_path / f"d{n}.npz")
        assert int(got["steps"]) == 20
        for f in ref.files:
            if f != "steps":
                np.testing.assert_allclose(got[f], ref[f], rtol=1e-9, atol=1e-12, err_msg=f"{kind} -n {n} {f}")


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_failing_rank_ends_the_job_and_checkpoint_resumes(how, tmp_path):
    ckpt = tmp_path / "ckpt.nbnet"
    t0 = time.monotonic()
    r = mpirun(2, os.path.join(HERE, "failing_worker.py"), how, 12, ckpt, timeout=60)
    elapsed = time.monotonic() - t0
    assert r.returncode != 0
    assert elapsed < 10, elapsed
    out = r.stdout + r.stderr
    assert ("fails on purpose" in out) if how == "raise" else ("BAD TERMINATION" in out or "KILLED" in out)

    import nbnet as nb
    from nbnet.saving import read_archive
    model = nb.load_model(ckpt)  # the last checkpoint is whole
    assert read_archive(ckpt)[0]["training"]["epoch"] == 2  # 5 steps an epoch, failed at 12
    resume = tmp_path / "resume.py"
    resume.write_text(RESUME.format(ckpt=str(ckpt), out=str(tmp_path / "resumed.npz")))
    r = mpirun(4, resume)  # resume with another number of ranks
    assert r.returncode == 0, r.stdout + r.stderr
    ref = tmp_path / "ref.py"
    ref.write_text(REFERENCE.format(out=str(tmp_path / "ref.npz")))
    r = single(ref)
    assert r.returncode == 0, r.stderr
    a, b = np.load(tmp_path / "resumed.npz"), np.load(tmp_path / "ref.npz")
    for f in a.files:
        np.testing.assert_allclose(a[f], b[f], rtol=1e-9, atol=1e-12, err_msg=f)


SETUP = """
import numpy as np
import nbnet as nb
from nbnet import layers
nb.config.set_floatx("float64")
nb.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x, y = rng.standard_normal((160, 12)), rng.integers(0, 3, 160)
"""
RESUME = SETUP + """
from nbnet.distributed import communicator
from nbnet.saving import read_archive
model = nb.load_model({ckpt!r})
start = read_archive({ckpt!r})[0]["training"]["epoch"]
model.fit(x, y, batch_size=32, epochs=6, initial_epoch=start, verbose=0, distributed=True)
if communicator().rank == 0:
    np.savez({out!r}, *model.get_weights())
"""
REFERENCE = SETUP + """
model = nb.Sequential([nb.Input(shape=(12,)), layers.Dense(16, use_bias=False),
                       layers.BatchNormalization(), layers.ReLU(), layers.Dense(3)])
model.compile(nb.optimizers.Adam(learning_rate=0.01),
              nb.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, batch_size=32, epochs=6, verbose=0)
np.savez({out!r}, *model.get_weights())
"""


def test_cli_train_distributed_and_resume_with_other_rank_count(tmp_path):
    def cli(n, *args):
        cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py", "-m", "nbnet.cli", "train",
               "--distributed", "--out", str(tmp_path / "m.nbnet"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)

    r = cli(2, "--epochs", "2", "--checkpoint-every", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("Epoch 1/2") == 1  # only rank 0 prints
    assert (tmp_path / "m.nbnet.ckpt").exists()
    r = cli(4, "--epochs", "3", "--checkpoint-every", "1", "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Resuming from" in r.stdout and "after epoch 2" in r.stdout
    assert "Epoch 3/3" in r.stdout and "Epoch 1/3" not in r.stdout
    import nbnet as nb
    assert nb.load_model(tmp_path / "m.nbnet").predict(np.zeros((1, 64))).shape == (1, 10)
