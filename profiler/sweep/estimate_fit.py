"""Calibration of ``profiler.sweep.estimate`` from measured runs: latency cells (``fit_run``, ``derive_builtin``,
``from_previous_runs``) and ONNX Runtime session costs, a fresh session versus a reused one.

A row that creates a session pays creation + IO binding + the first run (where ORT's CUDA provider searches
convolution algorithms, EXHAUSTIVE, for the input shape) + the output check. A row that reuses the previous
row's session (``profiler.timing.onnx.cached_session``) pays binding, the first run at its own batch and the check.

- ``fresh_row_costs(run_dir)``: per-row fresh-session cost of a run made before sessions were reused (every row
  made its own), from the time between the session's creation — ORT prints a warning line with a timestamp into
  ``logs/workers.log`` while creating it — and the row's end, minus warm-up and timed. On the shared H200 run
  (``gpu-ort``, 12 rows, 3 models) this gives fp32 b1 0.63 s, fp32 b64 1.26 s, fp16 b1 1.56 s, fp16 b64 2.66 s
  (mean 1.53 s; the 0.66 s used before did not reproduce). That run cannot split creation from the first run.
- ``fit_sessions(rows)``: from rows that record ``session_reused`` and the phases (``load_s``, ``first_run_s``),
  the mean fresh-session and reused-session cost per cell: what a run after this change calibrates.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sqlite3
import statistics
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from profiler.core.device_key import device_key
from profiler.sweep.estimate import BUILTIN, Cells, CostModel, setting_key

# (dtype class, batch class) -> seconds; keys of the estimate's cells without the backend.
SessionCells = dict[tuple[str, str], float]
_ORT_WARNING = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})\d* \[W:onnxruntime")


def _cell(dtype: str, batch: int) -> tuple[str, str]:
    return ("fp16" if dtype in ("fp16", "bf16", "amp") else "fp32", "b1" if int(batch) == 1 else "bN")


def fresh_row_costs(run_dir: Path | str) -> SessionCells:
    """Mean fresh-session cost per cell of a run whose every ORT row created its own session (see module doc)."""
    run = Path(run_dir)
    stamps = [
        _dt.datetime.fromisoformat(m.group(1) + "+00:00")
        for m in _ORT_WARNING.finditer((run / "logs" / "workers.log").read_text())
    ]
    conn = sqlite3.connect(f"{(run / 'results.sqlite').resolve().as_uri()}?mode=ro", uri=True)  # never write
    rows = conn.execute(
        "SELECT dtype, batch, started_at, duration_s, samples_ms, details_json FROM measurements "
        "WHERE backend = 'onnxruntime' AND status = 'ok' ORDER BY started_at"
    ).fetchall()
    conn.close()
    per: dict[tuple[str, str], list[float]] = {}
    for (dtype, batch, started, duration, samples, details), created in zip(rows, stamps, strict=True):
        end = _dt.datetime.fromisoformat(started) + _dt.timedelta(seconds=float(duration))
        warm = float(json.loads(details).get("warmup_s_done") or 0.0)
        rest = (end - created).total_seconds() - warm - sum(json.loads(samples)) / 1000
        per.setdefault(_cell(dtype, batch), []).append(rest)
    return {k: statistics.fmean(v) for k, v in per.items()}


def fit_sessions(rows: Iterable[dict[str, Any]]) -> tuple[SessionCells, SessionCells]:
    """(fresh, reused) mean ORT session cost per cell from rows with ``session_reused`` and phases recorded."""
    fresh: dict[tuple[str, str], list[float]] = {}
    reused: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.get("backend") != "onnxruntime" or r.get("status") != "ok" or r.get("load_s") is None:
            continue
        details = json.loads(r["details_json"]) if isinstance(r.get("details_json"), str) else {}
        if "session_reused" not in details:
            continue
        cost = float(r["load_s"]) + float(details.get("first_run_s") or 0.0)
        (reused if details["session_reused"] else fresh).setdefault(_cell(r["dtype"], r["batch"]), []).append(cost)
    return ({k: statistics.fmean(v) for k, v in fresh.items()}, {k: statistics.fmean(v) for k, v in reused.items()})


def fit_run(rows: Iterable[dict[str, Any]]) -> Cells:
    """(a, b, autotune) per (backend, dtype, batch class) from a run's ok rows (least squares; needs ≥ 3 models)."""
    import numpy as np

    groups: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {}
    for r in rows:
        if r.get("status") != "ok" or not r.get("macs") or not r.get("latency_ms"):
            continue
        details = json.loads(r["details_json"]) if isinstance(r.get("details_json"), str) else {}
        cfg = details.get("config", {})
        lat = float(r["latency_ms"])
        floor = max(float(cfg.get("warmup_s", 0.2)), int(cfg.get("warmup_iters", 3)) * lat / 1000)
        warm = r.get("warmup_s") or details.get("warmup_s_done") or floor
        key = (r["backend"], r["dtype"], "b1" if int(r["batch"]) == 1 else "bN")
        groups.setdefault(key, []).append((float(r["macs"]) / 1e9 * int(r["batch"]), lat, max(0.0, warm - floor)))
    cells: Cells = {}
    for key, v in groups.items():
        if len(v) < 3:
            continue
        x, y = np.array([p[0] for p in v]), np.array([p[1] for p in v])
        a, b = np.linalg.lstsq(np.c_[np.ones_like(x), x], y, rcond=None)[0]
        if b < 0 or a < 0:  # a degenerate fit (few models, noise): a pure per-MAC rate instead
            a, b = 0.0, float(np.median(y / np.maximum(x, 1e-9)))
        cells[key] = (float(a), float(b), float(statistics.fmean(p[2] for p in v)))
    return cells


