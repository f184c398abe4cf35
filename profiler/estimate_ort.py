"""ONNX Runtime session costs for the estimate: a fresh session versus a reused one, from measured runs.

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
from pathlib import Path
from typing import Any

# (dtype class, batch class) -> seconds; keys of the estimate's cells without the backend.
SessionCells = dict[tuple[str, str], float]
_ORT_WARNING = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})\d* \[W:onnxruntime")


def _cell(dtype: str, batch: int) -> tuple[str, str]:
    return ("fp16" if dtype in ("fp16", "bf16") else "fp32", "b1" if int(batch) == 1 else "bN")


def fresh_row_costs(run_dir: Path | str) -> SessionCells:
    """Mean fresh-session cost per cell of a run whose every ORT row created its own session (see module doc)."""
    run = Path(run_dir)
    stamps = [_dt.datetime.fromisoformat(m.group(1) + "+00:00")
              for m in _ORT_WARNING.finditer((run / "logs" / "workers.log").read_text())]
    conn = sqlite3.connect(run / "results.sqlite")
    rows = conn.execute("SELECT dtype, batch, started_at, duration_s, samples_ms, details_json FROM measurements "
                        "WHERE backend = 'onnxruntime' AND status = 'ok' ORDER BY started_at").fetchall()
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
