"""``profiler predict``: predictions with intervals from a fitted form; bad requests exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.cli import main

PUBLISHED = Path(__file__).resolve().parents[2] / "profiler" / "data" / "published_pycls_v100.csv"


def test_predict_space_json(capsys) -> None:
    rc = main(["predict", "--space", "regnetx", "--samples", "2", "--from", str(PUBLISHED), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    # the default form is the cell's best held-out form, and the output says so (M4 on the paper's V100 numbers)
    mape = out["heldout_mape"]
    assert out["form"] == min(mape, key=mape.get) == "M4" and "best held-out form" in out["form_chosen_as"]
    assert len(out["predictions"]) == 2
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


REF = Path(__file__).resolve().parents[2] / "results" / "reference-quick-cpu-20261127"  # 2 cells, counts/*.ops.json


def test_help_example_space_name_is_accepted(capsys) -> None:
    """`--space RegNetX` (as the paper writes it) is the space regnetx; the help lists the valid names."""
    rc = main(["predict", "--space", "RegNetX", "--samples", "1", "--from", str(PUBLISHED), "--form", "M3", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["predictions"][0]["model"] == "regnetx-s0-0"
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "regnetx, regnety" in capsys.readouterr().out


def test_unknown_model_is_named_before_any_cell(capsys) -> None:
    assert main(["predict", "nosuchmodel", "--from", str(REF), "--cell", "device=nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nosuchmodel'" in err and "cell" not in err


def test_run_with_ops_tables_predicts_with_m5_by_default_in_the_runs_first_setting(capsys) -> None:
    """quick-cpu's reference run: two cells, ops counted in counts/*.ops.json; M5 is its best held-out form."""
    assert main(["predict", "mobilenet_v1_x0_25", "--from", str(REF), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cell"]["backend"] == "eager" and "the run's first setting" in out["cell_chosen_as"]
    assert out["form"] == "M5" and out["heldout_mape"]["M5"] < out["heldout_mape"]["M3"]
    assert out["predictions"][0]["ops"] > 0
    assert (
        main(["predict", "mobilenet_v1_x0_25", "--from", str(REF), "--form", "M6", "--cell", "backend=onnxruntime"])
        == 0
    )
    assert "form M6 fitted on 24 models" in capsys.readouterr().out
