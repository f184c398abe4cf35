"""Merge runs measured on different machines (say one per GPU type) into one run whose rows keep their device.

A row's ``task_key`` names the device *kind* (``cuda``), not the GPU, so the same setting measured on an H200 and
on an A100 has the same key in both runs. In the merged run each key gets the row's device: ``<task_key>|on=<device
name>``, so both measurements are kept. Refused, with one line naming the problem (exit 2):
- counts (macs, params, acts, …) that disagree for the same (spec, resolution) — different counting code;
- one model name with two different specs (e.g. two AnyNet samples drawn from different seeds);
- the same measurement (same key on the same device) in two runs — merging would drop one of them silently.
The merged ``meta.json`` records every source (run id, run, environment, sessions, row count) under
``merged_from``; its ``environment`` keeps what all sources share and lists the values where they differ.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError
from profiler.results.measurement import Measurement
from profiler.results.runs import RunMeta
from profiler.results.store import COLUMN_NAMES, ResultStore

# Columns that are deterministic per (spec, resolution); those another version does not have are skipped.
COUNT_COLUMNS = tuple(c for c in ("macs", "params", "acts", "acts_all", "ops", "bytes") if c in COLUMN_NAMES)
KEY_SUFFIX = "|on="


def _device_label(row: dict[str, Any], fallback: str | None) -> str:
    return str(row.get("device_name") or fallback or "unknown device")


def _source_device(rows: list[dict[str, Any]], meta: RunMeta) -> str | None:
    """The one device a run measured on (for its failed rows, which carry no device name), if it is unambiguous."""
    names = {r["device_name"] for r in rows if r.get("device_name")}
    if len(names) == 1:
        return names.pop()
    if not names:
        env = meta.environment or {}
        return env.get("gpu_name") if meta.device == "cuda" else env.get("cpu_model")
    return None


def _check_counts(rows: list[tuple[str, dict[str, Any]]]) -> None:
    seen: dict[tuple[str, Any], tuple[str, dict[str, Any]]] = {}
    specs: dict[str, tuple[str, str]] = {}
    for source, row in rows:
        model, spec_hash = row.get("model"), row.get("spec_hash")
        first = specs.setdefault(model, (source, spec_hash))
        if first[1] != spec_hash:
            raise UsageError(f"model {model} has different specs in {first[0]} (spec {first[1]}) and {source} "
                             f"(spec {spec_hash}); rename one of them before merging")
        counts = {c: row.get(c) for c in COUNT_COLUMNS if row.get(c) is not None}
        if not counts:
            continue  # a failed row or a run without counts
        key = (spec_hash, row.get("resolution"))
        if key not in seen:
            seen[key] = (source, counts)
            continue
        other_source, other = seen[key]
        for col, value in counts.items():
            if col in other and int(other[col]) != int(value):
                raise UsageError(f"counts disagree for model {model} at {row.get('resolution')} px: {col} "
                                 f"{int(other[col])} in {other_source} vs {int(value)} in {source}; merge only "
                                 f"runs counted by the same code")
            other.setdefault(col, value)


def _merged_environment(envs: list[dict[str, Any]]) -> dict[str, Any]:
    """Keys all sources agree on keep their value; others list the distinct values (so a report shows both)."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for env in envs for k in env):
        values = [env.get(key) for env in envs]
        distinct = list(dict.fromkeys(str(v) for v in values if v is not None))
        if all(v == values[0] for v in values):
            out[key] = values[0]
        else:
            out[key] = " | ".join(distinct) if distinct else None
    return out


def merge_runs(sources: list[Path | str], out: Path | str, argv: list[str] | None = None) -> dict[str, Any]:
    """Write the merge of ``sources`` (run directories) to the new run directory ``out``; returns a summary."""
    paths = [Path(s) for s in sources]
    if len(paths) < 2:
        raise UsageError("merge needs at least two runs")
    resolved = [p.resolve() for p in paths]
    dup = next((p for i, p in enumerate(resolved) if p in resolved[:i]), None)
    if dup is not None:
        raise UsageError(f"{dup} is given twice; merge each run once")
    out = Path(out)
    if out.resolve() in resolved:
        raise UsageError(f"the output {out} is one of the runs to merge; choose a new run id")
    rows: list[tuple[str, dict[str, Any]]] = []
    sources_meta: list[dict[str, Any]] = []
    keys: dict[str, str] = {}
    for path in paths:
        with ResultStore.open(path, read_only=True) as store:
            meta, run_rows = RunMeta.read(path), store.rows()
        label = path.name
        fallback = _source_device(run_rows, meta)
        merged_already = bool(meta.raw.get("merged_from"))
        for row in run_rows:
            if not merged_already:  # a merged run's keys already name their device
                row["task_key"] = f"{row['task_key']}{KEY_SUFFIX}{_device_label(row, fallback)}"
            if row["task_key"] in keys:
                raise UsageError(f"{row['task_key']} is in both {keys[row['task_key']]} and {label}: the same "
                                 f"measurement twice; merge runs that measured different settings, repeats or devices")
            keys[row["task_key"]] = label
            rows.append((label, row))
        sources_meta.append({"run_id": label, "path": str(path), "rows": len(run_rows), "run": meta.raw.get("run"),
                             "environment": meta.environment, "config_name": meta.config.get("name"),
                             "sessions": meta.sessions, "merged_from": meta.raw.get("merged_from")})
    _check_counts(rows)
    devices = sorted({str(r.get("device")) for _, r in rows})
    names = [s["run_id"] for s in sources_meta]
    meta = {
        "run": {"config_name": "merge of " + ", ".join(names), "device": devices[0] if len(devices) == 1 else
                "mixed", "argv": argv if argv is not None else sys.argv,
                "started_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")},
        "environment": _merged_environment([s["environment"] or {} for s in sources_meta]),
        "config": {"name": "merge of " + ", ".join(names), "path": None, "text": None},
        "sessions": [{**s, "source": src["run_id"]} for src in sources_meta for s in src["sessions"]],
        "merged_from": sources_meta,
    }
    with ResultStore.create(out, meta) as store:
        for _, row in rows:
            store.add(Measurement.from_dict(row, ignore_unknown=True))  # a newer run's extra columns: not ours
    device_names = sorted({_device_label(r, None) for _, r in rows if r.get("device_name")})
    return {"out": out, "rows": len(rows), "sources": names, "device_names": device_names}
