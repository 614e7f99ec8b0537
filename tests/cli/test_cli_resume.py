"""--checkpoint-every / --resume: a run KILLED (SIGKILL) after a checkpoint, then
resumed, ends bitwise identical to an uninterrupted run with the same arguments."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nbnet.saving import read_archive
from clitools import blobs, fmt, write_csv

EPOCHS = 40


def _args(csv_path, out):
    return [sys.executable, "-m", "nbnet.cli", "train", csv_path, "--out", str(out),
            "--epochs", str(EPOCHS), "--batch-size", "8", "--hidden", "64,32", "--dropout", "0.1",
            "--seed", "7", "--checkpoint-every", "1"]


def _epoch(path):
    try:
        return read_archive(path)[0]["training"]["epoch"]
    except Exception:  # noqa: BLE001 - not there yet
        return None


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_resume_after_kill_is_bitwise_identical(tmp_path):
    x, y = blobs(1200, 3, 6, seed=11, spread=1.5)
    data = write_csv(tmp_path / "train.csv", [f"x{i}" for i in range(6)] + ["y"],
                     [[fmt(v) for v in xi] + [int(c)] for xi, c in zip(x, y)])
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    ref = tmp_path / "ref.nbnet"
    done = subprocess.run(_args(data, ref), capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    out = tmp_path / "run.nbnet"
    ckpt = str(out) + ".ckpt"
    proc = subprocess.Popen(_args(data, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(ckpt) and (_epoch(ckpt) or 0) >= 2:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "training ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = _epoch(ckpt)
    assert 2 <= killed_at < EPOCHS and not os.path.exists(out)

    resumed = subprocess.run(_args(data, out) + ["--resume"], capture_output=True, text=True,
                             env=env, timeout=600, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"after epoch {killed_at}" in resumed.stdout

    cfg_a, arr_a = read_archive(ref)
    cfg_b, arr_b = read_archive(out)
    assert sorted(arr_a) == sorted(arr_b)
    assert any(k.startswith("optimizer/") for k in arr_a)
    for k in arr_a:  # every weight (BatchNorm statistics included) and optimizer state
        assert arr_a[k].dtype == arr_b[k].dtype and np.array_equal(arr_a[k], arr_b[k]), k
    assert cfg_a["training"] == cfg_b["training"]


def test_resume_with_other_arguments_is_refused(nbnet, tmp_path):
    x, y = blobs(60, 2, 3, seed=1)
    data = write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"],
                     [[fmt(v) for v in xi] + [int(c)] for xi, c in zip(x, y)])
    out = tmp_path / "m.nbnet"
    run = nbnet("train", data, "--out", out, "--epochs", "2", "--checkpoint-every", "1",
                "--hidden", "8")
    assert run.code == 0, run
    before = open(str(out) + ".ckpt", "rb").read()
    run = nbnet("train", data, "--out", out, "--epochs", "4", "--hidden", "8", "--resume",
                "--batch-size", "16")
    assert run.code == 2 and "--batch-size" in run.stderr, run
    assert open(str(out) + ".ckpt", "rb").read() == before
    run = nbnet("train", data, "--out", out, "--epochs", "4", "--hidden", "8", "--resume")
    assert run.code == 0 and "after epoch 2" in run.stdout, run
