"""Device keys: which machine and software a measurement belongs to (``device_key``), and the slug they are made of.

A baseline file, a peaks file (``profiler.hardware.measure``) and the estimate's earlier runs
(``profiler.sweep.estimate_fit``) are all found by this key, so it lives at the bottom, importable by every layer;
``profiler.baseline.keys`` re-exports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def slugify(text: str, max_len: int = 120) -> str:
    """Lower-case ``[a-z0-9.-]`` slug: ``"Intel(R) Xeon(R) CPU @ 2.20GHz"`` → ``"intel-xeon-cpu-2.20ghz"``."""
    text = re.sub(r"\((r|tm|c)\)", "", text.lower())
    text = re.sub(r"[^a-z0-9.]+", "-", text).strip("-.")
    return re.sub(r"-{2,}", "-", text)[:max_len].strip("-") or "unknown"


def _major_minor(version: Any) -> str:
    """``"2.13.0+cpu"`` → ``"2.13"``; unknown → ``"na"`` (a missing library still gives a stable key)."""
    if not version:
        return "na"
    m = re.match(r"(\d+)\.(\d+)", str(version))
    return f"{m.group(1)}.{m.group(2)}" if m else slugify(str(version))


def device_key(env: Mapping[str, Any], device: str) -> str:
    """Slug naming the hardware and the software that set latency: processor, threads, torch, ORT (, CUDA).

    Minor library versions change kernels (and so latency); patch versions are assumed not to. Where recorded,
    the CPU key also names the core count, memory and a hash of the CPU flags (``c2-m8-f1a2b3c4d``), and the
    CUDA key the driver. A key match is still not a speed match: two VMs with the same key differed by 2x here,
    and not in proportion across models, which is why ``check --against REV`` measures both sides in one job.

    >>> device_key({"cpu_model": "AMD EPYC 7B13", "torch_threads": 2, "torch": "2.13.0+cpu",
    ...             "onnxruntime": "1.22.1"}, "cpu")
    'cpu-amd-epyc-7b13-t2-torch2.13-ort1.22'
    """
    if device == "cuda":
        parts = ["cuda", str(env.get("gpu_name") or "unknown-gpu"), f"cuda{_major_minor(env.get('torch_cuda'))}"]
        if env.get("gpu_driver"):
            parts.append(f"drv{env['gpu_driver']}")
    elif device == "cpu":
        parts = ["cpu", str(env.get("cpu_model") or "unknown-cpu"), f"t{env.get('torch_threads') or 'na'}"]
        if env.get("cpu_flags_hash"):  # older runs lack these fields and keep their shorter key
            parts.append(f"c{env.get('cpu_count') or 'na'}-m{env.get('memory_gib') or 'na'}-f{env['cpu_flags_hash']}")
    else:
        raise ValueError(f"unknown device {device!r}; valid: cpu, cuda")
    parts += [f"torch{_major_minor(env.get('torch'))}", f"ort{_major_minor(env.get('onnxruntime'))}"]
    return slugify("-".join(parts))
