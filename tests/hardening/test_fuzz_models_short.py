"""The short run of the model-file fuzzer (tests/soak/fuzz_models.py): 3 seeded cases of
each of its 14 attack classes, each loaded in a worker under a 2 GB address-space limit
and a 60 s timeout; every outcome must be "loaded" or a clean ModelFileError (no
traceback, hang, memory error, changed file or executed payload). The long run is
`python tests/soak/fuzz_models.py` (1,000+ files)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "soak"))
import fuzz_models as F  # noqa: E402


@pytest.mark.skipif(not hasattr(os, "mkfifo") or sys.platform == "win32",
                    reason="needs POSIX (FIFOs, RLIMIT_AS, select on pipes)")
def test_short_fuzz_run_has_no_bad_outcome(monkeypatch):
    monkeypatch.setattr(F, "BOMB_MB", [64, 256])   # quicker to write, still past any cap
    counts, bad = F.run(3 * len(F.CLASSES), seed=20240516, workers=2, verbose=False)
    assert bad == []
    total = {o: sum(c.get(o, 0) for c in counts.values()) for o in ("loaded", "clean")}
    assert total["loaded"] + total["clean"] == 3 * len(F.CLASSES)
    assert total["clean"] >= 2 * len(F.CLASSES)   # the attacks are refused, not ignored
