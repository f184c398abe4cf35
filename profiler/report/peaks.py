"""Peak compute and memory bandwidth of known GPUs, for the roofline view.

Dense (no structured sparsity) peaks from NVIDIA's data sheets; TF32/FP16 are tensor-core peaks. Where a GPU has
no TF32 (V100) the FP32 peak stands in. Matching is by substrings of the name that ``nvidia-smi`` reports.
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

    def tflops(self, dtype: str) -> float:
        """The peak for a measurement dtype (fp32, tf32, fp16, bf16)."""
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
)

BYTES_PER_ELEMENT = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2}


def find_peak(gpu_name: str | None) -> Peak | None:
    """The known peak of a GPU by its reported name, or None (CPU, unknown GPU)."""
    if not gpu_name:
        return None
    name = gpu_name.upper().replace("-", " ")
    for keys, peak in PEAKS:
        if all(k in name for k in keys):
            return peak
    return None
