"""Peak compute and memory bandwidth for the roofline view: measured on the device when the run carries them,
else the data sheet of a known GPU.

Dense (no structured sparsity) peaks from NVIDIA's data sheets, held in ``profiler.hardware.datasheets`` (the one
table, with sources and name matching); TF32/FP16 are tensor-core peaks. Where a GPU has no TF32 (V100, T4) the
FP32 peak stands in.
Measured peaks (``profiler peaks``, copied into a sweep's ``meta.json`` ``environment["peaks"]``) win over the
data sheet: they are what this device, driver and library reach (matmul throughput, device-to-device copy).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peak:
    """Peak throughput (TFLOP/s, FLOP = 2 per multiply-add) and HBM bandwidth (TB/s) of one GPU model."""

    name: str
    fp32_tflops: float
    tf32_tflops: float
    fp16_tflops: float
    bandwidth_tbs: float
    source: str
    bf16_tflops: float | None = None  # when known separately (measured); else the fp16 peak stands in

    def tflops(self, dtype: str) -> float:
        """The peak for a measurement dtype (fp32, tf32, fp16, bf16)."""
        if dtype == "bf16" and self.bf16_tflops is not None:
            return self.bf16_tflops
        return {"fp32": self.fp32_tflops, "tf32": self.tf32_tflops}.get(dtype, self.fp16_tflops)


BYTES_PER_ELEMENT = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "amp": 2}


def find_peak(gpu_name: str | None) -> Peak | None:
    """The datasheet peak of a GPU by its reported name, or None (CPU, unknown GPU): a view of
    ``profiler.hardware.datasheets`` (where a GPU has no TF32 the FP32 peak stands in; no bf16, the fp16 one)."""
    from profiler.hardware.datasheets import match

    ds = match(gpu_name)
    if ds is None:
        return None
    return Peak(
        ds.name,
        ds.fp32_tflops,
        ds.tf32_tflops if ds.tf32_tflops is not None else ds.fp32_tflops,
        float(ds.fp16_tflops or ds.fp32_tflops),
        ds.bandwidth_gbs / 1e3,
        ds.source,
        ds.bf16_tflops,
    )


def measured_peak(peaks: dict) -> Peak:
    """A ``Peak`` from measured peaks (``profiler.hardware.measure`` schema); a dtype not measured is NaN (not
    drawn)."""
    tf = peaks.get("matmul_tflops") or {}

    def get(dtype: str) -> float:
        v = tf.get(dtype)
        return float(v) if isinstance(v, int | float) and v > 0 else float("nan")

    when = str(peaks.get("measured_at") or "")[:10]
    return Peak(
        name=str(peaks.get("device_name") or peaks.get("device") or "this device"),
        fp32_tflops=get("fp32"),
        tf32_tflops=get("tf32"),
        fp16_tflops=get("fp16"),
        bandwidth_tbs=float(peaks["copy_bandwidth_gbs"]) / 1e3,
        source=f"measured on this device{f' {when}' if when else ''}",  # matmul and device-to-device copy
        bf16_tflops=get("bf16"),
    )


def roofline_peak(env: dict | None, gpu_name: str | None, device: str, dtype: str) -> tuple[Peak | None, str]:
    """The peak to draw a cell's roofline with — measured (``env["peaks"]`` of this device) if it covers ``dtype``,
    else the data sheet of a known GPU — and a note saying which, or why there is none."""
    import math

    measured = (env or {}).get("peaks")
    if isinstance(measured, dict) and measured.get("device") == device:
        try:
            peak = measured_peak(measured)
        except (KeyError, TypeError, ValueError):
            peak = None
        if peak is not None and math.isfinite(peak.tflops(dtype)) and peak.bandwidth_tbs > 0:
            return peak, "measured on this device"
    if device == "cpu":
        return None, "a CPU cell without measured peaks (run `profiler peaks --device cpu` before the sweep)"
    peak = find_peak(gpu_name or device)
    if peak is None:
        return None, f"device {gpu_name or device!r} has no measured peaks and is not in the table of known peaks"
    return peak, "datasheet"
