"""The fit of a cell that ``predict --device`` carries to another GPU, as resource-tagged terms.

The forms are the traffic model's own (no second implementation here):
- ``M7`` t ~ F + B and ``M8`` t ~ F + B + N (``analysis.forms``: WLS with the analysis's common weights; F = MACs per
  image, B = traffic per image at the row's batch and dtype, N = ops launched), terms tagged F → compute,
  B → traffic, N → launch, the intercept → fixed;
- ``opclass``: the per-op-class model (``analysis.opclass_model``: NNLS on relative errors), whose terms carry
  their resource and, for compute, the dtype their op class computes in (under AMP: conv/linear fp16).
A cell whose rows have no per-op tables (so no B) has no traffic fit: ``UsageError`` naming the form needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from profiler.analysis.optables import OpTable, attach_tables, table_for_rows
from profiler.core.errors import UsageError
from profiler.hardware.transfer import TermFit

SOURCE_FORMS = ("M7", "M8", "opclass")
DEFAULT_FORM = "opclass"  # the traffic model's best explanation; M7 where a cell is too small for it
FALLBACK_FORM = "M7"
RESOURCE_OF = {"const": "fixed", "F": "compute", "B": "traffic", "N": "launch"}


@dataclass
class Rows:
    """Rows of one cell with their op tables (in row order) and the notes on what was left out."""

    frame: pd.DataFrame
    tables: list[OpTable]
    notes: list[str]


def cell_dtype(cell: pd.DataFrame) -> str:
    """The one dtype of a cell (fp32 where the column is absent)."""
    if "dtype" not in cell or cell["dtype"].isna().all():
        return "fp32"
    values = sorted({str(v) for v in cell["dtype"].dropna()})
    if len(values) != 1:
        raise UsageError(f"the cell mixes dtypes {values}; select one with --cell dtype=…")
    return values[0]


def with_tables(cell: pd.DataFrame, run_dir: Path | None, label: str, form: str) -> Rows:
    """The rows of ``cell`` that have an op table (``bytes_batch`` and ``ops`` filled from it); UsageError naming
    the form needed when none has one."""
    cell = cell.copy()
    tables, notes = attach_tables(cell, run_dir)
    found = table_for_rows(cell, tables)
    keep = np.array([t is not None for t in found], bool)
    if "bytes_batch" in cell:
        keep &= np.isfinite(pd.to_numeric(cell["bytes_batch"], errors="coerce").to_numpy(float))
    if not keep.any():
        raise UsageError(
            f"{label} has no traffic fit: {form} and the simplest traffic form, t ~ F + B (M7), need "
            "per-op tables of its models (`python -m profiler.results.backfill RUN` writes them for a "
            "sweep's run)"
        )
    if not keep.all():
        notes.append(f"{int((~keep).sum())} model(s) of {label} without an op table (or traffic) left out")
    return Rows(cell[keep].reset_index(drop=True), [t for t, k in zip(found, keep, strict=True) if k], notes)


def columns(form: str, rows: Rows, fit: TermFit | None = None) -> np.ndarray:
    """(n, k) term columns of ``rows`` for ``form``, in the order of ``fit.terms`` when given."""
    if form in ("M7", "M8"):
        from profiler.analysis.forms import design

        return design(rows.frame, form)
    from profiler.analysis.opclass_model import OpClassCell

    if fit is None:
        return OpClassCell(rows.frame, rows.tables).x
    # The class granularity is the fit's (a cell of >= FINE_MIN_MODELS models splits depthwise from grouped convs),
    # not that of the rows predicted: the one whose terms hold every term of the fit.
    for fine in (True, False):
        oc = OpClassCell(rows.frame, rows.tables, fine=fine)
        names = [t.name for t in oc.terms]
        if set(fit.terms) <= set(names):
            return oc.x[:, [names.index(n) for n in fit.terms]]
    raise ValueError(f"terms {fit.terms} are not those of the per-op-class model")


def _fit(form: str, rows: Rows) -> tuple[tuple, tuple, tuple, np.ndarray]:
    """(terms, resources, compute dtypes, coefficients) of ``form`` on every row."""
    if form in ("M7", "M8"):
        from profiler.analysis.forms import TERMS, fit_form

        dtype = cell_dtype(rows.frame)
        names = ("const", *TERMS[form])
        coef = np.asarray(fit_form(rows.frame, form).result.params, float)
        return names, tuple(RESOURCE_OF[n] for n in names), tuple(dtype if n == "F" else None for n in names), coef
    from profiler.analysis.opclass_model import OpClassCell

    res = OpClassCell(rows.frame, rows.tables).fit()
    return (
        tuple(t.name for t in res.terms),
        tuple(t.resource for t in res.terms),
        tuple(t.dtype for t in res.terms),
        np.asarray(res.coef, float),
    )


def fit_default(rows: Rows, notes: list[str]) -> TermFit:
    """The per-op-class model, or M7 (with a note) where the cell has too few models for it."""
    from profiler.analysis.opclass_model import TooFewModels

    try:
        return fit_source(DEFAULT_FORM, rows)
    except TooFewModels as exc:
        notes.append(f"{exc}: the cell's fit is {FALLBACK_FORM} (t ~ F + B) instead")
        return fit_source(FALLBACK_FORM, rows)


def fit_source(form: str, rows: Rows) -> TermFit:
    """Fit ``form`` on every row; the leave-one-family-out log errors (``heldout.lofo_predictions``, for the
    interval) ride along."""
    from profiler.analysis.heldout import lofo_predictions

    if form not in SOURCE_FORMS:
        raise UsageError(f"--form {form!r} is not a traffic form; valid: {', '.join(SOURCE_FORMS)}")
    names, resources, dtypes, coef = _fit(form, rows)
    n = len(rows.frame)
    if n <= len(names):
        from profiler.analysis.opclass_model import TooFewModels

        raise TooFewModels(f"a fit of {form} needs more models than its {len(names)} coefficients, got {n}")
    if form == "opclass":
        from profiler.analysis.opclass_model import OpClassCell

        held = lofo_predictions(rows.frame, forms=(), opclass=OpClassCell(rows.frame, rows.tables)).get("opclass")
    else:
        held = lofo_predictions(rows.frame, forms=(form,))[form]
    t = rows.frame["latency_ms"].to_numpy(float)
    ok = np.isfinite(held) & (held > 0) if held is not None else np.zeros(n, bool)
    return TermFit(form, names, resources, coef, np.log(t[ok] / held[ok]), n, dtypes)
