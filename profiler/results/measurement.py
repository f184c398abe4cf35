"""``Measurement``: one result row. The store's columns (names, SQLite types, order) are derived from its fields.

Counts are per image (batch 1) at the measured resolution; latencies are per batch. A field's SQLite type follows
its Python type (str → TEXT, int and bool → INTEGER, float → REAL, a list → TEXT holding JSON); ``later`` marks the
nullable columns added after schema 1, ``phase`` the per-phase seconds.

>>> [(f, t) for f, t in columns()[:2]]
[('task_key', 'TEXT PRIMARY KEY'), ('model', 'TEXT')]
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SQL_TYPES = {str: "TEXT", int: "INTEGER", bool: "INTEGER", float: "REAL", list: "TEXT"}


def _col(*, sql: str | None = None, later: bool = False, phase: bool = False) -> Any:
    """A nullable column (default None); ``sql`` overrides the type derived from the annotation."""
    return dataclasses.field(default=None, metadata={"sql": sql, "later": later or phase, "phase": phase})


@dataclass
class Measurement:
    """One measurement as the store holds it (every column nullable but the key).

    A row is this object from the moment a task makes it (``Task.base_row``) until ``ResultStore.add`` writes it;
    the worker protocol carries it as ``to_dict()`` and reads it back with ``from_dict``.
    """

    task_key: str = _col(sql="TEXT PRIMARY KEY")
    model: str | None = None
    family: str | None = None
    spec_json: str | None = None
    spec_hash: str | None = None
    macs: int | None = None
    params: int | None = None
    acts: int | None = None
    acts_all: int | None = None
    ops: int | None = _col(later=True)  # aten ops that compute, per inference (batch-independent); counting.ops
    bytes: int | None = _col(later=True)  # memory-traffic lower bound per image at fp32 (batch 1); counting.ops
    backend: str | None = None
    device: str | None = None
    device_name: str | None = None
    dtype: str | None = None
    memory_format: str | None = None
    batch: int | None = None
    resolution: int | None = None
    repeat: int | None = None
    latency_ms: float | None = None
    latency_ms_median: float | None = None
    latency_ms_mean: float | None = None
    latency_ms_iqr: float | None = None
    latency_ms_p5: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_min: float | None = None
    latency_cv: float | None = None
    n_samples: int | None = None
    throughput_ips: float | None = None
    stable: bool | None = None
    samples_ms: list[float] | None = None  # stored as a JSON string
    status: str | None = None
    error: str | None = None
    details_json: str | None = None
    worker_pid: int | None = None
    started_at: str | None = None
    duration_s: float | None = None
    node: str | None = _col(later=True)  # host that measured the row
    gpu_index: int | None = _col(later=True)  # physical CUDA device index (None on CPU)
    # Where the row's wall time went (seconds; NULL when unknown, e.g. rows of older runs). build/count are the
    # worker's (near 0 when a prefetch process already did them); the rest come from the timing layer.
    build_s: float | None = _col(phase=True)
    count_s: float | None = _col(phase=True)
    export_s: float | None = _col(phase=True)
    compile_s: float | None = _col(phase=True)
    load_s: float | None = _col(phase=True)
    warmup_s: float | None = _col(phase=True)
    timed_s: float | None = _col(phase=True)
    # Memory traffic of one batch at the row's batch and dtype (bytes; activations × batch at their element size,
    # weights once per batch: counting.opclass). ``bytes`` above stays per image at fp32 for older readers.
    bytes_batch: int | None = _col(later=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, ignore_unknown: bool = False) -> Measurement:
        """The row of a mapping of columns (a worker's wire row, a stored row). An unknown column raises ValueError,
        or with ``ignore_unknown`` is dropped (a row of another revision, which may know more columns).

        ``samples_ms`` may be its stored JSON text and ``stable`` its stored 0/1: both are read back as typed.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a result row is a mapping of columns, not {type(data).__name__}")
        row = cls()
        row.update({k: v for k, v in data.items() if k in _NAMES} if ignore_unknown else data)
        if isinstance(row.samples_ms, str):
            row.samples_ms = json.loads(row.samples_ms)
        if row.stable is not None and not isinstance(row.stable, bool):
            row.stable = bool(row.stable)
        return row

    def to_dict(self, *, skip_none: bool = False) -> dict[str, Any]:
        """Every column, in order (None where unknown); ``skip_none``: only the columns that hold a value."""
        got = ((name, getattr(self, name)) for name in _ORDER)
        return {name: value for name, value in got if value is not None or not skip_none}

    def update(self, values: Mapping[str, Any] | None = None, /, **columns: Any) -> None:
        """Set columns from ``values`` and ``columns`` (later wins); an unknown column raises ValueError."""
        given = {**(values or {}), **columns}
        unknown = set(given) - _NAMES
        if unknown:
            raise ValueError(f"unknown result columns {sorted(unknown)}; known: {', '.join(_ORDER)}")
        for name, value in given.items():
            setattr(self, name, value)

    @property
    def ok(self) -> bool:
        """Whether the task was measured (``status == "ok"``); a failed row is data too."""
        return self.status == "ok"


_ORDER: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Measurement))
_NAMES: frozenset[str] = frozenset(_ORDER)


def _sql_type(hint: Any) -> str:
    kinds = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = typing.get_origin(kinds[0]) or kinds[0]
    return _SQL_TYPES[base]


def columns() -> tuple[tuple[str, str], ...]:
    """``(column, SQLite type)`` of every field, in order."""
    hints = typing.get_type_hints(Measurement)
    return tuple((f.name, f.metadata.get("sql") or _sql_type(hints[f.name])) for f in dataclasses.fields(Measurement))


def flagged(flag: str) -> tuple[str, ...]:
    """The columns whose field carries ``flag`` (``later`` or ``phase``), in order."""
    return tuple(f.name for f in dataclasses.fields(Measurement) if f.metadata.get(flag))
