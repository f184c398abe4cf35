"""The mechanistic runtime model: a per-op roofline plus a launch cost per op.

    t̂ = k · Σ_ops max(2·B·macs_op / peak_dtype, bytes_op(B, dtype) / bandwidth) + N · launch

B is the batch, bytes_op = B · activation elements × their element size + weight elements × theirs, at the cell's
dtype (``counting.opclass``: weights once per batch; under ``amp`` the size follows autocast's op lists), N = ops
per inference. peak (FLOP/s, 2 FLOPs per MAC) and bandwidth come from measured peaks (``profiler peaks``; a sweep's
``meta.json`` ``environment["peaks"]``) when present, else from the datasheet table (``report.peaks``; the fp32 cell
uses the non-tensor FP32 peak since the timing protocol turns TF32 off). The efficiency factor k ≥ 0 (1/k = the
share of the roofline reached) is fitted per cell, and so is launch ≥ 0 unless a measured launch cost is given; both
by non-negative least squares with the analysis's common weights 1/t̂² (multiplicative errors), on the training
families only when predicting held-out families. Every number says where it came from: "measured", "datasheet" or
"fitted".

Limitation: launches and kernel time are *added*, as the model was specified. In eager CUDA the CPU enqueues
kernels asynchronously, so the two overlap and per op the time is closer to max(launch, kernel); where kernels
are about as long as a launch (batch 64 fp16 on an H200) the fitted launch cost and k share the blame, and the
shares are an attribution under the additive model, not a measurement (``profiler trace`` measures it).

Decomposition, per model: launch share N·launch/t̂; compute share k·Σ_{compute-bound ops} compute time / t̂; memory
share likewise for memory-bound ops. The cell's regime is the largest median share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from profiler.analysis.optables import OpTable
from profiler.counting.opclass import TRAFFIC_DTYPES

REGIMES = {"launch": "launch-bound", "memory": "memory-bound", "compute": "compute-bound"}
NAME = "mech"
FORMULA = "t = k * sum_ops max(flops/peak, bytes/bandwidth) + N * launch"


@dataclass(frozen=True)
class DevicePeaks:
    """Peak FLOP/s for the cell's dtype, bandwidth (B/s), optional launch cost (s), and where each came from."""

    device_name: str
    flops_per_s: float
    bandwidth_bps: float
    launch_s: float | None
    source: str  # "measured" or "datasheet"
    launch_source: str  # "measured" or "fitted"


def resolve_peaks(device_name: str | None, dtype: str, measured: dict | None) -> tuple[DevicePeaks | None, str]:
    """Peaks for one cell: measured (the ``profiler peaks`` JSON) if usable, else the datasheet; else None + why."""
    if isinstance(measured, dict):
        tflops = (measured.get("matmul_tflops") or {}).get(dtype)
        gbs = measured.get("copy_bandwidth_gbs")
        if tflops and gbs:
            launch = measured.get("launch_us")
            return (
                DevicePeaks(
                    str(measured.get("device_name") or device_name),
                    float(tflops) * 1e12,
                    float(gbs) * 1e9,
                    float(launch) * 1e-6 if launch else None,
                    "measured",
                    "measured" if launch else "fitted",
                ),
                "",
            )
    from profiler.hardware.peaks import find_peak

    peak = find_peak(device_name)
    if peak is None:
        return None, (
            f"no peaks for device {device_name!r}: not in the datasheet table and none measured "
            "(run `python -m profiler peaks` on it before the sweep)"
        )
    return DevicePeaks(peak.name, peak.tflops(dtype) * 1e12, peak.bandwidth_tbs * 1e12, None, "datasheet", "fitted"), ""


def roofline_terms(table: OpTable, batch: int, dtype: str, peaks: DevicePeaks) -> dict[str, float]:
    """Compute-bound and memory-bound roofline time (ms) of one model at ``batch`` and ``dtype``, and its N."""
    traffic_dtype = dtype if dtype in TRAFFIC_DTYPES else "fp32"
    t_compute = 2.0 * batch * table.macs / peaks.flops_per_s
    t_memory = table.row_bytes(batch, traffic_dtype) / peaks.bandwidth_bps  # counting.opclass: per (batch, dtype)
    compute_bound = t_compute > t_memory
    return {
        "compute_ms": 1e3 * float((t_compute * table.count)[compute_bound].sum()),
        "memory_ms": 1e3 * float((t_memory * table.count)[~compute_bound].sum()),
        "n_ops": float(table.count.sum()),
    }


