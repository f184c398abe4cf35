"""`list` matches parts of names and shows the design spaces; `analyze` of a stopped run says it is partial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.cli import main
from profiler.results.measurement import Measurement
from profiler.results.store import ResultStore


def test_list_matches_a_part_of_a_name(capsys) -> None:
    assert main(["list", "resnet", "--json"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert {"resnet18", "resnet50", "se_resnet50"} <= set(names) and all("resnet" in n for n in names)
    assert main(["list", "regnetx_*", "--json"]) == 0  # a pattern is still a pattern
    assert all(r["name"].startswith("regnetx_") for r in json.loads(capsys.readouterr().out))


def test_list_exits_2_when_nothing_matches(capsys) -> None:
    assert main(["list", "nosuchnet"]) == 2
    assert "no model or design space matches 'nosuchnet'" in capsys.readouterr().err


def test_list_shows_the_design_spaces(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "design spaces" in out
    for space in ("anynetx_a", "anynetx_e", "regnetx", "regnety"):
        assert f"\n  {space} " in out
    assert main(["list", "anynet"]) == 0  # only spaces match: they are listed, exit 0
    assert "anynetx_c" in capsys.readouterr().out


def _partial_run(run_dir: Path, session: dict | None) -> Path:
    meta = {"run": {"config_name": "quick-cpu", "device": "cpu"}, "config": {"name": "quick-cpu"}}
    store = ResultStore.create(run_dir, meta)
    for i, fam in enumerate(("resnet", "regnetx", "mobilenet")):
        store.add(
            Measurement.from_dict(
                {
                    "task_key": f"k{i}",
                    "model": f"m{i}",
                    "family": fam,
                    "macs": 1e9 * (i + 1),
                    "params": 1e6,
                    "acts": 1e6 * (i + 1),
                    "latency_ms": 10.0 * (i + 1),
                    "status": "ok",
                    "backend": "eager",
                    "device": "cpu",
                    "batch": 1,
                    "dtype": "fp32",
                    "memory_format": "contiguous",
                    "resolution": 112,
                }
            )
        )
    if session is not None:
        store.write_meta({**store.read_meta(), "sessions": [session]})
    store.close()
    return run_dir


@pytest.mark.parametrize(
    ("session", "needle"),
    [
        (
            {"planned": 48, "rows": 3, "interrupted": True},
            "is partial (interrupted, 3 of 48 planned measurements stored)",
        ),
        (None, "is partial: its sweep never finished a session (3 measurements stored)"),
    ],
)
def test_analyze_of_a_stopped_run_names_it_says_partial_and_how_to_resume(
    tmp_path: Path, capsys, session, needle: str
) -> None:
    run = _partial_run(tmp_path / "20261205-quick-cpu", session)
    assert main(["analyze", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"run 20261205-quick-cpu {needle}; resume it with: python -m profiler sweep --resume {run}" in err
    assert "the fits need at least 8" in err


def test_analyze_of_a_finished_small_run_says_nothing_about_resuming(tmp_path: Path, capsys) -> None:
    run = _partial_run(tmp_path / "small", {"planned": 3, "rows": 3, "interrupted": False})
    assert main(["analyze", str(run)]) == 2
    err = capsys.readouterr().err
    assert "the fits need at least 8" in err and "resume" not in err


def test_report_of_a_stopped_run_says_it_is_partial(tmp_path: Path) -> None:
    from profiler.report import build_report

    run = _partial_run(tmp_path / "stopped", {"planned": 48, "rows": 3, "interrupted": True})
    html = build_report(run, n_boot=200)
    assert "run stopped is partial (interrupted, 3 of 48 planned measurements stored); resume it with:" in html
