"""The estimate's MACs come from counting's own cache (one count, one cache, shared with imports)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import models
from profiler.core import paths
from profiler.sweep.config import parse_config
from profiler.sweep.estimate import gmacs_lookup
from profiler.sweep.planning import plan

CONFIG = """
name = "macs"
count = false
[models]
include = ["mobilenet_v1_x0_25", "resnet18"]
[settings]
resolutions = [112, 224]
batches = [1]
"""


def _flop_counter_macs(name: str) -> float:
    """An independent count: torch's FlopCounterMode on the meta device (FLOPs / 2), at 224 px."""
    with torch.device("meta"):
        model = models.get_model(name).eval()
        x = torch.zeros(1, 3, 224, 224)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 2


def test_gmacs_are_the_exact_count_scaled_by_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path))
    config = parse_config(CONFIG, "macs.toml")
    tasks = plan(config, "cpu")
    gmacs = gmacs_lookup(tasks, config)
    for t in tasks:
        assert gmacs(t) == pytest.approx(_flop_counter_macs(t.model) * (t.resolution / 224) ** 2 / 1e9, rel=1e-12)
    stored = sorted(p.name for p in (tmp_path / paths.COUNTS_DIR).glob("*.json") if ".ops." not in p.name)
    assert stored == sorted({f"{paths.count_key(t.spec_hash, 224)}.json" for t in tasks})  # the shared cache
