"""A short, deterministic share of the data fuzzing (tests/soak/fuzz_data.py): mutated
CSV files and broken image folders through `nbnet train`, in this process (click's
CliRunner, a per-case alarm), the risky image folders (FIFOs, bombs, /dev/zero) in a
subprocess under a 2 GB address-space limit. Every case must train or end in one clean
"Error:" line with the previous output file untouched: no traceback, no hang, no memory
blow-up, no changed output. A hypothesis test adds random cell texts."""
import importlib.util
import os

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "fuzz_data", os.path.join(os.path.dirname(__file__), "..", "soak", "fuzz_data.py"))
fuzz = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(fuzz)

N_CSV, N_IMAGES, MAX_RISKY, SEED = 150, 40, 3, 16


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("fuzz"))
    fuzz.warm_up(d)   # compile (or load) every kernel before the timed cases
    return d


def _run(cases):
    bad = []
    for case in cases:
        outcome, detail = fuzz.run_case(case) if case["risky"] else \
            fuzz.run_in_process(case, timeout=60)
        if outcome in fuzz.BAD:
            bad.append((case["id"], outcome, case["muts"], detail))
    return bad


def test_fuzzed_csv_files(workdir):
    cases = [fuzz.make_case("csv", i, SEED, workdir) for i in range(N_CSV)]
    assert _run(cases) == []


def test_fuzzed_image_folders(workdir):
    cases = [fuzz.make_case("images", i, SEED, workdir) for i in range(N_IMAGES)]
    risky = [c for c in cases if c["risky"]][:MAX_RISKY]
    cases = [c for c in cases if not c["risky"]] + risky
    assert risky, "the seed should give at least one risky folder"
    assert _run(cases) == []


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CELL = st.one_of(st.text(max_size=12), st.sampled_from(
    ["1e308", "-1e39", "nan", "inf", "", "NA", '"', "\ufeff", "1,234", "0x10", "\x00"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cells=st.lists(st.lists(_CELL, min_size=3, max_size=3), min_size=0, max_size=12))
def test_random_cells(workdir, tmp_path, cells):
    """Random cell texts in a 3-column table (the csv module quotes them)."""
    import csv
    import io
    d = tmp_path / f"h{abs(hash(repr(cells))) % 10**9}"
    os.makedirs(d / "out")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["a", "b", "label"])
    w.writerows(cells)
    (d / "data.csv").write_bytes(buf.getvalue().encode("utf-8", "surrogatepass"))
    out = d / "out" / "model.nbnet"
    out.write_bytes(fuzz.OLD_OUT)
    case = {"id": "hyp", "kind": "csv", "muts": ["hypothesis"], "risky": False, "out": str(out),
            "args": ["train", str(d / "data.csv"), "--epochs", "1", "--hidden", "8", "--out",
                     str(out)]}
    outcome, detail = fuzz.run_in_process(case, timeout=60)
    assert outcome in ("trained", "clean_error"), (outcome, detail, cells)
