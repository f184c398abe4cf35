"""The report's tables as plain data (headers + rows of (text, sort key)); the template only lays them out.

Here: the ``Table`` type, its cell helpers, and the run-wide tables (per model, failed rows, environment). The
tables of one analysis cell (fit coefficients, test battery, held-out errors) are in ``cell_tables``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Table:
    """One table: ``rows`` hold (text, sort key) pairs; numeric sort keys sort numerically in the page."""

    title: str
    headers: list[str]
    rows: list[list[tuple[str, Any]]]
    sortable: bool = False
    note: str = ""
    numeric: list[bool] = field(default_factory=list)


def fmt(x: float | None, spec: str = ".3g") -> str:
    """A number, or an en dash for missing values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, spec)


def txt(text: str, key: Any = None) -> tuple[str, Any]:
    """A text cell: (shown text, sort key), the text itself unless ``key`` is given."""
    return (text, text if key is None else key)


def num(x: float | None, spec: str = ".3g") -> tuple[str, Any]:
    """A number cell formatted with ``spec``; sorted by value (an empty cell for None)."""
    return (fmt(x, spec), x if x is not None else "")


def num_ci(x: float | None, ci: list | None, scale: float = 1.0, spec: str = ".3g", unit: str = "") -> tuple[str, Any]:
    """A number cell with its interval ``[lo, hi]`` (both times ``scale``), sorted by the value."""
    if x is None:
        return txt("–", "")
    text = f"{format(scale * x, spec)}{unit}"
    if ci and None not in ci:
        text += f" [{format(scale * ci[0], spec)}, {format(scale * ci[1], spec)}]"
    return (text, x)


def make_table(title: str, headers: list[str], rows: list, **kw) -> Table:
    """A ``Table`` of cells (``txt``, ``num``, ``num_ci``); a column whose sort keys are all numbers is numeric."""

    def is_num(key: Any) -> bool:
        return isinstance(key, int | float) or key == ""  # "" is an empty cell: it does not make a column text

    numeric = [all(is_num(r[i][1]) for r in rows) for i in range(len(headers))] if rows else []
    return Table(title, headers, rows, numeric=numeric, **kw)


def per_model(raw: pd.DataFrame) -> Table:
    """Every measured (model, setting): counts, median latency over repeats, spread, throughput. Sortable."""
    ok = raw[raw["status"].astype(str) == "ok"] if "status" in raw else raw
    # A setting with one value across the run is in the page header; a column of it would only add width.
    keys = ["model", "family"] + [
        c for c in ("backend", "device", "dtype", "batch", "resolution") if c in ok and ok[c].nunique(dropna=False) > 1
    ]
    agg = {
        "macs": ("macs", "first"),
        "params": ("params", "first"),
        "acts": ("acts", "first"),
        "latency_ms": ("latency_ms", "median"),
        "repeats": ("latency_ms", "size"),
    }
    for c in ("latency_ms_iqr", "throughput_ips", "n_samples"):
        if c in ok:
            agg[c] = (c, "median")
    g = ok.groupby(keys, dropna=False).agg(**agg).reset_index().sort_values(["family", "macs"])
    heads = {
        "model": "model",
        "family": "family",
        "backend": "backend",
        "device": "device",
        "dtype": "precision",
        "batch": "batch (images)",
        "resolution": "resolution (px)",
    }
    headers = [heads[k] for k in keys] + [
        "FLOPs (GMAC / image)",
        "params (M)",
        "acts (M / image)",
        "latency (ms / batch, median)",
    ]
    extra = [c for c in ("latency_ms_iqr", "throughput_ips", "n_samples") if c in g]
    headers += [
        {"latency_ms_iqr": "IQR (ms)", "throughput_ips": "throughput (images/s)", "n_samples": "timed iterations"}[c]
        for c in extra
    ] + ["repeats"]
    rows = []
    for r in g.to_dict("records"):
        row = [num(r[k], "g") if isinstance(r[k], int | float) else txt(str(r[k])) for k in keys]
        row += [
            num(r["macs"] / 1e9, ".3f"),
            num(r["params"] / 1e6, ".2f"),
            num(r["acts"] / 1e6, ".2f"),
            num(r["latency_ms"], ".4g"),
        ]
        row += [num(r[c], {"latency_ms_iqr": ".3g", "throughput_ips": ",.0f"}.get(c, ".0f")) for c in extra] + [
            num(r["repeats"], "d")
        ]
        rows.append(row)
    return make_table(
        f"Per-model results ({len(rows)} rows; click a column header to sort)", headers, rows, sortable=True
    )


def failed(raw: pd.DataFrame) -> Table | None:
    """Failed measurements with their reasons, or None when everything succeeded."""
    if "status" not in raw:
        return None
    bad = raw[raw["status"].astype(str) != "ok"]
    if bad.empty:
        return None
    cols = [c for c in ("model", "family", "backend", "device", "dtype", "batch", "resolution", "repeat") if c in bad]
    rows = [
        [txt(str(r[c])) for c in cols] + [txt(str(r.get("error") or "(no reason recorded)"))]
        for r in bad.to_dict("records")
    ]
    return make_table(f"Failed measurements ({len(rows)})", [*cols, "reason"], rows, sortable=True)


def environment(env: dict, extra: dict) -> Table:
    """Key/value rows of the captured environment and of the run's configuration."""
    rows = []
    for k, v in {**env, **extra}.items():
        text = "not recorded" if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
        rows.append([txt(str(k)), txt(text)])
    return make_table("Environment and configuration", ["key", "value"], rows)
