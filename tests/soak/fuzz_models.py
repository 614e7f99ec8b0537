"""Fuzzing the model-file reader: seeded mutations of valid model files, each loaded in a
worker process under a 2 GB address-space limit (RLIMIT_AS) and a 60 s timeout.

    python tests/soak/fuzz_models.py [--cases 1200] [--seed 0] [--workers 2]

Attack classes (each case is one of them, chosen round-robin, details from the seed):
oversize (zip directory sizes patched), bomb (deflated members that expand to hundreds
of MB), special (/dev/zero behind a symlink, FIFO, directory, dangling link), deep_json,
wrong_type (a random field of config.json given a value of another type), numbers
(units / filters / input_shape / dims of 1e12, -1, 2**70 ...), npy (weights of float16,
big-endian, integers, complex, strings, datetimes, structured, void, objects, headers
claiming 1e12 elements, garbage headers), bitflip, truncate, pickle (a payload that
would create a marker file), zipflags (compression methods, the encryption flag,
duplicate / missing members), extra (what `nbnet train` stores), compile (unknown
metrics, losses, optimizers), state (optimizer/iterations vector, shuffle_seed string).

Outcomes: loaded / clean (ModelFileError) are good; traceback (any other exception, in
load_model, predict, or `nbnet predict` on the CLI model), hang, memory (MemoryError or
a worker killed), changed (a base file or the case file altered, or a file appeared
beside it) and executed (the marker file exists) are bad. Exit status 1 if any is bad.
The worker protocol: one JSON case per stdin line, one JSON result per stdout line.
"""
import argparse
import copy
import hashlib
import io
import json
import os
import pickle
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LIMIT_AS = 2 * 2 ** 30
TIMEOUT = 60.0
BOMB_MB = [100, 300, 600, 1200]   # inflated sizes of the zip bombs
BAD = ("traceback", "hang", "memory", "changed", "executed")
CLASSES = ("oversize", "bomb", "special", "deep_json", "wrong_type", "numbers", "npy",
           "bitflip", "truncate", "pickle", "zipflags", "extra", "compile", "state")


# ---------------------------------------------------------------------- zip surgery
def members_of(data):
    """[(name, bytes)] of a model file, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def make_zip(members, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, payload in members:
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), payload,
                       compress_type=method if not isinstance(method, dict) else
                       method.get(name, zipfile.ZIP_STORED))
    return buf.getvalue()


def patch_entry(data, name, flag=None, method=None, csize=None, usize=None):
    """Patch a member's fields in both its local and its central directory header."""
    data = bytearray(data)
    end = data.rfind(b"PK\x05\x06")
    n_entries, _, cd_offset = struct.unpack("<HII", data[end + 10:end + 20])
    p = cd_offset
    for _ in range(n_entries):
        nlen, elen, clen = struct.unpack("<HHH", data[p + 28:p + 34])
        local = struct.unpack("<I", data[p + 42:p + 46])[0]
        if data[p + 46:p + 46 + nlen].decode() == name:
            for base, (fo, mo, co, uo) in ((p, (8, 10, 20, 24)), (local, (6, 8, 18, 22))):
                if flag is not None:
                    struct.pack_into("<H", data, base + fo, flag)
                if method is not None:
                    struct.pack_into("<H", data, base + mo, method)
                if csize is not None:
                    struct.pack_into("<I", data, base + co, csize)
                if usize is not None:
                    struct.pack_into("<I", data, base + uo, usize)
        p += 46 + nlen + elen + clen
    return bytes(data)


def npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def npy_header(shape, descr="<f4", fortran=False, pad_to=128):
    h = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode()
    h += b" " * (pad_to - 10 - len(h) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


class Payload:
    """Unpickling it would create the marker file: it must never run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


# ---------------------------------------------------------------------- base files
def make_bases(folder):
    """Valid model files: a trained Sequential MLP (Adam state), a functional model,
    a CNN, and a `nbnet train` CLI model (extra: encoder, class names); + a CSV."""
    import nbnet as nb
    from nbnet import layers
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    out = {}
    m = nb.Sequential([nb.Input(shape=(6,)), layers.Dense(8, activation="relu"),
                       layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    out["mlp"] = os.path.join(folder, "mlp.nbnet")
    m.save(out["mlp"])
    i = nb.Input(shape=(6,))
    h = layers.Dense(5, activation="tanh")(i)
    o = layers.Dense(2)(layers.Concatenate()([h, i]))
    f = nb.Model(i, o)
    f.compile("sgd", "mse")
    f.fit(x, rng.normal(size=(64, 2)).astype(np.float32), epochs=1, verbose=0)
    out["functional"] = os.path.join(folder, "functional.nbnet")
    f.save(out["functional"])
    c = nb.Sequential([nb.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3)])
    c.compile("rmsprop", "sparse_categorical_crossentropy")
    out["cnn"] = os.path.join(folder, "cnn.nbnet")
    c.save(out["cnn"])
    csv = os.path.join(folder, "data.csv")
    with open(csv, "w") as fh:
        fh.write("a,b,c,kind,y\n")
        for k in range(60):
            fh.write(f"{rng.normal():.4f},{rng.normal():.4f},{k % 7},{'pqr'[k % 3]},"
                     f"{'xyz'[k % 3]}\n")
    out["csv"] = csv
    out["cli"] = os.path.join(folder, "cli.nbnet")
    subprocess.run([sys.executable, "-m", "nbnet.cli", "train", csv, "--target", "y",
                    "--epochs", "1", "--hidden", "8", "--out", out["cli"], "--seed", "1"],
                   check=True, capture_output=True, cwd=folder, timeout=600)
    return out


# ---------------------------------------------------------------------- mutations
def _paths(node, prefix=()):
    """Every (path tuple) into a JSON tree."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from _paths(v, prefix + (k,))


def _set(tree, path, value):
    if not path:
        return value
    node = tree
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return tree


def _deep(n, kind):
    return ("[" * n + "]" * n) if kind else ('{"a":' * n + "1" + "}" * n)


ODD = [None, "x", "", [], {}, [1, 2], {"a": 1}, 0, -1, 1e12, 2 ** 70, -2 ** 70, 1.5, True,
       False, float("nan"), float("inf"), "1e12", [None], [[1]], "float16", "<f2"]
BIG = [1e12, 10 ** 12, 2 ** 31, 2 ** 40, 2 ** 63, 2 ** 70, -1, 0, -(2 ** 40), 1.5, 1e300,
       float("inf"), float("nan"), 4294967296]


def mutate(cls, rng, bases, k, folder, marker):
    """-> (case path, description, base name). The case file is written in folder."""
    names = ["mlp", "functional", "cnn", "cli"]
    base = names[int(rng.integers(len(names)))]
    data = open(bases[base], "rb").read()
    mem = members_of(data)
    cfg = json.loads(dict(mem)["config.json"])
    path = os.path.join(folder, f"case{k:05d}.nbnet")
    choice = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731

    def with_config(c, raw=None):
        body = raw if raw is not None else json.dumps(c).encode()
        return make_zip([(n, body if n == "config.json" else p) for n, p in mem])

    def with_member(name, payload):
        return make_zip([(n, payload if n == name else p) for n, p in mem])

    npys = [n for n, _ in mem if n.endswith(".npy")]
    desc = cls
    if cls == "oversize":
        name = choice(["config.json"] + npys)
        size = choice([2 ** 32 - 1, 2 ** 31, 4 * 10 ** 9, 10 ** 9, len(data) * 3])
        out = patch_entry(data, name, usize=size, csize=choice([size, None]))
        desc = f"oversize {name} {size}"
    elif cls == "bomb":
        n = int(choice(BOMB_MB)) * 2 ** 20
        which = choice(["config", "weight"])
        name = "config.json" if which == "config" else choice(npys)
        head = (json.dumps(cfg).encode()[:-1] if which == "config" else npy_header((n // 4,)))
        tail = b"}" if which == "config" else b""
        fill = b" " if which == "config" else b"\0"
        with zipfile.ZipFile(path, "w", compresslevel=1) as z:   # streamed: no n bytes in memory
            for nm, p in mem:
                if nm != name:
                    z.writestr(nm, p)
                    continue
                info = zipfile.ZipInfo(nm, (2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with z.open(info, "w", force_zip64=True) as f:
                    f.write(head)
                    block = fill * 2 ** 22
                    for _ in range(n // len(block)):
                        f.write(block)
                    f.write(tail)
        return path, f"bomb {which} {n >> 20} MB", base
    elif cls == "special":
        kind = choice(["devzero", "fifo", "dir", "dangling", "loop", "devnull", "urandom"])
        if kind in ("devzero", "devnull", "urandom"):
            os.symlink({"devzero": "/dev/zero", "devnull": "/dev/null",
                        "urandom": "/dev/urandom"}[kind], path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "dir":
            os.mkdir(path)
        elif kind == "dangling":
            os.symlink(path + ".absent", path)
        else:
            os.symlink(path, path)
        return path, f"special {kind}", base
    elif cls == "deep_json":
        n = int(choice([65, 200, 2000, 100000]))
        where = choice(list(_paths(cfg))[1:])
        raw = json.dumps(_set(copy.deepcopy(cfg), where, "@@DEEP@@")).replace(
            '"@@DEEP@@"', _deep(n, rng.integers(2)))
        out = with_config(None, raw.encode())
        desc = f"deep_json {n} at {'/'.join(map(str, where))}"
    elif cls in ("wrong_type", "numbers", "extra", "compile", "state"):
        c = copy.deepcopy(cfg)
        prefix = {"wrong_type": (), "numbers": ("model",), "extra": ("extra",),
                  "compile": ("compile",), "state": ("training",)}[cls]
        paths = [p for p in _paths(c) if p[:len(prefix)] == prefix]
        if cls == "numbers":
            paths = [p for p in paths if _is_number(_get(c, p))] or paths
            value = choice(BIG)
        elif cls == "compile":
            value = choice(ODD + ["no_such_metric", ["no_such_metric"], "no_such_loss",
                                  {"class_name": "Nope", "config": {}}, ["accuracy", 5]])
        elif cls == "state" and rng.integers(2):
            if base == "functional" or rng.integers(2):
                npname = "optimizer/iterations.npy"
                arr = choice([np.arange(3), np.array(-5), np.array([[1]]), np.array(1.5),
                              np.array(2 ** 62), np.array("x")])
                return _write(path, with_member(npname, npy(arr))), f"state iterations {arr!r}", base
            value = choice(["7", [7], 1.5, -1, 2 ** 64, None, True])
            paths = [("training", "shuffle_seed")]
        else:
            value = choice(ODD)
        if not paths:
            paths = [prefix]
        where = choice(paths)
        if cls == "extra" and rng.integers(3) == 0 and base == "cli":
            names = c["extra"].get("class_names") or ["a"]
            value = choice([names[:1], names + ["extra"], [1, 2, 3], list(reversed(names))])
            where = ("extra", "class_names")
        out = with_config(_set(c, where, value))
        desc = f"{cls} {'/'.join(map(str, where))} = {value!r}"[:200]
    elif cls == "npy":
        name = choice([n for n in npys if n.startswith("weights/")])
        arr = np.load(io.BytesIO(dict(mem)[name]))
        kind = choice(["float16", ">f4", ">f8", "int32", "int64", "uint8", "complex64",
                       "U3", "S3", "M8[s]", "m8[s]", "struct", "V4", "object", "1e12",
                       "garbage", "fortran", "shape", "bool", "float64-for-float32"])
        if kind == "object":
            payload = npy(np.array([Payload(marker)], dtype=object), allow_pickle=True)
        elif kind == "1e12":
            payload = npy_header((10 ** 12,) + arr.shape[1:], arr.dtype.str) + bytes(64)
        elif kind == "garbage":
            payload = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + choice(
                [b"{" * 117, b"[" * 117, b"__import__('os')" + b" " * 101,
                 b"{'descr': '<f4', 'fortran_order': False, 'shape': (1e12,)}" + b" " * 58]
            )[:117] + b"\n"
        elif kind == "fortran":
            payload = npy(np.asfortranarray(arr.reshape(arr.shape + (1, 1))[..., 0, 0]
                                            if arr.ndim >= 2 else arr))
            payload = npy_header(arr.shape, arr.dtype.str, fortran=True) + arr.T.tobytes()
        elif kind == "shape":
            payload = npy(np.zeros(tuple(s + 1 for s in arr.shape) or (2,), arr.dtype))
        elif kind == "struct":
            payload = npy(np.zeros(arr.shape, [("a", "<f4"), ("b", "<i4")]))
        elif kind == "float64-for-float32":
            payload = npy(arr.astype(np.float64))
        else:
            payload = npy(np.zeros(arr.shape, dtype=kind))
        out = with_member(name, payload)
        desc = f"npy {name} {kind}"
    elif cls == "bitflip":
        b = bytearray(data)
        n = int(choice([1, 2, 8, 64]))
        for _ in range(n):
            i = int(rng.integers(len(b)))
            b[i] ^= 1 << int(rng.integers(8))
        out = bytes(b)
        desc = f"bitflip {n}"
    elif cls == "truncate":
        cut = int(rng.integers(len(data)))
        out = data[:cut]
        desc = f"truncate at {cut}/{len(data)}"
    elif cls == "pickle":
        p = pickle.dumps(Payload(marker))
        kind = choice(["config", "weight", "objnpy", "whole"])
        if kind == "config":
            out = with_config(None, p)
        elif kind == "weight":
            out = with_member(choice(npys), p)
        elif kind == "objnpy":
            out = with_member(choice(npys), npy(np.array([Payload(marker)], dtype=object),
                                                allow_pickle=True))
        else:
            out = p
        desc = f"pickle {kind}"
    elif cls == "zipflags":
        kind = choice(["method99", "lzma", "bzip2", "deflate", "encrypted", "dup", "nocfg",
                       "noweight", "extra_member", "badname"])
        name = choice(["config.json"] + npys)
        if kind == "method99":
            out = patch_entry(data, name, method=99)
        elif kind in ("lzma", "bzip2", "deflate"):
            m = {"lzma": zipfile.ZIP_LZMA, "bzip2": zipfile.ZIP_BZIP2,
                 "deflate": zipfile.ZIP_DEFLATED}[kind]
            out = make_zip(mem, method={name: m})
        elif kind == "encrypted":
            out = patch_entry(data, name, flag=1)
        elif kind == "dup":
            out = make_zip(mem + [(name, dict(mem)[name])])
        elif kind == "nocfg":
            out = make_zip([(n, p) for n, p in mem if n != "config.json"])
        elif kind == "noweight":
            out = make_zip([(n, p) for n, p in mem if n != name or n == "config.json"])
        elif kind == "extra_member":
            out = make_zip(mem + [("weights/99999.npy", npy(np.zeros(3, np.float32)))])
        else:
            out = make_zip(mem + [("../../evil.npy", npy(np.zeros(3, np.float32)))])
        desc = f"zipflags {kind} {name}"
    else:
        raise ValueError(cls)
    return _write(path, out), desc, base


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------------- the worker
def _tree(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        if os.path.islink(p) or not os.path.isfile(p):
            out[name] = "special"
        else:
            with open(p, "rb") as f:
                out[name] = hashlib.sha1(f.read()).hexdigest()
    return out


def worker():
    out = os.fdopen(os.dup(1), "w", buffering=1)   # results only; prints go to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))
    import warnings
    warnings.simplefilter("ignore")
    import nbnet as nb
    from click.testing import CliRunner
    from nbnet.cli.main import main as cli
    for path in sys.argv[sys.argv.index("--worker") + 1:]:   # compile the kernels first
        try:
            m = nb.load_model(path)
            m.predict(np.zeros((2,) + m.input_shape[1:], np.float32), verbose=0)
        except Exception:  # noqa: BLE001 - (the CLI model reads raw CSVs: predict elsewhere)
            pass
    out.write("ready\n")
    for line in sys.stdin:
        case = json.loads(line)
        res = {"id": case["id"]}
        try:
            res.update(run_case(case, nb, cli, CliRunner))
        except MemoryError:
            res.update(outcome="memory", detail="MemoryError")
        except BaseException as e:  # noqa: BLE001 - the harness must report, not die
            res.update(outcome="traceback", detail=f"harness {type(e).__name__}: {e}"[:500])
        out.write(json.dumps(res) + "\n")


def run_case(case, nb, cli, CliRunner):
    path, folder, marker = case["path"], case["folder"], case["marker"]
    before = _tree(folder)
    outcome, detail = "loaded", ""
    try:
        model = nb.load_model(path)
    except nb.ModelFileError as e:
        outcome, detail = "clean", str(e)[:300]
        if "Traceback" in str(e):
            outcome = "traceback"
    except MemoryError:
        outcome, detail = "memory", "MemoryError in load_model"
    except Exception as e:  # noqa: BLE001
        outcome, detail = "traceback", f"load_model {type(e).__name__}: {e}"[:500]
    if outcome == "loaded":
        try:
            shape = model.input_shape
            if (isinstance(shape, tuple) and all(isinstance(s, int) for s in shape[1:])
                    and np.prod(shape[1:]) <= 10 ** 6 and not case["base"] == "cli"):
                model.predict(np.zeros((2,) + shape[1:], np.float32), verbose=0)
        except (nb.DataError, ValueError, TypeError) as e:
            detail = f"predict refused: {type(e).__name__}: {e}"[:300]
            if not isinstance(e, nb.DataError):
                outcome = "traceback"
        except MemoryError:
            outcome, detail = "memory", "MemoryError in predict"
        except Exception as e:  # noqa: BLE001
            outcome, detail = "traceback", f"predict {type(e).__name__}: {e}"[:500]
        if outcome == "loaded" and case["base"] == "cli":
            r = CliRunner().invoke(cli, ["predict", path, case["csv"]])
            if r.exception is not None and not isinstance(r.exception, SystemExit):
                outcome, detail = "traceback", f"nbnet predict {type(r.exception).__name__}: " \
                                               f"{r.exception}"[:500]
            elif "Traceback" in r.output:
                outcome, detail = "traceback", r.output[-500:]
    if os.path.exists(marker):
        outcome, detail = "executed", "the pickle payload ran"
    after = _tree(folder)
    if after != before:
        outcome, detail = "changed", f"folder changed: {sorted(set(after.items()) ^ set(before.items()))}"[:300]
    return {"outcome": outcome, "detail": detail}


# ---------------------------------------------------------------------- the parent
class Pool:
    def __init__(self, n, warm=()):
        self.n, self.warm = n, list(warm)
        self.workers = [self._start() for _ in range(n)]
        for w in self.workers:
            self._wait_ready(w)

    def _start(self):
        env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", PYTHONPATH=REPO)
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", *self.warm],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env)
        return {"proc": p, "case": None, "t0": 0.0}

    def run(self, cases, on_result):
        todo = list(cases)
        busy = lambda: [w for w in self.workers if w["case"] is not None]  # noqa: E731
        while todo or busy():
            for i, w in enumerate(self.workers):
                if w["case"] is None and todo:
                    w["case"], w["t0"] = todo.pop(0), time.time()
                    try:
                        w["proc"].stdin.write(json.dumps(w["case"]) + "\n")
                        w["proc"].stdin.flush()
                    except BrokenPipeError:
                        pass
            streams = {w["proc"].stdout: w for w in busy()}
            ready, _, _ = select.select(list(streams), [], [], 0.5)
            for s in ready:
                w = streams[s]
                line = s.readline()
                if line:
                    case, w["case"] = w["case"], None
                    on_result(case, json.loads(line))
                else:  # the worker died (killed for memory, a crash)
                    rc = w["proc"].wait()
                    on_result(w["case"], {"outcome": "memory" if rc in (-9, 137) else "traceback",
                                          "detail": f"worker died (exit {rc})"})
                    self._replace(w)
            for w in busy():
                if time.time() - w["t0"] > TIMEOUT:
                    w["proc"].kill()
                    w["proc"].wait()
                    on_result(w["case"], {"outcome": "hang", "detail": f"over {TIMEOUT:.0f} s"})
                    self._replace(w)

    def _wait_ready(self, w, limit=900):
        """A worker starts by loading the base files once (Numba's compile or cache load
        is not the reader's time): wait for its "ready" line."""
        ready, _, _ = select.select([w["proc"].stdout], [], [], limit)
        if not ready or w["proc"].stdout.readline().strip() != "ready":
            raise RuntimeError("a fuzz worker did not start")

    def _replace(self, w):
        w.update(self._start(), case=None)
        self._wait_ready(w)

    def close(self):
        for w in self.workers:
            w["proc"].stdin.close()
            w["proc"].wait(timeout=60)


def run(n_cases, seed, workers=2, verbose=True, keep=None):
    """Generate n_cases mutated files and run them; -> (counts, bad results)."""
    root = keep or tempfile.mkdtemp(prefix="nbnet-fuzz-")
    try:
        bases_dir = os.path.join(root, "bases")
        os.makedirs(bases_dir, exist_ok=True)
        bases = make_bases(bases_dir)
        base_hashes = _tree(bases_dir)
        rng = np.random.default_rng(seed)
        cases = []
        for k in range(n_cases):
            cls = CLASSES[k % len(CLASSES)]
            folder = os.path.join(root, f"c{k:05d}")
            os.makedirs(folder)
            marker = os.path.join(root, f"marker{k:05d}")
            path, desc, base = mutate(cls, rng, bases, k, folder, marker)
            cases.append({"id": k, "cls": cls, "path": path, "folder": folder,
                          "marker": marker, "desc": desc, "base": base, "csv": bases["csv"]})
        counts = {c: {} for c in CLASSES}
        bad = []

        def on_result(case, res):
            o = res["outcome"]
            counts[case["cls"]][o] = counts[case["cls"]].get(o, 0) + 1
            if o in BAD:
                bad.append((case["desc"], o, res.get("detail", "")))
                if verbose:
                    print(f"BAD {o}: {case['desc']}: {res.get('detail', '')}", flush=True)

        t0 = time.time()
        pool = Pool(workers, [bases[k] for k in ("mlp", "functional", "cnn")])
        try:
            pool.run(cases, on_result)
        finally:
            pool.close()
        if _tree(bases_dir) != base_hashes:
            bad.append(("bases", "changed", "a base file changed"))
        if any(os.path.exists(c["marker"]) for c in cases):
            bad.append(("marker", "executed", "a marker file exists"))
        if verbose:
            print(f"{n_cases} model files, seed {seed}, {time.time() - t0:.0f} s")
            outcomes = ("loaded", "clean") + BAD
            print(f"{'class':<11}" + "".join(f"{o:>10}" for o in outcomes))
            for c in CLASSES:
                print(f"{c:<11}" + "".join(f"{counts[c].get(o, 0):>10}" for o in outcomes))
            print(f"{'total':<11}" + "".join(
                f"{sum(counts[c].get(o, 0) for c in CLASSES):>10}" for o in outcomes))
        return counts, bad
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def main():
    if "--worker" in sys.argv:
        return worker()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    _, bad = run(a.cases, a.seed, a.workers)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
