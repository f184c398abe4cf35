"""run_sweep plumbing (in-process executor, tiny models): rows, meta.json, resume, count cache, export, bad runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.results.store import COLUMN_NAMES, load_results
from profiler.sweep.config import parse_config
from profiler.sweep.exec.local import InlineExecutor
from profiler.sweep.run import plan, run_sweep
from tests.support.sweeps import TINY


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    config = parse_config(TINY, "tiny.toml")
    run_dir = tmp_path_factory.mktemp("sweep") / "run"
    run_sweep(config, device="cpu", run_dir=run_dir, show_progress=False, make_executor=InlineExecutor, argv=["test"])
    return run_dir, config


def test_every_planned_task_is_one_stored_row(tiny_run: tuple[Path, object]) -> None:
    run_dir, config = tiny_run
    df = load_results(run_dir)
    assert list(df.columns) == list(COLUMN_NAMES)
    assert sorted(df["task_key"]) == sorted(t.key for t in plan(config, "cpu"))
    assert (df["status"] == "ok").all()
    assert (df["latency_ms"] == df["latency_ms_median"]).all()
    assert all(len(s) == 3 for s in df["samples_ms"])
    details = json.loads(df["details_json"].iloc[0])
    assert details["config"]["iters"] == 3


def test_meta_holds_environment_config_and_session(tiny_run: tuple[Path, object]) -> None:
    run_dir, config = tiny_run
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["config"]["text"] == config.text
    assert meta["config"]["parsed"]["timing"]["iters"] == 3
    assert meta["run"]["argv"] == ["test"] and meta["run"]["device"] == "cpu"
    assert {"torch", "cpu_model", "git_commit"} <= set(meta["environment"])
    session = meta["sessions"][-1]
    df = load_results(run_dir)
    timed_s = sum(sum(s) for s in df["samples_ms"]) / 1000
    assert session["rows"] == 4 and session["timed_s"] == pytest.approx(timed_s, abs=1e-3)
    assert session["overhead_ratio"] == pytest.approx(session["wall_s"] / session["timed_s"], rel=2e-2)
    assert session["overhead_ratio"] > 1


def test_session_counts_unstable_rows_and_names_its_device(tiny_run: tuple[Path, object]) -> None:
    """3 samples give no 95 % CI of the median: every row is unstable, and the summary says so (issue #27)."""
    from profiler.sweep.progress import phase_rows, unstable_line

    session = json.loads((tiny_run[0] / "meta.json").read_text())["sessions"][-1]
    assert session["unstable"] == 4 and len(session["unstable_rows"]) == 4
    assert unstable_line(session).startswith("unstable rows: 4 of 4 (median's 95 % CI wider than ± ci_target)")
    labels = [label for label, _, _ in phase_rows(session)]
    assert "warm-up" in labels and not any("cuDNN" in label for label in labels)  # a CPU run
    assert any("cuDNN" in label for label, _, _ in phase_rows({**session, "device": "cuda"}))


def test_resume_of_a_complete_run_measures_nothing(tiny_run: tuple[Path, object]) -> None:
    run_dir, config = tiny_run
    run_sweep(config, device="cpu", run_dir=run_dir, resume=True, show_progress=False, make_executor=InlineExecutor)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["sessions"][-1]["rows"] == 0 and meta["sessions"][-1]["skipped_stored"] == 4
    assert len(load_results(run_dir)) == 4


def test_resume_with_another_config_or_device_is_refused(tiny_run: tuple[Path, object]) -> None:
    run_dir, _ = tiny_run
    other = parse_config(TINY.replace("iters = 3", "iters = 4"), "tiny.toml")
    with pytest.raises(UsageError, match="different config"):
        run_sweep(other, device="cpu", run_dir=run_dir, resume=True, show_progress=False)


def test_a_new_run_never_overwrites_one(tiny_run: tuple[Path, object]) -> None:
    run_dir, config = tiny_run
    with pytest.raises(UsageError, match="already holds a run"):
        run_sweep(config, device="cpu", run_dir=run_dir, show_progress=False)


def test_export_cli_writes_csv_and_parquet_that_load_back(tiny_run: tuple[Path, object], tmp_path: Path) -> None:
    from profiler.cli import main

    run_dir, _ = tiny_run
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"r.{fmt}"
        assert main(["export", str(run_dir), "--format", fmt, "-o", str(out)]) == 0
        df = load_results(out)
        assert len(df) == 4 and df["samples_ms"].map(len).tolist() == [3, 3, 3, 3]
    assert main(["export", "no-such-run", "--results-dir", str(tmp_path)]) == 2


def test_counts_are_computed_once_per_spec_and_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import profiler.counting
    from profiler.counting.cache import CountCache

    calls: list[int] = []

    class FakeCounts:
        macs, params, acts, acts_all, ops, bytes = 10, 20, 30, 40, 5, 60
        input_shape, op_table = (1, 3, 32, 32), []

    def fake_count_model(spec: object, resolution: int, batch: int = 1, method: str = "fvcore") -> FakeCounts:
        assert method == "torch"  # workers count on fake tensors (no kernels, no fvcore on GPU hosts)
        calls.append(resolution)
        return FakeCounts()

    monkeypatch.setattr(profiler.counting, "count_model", fake_count_model)
    tasks = plan(parse_config(TINY.replace("resolutions = [32]", "resolutions = [32, 64]")), "cpu")
    first = [t for t in tasks if t.model == "mobilenet_v1_x0_25"]
    assert len(first) == 4  # 2 batches x 2 resolutions
    for t in first:
        assert CountCache(tmp_path).get(t, None) == {
            "macs": 10,
            "params": 20,
            "acts": 30,
            "acts_all": 40,
            "ops": 5,
            "bytes": 60,
        }
    assert sorted(calls) == [32, 64]  # fresh caches (= new worker processes) read the run's files
    assert len(list(tmp_path.glob("*.ops.json"))) == 2  # the per-op tables of the mechanistic model


@pytest.mark.parametrize("make", ["missing", "no_db", "garbage_db"])
def test_resume_of_a_foreign_or_corrupt_run_exits_2(
    tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from profiler.cli import main

    run = tmp_path / "res" / "bad"
    if make != "missing":
        run.mkdir(parents=True)
    if make == "garbage_db":
        (run / "results.sqlite").write_bytes(b"this is not a database" * 100)
    if make == "no_db":
        (run / "notes.txt").write_text("hello")
    code = main(["sweep", "--device", "cpu", "--resume", "bad", "--results-dir", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error:" in err and ("not" in err or "corrupt" in err)


def test_counted_rows_carry_traffic_at_their_batch_and_dtype(tmp_path: Path) -> None:
    config = parse_config(
        TINY.replace("count = false", "count = true").replace(
            'include = ["mobilenet_v1_x0_25", "shufflenet_v2_x0_5"]', 'include = ["mobilenet_v1_x0_25"]'
        ),
        "tiny.toml",
    )
    run_sweep(config, device="cpu", run_dir=tmp_path / "run", show_progress=False, make_executor=InlineExecutor)
    df = load_results(tmp_path / "run").set_index("batch")
    # batch 1 at fp32 is the per-image fp32 ``bytes``; at batch 2 activations double, weights are read once
    assert df.loc[1, "bytes_batch"] == df.loc[1, "bytes"]
    from profiler.counting import count_model

    acts = sum(r.act_elems * r.count for r in count_model("mobilenet_v1_x0_25", 32, method="torch").op_table)
    assert df.loc[2, "bytes_batch"] == df.loc[1, "bytes"] + 4 * acts
