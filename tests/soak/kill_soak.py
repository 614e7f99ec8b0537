"""kill -9 soak of checkpointed training: random SIGKILLs during `nbnet train
--checkpoint-every 1`, each followed by `--resume`, until the run completes; the result
must be bitwise identical (every weight, BatchNorm statistic and optimizer array, and the
training counters) to an uninterrupted run, and no temporary file may be left.

    python tests/soak/kill_soak.py [--kills 24] [--save-kills 6] [--seed 0]

Two kinds of kill alternate: "save" waits for a save's temporary file
(.NAME.nbnet-tmp-PID-...) to appear and kills at once (counted as during a save when that
temporary is still there after the kill: it was being written); "random" kills at a
random time. A chain of kills and resumes ends when a run exits 0; chains repeat until
both kill counts are reached. Exit status 1 on any mismatch or leftover.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cli"))
from clitools import blobs, fmt, write_csv  # noqa: E402

from nbnet.fileio import TAG  # noqa: E402
from nbnet.saving import read_archive  # noqa: E402

EPOCHS = 30


def _args(data, out):
    return [sys.executable, "-m", "nbnet.cli", "train", data, "--out", out, "--epochs",
            str(EPOCHS), "--batch-size", "16", "--hidden", "384,256", "--dropout", "0.1",
            "--seed", "7", "--checkpoint-every", "1"]


def _temps(folder, pid=None):
    """Temporary files in folder (of process pid only, when given)."""
    tag = TAG if pid is None else f"{TAG}{pid}-"
    return sorted(n for n in os.listdir(folder) if tag in n)


def _same(a, b):
    """None when the two model files hold bitwise the same arrays and training counters,
    else what differs."""
    ca, aa = read_archive(a)
    cb, ab = read_archive(b)
    diff = [k for k in sorted(set(aa) | set(ab)) if k not in aa or k not in ab or
            aa[k].dtype != ab[k].dtype or not np.array_equal(aa[k], ab[k])]
    if ca["training"] != cb["training"]:
        diff.append(f"training {ca['training']} vs {cb['training']}")
    return ", ".join(diff) or None


def _kill_one(proc, folder, mode, rng):
    """Kill proc (mode "save" or "random"); -> "save" / "random" / None (it ended first)."""
    if mode == "save":
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            if _temps(folder, proc.pid):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return "save" if _temps(folder, proc.pid) else "random"
        if proc.poll() is not None:
            return None
    else:
        deadline = time.time() + rng.uniform(1.5, 8.0)   # startup is ~1-3 s
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        if proc.poll() is not None:
            return None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return "random"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=24)
    ap.add_argument("--save-kills", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-chain", type=int, default=6)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    root = tempfile.mkdtemp(prefix="nbnet-killsoak-")
    x, y = blobs(1500, 3, 6, seed=11, spread=1.5)
    data = write_csv(os.path.join(root, "train.csv"), [f"x{i}" for i in range(6)] + ["y"],
                     [[fmt(v) for v in xi] + [int(c)] for xi, c in zip(x, y)])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.time()
    ref = os.path.join(root, "ref.nbnet")
    subprocess.run(_args(data, ref), check=True, capture_output=True, env=env, cwd=root)
    print(f"uninterrupted run: {time.time() - t0:.1f} s", flush=True)
    kills = {"save": 0, "random": 0}
    chains, failures, resumes = 0, [], 0
    while kills["save"] + kills["random"] < a.kills or kills["save"] < a.save_kills:
        chains += 1
        folder = os.path.join(root, f"chain{chains}")
        os.makedirs(folder)
        out = os.path.join(folder, "run.nbnet")
        n = 0
        while True:
            resume = os.path.exists(out + ".ckpt")
            resumes += resume
            proc = subprocess.Popen(_args(data, out) + (["--resume"] if resume else []),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=env, cwd=folder)
            if n < a.per_chain:
                need_save = kills["save"] < a.save_kills
                mode = "save" if (need_save and n % 2 == 0) or rng.random() < 0.3 else "random"
                got = _kill_one(proc, folder, mode, rng)
                if got is not None:
                    kills[got] += 1
                    n += 1
                    print(f"chain {chains}: kill {n} ({got}), temporaries now "
                          f"{len(_temps(folder))}", flush=True)
                    continue
            _, err = proc.communicate(timeout=900)
            if proc.returncode != 0:
                failures.append(f"chain {chains}: run exited {proc.returncode}: "
                                f"{err.decode()[-500:]}")
                break
            diff = _same(ref, out)
            if diff:
                failures.append(f"chain {chains}: differs from the uninterrupted run: {diff}")
            left = _temps(folder)
            if left:
                failures.append(f"chain {chains}: leftover temporary files {left}")
            print(f"chain {chains}: done after {n} kills, bitwise "
                  f"{'DIFFERENT: ' + diff if diff else 'identical'}, leftovers {len(left)}",
                  flush=True)
            break
    leftovers = sum(len(_temps(os.path.join(root, d))) for d in os.listdir(root)
                    if os.path.isdir(os.path.join(root, d))) + len(_temps(root))
    print(f"{kills['save'] + kills['random']} kills ({kills['save']} during a save, "
          f"{kills['random']} at random times), {resumes} resumes, {chains} chains, "
          f"{len(failures)} failures, {leftovers} leftover temporary files, "
          f"{time.time() - t0:.0f} s")
    for f in failures:
        print("FAIL", f)
    import shutil
    shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if failures or leftovers else 0)


if __name__ == "__main__":
    main()
