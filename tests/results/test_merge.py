"""`profiler merge`: runs from two GPU types become one run whose rows keep their device; disagreeing counts, a
model name with two specs and the same measurement twice are refused (exit 2). Also: an older run without the
`node`/`gpu_index` columns still opens. Small synthetic run directories, no measuring."""

from __future__ import annotations

import json
import sqlite3
from profiler.results.measurement import Measurement
from pathlib import Path

import pytest

from profiler.analysis.data import load_frame, split_cells
from profiler.cli import main
from profiler.core.errors import UsageError
from profiler.results.store import ResultStore, load_results

MODELS = [(f"m{i}", "famA" if i % 2 else "famB", 10**8 * (i + 1)) for i in range(4)]


def _row(model: str, family: str, macs: int, gpu: str | None, latency_ms: float, **kw) -> dict:
    key = f"{model}|h{model}|eager|cuda|fp32|contiguous|b1|r224|rep0"
    row = {
        "task_key": key,
        "model": model,
        "family": family,
        "spec_hash": f"h{model}",
        "macs": macs,
        "params": macs // 100,
        "acts": macs // 50,
        "acts_all": macs // 20,
        "backend": "eager",
        "device": "cuda",
        "device_name": gpu,
        "dtype": "fp32",
        "memory_format": "contiguous",
        "batch": 1,
        "resolution": 224,
        "repeat": 0,
        "latency_ms": latency_ms,
        "samples_ms": [latency_ms],
        "status": "ok",
        "node": "host",
        "gpu_index": 0,
    }
    return {**row, **kw}


def _run(path: Path, gpu: str, scale: float, rows: list[dict] | None = None) -> Path:
    meta = {
        "run": {"device": "cuda", "config_name": "c"},
        "config": {"name": "c", "text": "x"},
        "environment": {"gpu_name": gpu, "torch": "2.11.0", "hostname": path.name},
        "sessions": [{"wall_s": 1.0}],
    }
    with ResultStore.create(path, meta) as store:
        for r in rows if rows is not None else [_row(m, f, c, gpu, c / 1e8 * scale) for m, f, c in MODELS]:
            store.add(Measurement.from_dict(r))
    return path


def test_merge_keeps_both_devices_and_records_the_sources(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = _run(tmp_path / "h200", "NVIDIA H200", 1.0), _run(tmp_path / "a100", "NVIDIA A100", 2.0)
    failed = {
        **_row("m9", "famA", 10**9, None, 0.0),
        "status": "failed",
        "error": "OOM",
        "macs": None,
        "latency_ms": None,
    }
    with ResultStore.open(a) as store:
        store.add(Measurement.from_dict(failed))  # a failed row carries no device name: it takes its run's device
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "both")]) == 0
    assert "merged 9 rows" in capsys.readouterr().out
    df = load_results(tmp_path / "both")
    assert len(df) == df["task_key"].nunique() == 9
    assert df["task_key"].str.endswith("|on=NVIDIA H200").sum() == 5
    assert df["task_key"].str.endswith("|on=NVIDIA A100").sum() == 4
    ok = df[df["status"] == "ok"]
    by_gpu = ok.groupby("device_name")["latency_ms"].sum()
    assert by_gpu["NVIDIA A100"] == pytest.approx(2 * by_gpu["NVIDIA H200"])  # rows unchanged
    meta = json.loads((tmp_path / "both" / "meta.json").read_text())
    assert [s["run_id"] for s in meta["merged_from"]] == ["h200", "a100"]
    assert meta["merged_from"][0]["environment"]["gpu_name"] == "NVIDIA H200"
    assert meta["environment"]["torch"] == "2.11.0"
    assert meta["environment"]["gpu_name"] == "NVIDIA H200 | NVIDIA A100"
    assert [s["source"] for s in meta["sessions"]] == ["h200", "a100"]
    # Analysis fits each GPU on its own: two cells, never one pooled fit.
    cells = split_cells(load_frame(tmp_path / "both"))
    assert sorted(k["device_name"] for k, _ in cells) == ["NVIDIA A100", "NVIDIA H200"]
    # A merged run is merged again without renaming its keys twice; a run never merges with itself.
    c = _run(tmp_path / "l4", "NVIDIA L4", 3.0)
    assert main(["merge", str(tmp_path / "both"), str(c), "-o", str(tmp_path / "three")]) == 0
    assert load_results(tmp_path / "three")["task_key"].str.count(r"\|on=").eq(1).all()
    assert main(["merge", str(a), str(a), "-o", str(tmp_path / "x")]) == 2


def test_merge_refuses_counts_that_disagree_naming_the_model(tmp_path: Path, capsys) -> None:
    a = _run(tmp_path / "a", "NVIDIA H200", 1.0)
    rows = [_row(m, f, c + (1 if m == "m2" else 0), "NVIDIA A100", 1.0) for m, f, c in MODELS]
    b = _run(tmp_path / "b", "NVIDIA A100", 1.0, rows)
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "counts disagree for model m2 at 224 px: macs 300000000 in a vs 300000001 in b" in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_merge_refuses_the_same_measurement_twice_and_two_specs_under_one_name(tmp_path: Path, capsys) -> None:
    a, b = _run(tmp_path / "a", "NVIDIA H200", 1.0), _run(tmp_path / "b", "NVIDIA H200", 1.0)
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "out")]) == 2
    assert "the same measurement twice" in capsys.readouterr().err
    c = _run(
        tmp_path / "c",
        "NVIDIA A100",
        1.0,
        [_row("m1", "famA", 2 * 10**8, "NVIDIA A100", 1.0, spec_hash="other", task_key="m1|other|x")],
    )
    assert main(["merge", str(a), str(c), "-o", str(tmp_path / "out")]) == 2
    assert "model m1 has different specs" in capsys.readouterr().err


def test_a_merged_run_cannot_be_resumed(tmp_path: Path) -> None:
    from profiler.results.merge import merge_runs
    from profiler.sweep.config import parse_config
    from profiler.sweep.run import run_sweep

    merge_runs([_run(tmp_path / "a", "G1", 1.0), _run(tmp_path / "b", "G2", 1.0)], tmp_path / "m")
    config = parse_config(
        'name = "t"\n[models]\ninclude = ["mobilenet_v1_x0_25"]\n[settings]\nresolutions = [32]\n', "t.toml"
    )
    with pytest.raises(UsageError, match="merge of several runs"):
        run_sweep(config, device="cpu", run_dir=tmp_path / "m", resume=True, show_progress=False)


def test_a_run_from_before_node_and_gpu_index_opens_and_gains_them_on_write(tmp_path: Path) -> None:
    run = _run(tmp_path / "old", "G", 1.0)
    with sqlite3.connect(run / "results.sqlite") as conn:
        conn.execute("ALTER TABLE measurements DROP COLUMN node")
        conn.execute("ALTER TABLE measurements DROP COLUMN gpu_index")
    df = load_results(run)
    assert len(df) == 4 and df["node"].isna().all()
    with ResultStore.open(run) as store:
        store.add(Measurement.from_dict(_row("m7", "famA", 10**8, "G", 1.0)))
    df = load_results(run).set_index("model")
    assert df.loc["m7", "node"] == "host" and df["node"].isna().sum() == 4
