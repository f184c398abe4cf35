"""The report tests' fixture data: a small stored run (``tests/data/small_run.csv``) and a recorded trace.

The rendered report itself is the session fixture ``rendered_report`` in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from profiler.results.measurement import Measurement
from profiler.results.store import ResultStore

DATA = Path(__file__).parent.parent / "data" / "small_run.csv"
TRACE = Path(__file__).parent.parent / "data" / "trace_resnet18_cpu_r64.json"  # measured on the project's CPU box
N_BOOT = 200  # the bootstrap's size does not change what the report shows, only its intervals' precision
META = {
    "environment": {
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "torch": "2.11.0",
        "torch_cuda": "12.8",
        "onnxruntime": "1.22.0",
        "cpu_model": "Intel Xeon Platinum 8480+",
        "git_commit": "0123abcd",
        "captured_at": "2025-01-01T00:00:00+00:00",
    },
    "config": {"path": "experiments/small-test.toml"},
}


def stored_run(run_dir: Path) -> Path:
    """The CSV fixture written into a run directory through ResultStore (rows as a sweep adds them)."""
    store = ResultStore.create(run_dir, META)
    for row in pd.read_csv(DATA).to_dict("records"):
        store.add(
            Measurement.from_dict({k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()})
        )
    store.close()
    return run_dir