class MechanisticCell:
    """The model's terms for every row of one cell; ``fit`` on a subset of rows, ``predict`` any rows."""

    def __init__(self, cell: pd.DataFrame, tables: list[OpTable], peaks: DevicePeaks) -> None:
        dtype = str(cell["dtype"].iloc[0]) if "dtype" in cell else "fp32"
        per_image = "batch_images" in cell and bool(cell["batch_images"].notna().all())
        if per_image:  # a cell of mixed batches (analysis.data.per_image): each row's own batch, time per image
            batches = cell["batch_images"].to_numpy(float)
        else:
            batches = np.full(len(cell), float(cell["batch"].iloc[0]) if "batch" in cell else 1.0)
        terms = [roofline_terms(t, int(b), dtype, peaks) for t, b in zip(tables, batches, strict=True)]
        per = batches if per_image else np.ones(len(cell))
        self.compute_ms = np.array([t["compute_ms"] for t in terms]) / per
        self.memory_ms = np.array([t["memory_ms"] for t in terms]) / per
        self.roof_ms = self.compute_ms + self.memory_ms
        self.n_ops = np.array([t["n_ops"] for t in terms]) / per
        self.t = cell["latency_ms"].to_numpy(float)
        self.peaks = peaks

    def fit(self, mask: np.ndarray, weights: np.ndarray, free_launch: bool = False) -> tuple[float, float]:
        """(k, launch_ms) by NNLS on the rows in ``mask`` with WLS weights; launch fixed when measured (unless
        ``free_launch``, which fits it anyway: a check on the measured value)."""
        from scipy.optimize import nnls

        sw = np.sqrt(np.asarray(weights, float))
        y = self.t[mask]
        if self.peaks.launch_s is not None and not free_launch:
            launch_ms = 1e3 * self.peaks.launch_s
            (k,), _ = nnls((sw * self.roof_ms[mask])[:, None], sw * (y - launch_ms * self.n_ops[mask]))
            return float(k), launch_ms
        x = np.column_stack([self.roof_ms[mask], self.n_ops[mask]])
        (k, launch_ms), _ = nnls(sw[:, None] * x, sw * y)
        return float(k), float(launch_ms)

    def predict(self, params: tuple[float, float], mask: np.ndarray | None = None) -> np.ndarray:
        k, launch_ms = params
        m = slice(None) if mask is None else mask
        return k * self.roof_ms[m] + launch_ms * self.n_ops[m]

    def shares(self, params: tuple[float, float]) -> dict[str, np.ndarray]:
        """Per model: the share of predicted time in launches, memory-bound and compute-bound ops."""
        k, launch_ms = params
        pred = np.maximum(self.predict(params), 1e-300)
        return {
            "launch": launch_ms * self.n_ops / pred,
            "memory": k * self.memory_ms / pred,
            "compute": k * self.compute_ms / pred,
        }


def obs_loglik(pred: np.ndarray, t: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-observation Gaussian log-likelihood under the WLS error model (as ``battery.obs_loglik``)."""
    w = np.asarray(weights, float)
    r = t - pred
    sigma2 = float(np.sum(w * r**2) / len(r))
    return 0.5 * np.log(w) - 0.5 * np.log(2 * np.pi * sigma2) - w * r**2 / (2 * sigma2)


def summarize_fit(mc: MechanisticCell, params: tuple[float, float], weights: np.ndarray) -> dict:
    """JSON-safe block: parameters with their sources, per-model shares (median), regime, in-sample errors."""
    k, launch_ms = params
    shares = mc.shares(params)
    med = {s: float(np.median(v)) for s, v in shares.items()}
    regime = max(med, key=med.get)
    pred = mc.predict(params)
    rel = (pred - mc.t) / mc.t
    p = mc.peaks
    return {
        "formula": FORMULA,
        "k": k,
        "efficiency": (1.0 / k) if k > 0 else None,
        "launch_us": 1e3 * launch_ms,
        "launch_source": p.launch_source,
        "peak_tflops": p.flops_per_s / 1e12,
        "bandwidth_gbs": p.bandwidth_bps / 1e9,
        "peaks_source": p.source,
        "peaks_device": p.device_name,
        "share_median": med,
        "regime": REGIMES[regime],
        "regime_term": regime,
        "rms_rel_resid": float(np.sqrt(np.mean(rel**2))),
        "loglik": float(obs_loglik(pred, mc.t, weights).sum()),
    }
