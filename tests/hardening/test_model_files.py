"""The model reader validates before it allocates (issue 16): one test per failure the
issue lists for model files. Each comment says what the code before issue 16 did.
Every bad file must end in a ModelFileError that names the file and the field."""
import io
import json
import os
import struct
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

import nbnet as nb
from nbnet import layers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "soak"))
from fuzz_models import Payload, make_zip, members_of, npy, npy_header, patch_entry  # noqa: E402


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A trained MLP (Adam state) saved, with its bytes, members and config."""
    folder = tmp_path_factory.mktemp("good")
    m = nb.Sequential([nb.Input(shape=(4,)), layers.Dense(6, activation="relu"),
                       layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    m.fit(rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32), epochs=1,
          verbose=0)
    path = str(folder / "good.nbnet")
    m.save(path)
    data = open(path, "rb").read()
    mem = members_of(data)
    return {"path": path, "data": data, "mem": mem, "config": json.loads(dict(mem)["config.json"])}


def _bad(tmp_path, payload, name="bad.nbnet"):
    p = tmp_path / name
    p.write_bytes(payload)
    return str(p)


def _refused(path, *words):
    with pytest.raises(nb.ModelFileError) as e:
        nb.load_model(path)
    msg = str(e.value)
    assert str(path) in msg
    for w in words:
        assert w in msg, msg
    return msg


def _with_config(good, cfg=None, raw=None):
    body = raw if raw is not None else json.dumps(cfg).encode()
    return make_zip([(n, body if n == "config.json" else p) for n, p in good["mem"]])


def _with_member(good, name, payload):
    return make_zip([(n, payload if n == name else p) for n, p in good["mem"]])


def _cfg(good, change):
    c = json.loads(json.dumps(good["config"]))
    change(c)
    return c


# ---------------------------------------------------------------------- memory
def test_npy_member_declared_4gb_in_zip_directory(good, tmp_path):
    # before: read_archive read members whole, trusting the sizes; a 4 GB member of a
    # 4.6 MB file reached 3.8 GB of memory, then a bare MemoryError.
    data = patch_entry(good["data"], "weights/00000.npy", csize=2 ** 32 - 1, usize=2 ** 32 - 1)
    _refused(_bad(tmp_path, data), "weights/00000.npy")


def test_deflated_config_bomb_is_refused_before_inflating(good, tmp_path):
    # before: a deflated 2 GB config.json (a 4.6 MB file) was inflated whole -> MemoryError.
    # Here 64 MB of spaces (64 kB compressed): refused from the zip directory alone.
    body = json.dumps(good["config"]).encode()[:-1] + b" " * (64 * 2 ** 20) + b"}"
    data = make_zip([(n, body if n == "config.json" else p) for n, p in good["mem"]],
                    method={"config.json": zipfile.ZIP_DEFLATED})
    assert len(data) < 2 ** 20
    _refused(_bad(tmp_path, data), "config.json", "compression")


def test_config_over_size_cap(good, tmp_path):
    body = json.dumps(good["config"]).encode()[:-1] + b" " * (65 * 2 ** 20) + b"}"
    _refused(_bad(tmp_path, _with_config(good, raw=body)), "config.json", "at most")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_symlink_to_dev_zero(tmp_path):
    # before: zipfile read /dev/zero -> gigabytes of memory, then MemoryError.
    p = tmp_path / "zero.nbnet"
    os.symlink("/dev/zero", p)
    _refused(str(p), "device")


def test_npy_header_claiming_1e12_elements(good, tmp_path):
    # before: np.load allocated for the header's shape -> MemoryError.
    payload = npy_header((10 ** 12,), "<f4") + bytes(64)
    _refused(_bad(tmp_path, _with_member(good, "weights/00000.npy", payload)),
             "weights/00000.npy", "1000000000000")


@pytest.mark.parametrize("where", ["units", "input_shape"])
def test_units_or_input_shape_1e12(good, tmp_path, where):
    # before: units 1e12 (a JSON number) built a (4, 10**12) kernel -> MemoryError;
    # input_shape [1e12] likewise. Now the weight budget (the elements the file's arrays
    # hold) refuses it in add_weight, before allocating.
    def change(c):
        if where == "units":
            c["model"]["layers"][0]["config"]["units"] = 10 ** 12
        else:
            c["model"]["input_shape"] = [10 ** 12]
    msg = _refused(_bad(tmp_path, _with_config(good, _cfg(good, change))))
    assert "model" in msg


def test_units_as_float_1e12(good, tmp_path):
    c = _cfg(good, lambda c: c["model"]["layers"][0]["config"].update(units=1e12))
    _refused(_bad(tmp_path, _with_config(good, c)), "model")


# ---------------------------------------------------------------------- hangs
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_as_model_path_does_not_block(tmp_path):
    # before: zipfile opened the FIFO and blocked forever waiting for a writer.
    p = tmp_path / "pipe.nbnet"
    os.mkfifo(p)
    result = {}

    def load():
        try:
            nb.load_model(str(p))
        except Exception as e:  # noqa: BLE001
            result["e"] = e
    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(20)
    if t.is_alive():   # unblock the reader, then fail
        with open(p, "wb"):
            pass
        pytest.fail("load_model blocked on a FIFO")
    assert isinstance(result.get("e"), nb.ModelFileError) and "FIFO" in str(result["e"])


def test_cli_predict_on_fifo_exits_cleanly(tmp_path):
    p = tmp_path / "pipe.nbnet"
    os.mkfifo(p)
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1,2\n")
    r = subprocess.run([sys.executable, "-m", "nbnet.cli", "predict", str(p), str(csv)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "FIFO" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------- tracebacks
NOT_OBJECTS = ["a string", [1, 2], None, 5]


@pytest.mark.parametrize("value", NOT_OBJECTS)
@pytest.mark.parametrize("field", ["layers", "layer", "layer config", "model", "training"])
def test_non_object_sections(good, tmp_path, field, value):
    # before: AttributeError ('str' object has no attribute 'get') or TypeError.
    def change(c):
        if field == "layers":
            c["model"]["layers"] = value if value is not None else 5
        elif field == "layer":
            c["model"]["layers"][0] = value
        elif field == "layer config":
            c["model"]["layers"][0]["config"] = value
        elif field == "model":
            c["model"] = value
        else:
            c["training"] = value if value is not None else "x"
    msg = _refused(_bad(tmp_path, _with_config(good, _cfg(good, change))))
    assert {"layers": "model/layers", "layer": "model/layers[0]",
            "layer config": "model/layers[0]/config", "model": "model",
            "training": "training"}[field] in msg


@pytest.mark.parametrize("value", ["1", 1.0, [1], None, True])
def test_format_version_of_wrong_type(good, tmp_path, value):
    # before: TypeError ('>' not supported between 'str' and 'int'), or accepted.
    _refused(_bad(tmp_path, _with_config(good, _cfg(good, lambda c: c.update(
        format_version=value)))), "format_version")


def test_json_nested_2000_levels(good, tmp_path):
    # before: RecursionError from json.loads.
    raw = json.dumps(_cfg(good, lambda c: c.update(extra="@@"))).replace(
        '"@@"', "[" * 2000 + "]" * 2000)
    _refused(_bad(tmp_path, _with_config(good, raw=raw.encode())), "config.json", "nested")


def test_unknown_compression_method(good, tmp_path):
    # before: NotImplementedError ("That compression method is not supported").
    _refused(_bad(tmp_path, patch_entry(good["data"], "weights/00001.npy", method=99)),
             "weights/00001.npy", "compression")


def test_encryption_flag(good, tmp_path):
    # before: RuntimeError ("File ... is encrypted, password required").
    _refused(_bad(tmp_path, patch_entry(good["data"], "config.json", flag=1)),
             "config.json", "encrypted")


@pytest.mark.parametrize("dtype", ["V4", "<f2", ">f4", ">f8", "<i4", "<i8", "|u1", "<c8",
                                   "<U3", "|S3", "<M8[s]", "<m8[s]", "struct", "|b1"])
def test_weight_dtypes_other_than_the_saved_float(good, tmp_path, dtype):
    # before: void -> a traceback; float16, big-endian, ints, complex, strings, datetimes,
    # structured -> cast silently into the float32 weight (or a bare TypeError).
    arr = np.load(io.BytesIO(dict(good["mem"])["weights/00000.npy"]))
    dt = [("a", "<f4"), ("b", "<i4")] if dtype == "struct" else dtype
    payload = npy(np.zeros(arr.shape, dtype=dt))
    _refused(_bad(tmp_path, _with_member(good, "weights/00000.npy", payload)),
             "weights/00000.npy")


def test_float64_array_for_float32_weight_is_not_cast(good, tmp_path):
    arr = np.load(io.BytesIO(dict(good["mem"])["weights/00000.npy"]))
    payload = npy(arr.astype(np.float64))
    _refused(_bad(tmp_path, _with_member(good, "weights/00000.npy", payload)),
             "weights/00000.npy", "float64", "float32")


@pytest.mark.parametrize("seed", ["7", [7], 1.5, True, -1])
def test_shuffle_seed_of_wrong_type(good, tmp_path, seed):
    # before: "7" -> accepted then int(); [7] -> TypeError traceback.
    _refused(_bad(tmp_path, _with_config(good, _cfg(good, lambda c: c["training"].update(
        shuffle_seed=seed)))), "training/shuffle_seed")


@pytest.mark.parametrize("value", [np.arange(3), np.array([[1]]), np.array(1.5), np.array(-2)])
def test_optimizer_iterations_not_a_nonnegative_int_scalar(good, tmp_path, value):
    # before: a vector -> TypeError ("only length-1 arrays can be converted") traceback.
    _refused(_bad(tmp_path, _with_member(good, "optimizer/iterations.npy", npy(value))),
             "optimizer/iterations.npy")


def test_pickle_object_array_never_runs(good, tmp_path):
    marker = tmp_path / "ran"
    payload = npy(np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    _refused(_bad(tmp_path, _with_member(good, "weights/00000.npy", payload)), "weights/00000.npy")
    assert not marker.exists()


def test_unknown_metric_is_refused_at_load(good, tmp_path):
    # before: compile accepted the name; the model loaded and failed later with a
    # traceback (ValueError: unknown metric) at evaluate / fit.
    c = _cfg(good, lambda c: c["compile"].update(metrics=["no_such_metric"]))
    _refused(_bad(tmp_path, _with_config(good, c)), "compile/metrics", "no_such_metric")


@pytest.mark.parametrize("extra", [
    {"kind": "tabular", "class_names": ["a", "b"]},               # 2 names, 3 outputs
    {"kind": "tabular", "class_names": "abc"},
    {"kind": "images", "image_size": [8, 8], "color_mode": "rgb"},  # input is (4,)
    {"kind": "tabular", "encoder": {"missing": "auto", "max_categories": 5, "standardize": True,
                                    "drop_constant": True, "columns": "x"}},
    {"kind": "tabular", "encoder": {"missing": "auto", "max_categories": 5, "standardize": True,
                                    "drop_constant": True, "columns": [
                                        {"name": "a", "role": "numeric", "missing": 0,
                                         "fill": 0, "mean": 0, "std": 1, "indicator": False}]}},
    {"kind": "spreadsheet"},
    {"target_scale": {"mean": 0, "std": 0}},
])
def test_extra_section_is_validated_at_load(good, tmp_path, extra):
    # before: the file loaded; `nbnet predict` then failed with a traceback (IndexError
    # on class names, KeyError / TypeError in the encoder, a shape error in predict).
    _refused(_bad(tmp_path, _with_config(good, _cfg(good, lambda c: c.update(extra=extra)))),
             "extra")


def test_layer_constructor_errors_become_model_file_errors(good, tmp_path):
    c = _cfg(good, lambda c: c["model"]["layers"][0]["config"].update(activation=["relu"]))
    _refused(_bad(tmp_path, _with_config(good, c)), "model")
    c = _cfg(good, lambda c: c["model"]["layers"][0]["config"].update(no_such_arg=1))
    _refused(_bad(tmp_path, _with_config(good, c)), "model")


# ---------------------------------------------------------------------- still loads
def test_valid_file_loads_bitwise(good):
    m = nb.load_model(good["path"])
    arrays = {n[:-4]: np.load(io.BytesIO(p)) for n, p in good["mem"] if n.endswith(".npy")}
    for i, w in enumerate(m.weights):
        assert np.array_equal(w.value, arrays[f"weights/{i:05d}"])
    state = m.optimizer.get_state()
    for k, v in state.items():
        assert np.array_equal(v, arrays[f"optimizer/{k}"]), k


def test_unknown_members_are_ignored_and_not_read(good, tmp_path):
    data = make_zip(good["mem"] + [("notes/readme.txt", b"hello")])
    nb.load_model(_bad(tmp_path, data))


def test_npy_header_not_matching_member_size(good, tmp_path):
    arr = np.load(io.BytesIO(dict(good["mem"])["weights/00000.npy"]))
    payload = npy(arr)[:-4]   # one float short
    _refused(_bad(tmp_path, _with_member(good, "weights/00000.npy", payload)),
             "weights/00000.npy", "header claims")


def test_read_archive_bounded_and_checked(good, tmp_path):
    from nbnet.saving import read_archive
    cfg, arrays = read_archive(good["path"])
    assert cfg["format"] == "nbnet.model" and "weights/00000" in arrays
    bad = _bad(tmp_path, _with_member(good, "weights/00000.npy", npy(np.zeros(3, "<f2"))))
    with pytest.raises(nb.ModelFileError, match="weights/00000.npy"):
        read_archive(bad)


def test_struct_module_used():   # keeps the import honest for patch helpers
    assert struct.calcsize("<I") == 4
