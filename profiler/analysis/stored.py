"""The analysis of a run, stored with the run as ``analysis.json`` so that ``analyze`` and ``report`` compute it once.

The analysis (fits, test battery, cluster bootstrap, the noise check's refits) takes seconds to minutes; ``report``
used to redo all of it after ``analyze`` had just done it. The stored result is keyed by everything it depends on:
the rows (their full content), the parameters (bootstrap draws, seed, resamples), the run's per-op tables and
measured peaks, the source of archprof (``profiler/`` and ``models/``) and the versions of the numerical libraries.
Any difference recomputes, so a stored result is never stale; a run directory that cannot be written (read-only,
an export) is analyzed without storing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from profiler.core import paths

FILE_NAME = "analysis.json"
FORMAT = "archprof-analysis"
_SOURCE_DIRS = ("profiler", "models")


def _code_digest() -> str:
    """sha256 of archprof's own Python source: a change of the code that analyzes changes the key."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for sub in _SOURCE_DIRS:
        for path in sorted((root / sub).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _library_versions() -> dict[str, str]:
    import numpy
    import scipy
    import statsmodels

    return {
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
    }


def _tables_digest(run_dir: Path) -> str:
    """sha256 of the run's per-op tables (the N forms, the mechanistic and per-op-class models read them)."""
    h = hashlib.sha256()
    for path in paths.ops_files(run_dir):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def analysis_key(rows: pd.DataFrame, params: dict[str, Any], run_dir: Path, measured_peaks: dict | None) -> str:
    """The key of one analysis: rows, parameters, per-op tables, measured peaks, code and library versions."""
    h = hashlib.sha256()
    h.update(rows.to_csv(index=False).encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(json.dumps(measured_peaks, sort_keys=True, default=str).encode())
    h.update(_tables_digest(run_dir).encode())
    h.update(_code_digest().encode())
    h.update(json.dumps(_library_versions(), sort_keys=True).encode())
    return h.hexdigest()


def load(run_dir: Path, key: str) -> dict | None:
    """The stored result for ``key``, or None (no file, another key, or a file that does not parse)."""
    try:
        doc = json.loads((run_dir / FILE_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("key") != key:
        return None
    return doc.get("result")


def store(run_dir: Path, key: str, params: dict[str, Any], result: dict) -> bool:
    """Write ``analysis.json`` atomically (a temporary file renamed); False where the directory is not writable."""
    doc = {"format": FORMAT, "key": key, "params": params, "result": result}
    tmp = run_dir / f".{FILE_NAME}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(doc, allow_nan=False))
        tmp.replace(run_dir / FILE_NAME)
    except OSError:
        with contextlib.suppress(OSError):  # nothing to clean where nothing could be written
            tmp.unlink(missing_ok=True)
        return False
    return True


def analyze_run(
    rows: pd.DataFrame,
    compute: Callable[[], dict],
    *,
    run_dir: Path | None,
    params: dict[str, Any],
    measured_peaks: dict | None = None,
) -> tuple[dict, bool]:
    """``(result, reused)``: the stored analysis of these rows when its key matches, else ``compute()``, stored.

    ``run_dir`` None (a CSV or Parquet file outside a run) computes without storing. The result is what
    ``compute`` returns after a JSON round trip, so a reused result and a fresh one are the same data.
    """
    if run_dir is None or not Path(run_dir).is_dir():
        return compute(), False
    run_dir = Path(run_dir)
    key = analysis_key(rows, params, run_dir, measured_peaks)
    if (hit := load(run_dir, key)) is not None:
        return hit, True
    result = json.loads(json.dumps(compute(), allow_nan=False))
    store(run_dir, key, params, result)
    return result, False
