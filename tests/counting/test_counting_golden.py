"""Golden counts: every registered model at its default resolution must match tests/golden/counts.json exactly.

The file is written by fvcore (the reference), see ``REGENERATE``.
The default suite recounts, with ``method="torch"`` (FlopCounterMode on fake tensors, no kernels run, ~8× cheaper
than fvcore on CPU and a different counter, so it also binds the two), the cheapest model of every (family, spec
type): a changed counting rule or block shows in one of them. The ``slow`` tests recount every model, with both
methods (``python -m pytest -m slow tests/counting/test_counting_golden.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import models
from profiler.counting.golden import GOLDEN_KEYS, REGENERATE, golden_entry, read_golden

GOLDEN = read_golden(Path(__file__).parents[1] / "golden" / "counts.json")


def test_every_registered_model_has_golden_counts() -> None:
    registered = set(models.list_models())
    missing, stale = sorted(registered - set(GOLDEN)), sorted(set(GOLDEN) - registered)
    assert not missing, f"models without golden counts: {missing}; regenerate with `{REGENERATE}`"
    assert not stale, f"golden counts of unregistered models: {stale}; regenerate with `{REGENERATE}`"
    for name in sorted(registered):
        assert set(GOLDEN[name]) == set(GOLDEN_KEYS), name
        assert GOLDEN[name]["resolution"] == models.model_info(name).resolution, name


def representative() -> list[str]:
    """The model with the fewest golden MACs of every (family, spec type) pair, sorted."""
    best: dict[tuple[str, str], str] = {}
    for name in models.list_models():
        if name not in GOLDEN:
            continue  # reported by the test above
        info = models.model_info(name)
        key = (info.family, type(info.spec).__name__)
        if key not in best or GOLDEN[name]["macs"] < GOLDEN[best[key]]["macs"]:
            best[key] = name
    return sorted(best.values())


def _check(method: str, names: list[str]) -> None:
    wrong = {}
    for name in names:
        if name not in GOLDEN:
            continue  # reported by the test above
        got = golden_entry(name, method=method)
        if got != GOLDEN[name]:
            wrong[name] = {k: (GOLDEN[name].get(k), v) for k, v in got.items() if GOLDEN[name].get(k) != v}
    assert not wrong, f"counts differ from the golden file (golden, now): {wrong}"


def test_golden_counts_representative_subset() -> None:
    names = representative()
    families = {models.model_info(n).family for n in models.list_models()}
    assert {models.model_info(n).family for n in names} == families and len(names) < len(models.list_models())
    _check("torch", names)


@pytest.mark.slow
def test_golden_counts_every_model() -> None:
    _check("torch", models.list_models())


@pytest.mark.slow
def test_golden_counts_fvcore() -> None:
    _check("fvcore", models.list_models())


def test_a_changed_count_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GOLDEN, "resnet18", {**GOLDEN["resnet18"], "acts": GOLDEN["resnet18"]["acts"] + 1})
    with pytest.raises(AssertionError, match=r"resnet18.*'acts'"):
        _check("torch", ["resnet18"])
