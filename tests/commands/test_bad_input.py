"""Bad input and damaged data give one line and exit 2 (issue: no traceback, no silent substitution)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from profiler.cli import main
from profiler.results.store import DB_NAME, ResultStore, load_results
from profiler.timing import DeviceOOMError, TimingConfig
from profiler.timing.eager import measure_eager
from tests.support.runs import make_run

SMALL = Path(__file__).resolve().parents[1] / "data" / "small_run.csv"


@pytest.fixture
def run_112(tmp_path: Path) -> Path:
    """The small synthetic run's eager cells, relabelled as measured at 112 px."""
    df = pd.read_csv(SMALL)
    df["resolution"] = 112
    out = tmp_path / "r112.csv"
    df.to_csv(out, index=False)
    return out


def test_predict_in_a_multi_resolution_cell_stays_inside_its_span(capsys) -> None:
    published = Path(__file__).resolve().parents[2] / "profiler" / "data" / "published_pycls_v100.csv"
    assert (
        main(["predict", "--space", "regnetx", "--samples", "1", "--from", str(published), "--resolution", "112"]) == 2
    )
    assert "224–456 px" in capsys.readouterr().err


def test_predict_uses_the_cells_resolution(run_112: Path, capsys) -> None:
    assert main(["predict", "resnet34", "--from", str(run_112), "--cell", "backend=eager", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["resolution"] for p in out["predictions"]] == [112]


@pytest.mark.parametrize(
    ("res", "needle"),
    [("224", "measured at 112 px, not 224 px"), ("5", "not 5 px"), ("0", "positive number of pixels")],
)
def test_predict_bad_resolution_exits_2(run_112: Path, capsys, res: str, needle: str) -> None:
    argv = ["predict", "resnet34", "--from", str(run_112), "--cell", "backend=eager", "--resolution", res]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    "doc",
    [
        [1, 2, 3],
        {"entries": {"k": 5}},
        {"format": "archprof-baseline", "version": 1, "name": "ci-check", "device_key": "k", "entries": {"k": 5}},
        {"format": "archprof-baseline", "version": 1, "name": "ci-check", "device_key": "k", "entries": [1]},
    ],
)
def test_check_malformed_baseline_exits_2(tmp_path: Path, capsys, doc) -> None:
    bl = tmp_path / "bl.json"
    bl.write_text(json.dumps(doc))
    assert main(["check", "--run", str(make_run(tmp_path / "r")), "--baseline", str(bl)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_time_resolution_zero_is_rejected(capsys) -> None:
    assert main(["time", "resnet18", "--resolution", "0"]) == 2
    assert "resolution >= " in capsys.readouterr().err


def test_cpu_out_of_memory_is_one_line() -> None:
    import torch

    class Hungry(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                "memory: you tried to allocate 6422528000 bytes.\n" + "frame #0: ...\n" * 60
            )

    with pytest.raises(DeviceOOMError) as info:
        measure_eager(
            Hungry(),
            device="cpu",
            dtype="fp32",
            batch=2,
            resolution=8,
            memory_format="contiguous",
            config=TimingConfig(iters=1),
        )
    assert "out of host memory at batch 2" in str(info.value) and "\n" not in str(info.value)


def _damaged_run(tmp_path: Path) -> Path:
    run = make_run(tmp_path / "run", repeats=20)  # a few pages of rows
    db = run / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        n_pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert n_pages > 3
    with open(db, "r+b") as f:  # scribble over a page in the middle of the table
        f.seek(page * (n_pages - 2))
        f.write(b"\xff" * page)
    return run


@pytest.mark.parametrize("command", [["analyze"], ["export"]])
def test_corrupted_database_is_one_line(tmp_path: Path, capsys, command: list[str]) -> None:
    run = _damaged_run(tmp_path)
    assert main([*command, str(run)]) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and "Traceback" not in err


def test_readers_open_read_only(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    with ResultStore.open(run, read_only=True) as store, pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._conn.execute("DELETE FROM measurements")
    assert len(load_results(run)) > 0


def test_export_to_unwritable_place_is_one_line(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "run")
    assert main(["export", str(run), "-o", str(tmp_path / "no-such-dir" / "x.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_report_title_names_the_hardware_measured() -> None:
    from profiler.report.render import _hardware

    assert _hardware(pd.DataFrame({"device": ["cpu", "cpu"]})) == "CPU"
    assert _hardware(pd.DataFrame({"device": ["cuda"]})) == "GPU"
    assert _hardware(pd.DataFrame({"device": ["cuda", "cpu"]})) == "GPU and CPU"
    assert _hardware(pd.DataFrame({"model": ["x"]})) == "GPU"  # published data without a device column
