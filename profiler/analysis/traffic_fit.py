"""The two-term traffic fit the cross-device transfer starts from: t = a·F + b·B_act + c (ms per image).

F = FLOPs per image (2 × the op table's MACs), B_act = activation bytes per image: the elements every op reads and
writes (the op table's ``act_elems``) × the element size of the cell's dtype (2 bytes under AMP, fp16 and bf16;
4 at fp32 and tf32). Weights are read once per batch and left out (at timm's batch 96–1024 they are a small part).
a, b, c ≥ 0 by non-negative least squares with relative-error weights (1/t), as the analysis weights its fits.

This module stands alone on purpose: the "memory traffic" work (forms ``t ~ F + B``, ``t ~ F + B + N``) brings
the traffic model proper; ``traffic_form`` is the one place to switch to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from profiler.analysis.optables import OpTable, attach_tables, table_for_rows
from profiler.errors import UsageError
from profiler.hardware.transfer import TermFit

ELEMENT_BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "amp": 2}
FORM = "t ~ F + B_act (+ c)"
TERMS = ("F", "B_act", "1")
RESOURCES = ("compute", "traffic", "fixed")


def element_bytes(dtype: str) -> int:
    """Bytes of one activation element at a cell's dtype; UsageError for a dtype without a rule."""
    if dtype not in ELEMENT_BYTES:
        raise UsageError(f"no activation element size for dtype {dtype!r} (known: {', '.join(ELEMENT_BYTES)})")
    return ELEMENT_BYTES[dtype]


def table_terms(table: OpTable, dtype: str) -> tuple[float, float]:
    """(FLOPs, activation bytes) per image of one op table at ``dtype``."""
    flops = 2.0 * float((table.macs * table.count).sum())
    return flops, float((table.act_elems * table.count).sum()) * element_bytes(dtype)


def cell_dtype(cell: pd.DataFrame) -> str:
    """The one dtype of a cell (fp32 where the column is absent)."""
    if "dtype" not in cell or cell["dtype"].isna().all():
        return "fp32"
    values = sorted({str(v) for v in cell["dtype"].dropna()})
    if len(values) != 1:
        raise UsageError(f"the cell mixes dtypes {values}; select one with --cell dtype=…")
    return values[0]


def features(cell: pd.DataFrame, run_dir: Path | None, label: str) -> tuple[pd.DataFrame, list[str]]:
    """Per model of ``cell``: family, F, B_act and the measured ms per image (latency_ms / batch); notes on
    models left out. UsageError naming the form needed when no model has an op table."""
    cell = cell.copy()
    tables, notes = attach_tables(cell, run_dir)
    dtype = cell_dtype(cell)
    rows = []
    for (_, r), table in zip(cell.iterrows(), table_for_rows(cell, tables), strict=True):
        if table is None:
            continue
        flops, bytes_act = table_terms(table, dtype)
        batch = float(r["batch"]) if "batch" in cell and r["batch"] == r["batch"] else 1.0
        rows.append({"model": r["model"], "family": r["family"], "resolution": r.get("resolution"),
                     "F": flops, "B_act": bytes_act, "t_ms": float(r["latency_ms"]) / batch})
    missing = len(cell) - len(rows)
    if not rows:
        raise UsageError(f"{label} has no traffic fit: the form {FORM} needs per-op tables of its models "
                         "(`python -m profiler.backfill RUN` writes them for a sweep's run)")
    if missing:
        notes.append(f"{missing} model(s) of {label} without an op table left out")
    return pd.DataFrame(rows), notes


def design(feat: pd.DataFrame) -> np.ndarray:
    """The (n, 3) matrix of the form's terms: F, B_act, 1."""
    return np.column_stack([feat["F"].to_numpy(float), feat["B_act"].to_numpy(float), np.ones(len(feat))])


def _nnls(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    w = 1.0 / t
    coef, _ = nnls(x * w[:, None], t * w)
    return coef


def traffic_form(feat: pd.DataFrame) -> TermFit:
    """Fit the form on every model of ``feat``; the leave-one-family-out log errors ride along (the interval)."""
    x, t = design(feat), feat["t_ms"].to_numpy(float)
    if len(feat) < len(TERMS) + 1:
        raise UsageError(f"a fit of {FORM} needs more than {len(TERMS)} models, got {len(feat)}")
    fam = feat["family"].astype(str).to_numpy()
    resid = []
    if len(set(fam)) >= 2:
        for f in sorted(set(fam)):
            out = fam == f
            if (~out).sum() >= len(TERMS):
                pred = x[out] @ _nnls(x[~out], t[~out])
                resid.extend(np.log(t[out] / pred) if (pred > 0).all() else [])
    return TermFit(FORM, TERMS, RESOURCES, _nnls(x, t), np.asarray(resid, float), len(feat))
