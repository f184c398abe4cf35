"""The report's figures about the runtime models: one function per plot, an analysis cell's rows → Figure.

Every function takes the aggregated rows of one cell (``profiler.analysis.load_frame`` output: one row per
model and resolution, counts per image, ``latency_ms`` per batch) and returns a ``matplotlib.figure.Figure``
built without pyplot (no global state; the Agg/SVG canvases render it). Plots of raw measurements (samples,
backends, roofline, activations vs FLOPs) are in ``plots_raw``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from profiler.analysis import fit_form

CURVE_FORMS = {"M0": ("#222222", "--"), "M3": ("#c0392b", "-"), "M4": ("#2471a3", ":")}
COUNT_AXES = {
    "macs": ("FLOPs per image (multiply-adds, GMAC)", 1e9),
    "acts": ("activations per image (M, RegNet definition)", 1e6),
    "params": ("parameters (M)", 1e6),
}
BAND = 0.10  # ±10 %: nn-Meter's accuracy threshold, also the analysis' "within10"


def family_colors(families) -> dict[str, str]:
    """A stable color per family (sorted names → tab10, then tab20 when there are more than 10)."""
    from matplotlib import colormaps

    fams = sorted({str(f) for f in families})
    cmap = colormaps["tab10" if len(fams) <= 10 else "tab20"]
    return {f: cmap(i % cmap.N) for i, f in enumerate(fams)}


def scatter_by_family(ax, x, y, fam, colors, **kw) -> None:
    for f in sorted(set(fam)):
        m = fam == f
        ax.scatter(x[m], y[m], s=22, color=colors[f], label=f, edgecolor="white", linewidth=0.4, zorder=3, **kw)


def _plain(v: float, _pos=None) -> str:
    return f"{v:g}"


def log_axes(ax, which: str = "xy") -> None:
    """Log scale with plain tick labels (0.1, 2, 50 rather than 10⁻¹, 2×10⁰); minor labels at 2 and 5 only
    when an axis spans less than two decades, so labels never overlap."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for name in which:
        axis = ax.xaxis if name == "x" else ax.yaxis
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        lo, hi = ax.get_xlim() if name == "x" else ax.get_ylim()
        axis.set_major_formatter(FuncFormatter(_plain))
        span = hi / max(lo, 1e-300)
        if span < 100:

            def minor(v: float, _pos=None, every: bool = span < 3) -> str:
                return f"{v:g}" if every or f"{v:.0e}"[0] in "25" else ""

            axis.set_minor_formatter(FuncFormatter(minor))
        else:
            axis.set_minor_formatter(NullFormatter())


def legend_outside(ax, **kw) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8, **kw)


def _batch_label(cell: pd.DataFrame) -> str:
    if "batch" in cell.columns and str(cell["batch"].iloc[0]) == "per-image":
        return "latency per image (ms; latency_ms / batch, batches differ)"
    if "batch" in cell.columns and cell["batch"].nunique() == 1:
        return f"latency per batch of {int(cell['batch'].iloc[0])} (ms)"
    return "latency per batch (ms)"


def _trend_frame(cell: pd.DataFrame, col: str, grid: np.ndarray) -> pd.DataFrame:
    """Counts along the cell's power-law trend of each count against ``col`` (for drawing a form's curve)."""
    out = {}
    logx = np.log(cell[col].to_numpy(float))
    for c in ("macs", "acts", "params"):
        if c == col:
            out[c] = grid
        else:
            slope, icpt = np.polyfit(logx, np.log(cell[c].to_numpy(float)), 1)
            out[c] = np.exp(icpt) * grid**slope
    return pd.DataFrame(out)


def latency_vs_count(cell: pd.DataFrame, col: str = "macs") -> Figure:
    """Latency vs one count (log axes), colored by family, with the fitted M0/M3/M4 curves overlaid.

    M3 and M4 depend on both FLOPs and activations; their curve follows the cell's typical other counts at each
    x (a power-law trend fitted across the cell's models), which the caption states.
    """
    label, scale = COUNT_AXES[col]
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.subplots()
    colors = family_colors(cell["family"])
    x = cell[col].to_numpy(float)
    y = cell["latency_ms"].to_numpy(float)
    scatter_by_family(ax, x / scale, y, cell["family"].astype(str).to_numpy(), colors)
    grid = np.geomspace(x.min(), x.max(), 120)
    trend = _trend_frame(cell, col, grid)
    for form, (color, ls) in CURVE_FORMS.items():
        try:
            pred = fit_form(cell, form).predict(trend)
        except Exception as exc:  # a degenerate cell must not take the whole report down; say so on the plot
            ax.text(0.02, 0.02, f"{form} not fitted: {exc}", transform=ax.transAxes, fontsize=7)
            continue
        ok = pred > 0
        ax.plot(grid[ok] / scale, pred[ok], color=color, ls=ls, lw=1.6, label=f"fit {form}", zorder=2)
    ax.set(xlabel=label, ylabel=_batch_label(cell))
    log_axes(ax)
    ax.grid(True, which="both", alpha=0.25)
    legend_outside(ax)
    return fig


