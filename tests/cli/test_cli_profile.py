import json

from click.testing import CliRunner

import nbnet as nb
from nbnet import layers
from nbnet.cli.main import main


def _spec(tmp_path):
    m = nb.Sequential([nb.Input(shape=(20,)), layers.Dense(16), layers.BatchNormalization(),
                       layers.ReLU(), layers.Dense(3)])
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(m.get_config()))
    return m, path


def test_profile_spec_and_model_print_tables_and_trace(tmp_path):
    m, spec = _spec(tmp_path)
    r = CliRunner().invoke(main, ["profile", str(spec), "--steps", "3", "--batch-size", "32",
                                  "--threads", "1,2", "--trace", str(tmp_path / "tr.json")])
    assert r.exit_code == 0, r.output
    assert "sum of parts" in r.output and "thread scaling" in r.output and "2T speedup/eff" in r.output
    assert json.loads((tmp_path / "tr.json").read_text())["traceEvents"]
    m.compile("sgd", "mse")
    m.save(tmp_path / "m.nbnet")
    r = CliRunner().invoke(main, ["profile", str(tmp_path / "m.nbnet"), "--steps", "2"])
    assert r.exit_code == 0, r.output
    assert "(Dense)" in r.output and "(BatchNormalization)" in r.output


def test_profile_bad_input_exits_2(tmp_path):
    _, spec = _spec(tmp_path)
    for args, where in ([str(tmp_path / "missing.json")], "missing.json"), \
                       ([str(spec), "--threads", "0"], "--threads"), \
                       ([str(spec), "--batch-size", "0"], "--batch-size"):
        r = CliRunner().invoke(main, ["profile", *args])
        assert r.exit_code == 2, r.output
        assert where in r.output and "Traceback" not in r.output


def test_profile_leaves_out_thread_counts_above_the_cores_and_says_so(tmp_path):
    _, spec = _spec(tmp_path)
    most = nb.threads.default_num_threads()
    r = CliRunner().invoke(main, ["profile", str(spec), "--steps", "2", "--threads", f"1,{most + 1}"])
    assert r.exit_code == 0, r.output
    assert f"--threads {most + 1}: this machine runs at most {most} thread(s)" in r.output
    assert f"{most + 1}T" not in r.output and "1 thread(s)" in r.output
