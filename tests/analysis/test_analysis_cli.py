"""``profiler analyze``: bad input exits 2 with a message naming the problem; good input prints a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from profiler.cli import main
from tests.support.synthetic import synth

PUBLISHED = Path(__file__).resolve().parents[2] / "profiler" / "data" / "published_pycls_v100.csv"


def _write(tmp_path: Path, df: pd.DataFrame) -> str:
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.drop(columns=["acts"]), "acts"),
        (lambda d: d.assign(macs=-d["macs"]), "'macs' must be > 0"),
        (lambda d: d.assign(latency_ms=["x", *list(d["latency_ms"][1:])]), "'latency_ms' is not a finite number"),
        (lambda d: d.head(5), "at least 8"),
        (lambda d: d.assign(family="one"), "family"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, capsys, mutate, needle: str) -> None:
    path = _write(tmp_path, mutate(synth("claim", n_fam=3, per=4)))
    assert main(["analyze", path]) == 2
    assert needle in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert main(["analyze", str(tmp_path / "nope.csv")]) == 2


def test_json_output(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, synth("claim").assign(device="cpu", backend="eager", batch=1))
    assert main(["analyze", path, "--json", "--boot", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    cell = out["cells"][0]
    assert cell["cell"] == {"device": "cpu", "backend": "eager", "batch": 1}
    assert cell["verdict"]["label"] == "supported"
    assert set(cell["forms"]) == {"M0", "M1", "M2", "M3", "M4", "P"}


def test_published_data_runs(capsys) -> None:
    assert main(["analyze", str(PUBLISHED), "--boot", "300"]) == 0
    text = capsys.readouterr().out
    assert "Verdict:" in text and "n = 36, 5 families" in text


def test_redirected_output_never_cuts_a_coefficient(capsys) -> None:
    """``analyze RUN > f.txt``: every coefficient ± SE of the fits table is printed whole (issue #27)."""
    from profiler.analysis import analysis_inputs, analyze_frame, load_frame
    from profiler.analysis.summary import _f, render

    run = Path(__file__).resolve().parents[2] / "results" / "reference-quick-cpu-20261127"
    result = analyze_frame(load_frame(run), n_boot=200, **analysis_inputs(run))
    render(result)  # under pytest stdout is not a terminal
    out = capsys.readouterr().out
    assert "…" not in out
    for f in result["cells"][0]["forms"].values():
        for k, v in f["wls"]["coef"].items():
            assert f"{_f(v)}±{_f(f['wls']['se'][k], '.2g')}" in out