def derive_builtin(run_dir: Path | str) -> Cells:
    """The cells of ``BUILTIN`` re-derived from a run directory (the calibration is checkable, not trusted)."""
    from profiler.results.store import ResultStore

    with ResultStore.open(run_dir, read_only=True) as store:
        return fit_run(store.rows())


def from_previous_runs(device: str, env: dict[str, Any], results_dir: Path | str) -> CostModel:
    """The built-in model, refined by the newest runs under ``results_dir`` on the same device key."""
    from profiler.core.paths import META_NAME
    from profiler.results.runs import RunMeta
    from profiler.results.store import ResultStore

    base = BUILTIN[device]
    want = device_key(env, device)
    runs = []
    for meta_path in Path(results_dir).glob(f"*/{META_NAME}"):
        try:
            meta_env = RunMeta.read(meta_path.parent, strict=False).environment or {}
            if meta_env and device_key(meta_env, device) == want:
                runs.append(meta_path.parent)
        except (OSError, ValueError, KeyError):
            continue
    if not runs:
        return base
    rows: list[dict[str, Any]] = []
    for run in sorted(runs, key=lambda d: d.stat().st_mtime):
        try:
            with ResultStore.open(run, read_only=True) as store:
                rows += [r for r in store.rows() if r.get("device") == device and r.get("status") == "ok"]
        except Exception:  # a broken old run must not stop planning
            continue
    if not rows:
        return base
    measured = {setting_key(r): float(r["latency_ms"]) for r in rows}  # newest run wins
    cells = dict(base.cells)
    for key, fitted in fit_run(rows).items():
        cells[key] = fitted
    fresh, reused = fit_sessions(rows)
    return replace(
        base,
        source=f"previous runs on {want}: {', '.join(d.name for d in runs[-5:])}",
        cells=cells,
        measured_ms=measured,
        session_cells=base.session_cells | {("onnxruntime", *k): v for k, v in fresh.items()},
        reuse_cells=base.reuse_cells | {("onnxruntime", *k): v for k, v in reused.items()},
    )
