"""Synthetic store rows and run directories for the baseline and check tests (no timing, fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from profiler.results.measurement import Measurement
from profiler.results.store import ResultStore

ENV = {"cpu_model": "Test CPU 9000", "torch_threads": 2, "torch": "2.13.0+cpu", "onnxruntime": "1.22.1"}
COUNTS = {"resnet18": (1000, 200, 300), "mobilenet_v2": (500, 100, 400), "shufflenet_v2_x0_5": (50, 10, 40)}
MEDIANS = {"resnet18": 10.0, "mobilenet_v2": 5.0, "shufflenet_v2_x0_5": 2.0}


def samples(median: float, n: int = 30, cv: float = 0.03, seed: int = 0) -> list[float]:
    """Right-skewed latency samples (log-normal) with the given median."""
    rng = np.random.default_rng(seed)
    return (median * np.exp(rng.normal(0.0, cv, n))).tolist()


def rows(
    scale: dict[str, float] | None = None,
    seed: int = 0,
    counts: dict | None = None,
    repeats: int = 1,
    speed: float = 1.0,
) -> pd.DataFrame:
    """Store-shaped rows: one per (model, repeat); latency × ``speed`` (machine) × ``scale[model]`` (code)."""
    scale, counts = scale or {}, counts or COUNTS
    out = []
    for i, (m, med) in enumerate(MEDIANS.items()):
        for r in range(repeats):
            s = samples(med * speed * scale.get(m, 1.0), seed=seed * 1000 + i * 10 + r)
            macs, params, acts = counts[m]
            out.append(
                {
                    "model": m,
                    "spec_hash": f"h-{m}",
                    "macs": macs,
                    "params": params,
                    "acts": acts,
                    "acts_all": acts * 3,
                    "backend": "eager",
                    "device": "cpu",
                    "device_name": "cpu",
                    "dtype": "fp32",
                    "memory_format": "contiguous",
                    "batch": 1,
                    "resolution": 64,
                    "repeat": r,
                    "latency_ms": float(np.median(s)),
                    "samples_ms": s,
                    "status": "ok",
                    "error": None,
                }
            )
    return pd.DataFrame(out)


def make_run(path: Path, env: dict = ENV, **row_kw) -> Path:
    """A run directory holding ``rows(**row_kw)`` and a meta.json with ``env`` and the ci-check config."""
    store = ResultStore.create(
        path, {"environment": env, "config": {"name": "ci-check", "reference_model": "resnet18"}}
    )
    with store:
        for i, r in enumerate(rows(**row_kw).to_dict("records")):
            store.add(Measurement.from_dict({**r, "task_key": f"t{i}", "started_at": f"2025-01-01T00:00:{i:02d}"}))
    return path