def latency_vs_flops(cell: pd.DataFrame) -> Figure:
    """Latency vs FLOPs (multiply-adds)."""
    return latency_vs_count(cell, "macs")


def latency_vs_acts(cell: pd.DataFrame) -> Figure:
    """Latency vs activations."""
    return latency_vs_count(cell, "acts")


def latency_vs_params(cell: pd.DataFrame) -> Figure:
    """Latency vs parameters."""
    return latency_vs_count(cell, "params")


def predicted_vs_measured(cell: pd.DataFrame, forms: tuple[str, ...] = ("M0", "M3")) -> Figure:
    """Leave-one-family-out predictions vs measurements (log axes) with the ±10 % band, one panel per form."""
    from profiler.analysis.heldout import lofo_predictions

    preds = lofo_predictions(cell, forms)
    t = cell["latency_ms"].to_numpy(float)
    fam = cell["family"].astype(str).to_numpy()
    colors = family_colors(fam)
    fig = Figure(figsize=(8.4, 3.9), layout="constrained")
    axes = fig.subplots(1, len(forms), sharex=True, sharey=True)
    lo, hi = t.min() / 1.5, t.max() * 1.5
    line = np.geomspace(lo, hi, 50)
    for ax, form in zip(np.atleast_1d(axes), forms, strict=True):
        p = preds[form]
        ok = np.isfinite(p)
        ax.fill_between(line, line * (1 - BAND), line * (1 + BAND), color="#2e86c1", alpha=0.12, label="±10 %")
        ax.plot(line, line, color="#555555", lw=0.8)
        scatter_by_family(ax, t[ok], p[ok], fam[ok], colors)
        within = np.mean(np.abs(p[ok] / t[ok] - 1) <= BAND) if ok.any() else float("nan")
        ax.set_title(f"{form}: {100 * within:.0f} % of models within ±10 %", fontsize=10)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)")
        log_axes(ax)
        ax.grid(True, which="both", alpha=0.25)
    np.atleast_1d(axes)[0].set_ylabel("predicted latency, family held out (ms)")
    legend_outside(np.atleast_1d(axes)[-1])
    return fig


def residuals_by_family(cell: pd.DataFrame, forms: tuple[str, ...] = ("M0", "M3")) -> Figure:
    """Relative residuals (fit / measured − 1, %) of the full-cell fits, grouped by family, side by side per form."""
    fam = cell["family"].astype(str).to_numpy()
    fams = sorted(set(fam))
    colors = family_colors(fams)
    t = cell["latency_ms"].to_numpy(float)
    fig = Figure(figsize=(6.4, 1.2 + 0.42 * len(fams)), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    offsets = np.linspace(-0.18, 0.18, len(forms))
    markers = ("o", "D", "s", "^")
    for k, form in enumerate(forms):
        rel = 100 * (fit_form(cell, form).predict(cell) / t - 1)
        for i, f in enumerate(fams):
            m = fam == f
            yy = i + offsets[k] + rng.uniform(-0.05, 0.05, m.sum())
            ax.scatter(
                rel[m],
                yy,
                s=18,
                color=colors[f],
                marker=markers[k % 4],
                alpha=0.85,
                edgecolor="white",
                linewidth=0.3,
                label=form if i == 0 else None,
            )
    ax.axvspan(-100 * BAND, 100 * BAND, color="#2e86c1", alpha=0.10)
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_yticks(range(len(fams)), fams)
    ax.invert_yaxis()
    ax.set_xlabel("in-sample residual: fitted / measured − 1 (%)")
    ax.grid(True, axis="x", alpha=0.25)
    leg = ax.legend(title="form (marker)", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    for h in leg.legend_handles:
        h.set_color("#444444")
    return fig
