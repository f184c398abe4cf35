"""profiler.sweep.config's keys derived from its dataclasses, and the one experiments directory (config_file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.sweep import config

ROOT = Path(__file__).resolve().parents[2]


def test_keys_derived_from_the_dataclasses_are_the_documented_ones() -> None:
    assert config.TOP_KEYS == (
        "name",
        "description",
        "seed",
        "shuffle",
        "repeats",
        "task_timeout_s",
        "count",
        "isolation",
        "reference_model",
        "prefetch",
        "prefetch_workers",
        "prefetch_lookahead",
        "measure_peaks",
        "models",
        "settings",
        "timing",
        "subsweep",
        "faults",
    )
    assert config.SETTING_KEYS == ("batches", "resolutions", "backends", "dtypes", "memory_formats")
    assert ("name", "models", *config.SETTING_KEYS) == config.SUBSWEEP_KEYS


def test_config_file_uses_the_shipped_experiments_from_anywhere(tmp_path: Path, monkeypatch) -> None:
    assert config.EXPERIMENTS_DIR == ROOT / "experiments"
    assert config.config_file(None, "cpu") == ROOT / "experiments" / "quick-cpu.toml"
    assert config.config_file(None, "cuda") == ROOT / "experiments" / "regnet-claim.toml"
    monkeypatch.chdir(tmp_path)
    assert config.config_file("ci-check.toml", "cpu") == ROOT / "experiments" / "ci-check.toml"
    assert config.config_file("mine.toml", "cpu") == Path("mine.toml")
    with pytest.raises(UsageError, match=r"shipped: .*quick-cpu\.toml"):  # listed from the checkout, not the cwd
        config.load_config("mine.toml")
