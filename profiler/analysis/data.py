"""Loading, validating and aggregating results for the analysis; splitting them into cells.

The unit of observation is one (model, resolution) in one *cell* — a (device, backend, batch, dtype,
memory_format) combination, using only the columns that are present. Repeats of a model in a cell are reduced to
the median ``latency_ms``; their count is kept as ``n_repeats`` (reported, not used as a weight: between-model
misspecification, not timing noise, dominates the residuals).

Mixed batches (``per_image``): where, within one otherwise-equal setting (the cell keys but batch), rows differ in
batch *and* every (model, resolution) has one batch only — as in timm's published tables, whose benchmark lowers
the batch for models that fail at its default — the rows form one cell, ``batch = "per-image"``, with
``latency_ms`` divided by the row's batch (ms per image) and the batch kept as ``batch_images``. A sweep that
measures the same models at several batches is untouched (one cell per batch, as before); the analysis says
which cells were compared per image (a note, and ``latency_unit`` per cell).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from profiler.core.errors import UsageError

REQUIRED = ("model", "family", "macs", "params", "acts", "latency_ms")
NUMERIC = ("macs", "params", "acts", "latency_ms")
CELL_KEYS = ("device", "backend", "batch", "dtype", "memory_format")
CARRIED = ("ops", "bytes", "spec_hash", "spec_json", "device_name", "batch_images")  # kept per model by ``aggregate``
# M4 has 4 coefficients; the tests and the held-out fits need a few residual degrees of freedom on top.
MIN_OBS = 8
MIN_FAMILIES = 2
PER_IMAGE = "per-image"  # the batch key of a cell of mixed batches compared per image


def _rows(mask: pd.Series, limit: int = 8) -> str:
    idx = [str(i) for i in mask[mask].index[:limit]]
    more = f" (+{int(mask.sum()) - limit} more)" if mask.sum() > limit else ""
    return ", ".join(idx) + more


def validate(df: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Check columns and values; drop rows whose ``status`` is not ``"ok"``. UsageError names what is wrong."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise UsageError(
            f"{source}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)} "
            f"(optional: batch, resolution, {', '.join(k for k in CELL_KEYS if k != 'batch')})"
        )
    if "status" in df.columns:
        df = df[df["status"].astype(str) == "ok"]
    if df.empty:
        raise UsageError(f"{source}: no rows with status 'ok'")
    df = df.copy()
    for col in NUMERIC:
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = vals.isna() | ~np.isfinite(vals.astype(float))
        if bad.any():
            raise UsageError(f"{source}: column {col!r} is not a finite number in row(s) {_rows(bad)}")
        nonpos = vals <= 0
        if nonpos.any():
            raise UsageError(f"{source}: column {col!r} must be > 0; row(s) {_rows(nonpos)} are not")
        df[col] = vals.astype(float)
    for col in ("model", "family"):
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            raise UsageError(f"{source}: column {col!r} is empty in row(s) {_rows(empty)}")
    return df


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, model, resolution): median latency, ``n_repeats``; counts must agree across repeats."""
    df = df.copy()
    if "resolution" not in df.columns:
        df["resolution"] = np.nan
    df, notes = per_image(df)
    keys = cell_keys(df)
    group = [*keys, "model", "resolution"]
    g = df.groupby(group, dropna=False, sort=True)
    spread = g[["macs", "acts"]].nunique()
    if (spread > 1).any().any():
        bad = spread[(spread > 1).any(axis=1)].index[:5].tolist()
        raise UsageError(f"counts differ between repeats of the same model and resolution: {bad}")
    # What the N forms and the mechanistic model need (counts and the spec to count) rides along when present.
    extra = {c: (c, "first") for c in CARRIED if c in df.columns and c not in group}
    out = g.agg(
        family=("family", "first"),
        macs=("macs", "first"),
        params=("params", "first"),
        acts=("acts", "first"),
        latency_ms=("latency_ms", "median"),
        n_repeats=("latency_ms", "size"),
        **extra,
    ).reset_index()
    out.attrs["notes"] = notes
    return out


