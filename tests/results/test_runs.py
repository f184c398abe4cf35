"""profiler.results.runs: the one shape of a run (open_run → Run with path, rows and RunMeta) and its users."""

from __future__ import annotations

import json
from profiler.results.measurement import Measurement
from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.results.runs import Run, RunMeta, open_run
from profiler.results.store import META_NAME, ResultStore, export

REFERENCE_RUN = Path(__file__).resolve().parents[2] / "results" / "reference-quick-cpu-20261127"


def test_meta_of_a_real_sweep_run() -> None:
    meta = open_run(REFERENCE_RUN).meta  # meta.json as profiler.sweep.run wrote it on a real run
    raw = json.loads((REFERENCE_RUN / META_NAME).read_text())
    assert meta.environment == raw["environment"] and meta.run == raw["run"] and meta.config == raw["config"]
    assert meta.sessions == raw["sessions"] and meta.last_session == raw["sessions"][-1]
    assert meta.config_name == raw["config"]["name"] and meta.config_text == raw["config"]["text"]
    assert meta.device == raw["run"]["device"] == "cpu"
    assert meta.git_commit == raw["run"]["git_commit"] and meta.started_at == raw["run"]["started_at"]
    assert meta.reference_model == raw["config"]["parsed"].get("reference_model")


def test_meta_parts_and_fallbacks() -> None:
    meta = RunMeta.from_dict(
        {
            "env": {"cpu_model": "x"},
            "config": {"name": "n", "parsed": {"reference_model": "r"}},
            "sessions": [{"wall_s": 1}, {"wall_s": 2}],
        }
    )
    assert meta.environment == {"cpu_model": "x"}  # older files: "env"
    assert (meta.config_name, meta.reference_model, meta.last_session) == ("n", "r", {"wall_s": 2})
    assert meta.config_field("nothing") is None and meta.git_commit is None and meta.device is None
    assert RunMeta.from_dict(meta) is meta
    assert RunMeta.from_dict({"environment": {"git_commit": "abc"}}).git_commit == "abc"
    empty = RunMeta()
    assert not empty and empty.environment is None and empty.last_session is None and empty.config_text is None
    # keys the sweep does not write are not read: a flat environment or a string config is not this shape
    flat = RunMeta.from_dict({"cpu_model": "x", "config": "some.toml", "git_commit": "abc"})
    assert flat.environment is None and flat.config == {} and flat.git_commit is None


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "results" / "r1"
    with ResultStore.create(path, {"environment": {"cpu_model": "c"}, "config": {"path": "exp/ci.toml"}}) as store:
        store.add(Measurement.from_dict({"task_key": "k", "model": "m", "status": "ok", "samples_ms": [1.0]}))
    return path


def test_open_run_by_path_id_latest_and_export(run_dir: Path) -> None:
    root = run_dir.parent
    for arg in (run_dir, "r1", "latest"):
        r = open_run(arg, root)
        assert r.path == run_dir and r.is_dir and r.meta.environment == {"cpu_model": "c"}
        assert r.rows["task_key"].tolist() == ["k"] and r.name == "ci"  # config file stem
    csv = export(run_dir, "csv")
    r = open_run(csv)
    assert not r.is_dir and r.meta.environment == {"cpu_model": "c"}  # the meta of the run it sits in
    assert r.rows["samples_ms"].tolist() == [[1.0]]
    assert Run(csv.parent.parent / "x.csv", RunMeta()).name == "x"


def test_open_run_errors(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        open_run(tmp_path / "nope")
    (tmp_path / "foreign").mkdir()
    with pytest.raises(UsageError, match="not an archprof run directory"):
        open_run(tmp_path / "foreign")
    (run_dir / META_NAME).write_text("[1, 2")
    with pytest.raises(UsageError, match=r"meta\.json is not valid JSON"):
        open_run(run_dir)
    assert not open_run(run_dir, strict_meta=False).meta  # the report still renders, without the header details


def test_session_summary_reads_through_runmeta(run_dir: Path) -> None:
    from profiler.sweep.run import session_summary

    assert session_summary(run_dir) is None
    with ResultStore.open(run_dir) as store:
        store.write_meta({**store.read_meta(), "sessions": [{"wall_s": 1.0}, {"wall_s": 2.0}]})
    assert session_summary(run_dir) == {"wall_s": 2.0}


def test_baseline_save_reads_the_run_through_open_run(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from profiler.cli import main

    with ResultStore.open(run_dir) as store:
        store.add(Measurement.from_dict(
            {
                "task_key": "k",
                "model": "resnet18",
                "backend": "eager",
                "device": "cpu",
                "dtype": "fp32",
                "batch": 1,
                "resolution": 32,
                "status": "ok",
                "samples_ms": [1.0, 1.1],
                "latency_ms": 1.05,
                "macs": 1,
                "params": 1,
                "acts": 1,
                "acts_all": 1,
            }
        ))
        store.write_meta(
            {**store.read_meta(), "config": {"path": "exp/ci-check.toml", "parsed": {"reference_model": "resnet18"}}}
        )
    root = tmp_path / "baselines"
    assert main(["baseline", "save", str(run_dir), "--root", str(root), "--no-layers"]) == 0
    (doc_path,) = root.glob("*/ci-check.json")  # named by the config's file stem
    assert json.loads(doc_path.read_text())["reference_model"] == "resnet18"
    assert main(["baseline", "save", str(export(run_dir, "csv")), "--root", str(root)]) == 2
    assert "has no meta.json" in capsys.readouterr().err
