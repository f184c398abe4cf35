"""Per-op tables of the measured models (MACs, weight and activation elements of every aten op), for the N forms
and the mechanistic model.

A table is deterministic in (spec, resolution), so it is looked up, in order, in
1. ``<run>/counts/<spec_hash>_r<res>.ops.json`` — written by sweep workers (``profiler.sweep.exec.worker``), or added
   to an
   older run by ``python -m profiler.results.backfill RUN`` (writes only those files; rows are never touched);
2. ``$ARCHPROF_CACHE/optables/`` (default ``~/.cache/archprof/optables/``; ``<name>.v2.json``, tables with the
   ``groups`` column);
3. counted from the row's ``spec_json`` on fake tensors (needs torch and ``models``; no kernels run), then cached
   in 2.
A frame without ``spec_json`` (a plain CSV) gets no tables: the N forms and the mechanistic model are then skipped
with a note, unless the frame has an ``ops`` column (the N forms need only that).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from profiler.core import paths
from profiler.counting.cache import count_doc
from profiler.counting.opclass import TRAFFIC_DTYPES, element_bytes, op_class

FP32_BYTES = 4


@dataclass(frozen=True)
class OpTable:
    """One model's ops at batch 1 (grouped: each row is ``count`` identical calls)."""

    op: tuple[str, ...]
    macs: np.ndarray
    weight_elems: np.ndarray  # do not scale with batch (parameters, buffers)
    act_elems: np.ndarray  # scale with batch
    count: np.ndarray
    groups: np.ndarray | None = None  # a conv's groups; None in tables written before the column (dense assumed)

    @property
    def ops(self) -> int:
        return int(self.count.sum())

    @property
    def has_groups(self) -> bool:
        """Whether the table says which convolutions are grouped (older tables do not)."""
        return self.groups is not None

    @property
    def classes(self) -> tuple[str, ...]:
        """The op class of every row (``counting.opclass``)."""
        g = self.groups if self.groups is not None else np.ones(len(self.op))
        return tuple(op_class(o, int(k), w) for o, k, w in zip(self.op, g, self.weight_elems, strict=True))

    def element_bytes(self, dtype: str) -> tuple[np.ndarray, np.ndarray]:
        """Per row: (bytes per activation element, bytes per weight element) at ``dtype``."""
        g = self.groups if self.groups is not None else np.ones(len(self.op))
        sizes = [element_bytes(o, int(k), dtype) for o, k in zip(self.op, g, strict=True)]
        return np.array([a for a, _ in sizes], float), np.array([w for _, w in sizes], float)

    def row_bytes(self, batch: int, dtype: str) -> np.ndarray:
        """Traffic of one call of each row at (batch, dtype), bytes: batch · acts · act size + weights · size."""
        act_b, w_b = self.element_bytes(dtype)
        return batch * self.act_elems * act_b + self.weight_elems * w_b

    def traffic(self, batch: int, dtype: str) -> float:
        """Memory traffic of one forward at (batch, dtype), bytes (``counting.opclass.traffic_bytes``)."""
        return float((self.row_bytes(batch, dtype) * self.count).sum())

    @property
    def bytes_fp32(self) -> int:
        """Memory-traffic lower bound per image at fp32 (the ``bytes`` column)."""
        return int(FP32_BYTES * ((self.weight_elems + self.act_elems) * self.count).sum())


def table_from_doc(doc: dict) -> OpTable:
    """An :class:`OpTable` from the JSON written by ``counting.ops.op_table_doc`` (batch-1 input)."""
    if doc.get("input_shape", [1])[0] != 1:
        raise ValueError(f"op table must be counted at batch 1, not {doc.get('input_shape')}")
    cols = doc["columns"]
    rows = doc["rows"]
    get = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    return OpTable(
        op=tuple(get["op"]),
        macs=np.asarray(get["macs"], float),
        weight_elems=np.asarray(get["weight_elems"], float),
        act_elems=np.asarray(get["act_elems"], float),
        count=np.asarray(get["count"], float),
        groups=np.asarray(get["groups"], float) if "groups" in get else None,
    )


def cache_dir() -> Path:
    """``$ARCHPROF_CACHE/optables`` if set, else ``~/.cache/archprof/optables``."""
    return paths.cache_dir("optables")


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


def find_table(spec_hash: str, resolution: int, spec_json: str | None, run_dir: Path | None) -> OpTable | None:
    """The table of one (spec, resolution) from the sources in the module docstring; None if none applies.

    A stored table written before the ``groups`` column is recounted from ``spec_json`` when the row has one (the
    op classes need it; cached as ``<name>.v2.json``), else used as it is (every conv then counts as dense).
    """
    name = paths.count_key(spec_hash, resolution)
    older = None
    stored = [paths.ops_path(run_dir, spec_hash, resolution)] if run_dir else []
    for path in [*stored, cache_dir() / f"{name}.v2.json"]:
        if path.is_file():
            table = table_from_doc(json.loads(path.read_text()))
            if table.has_groups:
                return table
            older = older or table
    if not isinstance(spec_json, str) or not spec_json:
        return older
    doc = count_doc(spec_json, resolution)
    with contextlib.suppress(OSError):  # a read-only home: the table is still used, just not cached
        _write(cache_dir() / f"{name}.v2.json", doc)
    return table_from_doc(doc)


