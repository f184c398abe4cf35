"""The report's figures: one matplotlib Figure per plot, inlined as a ``data:`` URI (SVG, or PNG when large).

``draw_figure`` draws one figure under the report's style; a failing plot becomes a visible "unavailable" note with the
reason, never a crash. ``cell_figures`` gives the figures of one analysis cell (latency against each count, held-out
predictions, residuals, the roofline).
"""

from __future__ import annotations

import base64
import io

import pandas as pd

from profiler.hardware.peaks import roofline_peak
from profiler.report import plots, plots_raw

SVG_MAX_POINTS = 200  # above this, scatter plots become 100-dpi PNG (SVG grows with every marker)
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "archprof",
    "font.family": ["DejaVu Sans"],
}


def fig_to_data_uri(fig, fmt: str = "svg") -> str:
    """A Figure as a ``data:`` URI (SVG, or PNG at 100 dpi)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
            mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def draw_figure(title: str, caption: str, make, *args, n_points: int = 0) -> dict:
    """Draw one figure; any failure becomes a visible 'unavailable' note with the reason."""
    import matplotlib

    try:
        with matplotlib.rc_context(STYLE):
            fig = make(*args)
        if fig is None:
            return {"title": title, "caption": caption, "error": "not applicable to this data"}
        return {
            "title": title,
            "caption": caption,
            "src": fig_to_data_uri(fig, "svg" if n_points <= SVG_MAX_POINTS else "png"),
        }
    except Exception as exc:  # one bad figure must not cost the reader the rest of the report
        return {"title": title, "caption": caption, "error": f"{type(exc).__name__}: {exc}"}


def cell_figures(cell: pd.DataFrame, dtype: str, gpu_name: str | None, device: str, env: dict | None = None) -> list:
    """The figures of one analysis cell."""
    n = len(cell)
    curves = "Curves: fitted M0 (FLOPs alone), M3 (√F + A) and M4 (F + √F + A); M3/M4 follow the cell's typical "
    curves += "other counts at each x (power-law trend across its models)."
    figs = [
        draw_figure("Latency vs FLOPs", curves, plots.latency_vs_flops, cell, n_points=n),
        draw_figure("Latency vs activations", curves, plots.latency_vs_acts, cell, n_points=n),
        draw_figure("Latency vs parameters", curves, plots.latency_vs_params, cell, n_points=n),
        draw_figure(
            "Predicted vs measured, family held out",
            "Each family is predicted by a fit to the other families. Band: ±10 %.",
            plots.predicted_vs_measured,
            cell,
            n_points=2 * n,
        )
        | {"wide": True},
        draw_figure(
            "Residuals by family",
            "In-sample relative residuals of M0 and M3. Band: ±10 %.",
            plots.residuals_by_family,
            cell,
            n_points=2 * n,
        ),
    ]
    return [*figs, roofline_figure(cell, dtype, gpu_name, device, env)]


def roofline_figure(cell: pd.DataFrame, dtype: str, gpu_name: str | None, device: str, env: dict | None) -> dict:
    """The roofline under measured peaks (``env["peaks"]``) or the data sheet's, labelled; skipped with a reason."""
    peak, which = roofline_peak(env, gpu_name, device, dtype)
    if peak is None:
        return {
            "title": "Roofline",
            "caption": f"No roofline for this cell: {which}. `python -m profiler peaks --device {device}` measures "
            "them (a sweep does so itself when none are stored), then render the report again.",
            "error": f"skipped: {which} (peak compute and bandwidth unknown)",
        }
    note = f"{plots_raw.ROOFLINE_NOTE}. Roofs: {which}."
    return draw_figure("Roofline", note, plots_raw.roofline, cell, peak, dtype, n_points=len(cell))
