"""``analysis.json``: ``analyze`` and ``report`` compute a run's analysis once; any change of its inputs recomputes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from profiler.analysis import stored
from profiler.analysis.stored import FILE_NAME, analyze_run
from profiler.cli import main
from tests.support.report import DATA, stored_run

PARAMS = {"n_boot": 100, "seed": 0, "n_resamples": 0}


class Counter:
    """A stand-in for the analysis: counts its calls, returns data that survives a JSON round trip."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict:
        self.calls += 1
        return {"cells": [{"label": "x", "mape": 0.1, "n": 3}], "notes": []}


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.read_csv(DATA)


def test_a_second_analysis_of_the_same_rows_is_read_back(tmp_path: Path, rows: pd.DataFrame) -> None:
    compute = Counter()
    first, reused_1 = analyze_run(rows, compute, run_dir=tmp_path, params=PARAMS)
    second, reused_2 = analyze_run(rows, compute, run_dir=tmp_path, params=PARAMS)
    assert (reused_1, reused_2, compute.calls) == (False, True, 1)
    assert first == second == Counter()()
    assert json.loads((tmp_path / FILE_NAME).read_text())["params"] == PARAMS


@pytest.mark.parametrize("change", ["row", "params", "peaks", "tables", "code"])
def test_any_change_of_an_input_recomputes(tmp_path: Path, rows: pd.DataFrame, monkeypatch, change: str) -> None:
    compute = Counter()
    analyze_run(rows, compute, run_dir=tmp_path, params=PARAMS)
    params, peaks = dict(PARAMS), None
    if change == "row":
        rows = rows.copy()
        rows.loc[0, "latency_ms"] *= 1.01
    elif change == "params":
        params["seed"] = 1
    elif change == "peaks":
        peaks = {"device": "cpu", "copy_bandwidth_gbs": 10.0}
    elif change == "tables":
        (tmp_path / "counts").mkdir()
        (tmp_path / "counts" / "abc_r224.ops.json").write_text("{}")
    else:
        monkeypatch.setattr(stored, "_code_digest", lambda: "another version of archprof")
    _, reused = analyze_run(rows, compute, run_dir=tmp_path, params=params, measured_peaks=peaks)
    assert (reused, compute.calls) == (False, 2)


def test_no_run_directory_a_damaged_file_or_a_read_only_one_still_analyze(tmp_path: Path, rows) -> None:
    compute = Counter()
    assert analyze_run(rows, compute, run_dir=None, params=PARAMS) == (Counter()(), False)
    (tmp_path / FILE_NAME).write_text("{not json")
    assert analyze_run(rows, compute, run_dir=tmp_path, params=PARAMS)[1] is False
    assert json.loads((tmp_path / FILE_NAME).read_text())["format"] == stored.FORMAT  # replaced, not kept
    unwritable = tmp_path / "ro"
    # a directory where the temporary file would go: the write fails as in a read-only run (even for root)
    (unwritable / f".{FILE_NAME}.{os.getpid()}.tmp").mkdir(parents=True)
    assert analyze_run(rows, compute, run_dir=unwritable, params=PARAMS)[1] is False
    assert not (unwritable / FILE_NAME).exists()
    assert compute.calls == 3


def test_analyze_then_report_compute_the_analysis_once(tmp_path: Path, capsys, monkeypatch) -> None:
    import profiler.analysis

    run = stored_run(tmp_path / "run")
    args = ["--boot", "100", "--resamples", "50"]
    assert main(["analyze", str(run), "--json", *args]) == 0
    fresh = capsys.readouterr().out

    def no_second_analysis(*a, **k):
        raise AssertionError("the stored analysis was not reused")

    monkeypatch.setattr(profiler.analysis, "analyze_frame", no_second_analysis)
    assert main(["analyze", str(run), "--json", *args]) == 0
    assert capsys.readouterr().out == fresh
    out = tmp_path / "r.html"
    assert main(["report", str(run), "-o", str(out), "--boot", "100"]) == 0
    label = json.loads(fresh)["cells"][0]["verdict"]["label"]
    assert label in out.read_text()  # the report shows the stored verdict (no analysis ran)
