"""nbnet train with a sequence model spec: the bundled digits read as 8 steps of 8
pixels by an LSTM (a Reshape first), then evaluate with the written model file."""
import json
import re

import nbnet as nb


def test_train_lstm_spec_on_the_digits(nbnet, tmp_path):
    spec = tmp_path / "lstm.json"
    spec.write_text(json.dumps([
        {"class_name": "Reshape", "config": {"target_shape": [8, 8]}},
        {"class_name": "LSTM", "config": {"units": 32}},
        {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}}]))
    out = tmp_path / "lstm.nbnet"
    run = nbnet("train", "--model", spec, "--epochs", "15", "--out", out)
    assert run.code == 0, run
    acc = float(re.search(r"Done: .*val_accuracy: ([0-9.]+)", run.stdout).group(1))
    assert acc >= 0.9, run.stdout[-800:]
    model = nb.load_model(out)
    assert [type(l).__name__ for l in model.layers] == ["Reshape", "LSTM", "Dense"]
    assert model.layers[1].get_weights()[1].shape == (32, 128)