def attach_tables(frame: pd.DataFrame, run_dir: Path | None) -> tuple[dict[tuple[str, int], OpTable], list[str]]:
    """Tables of every (spec_hash, resolution) in ``frame``, and notes on what could not be had.

    Also fills the ``ops`` and ``bytes`` columns (added if absent) where they are missing, from the tables.
    """
    notes: list[str] = []
    tables: dict[tuple[str, int], OpTable] = {}
    if "spec_hash" not in frame.columns or "resolution" not in frame.columns:
        notes.append("no spec_hash/resolution columns: per-op tables (mechanistic model) unavailable")
        return tables, notes
    failed = []
    for (h, res), sub in frame.groupby(["spec_hash", "resolution"], sort=True):
        spec_json = sub["spec_json"].dropna().iloc[0] if "spec_json" in sub and sub["spec_json"].notna().any() else None
        try:
            table = find_table(str(h), int(res), spec_json, run_dir)
        except Exception as exc:  # a spec this checkout cannot build: reported, the rest still analyzed
            failed.append(f"{sub['model'].iloc[0]}: {type(exc).__name__}: {exc}")
            continue
        if table is not None:
            tables[(str(h), int(res))] = table
    if failed:
        notes.append("could not count per-op tables of " + "; ".join(failed[:5]))
    for col, get in (("ops", lambda t: t.ops), ("bytes", lambda t: t.bytes_fp32)):
        if col not in frame.columns:
            frame[col] = np.nan
        vals = pd.to_numeric(frame[col], errors="coerce")
        fill = [get(tables[k]) if k in tables else np.nan for k in _keys(frame)]
        frame[col] = vals.where(vals.notna(), pd.Series(fill, index=frame.index, dtype=float))
    fill_traffic(frame, tables)
    return tables, notes


def row_traffic(table: OpTable | None, batch: float, dtype: object) -> float:
    """Traffic (bytes, per batch) of one row's forward at its batch and dtype; NaN without a table, a batch or a
    known dtype (``counting.opclass.TRAFFIC_DTYPES``)."""
    if table is None or str(dtype) not in TRAFFIC_DTYPES or not np.isfinite(batch):
        return float("nan")
    return table.traffic(int(batch), str(dtype))


def row_batches(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (images in the batch it was timed at, what its ``latency_ms`` is divided by already).

    A row of a per-image cell (``analysis.data.per_image``: mixed batches) has ``batch_images`` and its latency per
    image (divisor = its batch); any other row its ``batch`` (1 without the column) and latency per batch (1).
    """
    n = len(frame)
    batch = pd.to_numeric(frame["batch"], errors="coerce").to_numpy(float) if "batch" in frame else np.ones(n)
    if "batch_images" in frame.columns:
        images = pd.to_numeric(frame["batch_images"], errors="coerce").to_numpy(float)
        per = np.isfinite(images)
        return np.where(per, images, batch), np.where(per, images, 1.0)
    return batch, np.ones(n)


def fill_traffic(frame: pd.DataFrame, tables: dict[tuple[str, int], OpTable]) -> None:
    """Fill ``bytes_batch`` (added if absent; traffic of one batch at the row's batch and dtype, bytes) from the
    tables where a row has none. No ``batch``/``dtype`` column: batch 1, fp32. A per-image row: its own batch."""
    if "bytes_batch" not in frame.columns:
        frame["bytes_batch"] = np.nan
    batch = row_batches(frame)[0]
    dtype = frame["dtype"] if "dtype" in frame.columns else pd.Series("fp32", index=frame.index)
    fill = [row_traffic(tables.get(k), b, d) for k, b, d in zip(_keys(frame), batch, dtype, strict=True)]
    vals = pd.to_numeric(frame["bytes_batch"], errors="coerce")
    frame["bytes_batch"] = vals.where(vals.notna(), pd.Series(fill, index=frame.index, dtype=float))


def _keys(frame: pd.DataFrame) -> list[tuple[str, int]]:
    if "spec_hash" not in frame.columns:
        return [("", 0)] * len(frame)
    return [(str(h), int(r) if r == r else 0) for h, r in zip(frame["spec_hash"], frame["resolution"], strict=True)]


def table_for_rows(frame: pd.DataFrame, tables: dict[tuple[str, int], OpTable]) -> list[OpTable | None]:
    """The table of each row of ``frame`` (None where there is none)."""
    return [tables.get(k) for k in _keys(frame)]
