"""Predictions for models a run never measured, from their op tables: the forms that need per-op counts (N, B) and
the per-op-class model, with an interval and the op classes that dominate (``profiler predict --form ...``).

The per-op-class model's interval is empirical: the measured/predicted ratios of the cell's own models when their
family was held out (leave-one-family-out, ``heldout.lofo_predictions``), their 2.5 and 97.5 percentiles times
the prediction — the error this model makes on a family it has not seen, which is what a new model is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from profiler.analysis.opclass_model import OpClassCell, breakdown
from profiler.analysis.optables import OpTable, row_batches
from profiler.core.errors import UsageError


def cell_resolution(cell: pd.DataFrame, wanted: int | None) -> int | None:
    """The resolution to predict at. A cell measured at one resolution predicts at that one only (a form fitted
    at 112 px says nothing about 224 px); a cell spanning several (models at their native resolutions) predicts
    inside that span, by default at the model's own resolution (None here)."""
    have = sorted({int(r) for r in cell["resolution"]}) if "resolution" in cell else []
    if not have:
        return wanted
    if len(have) == 1:
        if wanted not in (None, have[0]):
            raise UsageError(
                f"the cell was measured at {have[0]} px, not {wanted} px; a form fitted there does "
                f"not predict another resolution. Use --resolution {have[0]} (or leave it out)"
            )
        return have[0]
    if wanted is not None and not have[0] <= wanted <= have[-1]:
        raise UsageError(
            f"the cell was measured at {have[0]}–{have[-1]} px ({have}), not {wanted} px; choose a "
            "resolution in that span"
        )
    return wanted


def check_span(cell: pd.DataFrame, rows: list[dict]) -> None:
    """Refuse a default (native) resolution outside the cell's span instead of extrapolating silently."""
    have = sorted({int(r) for r in cell["resolution"]}) if "resolution" in cell else []
    for r in rows:
        if have and not have[0] <= r["resolution"] <= have[-1]:
            raise UsageError(
                f"{r['model']} would be predicted at {r['resolution']} px, outside the cell's "
                f"{have[0]}–{have[-1]} px; give --resolution in that span"
            )


def with_table_columns(cell: pd.DataFrame, rows: pd.DataFrame, tables: list[OpTable]) -> pd.DataFrame:
    """``rows`` (new models) with the cell's setting (batch, dtype, device…) and their ``ops`` and ``bytes_batch``
    at that setting; a per-image cell predicts at its median batch."""
    out = rows.copy()
    for col in ("device", "backend", "batch", "dtype", "memory_format", "device_name"):
        if col in cell.columns:
            out[col] = cell[col].iloc[0]
    images, per = row_batches(cell)
    if (per != 1).any():
        out["batch_images"] = float(np.median(images))
    dtype = str(cell["dtype"].iloc[0]) if "dtype" in cell.columns else "fp32"
    b = row_batches(out)[0]
    out["ops"] = [t.ops for t in tables]
    out["bytes_batch"] = [t.traffic(int(bi), dtype) for t, bi in zip(tables, b, strict=True)]
    return out


def heldout_ratios(oc: OpClassCell, cell: pd.DataFrame) -> np.ndarray:
    """Measured / held-out predicted latency of the cell's models (positive predictions only)."""
    from profiler.analysis.heldout import lofo_predictions

    pred = lofo_predictions(cell, forms=(), opclass=oc).get("opclass")
    if pred is None:
        return np.array([])
    ok = np.isfinite(pred) & (pred > 0)
    return oc.t[ok] / pred[ok]


def predict_opclass(
    cell: pd.DataFrame, cell_tables: list[OpTable], new: pd.DataFrame, new_tables: list[OpTable], alpha: float = 0.05
) -> list[dict]:
    """Per new model: predicted latency (the cell's unit), interval, breakdown by resource and class, dominant
    classes. The fit uses the cell's measured models only; UsageError where it cannot be made."""
    both = pd.concat([cell, new.assign(latency_ms=np.nan)], ignore_index=True)
    oc = OpClassCell(both, [*cell_tables, *new_tables])
    measured = np.arange(len(both)) < len(cell)
    fit = oc.fit(measured)
    ratios = heldout_ratios(OpClassCell(cell, cell_tables), cell)
    if len(ratios) < 8:
        raise UsageError(f"only {len(ratios)} held-out predictions to size an interval from (need 8)")
    lo_r, hi_r = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    pred = oc.predict(fit)
    out = []
    for i in np.flatnonzero(~measured):
        b = breakdown(oc, fit, int(i))
        unseen = [t.name for t in oc.terms if t.name in fit.dropped and oc.x[i, oc.terms.index(t)] > 0]
        out.append(
            {
                "predicted_ms": float(pred[i]),
                "pi95_ms": [float(pred[i] * lo_r), float(pred[i] * hi_r)],
                "interval": (
                    f"held-out ratios of {len(ratios)} models (leave-one-family-out), {100 * (1 - alpha):.0f} %"
                ),
                "ms_by_resource": b["ms_by_resource"],
                "ms_by_class": b["ms_by_class"],
                "dominant": b["dominant"],
                "fit": fit.as_dict(),
                # classes no measured model has: the fit has no coefficient for them, so they add nothing
                "unseen_terms": unseen,
            }
        )
    return out


def count_new_model(
    name: str, resolution: int | None, kwargs: str | dict | None = None, *, failure: str = "cannot count {name}"
) -> tuple[dict, Any]:
    """(counts row, Counts) of a model the run may never have measured, counted on meta; UsageError starting with
    ``failure`` and naming the reason when it cannot be resolved or run at ``resolution`` (default: its own)."""
    import models
    from profiler.core.model_source import resolve_model
    from profiler.counting import count_model

    info = resolve_model(name, kwargs)
    res = resolution or info.resolution
    try:
        models.check_resolution(info.spec, res)
    except ValueError:
        raise UsageError(f"{name} needs resolution >= {models.min_resolution(info.spec)}, got {res}") from None
    try:
        c = count_model(info, res, method="torch")
    except Exception as exc:  # any failure to build or trace (an external model at a size it cannot run): one line
        why = f"{failure.format(name=name)} at {res} px: {type(exc).__name__}: {exc}"
        raise UsageError(why.splitlines()[0]) from None
    row = {"model": name, "family": info.family, "resolution": res, "macs": c.macs, "params": c.params, "acts": c.acts}
    return row, c


def new_model_table(name: str, resolution: int | None, kwargs: str | dict | None = None) -> tuple[dict, object]:
    """(counts row, OpTable) of a model the run may never have measured; UsageError if it cannot be counted."""
    from profiler.analysis.optables import table_from_doc
    from profiler.counting.ops import op_table_doc

    row, c = count_new_model(name, resolution, kwargs, failure="cannot make the op table of {name}")
    if not c.op_table:
        raise UsageError(f"cannot make the op table of {name}: the forward ran no aten op that computes")
    return row, table_from_doc(op_table_doc(c))
