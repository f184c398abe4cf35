"""Golden counts: every registered model at its default resolution, batch 1, stored in a checked-in JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from profiler.counting.api import count_model

GOLDEN_KEYS = ("resolution", "macs", "params", "acts", "acts_all")
REGENERATE = "python -m profiler count --all --write-golden tests/golden/counts.json"


def golden_entry(name: str, method: str = "fvcore") -> dict[str, int]:
    """The golden row of registered model ``name``: its default resolution and counts at batch 1."""
    import models

    resolution = models.model_info(name).resolution
    c = count_model(name, resolution=resolution, method=method)
    return {"resolution": resolution, "macs": c.macs, "params": c.params, "acts": c.acts, "acts_all": c.acts_all}


def golden_counts(names: list[str], method: str = "fvcore") -> dict[str, Any]:
    """The whole golden document for ``names`` (sorted), with how to regenerate it."""
    return {
        "_about": "counts at each model's default resolution, batch 1 (macs = multiply-adds of conv/linear, "
        f"biases excluded; acts per RegNet §4). Regenerate with: {REGENERATE}",
        "models": {n: golden_entry(n, method) for n in sorted(names)},
    }


def write_golden(path: str | Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as stable, diff-friendly JSON."""
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def read_golden(path: str | Path) -> dict[str, dict[str, int]]:
    """The ``models`` table of a golden file."""
    return json.loads(Path(path).read_text())["models"]
