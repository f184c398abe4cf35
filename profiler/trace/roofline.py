"""Each layer on the roofline: compute-, memory- or launch-bound, from its counts and the device's measured peaks.

For a layer with ``macs`` multiply-adds (2 FLOP each), ``bytes`` of traffic and ``n_ops`` top-level operators:
``compute_ms = 2·macs / peak FLOP/s`` (the matmul peak of the traced dtype), ``memory_ms = bytes / copy bandwidth``,
``launch_ms = n_ops × launch cost`` (one ``x.add_(1)`` per operator). The largest of the three names the bound; the
roofline time is ``max(compute_ms, memory_ms)`` and ``intensity`` is FLOP per byte. A missing peak (a dtype not
measured, no peaks at all) gives ``bound = "unknown"`` and ``None`` times — never a division by zero.
"""

from __future__ import annotations

from typing import Any


def peak_flops(peaks: dict[str, Any] | None, dtype: str) -> float | None:
    """FLOP/s of the traced dtype from measured peaks (None when absent or not positive)."""
    tf = ((peaks or {}).get("matmul_tflops") or {}).get(dtype)
    return float(tf) * 1e12 if isinstance(tf, int | float) and tf > 0 else None


def _positive(v: Any, scale: float) -> float | None:
    return float(v) * scale if isinstance(v, int | float) and v > 0 else None


def place(layer: dict[str, Any], peaks: dict[str, Any] | None, dtype: str) -> dict[str, Any]:
    """The roofline fields of one layer row (``macs``, ``bytes``, ``n_ops`` per iteration)."""
    flops = 2.0 * float(layer.get("macs") or 0)
    nbytes = float(layer.get("bytes") or 0)
    p_flops = peak_flops(peaks, dtype)
    bw = _positive((peaks or {}).get("copy_bandwidth_gbs"), 1e9)  # B/s
    launch = _positive((peaks or {}).get("launch_us"), 1e-6)  # s per operator
    compute_ms = flops / p_flops * 1e3 if p_flops else None
    memory_ms = nbytes / bw * 1e3 if bw else None
    launch_ms = float(layer.get("n_ops") or 0) * launch * 1e3 if launch else None
    times = {"compute": compute_ms, "memory": memory_ms, "launch": launch_ms}
    known = all(v is not None for v in times.values()) and any(times.values())
    return {
        "flops": flops,
        "intensity": flops / nbytes if nbytes > 0 else None,
        "compute_ms": compute_ms,
        "memory_ms": memory_ms,
        "launch_ms": launch_ms,
        "roofline_ms": max(compute_ms, memory_ms) if compute_ms is not None and memory_ms is not None else None,
        "bound": max(times, key=lambda k: times[k]) if known else "unknown",
    }