def per_image(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows of mixed batches compared per image (the rule in the module doc), and a note per such setting."""
    if "batch" not in df.columns or df["batch"].nunique(dropna=True) < 2:
        return df, []
    setting = [k for k in cell_keys(df) if k != "batch"]
    groups = df.groupby(setting, dropna=False, sort=True) if setting else [((), df)]
    marked, notes = [], []
    for vals, sub in groups:
        batches = pd.to_numeric(sub["batch"], errors="coerce")
        if batches.isna().any() or batches.nunique() < 2:
            continue
        if (sub.groupby(["model", "resolution"], dropna=False)["batch"].nunique() > 1).any():
            continue  # the same model at several batches: a batch sweep, one cell per batch
        marked.extend(sub.index)
        vals = vals if isinstance(vals, tuple) else (vals,)
        label = cell_label(dict(zip(setting, vals, strict=True)))
        notes.append(
            f"cell {label} batch={PER_IMAGE}: batches {int(batches.min())}–{int(batches.max())} differ "
            "between models (each model at one batch): latency compared per image (latency_ms / batch)"
        )
    if not marked:
        return df, []
    df = df.copy()
    batch = pd.to_numeric(df.loc[marked, "batch"])
    df["batch_images"] = np.nan
    df.loc[marked, "batch_images"] = batch
    df.loc[marked, "latency_ms"] = df.loc[marked, "latency_ms"] / batch
    df["batch"] = df["batch"].astype(object)
    df.loc[marked, "batch"] = PER_IMAGE
    return df, notes


def latency_unit(key: dict) -> str:
    """What ``latency_ms`` means in a cell: ms per image (mixed batches) or per batch."""
    return "ms per image (latency_ms / batch)" if key.get("batch") == PER_IMAGE else "ms per batch"


def load_frame(path: str | Path) -> pd.DataFrame:
    """A run directory, CSV or Parquet file → validated rows aggregated per (cell, model, resolution)."""
    from profiler.results.store import load_results

    return aggregate(validate(load_results(path), source=str(path)))


def cell_keys(df: pd.DataFrame) -> list[str]:
    """The cell-defining columns present in ``df``; ``device_name`` too where rows come from several devices
    (a merged run, a Ray cluster of mixed GPUs): an H200 and an A100 are two cells, never one pooled fit."""
    keys = [k for k in CELL_KEYS if k in df.columns]
    if "device_name" in df.columns and df["device_name"].nunique(dropna=True) > 1:
        keys.insert(keys.index("device") + 1 if "device" in keys else 0, "device_name")
    return keys


def cell_label(key: dict) -> str:
    """``device=V100 backend=eager ...`` for a cell key."""
    return " ".join(f"{k}={v}" for k, v in key.items()) or "all"


def split_cells(df: pd.DataFrame) -> list[tuple[dict, pd.DataFrame]]:
    """[(cell key dict, rows)] in a stable order."""
    keys = cell_keys(df)
    if not keys:
        return [({}, df.reset_index(drop=True))]
    out = []
    for vals, sub in df.groupby(keys, dropna=False, sort=True):
        vals = vals if isinstance(vals, tuple) else (vals,)
        key = {k: (v.item() if hasattr(v, "item") else v) for k, v in zip(keys, vals, strict=True)}
        out.append((key, sub.reset_index(drop=True)))
    return out


def select_cell(df: pd.DataFrame, want: dict[str, str]) -> tuple[dict, pd.DataFrame]:
    """The one cell whose key matches every ``want`` value (compared as text); UsageError listing the cells else.

    >>> df = pd.DataFrame({"device": ["cpu", "cuda"], "latency_ms": [2.0, 1.0]})
    >>> select_cell(df, {"device": "cuda"})[0]
    {'device': 'cuda'}
    """
    cells = split_cells(df)
    hits = [(k, c) for k, c in cells if all(str(k.get(kk)) == v for kk, v in want.items())]
    if len(hits) != 1:
        listing = "; ".join(cell_label(k) for k, _ in cells)
        what = "no cell matches" if not hits else f"{len(hits)} cells match"
        raise UsageError(f"{what} {want or '(no --cell given)'}; cells in the data: {listing}")
    return hits[0]


def check_cell(cell: pd.DataFrame, label: str) -> str | None:
    """Why a cell cannot be analyzed, or None."""
    n, nf = len(cell), cell["family"].nunique()
    if n < MIN_OBS:
        return f"cell {label}: {n} models; the fits need at least {MIN_OBS}"
    if nf < MIN_FAMILIES:
        return f"cell {label}: {nf} family; leave-one-family-out needs at least {MIN_FAMILIES}"
    return None


def cell_selectors(selectors: list[str]) -> dict[str, str]:
    """``--cell KEY=VALUE`` arguments as a dict (UsageError for one without ``=``)."""
    want = {}
    for s in selectors:
        key, sep, val = s.partition("=")
        if not sep or not key:
            raise UsageError(f"--cell expects KEY=VALUE, got {s!r}")
        want[key] = val
    return want
