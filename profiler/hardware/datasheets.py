"""GPU datasheet figures: peak TFLOP/s per dtype, memory bandwidth and SM count, each entry with its source.

Peaks are *dense* (no 2:4 structured sparsity), 1 multiply-add = 2 FLOP:
- ``fp32``: the non-tensor FP32 peak (archprof's fp32 protocol turns TF32 off);
- ``tf32``: TF32 tensor-core peak (None where the GPU has no TF32: Volta, Turing);
- ``fp16`` / ``bf16``: tensor-core peak **with FP32 accumulate** — what cuDNN/cuBLAS use under autocast. On
  GeForce cards that is half the FP16-accumulate figure NVIDIA advertises (RTX 3090: 71, not 142 TFLOP/s); data
  centre and RTX PRO cards run FP32 accumulate at full rate. bf16 is None where the GPU has none (Volta, Turing).
- ``amp`` (CUDA autocast float16) reads the fp16 peak.

Names are matched as ``nvidia-smi`` / ``torch.cuda.get_device_name`` print them ("NVIDIA GeForce RTX 3090",
"NVIDIA H100 80GB HBM3", "Tesla V100-SXM2-16GB", "NVIDIA A100-SXM4-80GB") and as users type them ("rtx3090",
"3090", "h100-sxm", "H200"): the name is lower-cased, stripped of vendor words and punctuation, then the rules of
``RULES`` apply in order (required substrings, forbidden substrings, or an exact match). ``lookup`` raises a
``UsageError`` that lists the closest known names (``difflib``).

Each figure is the one the named document states. Where a figure is derived from others rather than stated (the
RTX PRO 6000's FP16/TF32, from its FP4 "AI TOPS"), or recalled without the document at hand to re-read (RTX
5090 FP16/TF32 with FP32 accumulate, the Max-Q's FP32), its source says ``derived`` or ``unsure``; the L4's FP16
figure does not say its accumulate type (the comment says what is assumed).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from profiler.core.errors import UsageError

PEAK_DTYPES = ("fp32", "tf32", "fp16", "bf16")
DTYPE_ALIASES = {"amp": "fp16", "float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32"}


@dataclass(frozen=True)
class Datasheet:
    """One GPU model's datasheet figures (TFLOP/s dense, GB/s, SMs) and where they come from."""

    key: str  # canonical short name, e.g. "h100-sxm"
    name: str  # display name, e.g. "H100 SXM"
    fp32_tflops: float
    tf32_tflops: float | None
    fp16_tflops: float | None  # tensor, FP32 accumulate, dense
    bf16_tflops: float | None  # tensor, FP32 accumulate, dense
    bandwidth_gbs: float
    sm_count: int
    source: str  # document and year

    def peak_tflops(self, dtype: str) -> float:
        """The peak for a measurement dtype (fp32, tf32, fp16, bf16, amp); UsageError where the GPU has none."""
        d = DTYPE_ALIASES.get(dtype, dtype)
        if d not in PEAK_DTYPES:
            raise UsageError(f"no peak for dtype {dtype!r}: known dtypes are {', '.join(PEAK_DTYPES)} and amp")
        value = getattr(self, f"{d}_tflops")
        if value is None:
            raise UsageError(
                f"{self.name} has no {d} peak ({'no TF32' if d == 'tf32' else 'no bf16'} on this GPU "
                f"generation; {self.source})"
            )
        return float(value)

    def has_peak(self, dtype: str) -> bool:
        """Whether ``peak_tflops(dtype)`` has a figure."""
        d = DTYPE_ALIASES.get(dtype, dtype)
        return d in PEAK_DTYPES and getattr(self, f"{d}_tflops") is not None


_V100 = "NVIDIA V100 Tensor Core GPU datasheet (2020)"
_A100 = "NVIDIA A100 Tensor Core GPU datasheet (2021)"
_H100 = "NVIDIA H100 Tensor Core GPU datasheet (2023)"
_GA102 = "NVIDIA Ampere GA102 GPU architecture whitepaper v2.1 (2021), RTX 3090 column"
_AD102 = "NVIDIA Ada Lovelace GPU architecture whitepaper v1.1 (2023), RTX 4090 column"
_GB202 = "NVIDIA RTX Blackwell GPU architecture whitepaper (2025)"
_PRO6000 = "NVIDIA RTX PRO 6000 Blackwell Workstation Edition datasheet (2025)"
_MAXQ = "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition datasheet (2025)"

