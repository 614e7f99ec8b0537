import json

import numpy as np

import nbnet as nb
from nbnet import layers


def reference_mlp():
    nb.utils.set_random_seed(0)
    m = nb.Sequential([nb.Input(shape=(784,)), layers.Dense(512), layers.BatchNormalization(),
                       layers.ReLU(), layers.Dense(256), layers.BatchNormalization(),
                       layers.ReLU(), layers.Dense(10)])
    m.compile("adam", nb.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def test_profile_rows_add_up_to_the_measured_step(tmp_path):
    m = reference_mlp()
    prof = nb.profiler.profile(m, batch_size=128, steps=30, trace=tmp_path / "t.json")
    names = [r["name"] for r in prof.rows]
    assert names[:len(m.layers)] == [f"{l.name} ({type(l).__name__})" for l in m.layers]
    assert names[-2:] == ["loss", "optimizer update"]
    # the acceptance: per-layer times add up to within 10 % of the measured step
    assert abs(prof.parts_s / prof.step_s - 1.0) < 0.10, (prof.parts_s, prof.step_s)
    dense = prof.rows[0]
    # first Dense: forward 2*784*512 per sample, backward only dW (no dL/dx for the data)
    assert dense["flops"] == 128 * (2 * 784 * 512 + 512) * 2
    assert dense["bound"] in ("compute", "memory", "overhead")
    assert prof.rows[2]["bound"] == "fused"  # ReLU done inside the batch-norm kernel
    text = prof.table()
    assert "sum of parts" in text and f"{m.layers[0].name} (Dense)" in text and "GFLOP/s" in text
    trace = json.loads((tmp_path / "t.json").read_text())
    ev = trace["traceEvents"]
    assert len(ev) == 30 * (len(m.layers) * 2 + 2)
    assert {e["ph"] for e in ev} == {"X"}
    assert all(e["dur"] >= 0 and {"name", "cat", "ts", "pid", "tid"} <= set(e) for e in ev)


def test_scaling_table_has_each_thread_count():
    m = reference_mlp()
    sc = nb.profiler.scaling(m, threads=[1, 2], batch_size=64, steps=5)
    assert [p.threads for p in sc.profiles] == [1, 2]
    text = sc.table()
    assert "1T ms" in text and "2T ms" in text and "whole step" in text and "2T speedup/eff" in text


def test_profile_compiles_an_uncompiled_model_and_makes_data():
    m = nb.Sequential([nb.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                       layers.Flatten(), layers.Dense(3, activation="softmax")])
    prof = nb.profiler.profile(m, batch_size=16, steps=3)
    assert m.compiled and len(prof.rows) == 5
    assert prof.rows[0]["flops"] > 0


def test_synthetic_targets_fit_the_loss():
    m = reference_mlp()
    x, y = nb.profiler.synthetic_data(m, 10)
    assert x.shape == (10, 784) and y.shape == (10,) and y.max() < 10
