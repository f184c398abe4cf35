"""The self-contained HTML report of a run: verdict first, then the evidence (figures, tables, environment).

>>> from profiler.report import build_report
>>> html = build_report("profiler/data/published_pycls_v100.csv", n_boot=200)  # doctest: +SKIP

``build_report(path)`` → HTML string; ``write_report(path, out)`` writes it. Figures come from ``plots`` and
``plots_raw`` (one function per plot, DataFrame → matplotlib Figure; ``figures`` draws and inlines them), tables
from ``tables`` and ``cell_tables``, peaks from ``peaks``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_context", "build_report", "render_html", "write_report"]


def __getattr__(name: str) -> Any:
    # Lazy: ``profiler.hardware.peaks`` (a plain table the analysis uses) must not pull in matplotlib via render.
    if name in ("build_context", "build_report", "render_html"):
        from profiler.report import render

        return getattr(render, name)
    raise AttributeError(f"module 'profiler.report' has no attribute {name!r}")


def write_report(
    path: Path | str,
    out: Path | str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    traces: list | None = None,
    predict_on: list[str] | None = None,
) -> Path:
    """Render the report of ``path`` (run directory, run id, ``latest``, CSV or Parquet) into ``out``; ``traces``:
    ``profiler trace`` files to show besides those in the run's ``traces/`` folder; ``predict_on``: datasheet GPUs
    to predict the run's models on (``report.devices``)."""
    from profiler.report.render import build_report

    html = build_report(path, n_boot=n_boot, seed=seed, traces=traces, predict_on=predict_on)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
