"""The report's figures of the measurements themselves: one function per plot, DataFrame → Figure.

``acts_vs_flops`` and ``roofline`` take aggregated rows (one per model and resolution); ``eager_vs_onnx`` and
``latency_distributions`` take the raw ok rows of ``profiler.results.store.load_results`` (``samples_ms`` lists).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from profiler.hardware.peaks import BYTES_PER_ELEMENT, Peak
from profiler.report.plots import family_colors, legend_outside, log_axes, scatter_by_family

SETTING = ["device", "dtype", "batch", "resolution", "memory_format"]
ROOFLINE_NOTE = "bytes ≈ (params + acts) × bytes/element × batch (a lower bound on traffic)"


def acts_vs_flops(models: pd.DataFrame) -> Figure:
    """Activations vs FLOPs per model (log axes): a power law per family; RegNet's slope ≈ ½ is the √F law."""
    df = models.drop_duplicates(["model", "resolution"] if "resolution" in models else ["model"])
    fam = df["family"].astype(str).to_numpy()
    colors = family_colors(fam)
    f_g, a_m = df["macs"].to_numpy(float) / 1e9, df["acts"].to_numpy(float) / 1e6
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.subplots()
    for f in sorted(set(fam)):
        m = fam == f
        label = f
        if m.sum() >= 3 and np.ptp(np.log(f_g[m])) > 0.3:  # a slope needs a spread of sizes
            b, c = np.polyfit(np.log(f_g[m]), np.log(a_m[m]), 1)
            xs = np.geomspace(f_g[m].min(), f_g[m].max(), 20)
            ax.plot(xs, np.exp(c) * xs**b, color=colors[f], lw=1, alpha=0.8)
            label = f"{f} (A ∝ F^{b:.2f})"
        ax.scatter(f_g[m], a_m[m], s=22, color=colors[f], label=label, edgecolor="white", linewidth=0.4, zorder=3)
    reg = np.char.startswith(fam.astype(str), "regnet")
    if reg.any():  # the √F reference through the RegNet models' geometric centre
        c = np.exp(np.mean(np.log(a_m[reg]) - 0.5 * np.log(f_g[reg])))
        xs = np.geomspace(f_g.min(), f_g.max(), 20)
        ax.plot(xs, c * np.sqrt(xs), color="#888888", ls="--", lw=1, label="A ∝ √F through RegNet")
    ax.set(xlabel="FLOPs per image (multiply-adds, GMAC)", ylabel="activations per image (M)")
    log_axes(ax)
    ax.grid(True, which="both", alpha=0.25)
    legend_outside(ax)
    return fig


def eager_vs_onnx(raw: pd.DataFrame) -> Figure | None:
    """ONNX Runtime latency relative to eager PyTorch per model (same setting), sorted; None without both."""
    ok = raw[raw["status"].astype(str) == "ok"] if "status" in raw else raw
    if "backend" not in ok or not {"eager", "onnxruntime"} <= set(ok["backend"]):
        return None
    keys = ["model", "family", *[c for c in SETTING if c in ok]]
    med = ok.groupby([*keys, "backend"], dropna=False)["latency_ms"].median().unstack("backend")
    med = med.dropna(subset=["eager", "onnxruntime"])
    if med.empty:
        return None
    med = med.assign(ratio=med["onnxruntime"] / med["eager"]).sort_values("ratio").reset_index()
    many_settings = med.duplicated("model").any()
    labels = [
        f"{r.model} @{int(r.resolution)} b{int(r.batch)} {r.dtype}" if many_settings else str(r.model)
        for r in med.itertuples()
    ]
    colors = family_colors(med["family"])
    n = len(med)
    fig = Figure(figsize=(6.4, 1.0 + 0.17 * n), layout="constrained")
    ax = fig.subplots()
    y = np.arange(n)
    ax.hlines(y, 1.0, med["ratio"], color="#bbbbbb", lw=1)
    scatter_by_family(ax, med["ratio"].to_numpy(), y, med["family"].astype(str).to_numpy(), colors)
    ax.axvline(1.0, color="#555555", lw=0.8)
    ax.set_yticks(y, labels, fontsize=7 if n > 30 else 8)
    ax.set_ylim(-0.7, n - 0.3)
    log_axes(ax, "x")
    ax.set_xlabel("ONNX Runtime latency / eager latency (ratio; < 1: ONNX Runtime faster)")
    ax.grid(True, axis="x", which="both", alpha=0.25)
    legend_outside(ax)
    return fig


