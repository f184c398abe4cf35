"""Launch overhead in the report: eager latency minus the latency of a backend that removes per-kernel launches.

Per model and setting (device, dtype, batch, resolution, memory format), overhead = eager − graph, where graph is
the ``cudagraph`` latency when measured, else the ``compile`` one; share = overhead / eager. A negative overhead
means the graph backend was slower (e.g. torch.compile on a CPU, where there is no launch to save). Rendered only
when eager and a graph backend were both measured; the verdict of the claim per backend sits beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from profiler.report.plots import family_colors, legend_outside, scatter_by_family
from profiler.report.tables import Table, make_table, num, txt

GRAPH_BACKENDS = ("cudagraph", "compile")  # in order of preference as the "without launch overhead" latency
SETTING = ("device", "dtype", "batch", "resolution", "memory_format")


def overhead_frame(raw: pd.DataFrame) -> pd.DataFrame | None:
    """One row per (model, setting) with eager and graph-backend medians, overhead_ms and share; None if n/a."""
    ok = raw[raw["status"].astype(str) == "ok"] if "status" in raw else raw
    if "backend" not in ok or "eager" not in set(ok["backend"]) or not set(GRAPH_BACKENDS) & set(ok["backend"]):
        return None
    keys = ["model", "family", *[c for c in SETTING if c in ok]]
    med = ok.groupby([*keys, "backend"], dropna=False)["latency_ms"].median().unstack("backend")
    for b in GRAPH_BACKENDS:
        if b not in med:
            med[b] = np.nan
    graph = med["cudagraph"].where(med["cudagraph"].notna(), med["compile"])
    med = med.assign(
        graph_backend=np.where(med["cudagraph"].notna(), "cudagraph", "compile"),
        graph_ms=graph,
        overhead_ms=med["eager"] - graph,
        share=(med["eager"] - graph) / med["eager"],
    )
    med = med[med["eager"].notna() & med["graph_ms"].notna()].reset_index()
    return None if med.empty else med.sort_values([*keys[2:], "share"], ascending=True).reset_index(drop=True)


def _varying(df: pd.DataFrame) -> list[str]:
    return [c for c in SETTING if c in df and df[c].nunique(dropna=False) > 1]


def overhead_table(df: pd.DataFrame) -> Table:
    """Per (model, setting): eager, cudagraph, compile latency, launch overhead and its share of eager."""
    setting = _varying(df)
    headers = [
        "model",
        "family",
        *setting,
        "eager (ms)",
        "cudagraph (ms)",
        "compile (ms)",
        "overhead (ms)",
        "share of eager",
        "without launches",
    ]
    rows = []
    for r in df.to_dict("records"):
        row = [txt(str(r["model"])), txt(str(r["family"]))]
        row += [num(r[c], "g") if isinstance(r[c], int | float) else txt(str(r[c])) for c in setting]
        row += [
            num(r["eager"], ".4g"),
            num(_nan_none(r["cudagraph"]), ".4g"),
            num(_nan_none(r["compile"]), ".4g"),
            num(r["overhead_ms"], ".3g"),
            (f"{100 * r['share']:.1f} %", r["share"]),
            txt(r["graph_backend"]),
        ]
        rows.append(row)
    note = (
        "overhead = eager − cudagraph latency (compile where no cudagraph was measured); medians over repeats. "
        "A negative share: the graph backend was slower than eager."
    )
    return make_table(
        f"Launch overhead per model ({len(rows)} rows; click a column header to sort)",
        headers,
        rows,
        sortable=True,
        note=note,
    )


def overhead_summary(df: pd.DataFrame) -> Table:
    """Per setting and reference backend: models, median and range of the overhead share."""
    keys = [c for c in SETTING if c in df] + ["graph_backend"]
    rows = []
    for key, g in df.groupby(keys, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            [txt(str(k)) for k in key]
            + [
                num(len(g), "d"),
                (f"{100 * g['share'].median():.1f} %", g["share"].median()),
                (f"{100 * g['share'].min():.1f} – {100 * g['share'].max():.1f} %", g["share"].min()),
                num(g["overhead_ms"].median(), ".3g"),
            ]
        )
    headers = [*keys[:-1], "without launches", "models", "median share", "range of share", "median overhead (ms)"]
    return make_table("Launch overhead by setting", headers, rows)


def verdicts_by_backend(cells: list[dict]) -> Table | None:
    """The claim's verdict per analysis cell (``analyze_frame`` cells), a setting's backends side by side."""
    if len({str(c.get("cell", {}).get("backend")) for c in cells}) < 2:
        return None
    order = sorted(
        cells,
        key=lambda c: (*[str(c["cell"].get(k)) for k in ("device", "dtype", "batch")], str(c["cell"].get("backend"))),
    )
    rows = []
    for c in order:
        forms = (c.get("heldout") or {}).get("forms") or {}
        rows.append(
            [txt(str(c["cell"].get(k, "–"))) for k in ("device", "dtype", "batch", "backend")]
            + [
                txt(c["verdict"]["label"]),
                num(100 * forms["M0"]["mape"] if "M0" in forms else None, ".1f"),
                num(100 * forms["M3"]["mape"] if "M3" in forms else None, ".1f"),
            ]
        )
    return make_table(
        "The claim's verdict per backend",
        ["device", "dtype", "batch", "backend", "verdict", "M0 held-out MAPE (%)", "M3 held-out MAPE (%)"],
        rows,
    )


def overhead_plot(df: pd.DataFrame) -> Figure:
    """Launch-overhead share of eager latency per model (and setting), coloured by family."""
    many = df.duplicated("model").any()
    setting = _varying(df)
    labels = [
        " ".join([str(r["model"])] + [f"{c}={r[c]}" for c in setting]) if many else str(r["model"])
        for r in df.to_dict("records")
    ]
    n = len(df)
    colors = family_colors(df["family"])
    fig = Figure(figsize=(6.4, 1.0 + 0.17 * n), layout="constrained")
    ax = fig.subplots()
    y = np.arange(n)
    share = 100 * df["share"].to_numpy(float)
    ax.hlines(y, 0.0, share, color="#bbbbbb", lw=1)
    scatter_by_family(ax, share, y, df["family"].astype(str).to_numpy(), colors)
    ax.axvline(0.0, color="#555555", lw=0.8)
    ax.set_yticks(y, labels, fontsize=7 if n > 30 else 8)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("launch overhead, % of eager latency ((eager − cudagraph or compile) / eager)")
    ax.grid(True, axis="x", alpha=0.25)
    legend_outside(ax)
    return fig


def launch_section(raw: pd.DataFrame, cells: list[dict], figure: Callable[..., dict]) -> dict[str, Any] | None:
    """The report's launch-overhead section (tables and figure), or None without eager and a graph backend.

    ``figure`` is the report's figure maker (``figures.draw_figure``: a failing plot becomes a visible note).
    """
    try:
        df = overhead_frame(raw)
    except Exception as exc:  # a broken section must not cost the reader the rest of the report
        return {"error": f"{type(exc).__name__}: {exc}", "tables": [], "figures": []}
    if df is None:
        return None
    tables = [overhead_summary(df), verdicts_by_backend(cells), overhead_table(df)]
    caption = "Per model: (eager − cudagraph, or compile) / eager latency, same device, precision, batch, resolution."
    return {
        "error": None,
        "tables": [t for t in tables if t is not None],
        "figures": [figure("Launch overhead", caption, overhead_plot, df, n_points=len(df))],
    }


def _nan_none(x: float) -> float | None:
    return None if x is None or x != x else float(x)
