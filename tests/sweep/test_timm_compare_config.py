"""experiments/timm-compare.toml parses (timm: references, dtype amp) and asks for timm's setting."""

from __future__ import annotations

import importlib.util

import pytest

from profiler.sweep.config import EXPERIMENTS_DIR, load_config

pytestmark = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="needs the [timm] extra")


def test_timm_compare_config_is_timms_setting() -> None:
    from profiler.imports.include import seed_family

    cfg = load_config(EXPERIMENTS_DIR / "timm-compare.toml")
    (group,) = cfg.groups
    s = group.settings
    assert (s.batches, s.dtypes, s.backends, s.memory_formats, s.resolutions) == (
        (256,),
        ("amp",),
        ("eager",),
        ("contiguous",),
        ("native",),
    )
    names = [n.removeprefix("timm:") for n in cfg.models]
    assert len(names) == 132 and all(n.startswith("timm:") for n in cfg.models)
    assert all(seed_family(n) for n in names)
    assert len({cfg.models[n].family for n in cfg.models}) == 11