def pick_models(raw: pd.DataFrame, k: int = 6) -> list[str]:
    """``k`` models spread over the latency range (quantiles of the median latency)."""
    med = raw.groupby("model")["latency_ms"].median().sort_values()
    idx = np.unique(np.linspace(0, len(med) - 1, min(k, len(med))).round().astype(int))
    return [str(m) for m in med.index[idx]]


def latency_distributions(raw: pd.DataFrame, models: list[str] | None = None, k: int = 6) -> Figure | None:
    """Per-iteration latency samples of a few models (one setting, first backend), as box plus points."""
    ok = raw[(raw["status"].astype(str) == "ok") if "status" in raw else slice(None)]
    if "samples_ms" not in ok:
        return None
    ok = ok[ok["samples_ms"].map(lambda s: isinstance(s, list | tuple | np.ndarray) and len(s) > 0)]
    if ok.empty:
        return None
    first = ok.iloc[0]
    for c in ["backend", *SETTING]:  # one setting, so the models are comparable
        if c in ok:
            ok = ok[ok[c].astype(str) == str(first[c])]
    models = models or pick_models(ok, k)
    rows = [ok[ok["model"] == m] for m in models]
    samples = [np.concatenate([np.asarray(s, float) for s in r["samples_ms"]]) for r in rows if len(r)]
    names = [m for m, r in zip(models, rows, strict=True) if len(r)]
    fig = Figure(figsize=(6.4, 1.0 + 0.42 * len(names)), layout="constrained")
    ax = fig.subplots()
    # Latencies of different models differ by orders of magnitude: plot relative to each model's median.
    rel = [100 * (s / np.median(s) - 1) for s in samples]
    import matplotlib

    # matplotlib 3.10 renamed vert=False to orientation="horizontal" (and deprecated the old spelling).
    new = tuple(int(v) for v in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    horizontal = {"orientation": "horizontal"} if new else {"vert": False}
    ax.boxplot(rel, widths=0.5, showfliers=False, medianprops={"color": "#c0392b"}, **horizontal)
    rng = np.random.default_rng(0)
    for i, r in enumerate(rel, start=1):
        ax.scatter(r, i + rng.uniform(-0.18, 0.18, len(r)), s=6, color="#2471a3", alpha=0.5, zorder=3)
    ax.set_yticks(
        range(1, len(names) + 1), [f"{n} ({np.median(s):.3g} ms)" for n, s in zip(names, samples, strict=True)]
    )
    ax.invert_yaxis()
    setting = ", ".join(f"{c}={first[c]}" for c in ["backend", "device", "dtype", "batch"] if c in ok)
    ax.set_title(setting, fontsize=8, loc="left")
    ax.set_xlabel("per-iteration latency relative to the model's median (%)")
    ax.grid(True, axis="x", alpha=0.25)
    return fig


def roofline(cell: pd.DataFrame, peak: Peak, dtype: str = "fp32") -> Figure:
    """Achieved FLOP/s vs arithmetic intensity (FLOPs/byte, approximated) under the device's roofs."""
    batch = cell["batch"].to_numpy(float) if "batch" in cell else np.ones(len(cell))
    bpe = BYTES_PER_ELEMENT.get(dtype, 4)
    flops = 2.0 * cell["macs"].to_numpy(float) * batch  # FLOP = 2 per multiply-add
    bytes_ = (cell["params"].to_numpy(float) + cell["acts"].to_numpy(float)) * bpe * batch
    intensity = flops / bytes_
    achieved_tflops = flops / (cell["latency_ms"].to_numpy(float) / 1e3) / 1e12
    fam = cell["family"].astype(str).to_numpy()
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.subplots()
    peak_tf = peak.tflops(dtype)
    xs = np.geomspace(min(intensity.min() / 3, 1.0), max(intensity.max() * 3, 2 * peak_tf / peak.bandwidth_tbs), 200)
    ax.plot(xs, np.minimum(peak_tf, peak.bandwidth_tbs * xs), color="#333333", lw=1.4, label="roof")
    scatter_by_family(ax, intensity, achieved_tflops, fam, family_colors(fam))
    ax.set(xlabel="arithmetic intensity (FLOPs per byte, approximated)", ylabel="achieved throughput (TFLOP/s)")
    log_axes(ax)
    ax.set_title(
        f"{peak.name}: {peak_tf:g} TFLOP/s ({dtype}), {peak.bandwidth_tbs:g} TB/s ({peak.source})\n{ROOFLINE_NOTE}",
        fontsize=8,
        loc="left",
    )
    ax.grid(True, which="both", alpha=0.25)
    legend_outside(ax)
    return fig
