"""``profiler predict``: predictions with intervals from a fitted form; bad requests exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.cli import main

PUBLISHED = Path(__file__).resolve().parents[1] / "profiler" / "data" / "published_pycls_v100.csv"


def test_predict_space_json(capsys) -> None:
    rc = main(["predict", "--space", "regnetx", "--samples", "2", "--from", str(PUBLISHED), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["form"] == "M3" and len(out["predictions"]) == 2
    # named as a sweep names its samples (models.spaces.sample_names), so a measured sample is found by name
    assert [p["model"] for p in out["predictions"]] == ["regnetx-s0-0", "regnetx-s0-1"]
    for p in out["predictions"]:
        lo, hi = p["pi95_ms"]
        assert 0 < lo < p["predicted_ms"] < hi


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--form", "M9", "--space", "regnetx"], "unknown form"),
        (["--cell", "device=cuda", "--space", "regnetx"], "no cell matches"),
        (["--cell", "devicecuda", "--space", "regnetx"], "KEY=VALUE"),
        ([], "either a MODEL"),
    ],
)
def test_predict_bad_input_exits_2(capsys, argv: list[str], needle: str) -> None:
    assert main(["predict", "--from", str(PUBLISHED), *argv]) == 2
    assert needle in capsys.readouterr().err
