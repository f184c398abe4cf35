"""Peak compute and memory bandwidth for the roofline view: measured on the device when the run carries them,
else the data sheet of a known GPU.

Dense (no structured sparsity) peaks from NVIDIA's data sheets; TF32/FP16 are tensor-core peaks. Where a GPU has
no TF32 (V100) the FP32 peak stands in. Matching is by substrings of the name that ``nvidia-smi`` reports.
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


# (substrings that must all occur in the upper-cased GPU name, peak). First match wins, so specific rows go first.
PEAKS: tuple[tuple[tuple[str, ...], Peak], ...] = (
    # NVIDIA H100 Tensor Core GPU datasheet (2023): PCIe 51 / 378 / 756 TFLOPS dense, 2.0 TB/s HBM2e.
    (("H100", "PCIE"), Peak("H100 PCIe", 51.2, 378.0, 756.0, 2.0, "NVIDIA H100 datasheet")),
    # Same datasheet, SXM5: 67 / 495 / 989 TFLOPS dense, 3.35 TB/s HBM3 ("NVIDIA H100 80GB HBM3" in nvidia-smi).
    (("H100", "HBM3"), Peak("H100 SXM", 67.0, 494.7, 989.4, 3.35, "NVIDIA H100 datasheet")),
    (("H100", "SXM"), Peak("H100 SXM", 67.0, 494.7, 989.4, 3.35, "NVIDIA H100 datasheet")),
    # NVIDIA H200 datasheet (2024): H100 SXM compute, 4.8 TB/s HBM3e.
    (("H200",), Peak("H200", 67.0, 494.7, 989.4, 4.8, "NVIDIA H200 datasheet")),
    # NVIDIA A100 datasheet (2021): 19.5 / 156 / 312 TFLOPS; 80GB SXM 2.039 TB/s, 80GB PCIe 1.935, 40GB 1.555.
    (("A100", "80GB", "PCIE"), Peak("A100 80GB PCIe", 19.5, 156.0, 312.0, 1.935, "NVIDIA A100 datasheet")),
    (("A100", "80GB"), Peak("A100 80GB SXM", 19.5, 156.0, 312.0, 2.039, "NVIDIA A100 datasheet")),
    (("A100",), Peak("A100 40GB", 19.5, 156.0, 312.0, 1.555, "NVIDIA A100 datasheet")),
    # NVIDIA V100 datasheet (2020): SXM2 15.7 FP32 / 125 FP16 tensor, PCIe 14 / 112; 900 GB/s HBM2; no TF32.
    (("V100", "PCIE"), Peak("V100 PCIe", 14.0, 14.0, 112.0, 0.9, "NVIDIA V100 datasheet")),
    (("V100",), Peak("V100 SXM2", 15.7, 15.7, 125.0, 0.9, "NVIDIA V100 datasheet")),
    # GeForce (timm's public tables): FP16 tensor with FP32 accumulate (what autocast uses), dense.
    # NVIDIA Ampere GA102 whitepaper: RTX 3090 35.6 FP32, 35.6 TF32, 71 FP16/FP32-acc TFLOPS, 936 GB/s GDDR6X.
    (("3090",), Peak("RTX 3090", 35.6, 35.6, 71.0, 0.936, "NVIDIA Ampere GA102 whitepaper")),
    # NVIDIA Ada Lovelace architecture whitepaper: RTX 4090 82.6 FP32, 82.6 TF32, 165.2 FP16/FP32-acc, 1008 GB/s.
    (("4090",), Peak("RTX 4090", 82.6, 82.6, 165.2, 1.008, "NVIDIA Ada Lovelace whitepaper")),
)

BYTES_PER_ELEMENT = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "amp": 2}


def find_peak(gpu_name: str | None) -> Peak | None:
    """The known peak of a GPU by its reported name, or None (CPU, unknown GPU)."""
    if not gpu_name:
        return None
    name = gpu_name.upper().replace("-", " ")
    for keys, peak in PEAKS:
        if all(k in name for k in keys):
            return peak
    return None


def measured_peak(peaks: dict) -> Peak:
    """A ``Peak`` from measured peaks (``profiler.peaks`` schema); a dtype not measured is NaN (not drawn)."""
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
