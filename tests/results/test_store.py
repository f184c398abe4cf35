"""profiler.results.store unit tests: schema, durable rows, replace on retry, metadata, resolve/load/export (no
sweep)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.results.measurement import Measurement
from profiler.results.store import COLUMN_NAMES, DB_NAME, META_NAME, ResultStore, export, load_results, resolve_run


def row(key: str, status: str = "ok", **kw: object) -> Measurement:
    base = {
        "task_key": key,
        "model": "m",
        "family": "f",
        "macs": 10,
        "params": 2,
        "acts": 3,
        "acts_all": 4,
        "backend": "eager",
        "device": "cpu",
        "dtype": "fp32",
        "batch": 1,
        "resolution": 32,
        "repeat": 0,
        "latency_ms": 1.5,
        "samples_ms": [1.0, 1.5, 2.0],
        "stable": True,
        "status": status,
        "started_at": "2026-01-01T00:00:00+00:00",
    }
    return Measurement.from_dict({**base, **kw})


@pytest.fixture
def store(tmp_path: Path):
    with ResultStore.create(tmp_path / "run", {"run": {"device": "cpu"}}) as s:
        yield s


def test_rows_round_trip_with_types(store: ResultStore) -> None:
    store.add(row("a"))
    store.add(row("b", status="failed", error="boom", latency_ms=None, samples_ms=None, stable=None))
    df = store.dataframe()
    assert list(df.columns) == list(COLUMN_NAMES)
    a, b = df.set_index("task_key").loc["a"], df.set_index("task_key").loc["b"]
    assert a["samples_ms"] == [1.0, 1.5, 2.0] and a["stable"] is True and a["macs"] == 10
    assert b["samples_ms"] is None and b["stable"] is None and b["error"] == "boom"
    assert store.task_status() == {"a": "ok", "b": "failed"}
    assert store.done_keys() == {"a", "b"} and store.done_keys(include_failed=False) == {"a"}


def test_a_row_is_visible_to_another_connection_at_once(store: ResultStore) -> None:
    store.add(row("a"))  # autocommit: a reader (or a crash right after) sees it without close()
    with sqlite3.connect(store.run_dir / DB_NAME) as other:
        assert other.execute("SELECT task_key FROM measurements").fetchall() == [("a",)]


def test_a_retried_task_replaces_its_row(store: ResultStore) -> None:
    store.add(row("a", status="failed", error="oom"))
    store.add(row("a", latency_ms=2.5))
    rows = store.rows()
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["latency_ms"] == 2.5


def test_bad_rows_are_refused(store: ResultStore) -> None:
    with pytest.raises(ValueError, match=r"unknown result columns.*'latency'"):
        store.add(row("a", latency=1.0))
    with pytest.raises(ValueError, match="task_key"):
        store.add(row(""))
    with pytest.raises(TypeError, match="takes a Measurement"):
        store.add({"task_key": "a", "latency": 1.0})  # type: ignore[arg-type]  # a dict would skip the check
    assert store.rows() == []


def test_meta_is_written_whole_and_read_back(store: ResultStore) -> None:
    meta = store.read_meta()
    assert meta["schema_version"] == 1 and meta["run"] == {"device": "cpu"}
    store.write_meta({**meta, "sessions": [{"wall_s": 1.0}]})
    assert json.loads((store.run_dir / META_NAME).read_text())["sessions"] == [{"wall_s": 1.0}]
    assert not list(store.run_dir.glob("*.tmp"))  # written through a temp file, renamed into place
    (store.run_dir / META_NAME).write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        store.read_meta()


def test_create_refuses_an_existing_run(store: ResultStore) -> None:
    with pytest.raises(UsageError, match="already holds a run"):
        ResultStore.create(store.run_dir, {})


def test_open_rejects_foreign_old_and_corrupt_directories(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        ResultStore.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"no results\.sqlite"):
        ResultStore.open(tmp_path / "empty")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / DB_NAME).write_bytes(b"not a database" * 200)
    with pytest.raises(UsageError, match=r"corrupt|not an archprof"):
        ResultStore.open(tmp_path / "garbage")
    (tmp_path / "other").mkdir()
    with sqlite3.connect(tmp_path / "other" / DB_NAME) as conn:
        conn.execute("CREATE TABLE measurements (task_key TEXT)")
    with pytest.raises(UsageError, match="schema 0"):
        ResultStore.open(tmp_path / "other")
    with sqlite3.connect(tmp_path / "other" / DB_NAME) as conn:
        conn.execute("PRAGMA user_version=1")
    with pytest.raises(UsageError, match="lacks columns"):
        ResultStore.open(tmp_path / "other")


def test_resolve_run_path_id_and_latest(tmp_path: Path) -> None:
    root = tmp_path / "results"
    with pytest.raises(UsageError, match="no runs under"):
        resolve_run("latest", root)
    for i, name in enumerate(("old", "new")):
        ResultStore.create(root / name, {}).close()
        t = time.time() - 100 + i
        os.utime(root / name / DB_NAME, (t, t))
    assert resolve_run("latest", root) == root / "new"
    assert resolve_run("old", root) == root / "old"
    assert resolve_run(root / "old", "elsewhere") == root / "old"
    assert resolve_run("nope", root) == Path("nope")  # as given: the caller says it does not exist


def test_load_and_export_csv_parquet(store: ResultStore, tmp_path: Path) -> None:
    store.add(row("a"))
    store.add(row("b", latency_ms=3.0))
    for fmt in ("csv", "parquet"):
        out = export(store.run_dir, fmt)
        assert out == store.run_dir / f"results.{fmt}"
        df = load_results(out)
        assert sorted(df["task_key"]) == ["a", "b"] and df["samples_ms"].map(list).tolist()[0] == [1.0, 1.5, 2.0]
    with pytest.raises(UsageError, match="unknown export format"):
        export(store.run_dir, "xlsx")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(UsageError, match=r"unknown format '\.txt'"):
        load_results(tmp_path / "x.txt")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(UsageError, match="cannot read"):
        load_results(tmp_path / "bad.parquet")
    with pytest.raises(UsageError, match="does not exist"):
        load_results(tmp_path / "none.csv")


# The schema as it was written out by hand before profiler.results.measurement derived it (T TEXT, I INTEGER, R REAL).
_SCHEMA_1 = (
    "task_key:T model:T family:T spec_json:T spec_hash:T macs:I params:I acts:I acts_all:I ops:I bytes:I "
    "backend:T device:T device_name:T dtype:T memory_format:T batch:I resolution:I repeat:I latency_ms:R "
    "latency_ms_median:R latency_ms_mean:R latency_ms_iqr:R latency_ms_p5:R latency_ms_p95:R "
    "latency_ms_min:R latency_cv:R n_samples:I throughput_ips:R stable:I samples_ms:T status:T error:T "
    "details_json:T worker_pid:I started_at:T duration_s:R node:T gpu_index:I build_s:R count_s:R "
    "export_s:R compile_s:R load_s:R warmup_s:R timed_s:R"
)


def test_columns_derived_from_measurement_keep_the_schema() -> None:
    import dataclasses

    from profiler.results import store
    from profiler.results.measurement import Measurement

    kinds = {"T": "TEXT", "I": "INTEGER", "R": "REAL"}
    expected = tuple((n, kinds[k]) for n, k in (c.split(":") for c in _SCHEMA_1.split()))
    expected = (("task_key", "TEXT PRIMARY KEY"), *expected[1:], ("bytes_batch", "INTEGER"))  # added later
    assert expected == store.COLUMNS
    assert tuple(f.name for f in dataclasses.fields(Measurement)) == store.COLUMN_NAMES
    assert store.PHASE_COLUMNS == ("build_s", "count_s", "export_s", "compile_s", "load_s", "warmup_s", "timed_s")
    assert {"ops", "bytes", "bytes_batch", "node", "gpu_index", *store.PHASE_COLUMNS} == store.LATER_COLUMNS
