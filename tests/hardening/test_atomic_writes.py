"""nbnet.fileio's atomic writes (issue 16): recognisable temporary files, removed by the
next write to the same place once their writer is gone; an error for a missing folder
that names the user's path; nothing half-written, nothing left behind.

What the code before issue 16 did, for each test: temporaries were `.nbnet-XXXX.tmp`
(no writer, no target in the name) and stayed forever after a kill -9; save() into a
missing folder raised FileNotFoundError naming `/missing/.nbnet-....tmp`."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import nbnet as nb
from nbnet import fileio, layers


def _model():
    m = nb.Sequential([nb.Input(shape=(3,)), layers.Dense(2)])
    m.compile("adam", "mse")
    return m


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temporary_name_carries_target_and_pid(tmp_path, monkeypatch):
    seen = []
    target = tmp_path / "model.nbnet"

    def write(f):
        seen.extend(n for n in os.listdir(tmp_path) if n != "model.nbnet")
        f.write(b"x")
    fileio.atomic_write(target, write)
    assert len(seen) == 1
    assert seen[0].startswith(f".model.nbnet.nbnet-tmp-{os.getpid()}-")
    assert os.listdir(tmp_path) == ["model.nbnet"]


def test_stale_temporary_of_a_dead_writer_is_removed_by_next_save(tmp_path):
    target = tmp_path / "m.nbnet"
    stale = tmp_path / f".m.nbnet.nbnet-tmp-{_dead_pid()}-0123abcd"
    stale.write_bytes(b"half a model" * 1000)
    other = tmp_path / f".other.nbnet.nbnet-tmp-{_dead_pid()}-0123abcd"   # another target
    other.write_bytes(b"x")
    _model().save(target)
    assert not stale.exists()
    assert other.exists()                       # only temporaries of the same target go
    nb.load_model(target)


def test_temporary_of_a_live_writer_is_kept(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".m.nbnet.nbnet-tmp-{sleeper.pid}-0123abcd"
        live.write_bytes(b"being written")
        _model().save(tmp_path / "m.nbnet")
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    _model().save(tmp_path / "m.nbnet")         # its writer is gone now: removed
    assert not live.exists()


def test_save_into_missing_folder_names_the_users_path(tmp_path):
    target = tmp_path / "no" / "such" / "folder" / "m.nbnet"
    with pytest.raises(FileNotFoundError) as e:
        _model().save(target)
    assert str(target) in str(e.value)
    assert ".nbnet-tmp-" not in str(e.value) and ".tmp" not in str(e.value)


def test_failed_write_leaves_no_temporary_and_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    fileio.atomic_write_text(target, "old")

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("disk on fire")
    with pytest.raises(RuntimeError):
        fileio.atomic_write(target, boom)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o027)
    try:
        fileio.atomic_write_text(tmp_path / "f", "x")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "f").st_mode & 0o777) == 0o640


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_during_save_then_next_save_cleans_up(tmp_path):
    """A writer killed inside write(): its temporary stays (nothing can remove it), the
    target is untouched, and the next save to the same path removes it."""
    target = tmp_path / "m.nbnet"
    _model().save(target)
    before = target.read_bytes()
    code = ("import os, signal, nbnet.fileio as f\n"
            f"f.atomic_write({str(target)!r}, lambda fh: (fh.write(b'x' * 100000), fh.flush(),"
            " os.kill(os.getpid(), signal.SIGKILL)))\n")
    p = subprocess.run([sys.executable, "-c", code])
    assert p.returncode == -signal.SIGKILL
    left = [n for n in os.listdir(tmp_path) if n != "m.nbnet"]
    assert len(left) == 1 and left[0].startswith(".m.nbnet.nbnet-tmp-")
    assert target.read_bytes() == before
    m = nb.load_model(target)
    m.save(target)
    assert os.listdir(tmp_path) == ["m.nbnet"]
    np.testing.assert_array_equal(nb.load_model(target).get_weights()[0], m.get_weights()[0])
