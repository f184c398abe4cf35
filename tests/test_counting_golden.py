"""Golden counts: every registered model at its default resolution must match tests/golden/counts.json exactly.

The file is written by fvcore (the reference), see ``REGENERATE``.
The default test recounts with ``method="torch"`` (FlopCounterMode on fake tensors, no kernels run), which is
~8× cheaper on CPU and, being a different counter, also binds fvcore and torch's counts on every model; the
``slow`` test recounts with fvcore.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import models
from profiler.counting.golden import GOLDEN_KEYS, REGENERATE, golden_entry, read_golden

GOLDEN = read_golden(Path(__file__).parent / "golden" / "counts.json")


def test_every_registered_model_has_golden_counts() -> None:
    registered = set(models.list_models())
    missing, stale = sorted(registered - set(GOLDEN)), sorted(set(GOLDEN) - registered)
    assert not missing, f"models without golden counts: {missing}; regenerate with `{REGENERATE}`"
    assert not stale, f"golden counts of unregistered models: {stale}; regenerate with `{REGENERATE}`"
    for name in sorted(registered):
        assert set(GOLDEN[name]) == set(GOLDEN_KEYS), name
        assert GOLDEN[name]["resolution"] == models.model_info(name).resolution, name


def _check(method: str) -> None:
    wrong = {}
    for name in models.list_models():
        if name not in GOLDEN:
            continue  # reported by the test above
        got = golden_entry(name, method=method)
        if got != GOLDEN[name]:
            wrong[name] = {k: (GOLDEN[name].get(k), v) for k, v in got.items() if GOLDEN[name].get(k) != v}
    assert not wrong, f"counts differ from the golden file (golden, now): {wrong}"


def test_golden_counts_fast() -> None:
    _check("torch")


@pytest.mark.slow
def test_golden_counts_fvcore() -> None:
    _check("fvcore")
