"""Fuzzing the CLI's data inputs: mutated CSV files and broken image folders (issue 16).

Seeded generators build each case in its own folder: a CSV file (valid base table, then
1-3 mutations: encodings, BOMs, quotes, ragged rows, empty cells, huge numbers, NaN/inf
words, binary garbage, very long lines, one class, no rows, ...) or an image folder
(class subfolders of PNG/JPEG/BMP/GIF/TIFF/WebP images in odd modes, then mutations:
truncated and zero-byte files, wrong extensions, decompression bombs, FIFOs, sockets,
dangling and looping symlinks, /dev/zero behind a .png, one class, deep nesting, ...).
Each case runs `nbnet train CASE --epochs 1 --out OUT` (OUT already exists) with a few
random flags, and is classified:

  trained        exit 0, OUT rewritten as a model file (zip)
  clean_error    exit 1 or 2, exactly one "Error: ..." line on stderr, no traceback
  traceback      a traceback, or an exception escaping the CLI
  internal       the CLI's last-resort line ("Error: unexpected ...": a bug)
  memory         MemoryError / out of memory / killed
  hang           over the per-case time limit (and again when rerun alone)
  changed_output a failed run that changed OUT or left another file next to it
  messy          any other exit status or stderr shape

Everything but trained and clean_error is a bad outcome. Cases run in worker processes
limited to 2 GB of address space (RLIMIT_AS), many per worker through click's CliRunner
with a per-case alarm; the risky ones (FIFOs, bombs, /dev/zero) each in their own
`python -m nbnet.cli` subprocess under the same limit and a 60 s timeout.

    python tests/soak/fuzz_data.py [--csv 500] [--images 100] [--seed 0] [--jobs 2]

prints the counts per outcome (and per mutation for the bad ones) and exits 1 when any
case is bad. tests/hardening/test_fuzz_data_short.py runs a small deterministic share.
"""
import argparse
import codecs
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter

MEMORY_LIMIT = 2 << 30   # bytes of address space per worker / subprocess
CASE_TIMEOUT = 60        # seconds per case
OLD_OUT = b"previous model file: must survive every failed run byte for byte\n"
BAD = ("traceback", "internal", "memory", "hang", "changed_output", "messy")


# ============================================================================ CSV cases
CSV_MUTATIONS = ("latin1", "utf16", "utf16_bom", "bom", "bom_middle", "quote_open",
                 "quote_newline", "ragged_more", "ragged_less", "empty_cells", "huge",
                 "tiny", "overflow64", "nan_words", "inf_words", "garbage", "nul",
                 "long_line", "long_cell", "one_class", "no_rows", "empty_file",
                 "blank_file", "dup_header", "empty_header", "crlf", "cr_only",
                 "semicolons", "tabs", "wide", "target_missing", "many_levels",
                 "thousands", "mixed_column", "one_column", "header_only_spaces",
                 "huge_target", "negative_zero", "hex_numbers", "unicode_names",
                 "all_missing_column", "constant_columns", "big_file")


def _base_table(rng):
    """(header, rows) of a small valid table: numbers, a category, a target."""
    n = rng.randint(6, 60)
    n_num = rng.randint(1, 4)
    header = [f"x{i}" for i in range(n_num)] + ["color", "target"]
    regression = rng.random() < 0.3
    rows = []
    for i in range(n):
        nums = [f"{rng.gauss(0, 3):.4g}" for _ in range(n_num)]
        color = rng.choice(["red", "green", "blue"])
        target = f"{rng.gauss(10, 5):.3f}" if regression else rng.choice(["yes", "no", "maybe"][:rng.randint(2, 3)])
        rows.append(nums + [color, target])
    if not regression:   # at least two classes
        rows[0][-1], rows[1][-1] = "yes", "no"
    return header, rows


def _cells_to_text(header, rows, sep=",", eol="\n"):
    return eol.join(sep.join(r) for r in [header] + rows) + eol