TABLE: tuple[Datasheet, ...] = (
    # V100: 80 SMs, 900 GB/s HBM2; FP16 tensor (FP32 accumulate at full rate) 125 (SXM2) / 112 (PCIe); no TF32/bf16.
    Datasheet("v100-sxm2", "V100 SXM2", 15.7, None, 125.0, None, 900.0, 80, _V100),
    Datasheet("v100-pcie", "V100 PCIe", 14.0, None, 112.0, None, 900.0, 80, _V100),
    # A100: 108 SMs; 19.5 FP32, TF32 156, FP16/BF16 312 dense; 40GB 1,555 GB/s, 80GB PCIe 1,935, 80GB SXM 2,039.
    Datasheet("a100-40gb-sxm", "A100 40GB SXM", 19.5, 156.0, 312.0, 312.0, 1555.0, 108, _A100),
    Datasheet("a100-40gb-pcie", "A100 40GB PCIe", 19.5, 156.0, 312.0, 312.0, 1555.0, 108, _A100),
    Datasheet("a100-80gb-sxm", "A100 80GB SXM", 19.5, 156.0, 312.0, 312.0, 2039.0, 108, _A100),
    Datasheet("a100-80gb-pcie", "A100 80GB PCIe", 19.5, 156.0, 312.0, 312.0, 1935.0, 108, _A100),
    # H100 SXM5: 132 SMs, 67 FP32, TF32 989 / FP16 1,979 *with sparsity* -> 494.7 / 989.4 dense, 3.35 TB/s HBM3.
    Datasheet("h100-sxm", "H100 SXM", 67.0, 494.7, 989.4, 989.4, 3350.0, 132, _H100),
    # H100 PCIe: 114 SMs, 51 FP32 (51.2 = 114 SMs x 128 x 2 x 1.755 GHz; the datasheet rounds to 51), TF32 756 /
    # FP16 1,513 with sparsity -> 378 / 756 dense, 2.0 TB/s HBM2e.
    Datasheet("h100-pcie", "H100 PCIe", 51.2, 378.0, 756.0, 756.0, 2000.0, 114, _H100),
    # H200 (SXM): the H100 SXM's compute, 4.8 TB/s HBM3e, 141 GB.
    Datasheet("h200", "H200", 67.0, 494.7, 989.4, 989.4, 4800.0, 132, "NVIDIA H200 Tensor Core GPU datasheet (2024)"),
    # L4: 58 SMs, 30.3 FP32, TF32 120 / FP16 242 with sparsity -> 60 / 121 dense, 300 GB/s GDDR6. The datasheet does
    # not say the accumulate of its FP16 figure; taken as FP32 accumulate at full rate like other data-centre Ada
    # (unsure).
    Datasheet(
        "l4",
        "L4",
        30.3,
        60.0,
        121.0,
        121.0,
        300.0,
        58,
        "NVIDIA L4 Tensor Core GPU datasheet (2023) (FP16 with FP32 accumulate at full rate assumed)",
    ),
    # L40S: 142 SMs, 91.6 FP32, TF32 183, BF16/FP16 362.05 dense (733 with sparsity), 864 GB/s GDDR6.
    Datasheet("l40s", "L40S", 91.6, 183.0, 362.05, 362.05, 864.0, 142, "NVIDIA L40S GPU datasheet (2023)"),
    # T4: 40 SMs, 8.1 FP32, 65 FP16/FP32 mixed-precision tensor, 320 GB/s GDDR6; Turing has no TF32/bf16.
    Datasheet("t4", "T4", 8.1, None, 65.0, None, 320.0, 40, "NVIDIA T4 Tensor Core GPU datasheet (2019)"),
    # A10: 72 SMs, 31.2 FP32, TF32 62.5, BF16/FP16 125 dense (250 with sparsity), 600 GB/s GDDR6.
    Datasheet("a10", "A10", 31.2, 62.5, 125.0, 125.0, 600.0, 72, "NVIDIA A10 Tensor Core GPU datasheet (2021)"),
    # RTX 3090: 82 SMs, 35.6 FP32, TF32 35.6, FP16 tensor w/ FP32 acc 71 (142 w/ FP16 acc), BF16 71, 936 GB/s.
    Datasheet("rtx3090", "RTX 3090", 35.6, 35.6, 71.0, 71.0, 936.0, 82, _GA102),
    # RTX 4090: 128 SMs, 82.6 FP32, TF32 82.6, FP16 w/ FP32 acc 165.2 (330.3 w/ FP16 acc), BF16 165.2, 1,008 GB/s.
    Datasheet("rtx4090", "RTX 4090", 82.6, 82.6, 165.2, 165.2, 1008.0, 128, _AD102),
    # RTX 5090: 170 SMs, 104.8 FP32, 1,792 GB/s GDDR7; FP16 w/ FP16 acc 419 dense (838 sparse, NVIDIA's headline);
    # FP32 accumulate at half rate as on earlier GeForce: 209.5, TF32 104.8 (unsure: recalled from the whitepaper's
    # table, not re-read).
    Datasheet("rtx5090", "RTX 5090", 104.8, 104.8, 209.5, 209.5, 1792.0, 170, _GB202 + " (FP16/TF32 unsure)"),
    # RTX PRO 6000 Blackwell Workstation: 188 SMs, 125 FP32, 1,792 GB/s GDDR7, 4,000 "AI TOPS" (FP4, sparse).
    # FP16 dense w/ FP32 acc derived as 4 x the FP32 rate = 503.8 (= 4,030 FP4 sparse / 8), TF32 half that (derived).
    Datasheet(
        "rtx-pro-6000",
        "RTX PRO 6000 Blackwell",
        125.0,
        251.9,
        503.8,
        503.8,
        1792.0,
        188,
        _PRO6000 + " (FP16/TF32 derived from the FP4 AI TOPS)",
    ),
    # Max-Q (300 W): same chip, lower clocks; 110 FP32 and 3,511 AI TOPS -> FP16 dense 438.9, TF32 219.4 (derived;
    # the 110 TFLOP/s FP32 figure unsure).
    Datasheet(
        "rtx-pro-6000-maxq",
        "RTX PRO 6000 Blackwell Max-Q",
        110.0,
        219.4,
        438.9,
        438.9,
        1792.0,
        188,
        _MAXQ + " (FP32 unsure; FP16/TF32 derived from the FP4 AI TOPS)",
    ),
)
BY_KEY = {d.key: d for d in TABLE}

