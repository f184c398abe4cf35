"""profiler.results.measurement: a row is a typed ``Measurement`` from the task that makes it to the store that
writes it; its dict form (the wire, a stored record) converts both ways and refuses a column it does not know."""

from __future__ import annotations

import json

import pytest

from tests.support.sweeps import make_task
from profiler.results.measurement import Measurement
from profiler.results.store import COLUMN_NAMES, ResultStore
from profiler.sweep.tasks import Task


def _task(**kw: object) -> Task:
    return make_task(model="resnet18", family="resnet", spec={"name": "resnet18", "depth": 18}, batch=8, **kw)


def test_a_task_makes_a_typed_row_with_its_own_columns() -> None:
    t = _task(repeat=2)
    row = t.base_row({"macs": 10}, latency_ms=1.5, status="ok")
    assert isinstance(row, Measurement) and row.ok
    assert (row.task_key, row.model, row.batch, row.resolution, row.repeat) == (t.key, "resnet18", 8, 16, 2)
    assert json.loads(row.spec_json) == t.spec and (row.macs, row.latency_ms) == (10, 1.5)
    failed = t.failed_row("worker killed by signal SIGKILL (9)", worker_pid=7)
    assert not failed.ok and failed.status == "failed" and failed.error.startswith("worker killed")
    assert failed.worker_pid == 7 and failed.latency_ms is None  # never measured: NULL, not 0


def test_unknown_columns_are_refused_where_a_row_is_made_or_changed() -> None:
    with pytest.raises(ValueError, match=r"unknown result columns \['latency'\]"):
        _task().base_row(latency=1.0)
    row = _task().base_row()
    with pytest.raises(ValueError, match=r"unknown result columns \['p50_ms'\]"):
        row.update({"p50_ms": 1.0})
    assert row.latency_ms is None  # a refused update changes nothing
    with pytest.raises(ValueError, match="unknown result columns"):
        Measurement.from_dict({"task_key": "k", "gpu": "H200"})
    with pytest.raises(TypeError, match="mapping of columns"):
        Measurement.from_dict(["k"])  # type: ignore[arg-type]


def test_another_revisions_extra_column_is_dropped_only_when_asked() -> None:
    got = Measurement.from_dict({"task_key": "k", "latency_ms": 2.0, "future_col": 1}, ignore_unknown=True)
    assert got == Measurement(task_key="k", latency_ms=2.0)


def test_the_dict_form_round_trips_and_a_stored_record_reads_back_typed(tmp_path) -> None:
    row = _task().base_row(samples_ms=[1.0, 2.0], stable=False, status="ok", latency_ms=1.5)
    assert list(row.to_dict()) == list(COLUMN_NAMES)  # the store's order
    assert Measurement.from_dict(row.to_dict()) == row
    assert None not in row.to_dict(skip_none=True).values() and row.to_dict(skip_none=True)["stable"] is False
    with ResultStore.create(tmp_path / "run", {}) as store:
        store.add(row)
        [stored] = store.rows()  # SQLite's record: samples_ms as JSON text, stable as 0
    assert stored["samples_ms"] == "[1.0, 2.0]" and stored["stable"] == 0
    assert Measurement.from_dict(stored) == row