def make_csv(path, rng):
    """Write a mutated CSV at `path`; -> (mutations, extra CLI flags)."""
    header, rows = _base_table(rng)
    muts = rng.sample(CSV_MUTATIONS, rng.randint(1, 3))
    sep, eol, encoding, prefix = ",", "\n", "utf-8", b""
    raw_edits = []
    for m in muts:
        r = rng.randrange(len(rows)) if rows else 0
        c = rng.randrange(len(header))
        if m in ("latin1", "unicode_names"):
            header[c] = header[c] + rng.choice(["é", "ü", "名", "\u00a0", "ß"])
            if rows:
                rows[r][c] = "café"
            encoding = "latin-1" if m == "latin1" else encoding
        elif m == "utf16":
            encoding = "utf-16-le"
        elif m == "utf16_bom":
            encoding = "utf-16"
        elif m == "bom":
            prefix = codecs.BOM_UTF8
        elif m == "bom_middle" and rows:
            rows[r][c] = "\ufeff" + rows[r][c]
        elif m == "quote_open" and rows:
            rows[r][c] = '"' + rows[r][c]
        elif m == "quote_newline" and rows:
            rows[r][c] = '"a\nb, c"'
        elif m == "ragged_more" and rows:
            rows[r] = rows[r] + ["1"]
        elif m == "ragged_less" and rows:
            rows[r] = rows[r][:-1]
        elif m == "empty_cells":
            for _ in range(rng.randint(1, 10)):
                if rows:
                    rows[rng.randrange(len(rows))][rng.randrange(len(header))] = ""
        elif m in ("huge", "tiny", "overflow64", "nan_words", "inf_words", "hex_numbers",
                   "negative_zero") and rows:
            words = {"huge": ["1e308", "-1e308", "3.5e38", "1e39", "-1.7976931348623157e308"],
                     "tiny": ["1e-320", "5e-324", "-1e-310", "1e-46"],
                     "overflow64": ["1e309", "-1e400", "9" * 400],
                     "nan_words": ["nan", "NaN", "-nan", "NAN", "nan(ind)"],
                     "inf_words": ["inf", "-inf", "Infinity", "-Infinity", "+inf", "infinity"],
                     "hex_numbers": ["0x1p3", "0xff", "1_000", "١٢٣"],
                     "negative_zero": ["-0", "-0.0", "+0", "0e0"]}[m]
            for _ in range(rng.randint(1, 5)):
                rows[rng.randrange(len(rows))][rng.randrange(max(1, len(header) - 2))] = rng.choice(words)
        elif m == "huge_target" and rows:
            for row in rows:
                row[-1] = rng.choice(["1e308", "2", "3.5", "-1e39", "1e38"])
        elif m == "garbage":
            raw_edits.append(("garbage", rng.randbytes(rng.randint(1, 200))))
        elif m == "nul" and rows:
            rows[r][c] = rows[r][c] + "\x00"
        elif m == "long_line" and rows:
            rows[r] = rows[r] + ["7"] * rng.randint(1000, 20000)
        elif m == "long_cell" and rows:
            rows[r][c] = "z" * rng.randint(100_000, 2_000_000)
        elif m == "one_class":
            for row in rows:
                row[-1] = "same"
        elif m == "no_rows":
            rows = []
        elif m == "empty_file":
            raw_edits.append(("replace", b""))
        elif m == "blank_file":
            raw_edits.append(("replace", b"\n \n\t\n\r\n"))
        elif m == "dup_header":
            header[c] = header[(c + 1) % len(header)]
        elif m == "empty_header":
            header[c] = ""
        elif m == "crlf":
            eol = "\r\n"
        elif m == "cr_only":
            eol = "\r"
        elif m == "semicolons":
            sep = ";"
        elif m == "tabs":
            sep = "\t"
        elif m == "wide":
            k = rng.randint(200, 3000)
            header = [f"w{i}" for i in range(k)] + header
            rows = [[f"{rng.random():.3f}" for _ in range(k)] + row for row in rows]
        elif m == "target_missing":
            for row in rows:
                if rng.random() < 0.5:
                    row[-1] = rng.choice(["", "NA", "?"])
        elif m == "many_levels" and rows:
            for i, row in enumerate(rows):
                row[0] = f"level{i}_{rng.randrange(10**6)}"
        elif m == "thousands" and rows:
            for row in rows:
                row[0] = f'"{rng.randint(1000, 10**7):,}"'
        elif m == "mixed_column" and rows:
            rows[r][0] = rng.choice(["abc", "12abc", "1.2.3", "--", "TRUE"])
        elif m == "one_column":
            header, rows = header[-1:], [row[-1:] for row in rows]
        elif m == "header_only_spaces":
            header = [" " * (i + 1) for i in range(len(header))]
        elif m == "all_missing_column":
            for row in rows:
                row[0] = ""
        elif m == "constant_columns":
            for row in rows:
                row[0] = "1"
                if len(row) > 2:
                    row[1] = "1"
        elif m == "big_file":   # over 4 MB: the pandas fast path
            big = rows * max(1, (4_500_000 // max(1, len(_cells_to_text(header, rows)))) + 1)
            rows = [list(row) for row in big]
    text = _cells_to_text(header, rows, sep, eol)
    data = prefix + text.encode(encoding, errors="replace")
    for kind, payload in raw_edits:
        if kind == "replace":
            data = payload
        else:
            at = rng.randrange(len(data) + 1)
            data = data[:at] + payload + data[at:]
    with open(path, "wb") as f:
        f.write(data)
    flags = []
    if rng.random() < 0.3:
        flags += ["--missing", rng.choice(["auto", "error", "drop", "mean"])]
    if rng.random() < 0.15:
        flags += ["--target", rng.choice(["target", "x0", "0", "-1", "99", "nope", "color"])]
    if rng.random() < 0.1:
        flags += ["--task", rng.choice(["classification", "regression"])]
    if rng.random() < 0.1:
        flags += ["--validation-split", rng.choice(["0.5", "0.01", "0.99"])]
    if rng.random() < 0.1:
        flags += ["--categorical", "x0"] if rng.random() < 0.5 else ["--numeric", "color"]
    return muts, flags


# ============================================================================ image cases
IMAGE_MUTATIONS = ("truncated", "zero_byte", "wrong_ext", "text_as_png", "random_bytes",
                   "bomb", "bomb_mid", "fifo", "socket", "dangling_link", "link_loop",
                   "dir_link_loop", "dev_zero", "one_class", "nested", "deep_nested",
                   "odd_mode", "hidden_class", "empty_class", "only_text_class",
                   "dir_named_png", "animated_gif", "thin_image", "tiny_image",
                   "non_utf8_name", "odd_class_names", "many_classes", "exotic_formats",
                   "small_size", "big_size", "rgb_mode", "no_classes", "header_only_png")
RISKY_IMAGE = {"bomb", "bomb_mid", "fifo", "dev_zero", "socket"}
_MODES = ("L", "RGB", "RGBA", "P", "1", "LA", "I;16", "I", "F", "CMYK")
_FORMATS = {"png": ("L", "RGB", "RGBA", "P", "1", "LA", "I;16", "I"), "jpg": ("L", "RGB", "CMYK"),
            "bmp": ("L", "RGB", "P", "1"), "gif": ("L", "P", "1"), "tif": _MODES,
            "webp": ("RGB", "RGBA")}


def _image(path, rng, mode=None, size=None, fmt=None):
    import numpy as np
    from PIL import Image
    fmt = fmt or os.path.splitext(path)[1][1:].lower() or "png"
    fmt = "jpg" if fmt == "jpeg" else "tif" if fmt == "tiff" else fmt
    mode = mode or rng.choice(_FORMATS.get(fmt, ("L",)))
    w, h = size or (rng.randint(1, 40), rng.randint(1, 40))
    arr = np.random.default_rng(rng.randrange(2**32)).integers(0, 255, (h, w, 3), dtype=np.uint8)
    save_as = {"jpg": "JPEG", "tif": "TIFF", "png": "PNG", "bmp": "BMP", "gif": "GIF",
               "webp": "WEBP"}.get(fmt, "PNG")
    try:
        Image.fromarray(arr, "RGB").convert(mode).save(path, format=save_as)
    except (OSError, ValueError, KeyError):   # a mode this Pillow cannot write there
        Image.fromarray(arr, "RGB").convert("L").save(path, format=save_as)


def _bomb(path, pixels_side):
    """A PNG header claiming side x side pixels (a few KB on disk: zlib of zeros)."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    w = h = pixels_side
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" * (w + 1)
    body = b"".join(comp.compress(row) for _ in range(min(h, 64))) + comp.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def make_images(root, rng):
    """Write a mutated image folder at `root`; -> (mutations, extra CLI flags)."""
    n_classes = rng.randint(2, 3)
    classes = [f"class_{k}" for k in range(n_classes)]
    muts = rng.sample(IMAGE_MUTATIONS, rng.randint(1, 3))
    if "many_classes" in muts:
        classes = [f"c{k:02d}" for k in range(rng.randint(10, 25))]
    if "odd_class_names" in muts:
        classes = ["with space", "ünï", "a,b;c", "-dash"][:max(2, n_classes)]
    if "one_class" in muts:
        classes = classes[:1]
    os.makedirs(root)
    exts = ["png", "jpg", "bmp", "gif", "tif", "webp"] if "exotic_formats" in muts else ["png", "jpg"]
    files = []
    for cls in classes:
        os.makedirs(os.path.join(root, cls))
        for i in range(rng.randint(2, 6)):
            p = os.path.join(root, cls, f"img{i}.{rng.choice(exts)}")
            _image(p, rng)
            files.append(p)
    pick = lambda: rng.choice([f for f in files if os.path.exists(f)] or [files[0]])  # noqa: E731
    cls_dir = lambda: os.path.join(root, rng.choice(classes))  # noqa: E731
    flags = []
    for m in muts:
        if m == "truncated" and os.path.exists(pick()):
            p = pick()
            size = os.path.getsize(p)
            with open(p, "r+b") as f:
                f.truncate(rng.randint(1, max(1, size - 1)))
        elif m == "zero_byte":
            open(os.path.join(cls_dir(), "empty.png"), "wb").close()
        elif m == "wrong_ext" and os.path.exists(pick()):
            p = pick()
            new = os.path.splitext(p)[0] + rng.choice([".bmp", ".gif", ".webp", ".jpeg"])
            os.rename(p, new)
            files[files.index(p)] = new
        elif m == "text_as_png":
            with open(os.path.join(cls_dir(), "notes.png"), "w") as f:
                f.write("this is not an image\n")
        elif m == "random_bytes":
            with open(os.path.join(cls_dir(), "noise.jpg"), "wb") as f:
                f.write(rng.randbytes(rng.randint(1, 5000)))
        elif m == "header_only_png":
            with open(os.path.join(cls_dir(), "hdr.png"), "wb") as f:
                f.write(b"\x89PNG\r\n\x1a\n")
        elif m == "bomb":
            _bomb(os.path.join(cls_dir(), "bomb.png"), 30000)      # 900 Mpx: over 2x Pillow's limit
        elif m == "bomb_mid":
            _bomb(os.path.join(cls_dir(), "bomb_mid.png"), 10000)  # 100 Mpx: over the limit, under 2x
        elif m == "fifo":
            os.mkfifo(os.path.join(cls_dir(), "pipe.png"))
        elif m == "socket":
            s = socket.socket(socket.AF_UNIX)
            try:
                s.bind(os.path.join(cls_dir(), "sock.png"))
            except OSError:   # path too long for a socket
                pass
            s.close()
        elif m == "dangling_link":
            os.symlink(os.path.join(root, "nowhere.png"), os.path.join(cls_dir(), "gone.png"))
        elif m == "link_loop":
            d = cls_dir()
            os.symlink("loop_b.png", os.path.join(d, "loop_a.png"))
            os.symlink("loop_a.png", os.path.join(d, "loop_b.png"))
        elif m == "dir_link_loop":
            os.symlink("..", os.path.join(cls_dir(), "up"))
            os.symlink(os.path.abspath(root), os.path.join(cls_dir(), "root.png"))
        elif m == "dev_zero":
            os.symlink("/dev/zero", os.path.join(cls_dir(), "zero.png"))
        elif m == "nested":
            d = os.path.join(cls_dir(), "a", "b", "c")
            os.makedirs(d)
            _image(os.path.join(d, "deep.png"), rng)
        elif m == "deep_nested":
            d = cls_dir()
            for _ in range(rng.randint(100, 400)):
                d = os.path.join(d, "d")
            os.makedirs(d)
            _image(os.path.join(d, "deepest.png"), rng)
        elif m == "odd_mode" and os.path.exists(pick()):
            p = pick()
            os.chmod(p, rng.choice([0o000, 0o200, 0o4755, 0o1777]))
        elif m == "hidden_class":
            os.makedirs(os.path.join(root, ".hidden"))
            _image(os.path.join(root, ".hidden", "h.png"), rng)
        elif m == "empty_class":
            os.makedirs(os.path.join(root, "zz_empty"))
        elif m == "only_text_class":
            os.makedirs(os.path.join(root, "zz_text"))
            with open(os.path.join(root, "zz_text", "readme.txt"), "w") as f:
                f.write("no images\n")
        elif m == "dir_named_png":
            os.makedirs(os.path.join(cls_dir(), "folder.png"))
        elif m == "animated_gif":
            from PIL import Image
            frames = [Image.new("L", (12, 12), v) for v in (0, 128, 255)]
            frames[0].save(os.path.join(cls_dir(), "anim.gif"), save_all=True,
                           append_images=frames[1:])
        elif m == "thin_image":
            _image(os.path.join(cls_dir(), "thin.png"), rng, "L", (rng.choice([1, 3000]), 1))
        elif m == "tiny_image":
            _image(os.path.join(cls_dir(), "tiny.png"), rng, "L", (1, 1))
        elif m == "non_utf8_name" and os.path.exists(pick()):
            d = os.fsencode(cls_dir())
            with open(os.path.join(d, b"bad\xff\xfename.png"), "wb") as f:
                with open(pick(), "rb") as g:
                    f.write(g.read())
        elif m == "no_classes":
            for cls in classes:
                shutil.rmtree(os.path.join(root, cls), ignore_errors=True)
            _image(os.path.join(root, "loose.png"), rng)
            classes = classes[:1]
            os.makedirs(os.path.join(root, classes[0]), exist_ok=True)
        elif m == "small_size":
            flags += ["--image-size", rng.choice(["8x8", "1x1", "9x30", "10x10", "3"])]
        elif m == "big_size":
            flags += ["--image-size", rng.choice(["64x64", "40x12"])]
        elif m == "rgb_mode":
            flags += ["--color-mode", "rgb"]
    if rng.random() < 0.1:
        flags += ["--validation-split", rng.choice(["0.5", "0.01"])]
    return muts, flags


# ============================================================================ running
def make_case(kind, index, seed, workdir):
    """Build case `index` of `kind` ('csv' | 'images') -> dict(id, kind, muts, args, out,
    risky)."""
    rng = random.Random(f"{seed}/{kind}/{index}")
    d = os.path.join(workdir, f"{kind}_{index:05d}")
    os.makedirs(d)
    if kind == "csv":
        data = os.path.join(d, "data.csv")
        muts, flags = make_csv(data, rng)
        risky = False
    else:
        data = os.path.join(d, "images")
        muts, flags = make_images(data, rng)
        risky = bool(RISKY_IMAGE & set(muts))
    out_dir = os.path.join(d, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "model.nbnet")
    with open(out, "wb") as f:
        f.write(OLD_OUT)
    args = ["train", data, "--epochs", "1", "--batch-size", "16", "--hidden", "8",
            "--out", out, "--seed", str(index % 7)] + flags
    return {"id": f"{kind}_{index:05d}", "kind": kind, "muts": muts, "args": args,
            "out": out, "risky": risky}


def classify(case, code, stdout, stderr, escaped=None, hung=False):
    """-> outcome name (see the module docstring)."""
    text = stdout + stderr
    if hung:
        return "hang"
    if "MemoryError" in text or "out of memory" in stderr or code in (-9, 137):
        return "memory"
    if escaped is not None or "Traceback (most recent call last)" in text:
        return "traceback"
    out_dir = os.path.dirname(case["out"])
    with open(case["out"], "rb") as f:
        now = f.read()
    leftovers = sorted(set(os.listdir(out_dir)) - {"model.nbnet"})
    if code == 0:
        return "trained" if now[:2] == b"PK" and not leftovers else "messy"
    if now != OLD_OUT or leftovers:
        return "changed_output"
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    if "Error: unexpected" in stderr:
        return "internal"
    if code in (1, 2) and len(errors) == 1 and stderr.rstrip().splitlines()[-1].startswith("Error:"):
        return "clean_error"
    return "messy"


class Hang(BaseException):
    """Raised by the per-case alarm (a BaseException: the CLI's last resort lets it pass)."""


def _alarm(signum, frame):
    raise Hang()


def run_in_process(case, timeout=CASE_TIMEOUT):
    """One case through click's CliRunner in this process -> (outcome, detail)."""
    from click.testing import CliRunner
    from nbnet.cli.main import main
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        result = CliRunner().invoke(main, case["args"])
    except Hang:
        return "hang", ""
    except MemoryError:
        return "memory", ""
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    escaped = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        escaped = "".join(traceback.format_exception(*result.exc_info))
    code = result.exit_code
    outcome = classify(case, code, result.stdout, result.stderr, escaped)
    return outcome, _detail(result.stderr, escaped)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_subprocess(case, timeout=CASE_TIMEOUT):
    """One case as `python -m nbnet.cli ...` under RLIMIT_AS and a timeout."""
    try:
        r = subprocess.run([sys.executable, "-m", "nbnet.cli"] + case["args"],
                           preexec_fn=_limit_memory, capture_output=True, timeout=timeout,
                           env=dict(os.environ, NBNET_FUZZ="1"))
    except subprocess.TimeoutExpired as e:
        return "hang", (e.stderr or b"")[-300:].decode("utf-8", "replace")
    stdout = r.stdout.decode("utf-8", "replace")
    stderr = r.stderr.decode("utf-8", "replace")
    return classify(case, r.returncode, stdout, stderr), _detail(stderr, None)


def _detail(stderr, escaped):
    if escaped:
        return escaped[-600:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:300]


def warm_up(workdir):
    """Train once on a valid CSV and a valid image folder, so that Numba compiles (or
    loads from its cache) every kernel before the first timed case: an alarm during
    compilation would leave the process in a broken state."""
    from click.testing import CliRunner
    from nbnet.cli.main import main
    d = tempfile.mkdtemp(prefix="warm-", dir=workdir)
    rng = random.Random(0)
    header, rows = _base_table(rng)
    with open(os.path.join(d, "ok.csv"), "w") as f:
        f.write(_cells_to_text(header, rows))
    root = os.path.join(d, "imgs")
    for cls in ("a", "b"):
        os.makedirs(os.path.join(root, cls))
        for i in range(4):
            _image(os.path.join(root, cls, f"{i}.png"), rng, "L", (12, 12))
    for data in ("ok.csv", "imgs"):
        CliRunner().invoke(main, ["train", os.path.join(d, data), "--epochs", "1", "--batch-size",
                                  "16", "--hidden", "8", "--out", os.path.join(d, "m.nbnet")])
    shutil.rmtree(d, ignore_errors=True)


def run_case(case):
    return run_subprocess(case) if case["risky"] else run_in_process(case)


# ============================================================================ driver
def _worker(case_file, result_file):
    """Run the cases listed in case_file (JSON lines), appending results to result_file;
    a 'start' line before each case tells the parent which one was running if this
    process dies."""
    with open(case_file) as f:
        cases = [json.loads(line) for line in f]
    warm_up(os.path.dirname(case_file))
    with open(result_file, "a") as out:
        for case in cases:
            out.write(json.dumps({"start": case["id"]}) + "\n")
            out.flush()
            t = time.perf_counter()
            outcome, detail = run_case(case)
            out.write(json.dumps({"id": case["id"], "outcome": outcome, "detail": detail,
                                  "seconds": round(time.perf_counter() - t, 2)}) + "\n")
            out.flush()
            if outcome == "hang":   # interrupted anywhere: start a fresh worker
                return


def run_all(cases, jobs, workdir):
    """Cases split over `jobs` worker processes (restarted after a crash) -> {id: result}."""
    results, pending = {}, list(cases)
    by_id = {c["id"]: c for c in cases}
    round_ = 0
    while pending:
        procs = []
        for k in range(jobs):
            share = pending[k::jobs]
            if not share:
                continue
            cf = os.path.join(workdir, f"cases_{round_}_{k}.jsonl")
            rf = os.path.join(workdir, f"results_{round_}_{k}.jsonl")
            with open(cf, "w") as f:
                f.writelines(json.dumps(c) + "\n" for c in share)
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", cf, rf],
                                 preexec_fn=_limit_memory, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            procs.append((p, rf))
        for p, rf in procs:
            _, err = p.communicate()
            started = None
            if os.path.exists(rf):
                with open(rf) as f:
                    for line in f:
                        rec = json.loads(line)
                        if "start" in rec:
                            started = rec["start"]
                        else:
                            results[rec["id"]] = rec
                            started = None
            if p.returncode != 0 and started is not None:   # the worker died in a case
                results[started] = {"id": started, "outcome": "memory" if p.returncode in
                                    (-9, 137) else "traceback",
                                    "detail": err.decode("utf-8", "replace")[-600:]}
        pending = [c for c in pending if c["id"] not in results]
        round_ += 1
        if round_ > 20:
            for c in pending:
                results[c["id"]] = {"id": c["id"], "outcome": "messy", "detail": "not run"}
            break
    for rec in results.values():
        rec["muts"] = by_id[rec["id"]]["muts"]
    return results


def report(results, out=sys.stdout):
    """Counts per kind and outcome; the bad cases with their mutations and last line."""
    counts = Counter((r["id"].split("_")[0], r["outcome"]) for r in results.values())
    kinds = sorted({k for k, _ in counts})
    outcomes = ["trained", "clean_error"] + list(BAD)
    print(f"{'outcome':<16}" + "".join(f"{k:>10}" for k in kinds), file=out)
    for o in outcomes:
        print(f"{o:<16}" + "".join(f"{counts[(k, o)]:>10}" for k in kinds), file=out)
    print(f"{'total':<16}" + "".join(f"{sum(counts[(k, o)] for o in outcomes):>10}"
                                     for k in kinds), file=out)
    bad = [r for r in results.values() if r["outcome"] in BAD]
    for r in sorted(bad, key=lambda r: r["id"]):
        print(f"BAD {r['id']} {r['outcome']} {r['muts']}: {r['detail'][-300:]}", file=out)
    return len(bad)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=int, default=500, help="number of CSV cases")
    ap.add_argument("--images", type=int, default=100, help="number of image-folder cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--keep", action="store_true", help="keep the case folders")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        _worker(*a.worker)
        return 0
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    workdir = tempfile.mkdtemp(prefix="nbnet-fuzz-data-")
    t0 = time.perf_counter()
    cases = [make_case("csv", i, a.seed, workdir) for i in range(a.csv)]
    cases += [make_case("images", i, a.seed, workdir) for i in range(a.images)]
    t1 = time.perf_counter()
    results = run_all(cases, a.jobs, workdir)
    # A case over the time limit runs again alone, in a subprocess with the same limits:
    # a real hang hangs again; a slow start under load (Numba loading its cache while
    # the other workers train) does not. Both outcomes are printed.
    by_id = {c["id"]: c for c in cases}
    reruns = [r for r in results.values() if r["outcome"] == "hang"]
    for r in reruns:
        outcome, detail = run_subprocess(by_id[r["id"]])
        print(f"rerun alone: {r['id']} {r['muts']}: hang -> {outcome}")
        r.update(outcome=outcome, detail=detail)
    t2 = time.perf_counter()
    n_bad = report(results)
    slow = sorted(results.values(), key=lambda r: -r.get("seconds", 0))[:3]
    slowest = ", ".join("%s %.0f s" % (r["id"], r.get("seconds", 0)) for r in slow)
    print(f"{len(cases)} cases ({a.csv} CSV, {a.images} image folders, seed {a.seed}): "
          f"generated in {t1 - t0:.0f} s, run in {t2 - t1:.0f} s on {a.jobs} workers; "
          f"slowest {slowest}; {n_bad} bad")
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