# (required substrings, forbidden substrings, key) on the normalized name; first match wins, so specific rules first.
# A rule with required == ("=x",) needs the whole normalized name to be x (short names: "l4", "t4", "a10").
RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("rtxpro6000", "maxq"), (), "rtx-pro-6000-maxq"),
    (("pro6000", "maxq"), (), "rtx-pro-6000-maxq"),
    (("pro6000",), ("ada",), "rtx-pro-6000"),
    (("5090",), ("laptop", "5090d", "5090ti"), "rtx5090"),
    (("4090",), ("laptop", "4090d", "4090ti"), "rtx4090"),
    (("3090",), ("laptop", "3090ti"), "rtx3090"),
    (("h200",), ("nvl",), "h200"),
    (("h100", "pcie"), (), "h100-pcie"),
    (("h100",), ("nvl",), "h100-sxm"),  # "NVIDIA H100 80GB HBM3" is the SXM5 board
    (("a100", "80gb", "pcie"), (), "a100-80gb-pcie"),
    (("a100", "pcie"), (), "a100-40gb-pcie"),
    (("a100", "80gb"), (), "a100-80gb-sxm"),
    (("a100",), ("a100x",), "a100-40gb-sxm"),
    (("v100", "pcie"), ("v100spcie",), "v100-pcie"),  # V100S (1,134 GB/s) is not in the table
    (("v100",), ("v100spcie",), "v100-sxm2"),
    (("l40s",), (), "l40s"),
    (("=l4",), (), "l4"),
    (("=t4",), (), "t4"),
    (("=a10",), (), "a10"),
)
_VENDOR_WORDS = ("nvidia", "geforce", "tesla", "blackwell", "workstation", "edition", "tensorcore", "gpu")


def normalize(name: str) -> str:
    """Lower-case, vendor words and everything but letters and digits removed: 'NVIDIA GeForce RTX 3090' ->
    'rtx3090', 'Tesla V100-SXM2-16GB' -> 'v100sxm216gb'."""
    s = re.sub(r"[^a-z0-9]", "", name.lower())
    for word in _VENDOR_WORDS:
        s = s.replace(word, "")
    return s


def match(name: str | None) -> Datasheet | None:
    """The datasheet of a GPU by its reported or typed name, or None (CPU, unknown GPU)."""
    if not name:
        return None
    s = normalize(name)
    exact = {normalize(d.key): d for d in TABLE} | {normalize(d.name): d for d in TABLE}
    if s in exact:
        return exact[s]
    for required, forbidden, key in RULES:
        if required[0].startswith("="):
            hit = s == required[0][1:]
        else:
            hit = all(r in s for r in required) and not any(f in s for f in forbidden)
        if hit:
            return BY_KEY[key]
    return None


def known_names() -> list[str]:
    """Every canonical key, for messages."""
    return [d.key for d in TABLE]


def closest(name: str, n: int = 4) -> list[str]:
    """The ``n`` known keys closest to ``name`` (difflib on normalized names), best first."""
    norm = {normalize(d.key): d.key for d in TABLE} | {normalize(d.name): d.key for d in TABLE}
    hits = difflib.get_close_matches(normalize(name), list(norm), n=2 * n, cutoff=0.3)
    out: list[str] = []
    for h in hits:
        if norm[h] not in out:
            out.append(norm[h])
    return out[:n]


def lookup(name: str) -> Datasheet:
    """The datasheet of ``name``; UsageError naming the closest known names where it is not in the table."""
    found = match(name)
    if found is None:
        near = closest(name)
        what = f"closest: {', '.join(near)} (all: " if near else "known: "
        raise UsageError(
            f"device {name!r} is not in the datasheet table; {what}{', '.join(known_names())}" + (")" if near else "")
        )
    return found
