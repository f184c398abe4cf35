"""Baseline files: build one from a run's rows, write/read it, and find the one for a device key.

Layout: ``results/baselines/<device-key>/<name>.json``. One entry per (model, backend, dtype, batch, resolution,
memory_format): counts (and per-layer counts where the counter is importable), spec hash, median and IQR of the
latency, and every per-iteration sample pooled over repeats (the significance test needs them).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.baseline.keys import entry_key
from profiler.core.device_key import device_key
from profiler.core.errors import UsageError
from profiler.results.runs import RunMeta

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "archprof-baseline"
VERSION = 1
DEFAULT_ROOT = Path("results/baselines")
COUNT_FIELDS = ("macs", "params", "acts")  # compared exactly; acts_all is stored for information only


def pool_rows(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Group a run's rows (store columns) by entry key; samples pooled over repeats, failures kept as errors."""
    out: dict[str, dict[str, Any]] = {}
    for row in df.to_dict("records"):
        key = entry_key(row)
        e = out.setdefault(
            key,
            {
                "model": row["model"],
                "backend": row["backend"],
                "dtype": row["dtype"],
                "batch": int(row["batch"]),
                "resolution": int(row["resolution"]),
                "memory_format": row.get("memory_format") or "contiguous",
                "spec_hash": row.get("spec_hash"),
                "counts": None,
                "samples_ms": [],
                "repeat_medians_ms": [],
                "errors": [],
                "spec_json": row.get("spec_json"),
            },
        )
        if row.get("status", "ok") != "ok":
            e["errors"].append(str(row.get("error") or "failed"))
            continue
        if e["counts"] is None and _has_counts(row):
            e["counts"] = {k: int(row[k]) for k in (*COUNT_FIELDS, "acts_all") if _present(row.get(k))}
        samples = row.get("samples_ms")
        samples = [float(s) for s in samples] if samples is not None and len(samples) else []
        e["samples_ms"].extend(samples)
        if _present(row.get("latency_ms")):
            e["repeat_medians_ms"].append(float(row["latency_ms"]))
    return out


def _present(v: Any) -> bool:
    return v is not None and v == v  # NaN != NaN


def _has_counts(row: Mapping[str, Any]) -> bool:
    return all(_present(row.get(k)) for k in COUNT_FIELDS)


def layer_counts(model: str, resolution: int, spec_json: str | None = None) -> dict[str, list[int]] | None:
    """``{layer: [macs, params, acts]}`` for layers that carry any count; None when the model cannot be counted.

    ``spec_json`` (a row's): the spec that was measured, so that external models (``timm:NAME``, a file's
    factory, a ``[[models.custom]]`` name) are counted as measured; else the registry model called ``model``."""
    import models
    from profiler.counting import count_model

    try:
        target = models.spec_from_dict(json.loads(spec_json)) if isinstance(spec_json, str) else model
        counts = count_model(target, resolution)
    except Exception:  # a count failure must not block saving latency; the spec hash still names the change
        return None
    return {
        lay.name: [int(lay.macs), int(lay.params), int(lay.acts)]
        for lay in counts.layers
        if lay.macs or lay.params or lay.acts
    }


def single_device(df: pd.DataFrame, source: str, what: str) -> str:
    """The one device of a run's rows; UsageError when the run is empty or mixes devices."""
    if df.empty:
        raise UsageError(f"run {source or '?'} has no rows for {what}")
    devices = sorted(set(df["device"].dropna()))
    if len(devices) != 1:
        raise UsageError(f"{what} covers one device; run {source or '?'} has {devices or 'none'}")
    return devices[0]


def build_baseline(
    df: pd.DataFrame, meta: Mapping[str, Any] | RunMeta, *, name: str, source: str = "", with_layers: bool = True
) -> dict[str, Any]:
    """The baseline document of one run (all rows must be on one device; ``meta``: its RunMeta or meta.json)."""
    import numpy as np

    meta = RunMeta.from_dict(meta)
    device = single_device(df, source, "a baseline")
    env = meta.environment
    if not env:
        raise UsageError(f"run {source or '?'} records no environment in meta.json; cannot derive a device key")
    entries: dict[str, Any] = {}
    layers_cache: dict[tuple[str, int], Any] = {}
    for key, e in pool_rows(df).items():
        if e["errors"] and not e["samples_ms"]:
            continue  # a failed measurement is not a reference for anything
        s = np.asarray(e["samples_ms"], float)
        e["latency_ms_median"] = float(np.median(s)) if s.size else None
        e["latency_ms_iqr"] = float(np.subtract(*np.percentile(s, [75, 25]))) if s.size else None
        e["n_samples"] = int(s.size)
        e["n_repeats"] = len(e["repeat_medians_ms"])
        e["samples_ms"] = [round(x, 5) for x in s.tolist()]
        if with_layers:
            lk = (e["model"], e["resolution"])
            if lk not in layers_cache:
                layers_cache[lk] = layer_counts(*lk, e["spec_json"])
            e["layers"] = layers_cache[lk]
        del e["errors"], e["spec_json"]
        entries[key] = e
    if not entries:
        raise UsageError(f"run {source or '?'} has no successful measurement to make a baseline from")
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "device": device,
        "device_key": device_key(env, device),
        "reference_model": meta.reference_model,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "source_run": source,
        "environment": env,
        "entries": dict(sorted(entries.items())),
    }


def save_baseline(doc: Mapping[str, Any], root: Path | str = DEFAULT_ROOT) -> Path:
    """Write ``<root>/<device-key>/<name>.json`` (atomically) and return its path."""
    path = Path(root) / doc["device_key"] / f"{doc['name']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
    return path


def load_baseline(path: Path | str) -> dict[str, Any]:
    """Read and validate a baseline file (UsageError naming the problem)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"baseline {path} does not exist; create one with `python -m profiler baseline save RUN`")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"baseline {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(
            f"{path} is not an archprof baseline (a JSON object with format {FORMAT!r} expected, "
            f"got a {type(doc).__name__})"
        )
    if doc.get("format") != FORMAT:
        raise UsageError(f"{path} is not an archprof baseline (format field {doc.get('format')!r})")
    if doc.get("version") != VERSION:
        raise UsageError(f"baseline {path} has version {doc.get('version')}; this code reads version {VERSION}")
    for k in ("device_key", "entries", "name"):
        if k not in doc:
            raise UsageError(f"baseline {path} lacks the {k!r} field")
    if not isinstance(doc["entries"], dict):
        raise UsageError(
            f"baseline {path}: 'entries' must be an object of settings, got {type(doc['entries']).__name__}"
        )
    for key, e in doc["entries"].items():
        bad = _entry_problem(e)
        if bad:
            raise UsageError(f"baseline {path}: entry {key!r} {bad}; re-create it with `profiler baseline save RUN`")
    return doc


_ENTRY_TYPES = {"model": str, "backend": str, "dtype": str, "batch": int, "resolution": int, "samples_ms": list}


def _entry_problem(e: Any) -> str | None:
    """What is wrong with one baseline entry (None when it has the fields the comparison reads)."""
    if not isinstance(e, dict):
        return f"is a {type(e).__name__}, not an object"
    for k, t in _ENTRY_TYPES.items():
        if not isinstance(e.get(k), t):
            return f"lacks {k!r} (a {t.__name__})"
    if not all(isinstance(x, int | float) for x in e["samples_ms"]):
        return "has non-numeric samples_ms"
    if e.get("counts") is not None and not isinstance(e["counts"], dict):
        return "has 'counts' that is not an object"
    return None
