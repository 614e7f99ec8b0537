"""Measured limits of this machine: sgemm GFLOP/s through numpy's BLAS and STREAM-triad
bandwidth, at the current thread count. Cached per (CPU, thread count) in
~/.cache/nbnet/peaks.json, so the profiler pays the ~1 s probe once."""
import json
import os
import platform
import time

import numpy as np


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def measure_sgemm(n=1024, repeats=7):
    """GFLOP/s of a float32 n x n x n matrix product through numpy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.dot(a, b, out=c)
    t = _median_time(lambda: np.dot(a, b, out=c), repeats)
    return 2.0 * n ** 3 / t / 1e9


def measure_triad(n=1 << 24, repeats=7):
    """GB/s of a = b + s*c on float32 arrays far larger than the caches."""
    from .kernels.stream import triad
    a = np.zeros(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.ones(n, np.float32)
    triad(a, b, c, 3.0)
    t = _median_time(lambda: triad(a, b, c, 3.0), repeats)
    return 3.0 * n * 4 / t / 1e9


def peaks(threads=None, refresh=False):
    """{"gflops": sgemm GFLOP/s, "gbps": triad GB/s, "cpu", "threads"} for this machine."""
    from .threads import get_num_threads, set_num_threads
    old = get_num_threads()
    threads = threads or old
    key = f"{_cpu_name()}|{os.cpu_count()}|{threads}"
    path = os.path.join(os.path.expanduser("~"), ".cache", "nbnet", "peaks.json")
    cache = {}
    if not refresh:
        try:
            with open(path) as f:
                cache = json.load(f)
            if key in cache:
                return cache[key]
        except (OSError, ValueError):
            cache = {}
    set_num_threads(threads)
    try:
        result = {"gflops": measure_sgemm(), "gbps": measure_triad(), "cpu": _cpu_name(),
                  "threads": threads}
    finally:
        set_num_threads(old)
    cache[key] = result
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        from .fileio import atomic_write_text
        atomic_write_text(path, json.dumps(cache, indent=1))
    except OSError:
        pass
    return result
