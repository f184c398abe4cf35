"""The report's per-layer section: traces from ``profiler trace -o`` (given with ``--trace`` or stored in the run's
``traces/`` folder) as a bar chart of the top layers (device time vs host time, colored by roofline bound), the
device idle fraction and a table. A trace file that cannot be read becomes a visible note, not a crash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

TOP = 15
BOUND_COLORS = {"compute": "#c0392b", "memory": "#2471a3", "launch": "#d68910", "unknown": "#7f8c8d"}


def find_traces(source: Path | str, extra: list[Path | str] | None = None) -> list[Path]:
    """``<run>/traces/*.json`` of a run directory (sorted), then the explicitly given files."""
    src = Path(source)
    stored = sorted((src / "traces").glob("*.json")) if src.is_dir() else []
    return [*stored, *(Path(p) for p in extra or [])]


def load_trace(path: Path | str) -> dict[str, Any]:
    """A trace document; ValueError naming the problem when the file is not one."""
    from profiler.trace import FORMAT

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not an archprof trace (`profiler trace MODEL -o FILE.json` writes one)")
    for key in ("layers", "totals", "model", "device"):
        if key not in doc:
            raise ValueError(f"trace {path} lacks {key!r}")
    return doc


def layer_bars(doc: dict[str, Any], top: int = TOP) -> Figure | None:
    """Horizontal bars of the top layers by device time: device time (colored by bound) next to host time."""
    layers = doc["layers"][:top]
    if not layers:
        return None
    n = len(layers)
    fig = Figure(figsize=(7.6, 1.2 + 0.3 * n), layout="constrained")
    ax = fig.subplots()
    y = np.arange(n)
    dev = [float(r["device_ms"]) for r in layers]
    cpu = [float(r["cpu_ms"]) for r in layers]
    colors = [BOUND_COLORS.get(r.get("bound", "unknown"), "#7f8c8d") for r in layers]
    ax.barh(y - 0.2, dev, height=0.4, color=colors, label="device time")
    ax.barh(y + 0.2, cpu, height=0.4, color="#bdc3c7", label="host (CPU) time")
    roof = [(i, float(r["roofline_ms"])) for i, r in enumerate(layers) if r.get("roofline_ms") is not None]
    if roof:  # where the layer would be at the measured roofs: the gap to the bar is what the roofline cannot explain
        ax.scatter([v for _, v in roof], [i - 0.2 for i, _ in roof], marker="|", s=120, color="black", zorder=3)
    ax.set_yticks(y, [f"{r['name']} ({r['type']})" for r in layers], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ms per iteration")
    ax.grid(True, axis="x", alpha=0.25)
    from matplotlib.patches import Patch

    handles = [
        Patch(color=c, label=f"device, {b}-bound")
        for b, c in BOUND_COLORS.items()
        if any(r.get("bound") == b for r in layers)
    ]
    handles.append(Patch(color="#bdc3c7", label="host (CPU)"))
    if roof:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="black", marker="|", ls="", markersize=10, label="roofline time"))
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False)
    t = doc["totals"]
    idle = "n/a" if t.get("idle_fraction") is None else f"{100 * t['idle_fraction']:.1f} %"
    ax.set_title(
        f"{doc['model']} · {doc['device']} · batch {doc.get('batch')} · {doc.get('resolution')} px · "
        f"{doc.get('dtype')} · idle fraction {idle}",
        fontsize=8,
        loc="left",
    )
    return fig


def _f(v: Any, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def _roofline_text(bounds: dict[str, int], peaks: dict[str, Any], dtype: str) -> str:
    counts = ", ".join(f"{n} {b}" for b, n in bounds.items() if n) or "no layers"
    if not peaks:
        return f"layers by bound: {counts}; no measured peaks (`profiler peaks`)"
    tf = (peaks.get("matmul_tflops") or {}).get(dtype)
    return (
        f"layers by bound: {counts}; peaks ({peaks.get('source', 'stored')}): matmul {dtype} "
        f"{'–' if tf is None else f'{tf * 1e3:,.1f} GFLOP/s'}, copy {peaks.get('copy_bandwidth_gbs')} GB/s, "
        f"launch {peaks.get('launch_us')} µs per operator"
    )


def trace_entry(doc: dict[str, Any], src: str) -> dict[str, Any]:
    """What the template shows of one trace: facts, the chart (inline PNG), a table of the top layers."""
    from profiler.report.figures import draw_figure
    from profiler.report.tables import make_table, num, txt

    t = doc["totals"]
    peaks = doc.get("peaks") or {}
    facts = {
        "model": f"{doc['model']} ({doc.get('family', '?')}), batch {doc.get('batch')}, {doc.get('resolution')} px, "
        f"{doc.get('dtype')}, {doc.get('iters')} profiled iterations",
        "device": f"{doc['device']} ({doc.get('device_name')}), {doc.get('threads')} thread(s)",
        "step": f"{_f(t.get('step_ms'))} ms profiled, {_f(t.get('latency_ms_unprofiled'))} ms unprofiled",
        "device time": f"{_f(t.get('device_ms'))} ms in {t.get('n_ops', 0):.0f} operators, "
        f"{t.get('n_kernels', 0):.0f} kernels",
        "idle fraction": ("n/a" if t.get("idle_fraction") is None else f"{100 * t['idle_fraction']:.1f} %")
        + f" — {t.get('idle_definition', '')}",
        "roofline": _roofline_text(t.get("bound_counts") or {}, peaks, str(doc.get("dtype"))),
        "file": src,
    }
    rows = [
        [
            txt(r["name"]),
            txt(r["type"]),
            num(r["device_ms"], ".3f"),
            num(r["cpu_ms"], ".3f"),
            num(r["n_ops"], "g"),
            num(r["n_kernels"], "g"),
            num(r.get("macs", 0) / 1e6, ".1f"),
            num(r.get("bytes", 0) / 1e6, ".2f"),
            num(r.get("intensity"), ".1f"),
            txt(str(r.get("bound"))),
        ]
        for r in doc["layers"][:TOP]
    ]
    table = make_table(
        f"Top {len(rows)} of {len(doc['layers'])} layers by device time (per iteration)",
        ["layer", "type", "device ms", "host ms", "ops", "kernels", "MMAC", "MB", "FLOP/B", "bound"],
        rows,
        sortable=True,
    )
    caption = (
        "Device time (on CPU: time inside aten operators) next to host time per layer; the color of the "
        "device bar is the layer's bound on the measured roofline (compute, memory or launch), the black "
        "tick its roofline time max(2·MACs / matmul peak, bytes / copy bandwidth)."
    )
    figure = draw_figure("Per-layer time", caption, layer_bars, doc, n_points=10_000) | {"wide": True}  # PNG
    return {"title": f"{doc['model']} on {doc['device']}", "facts": facts, "figure": figure, "table": table}


def traces_context(source: Path | str, extra: list[Path | str] | None = None) -> list[dict[str, Any]]:
    """Entries for every trace of the run and every ``--trace`` file; unreadable ones become error entries."""
    out = []
    for path in find_traces(source, extra):
        try:
            out.append(trace_entry(load_trace(path), str(path)))
        except ValueError as exc:
            out.append({"title": Path(path).name, "error": str(exc)})
    return out
