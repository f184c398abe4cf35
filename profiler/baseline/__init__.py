"""CI check against stored latency baselines: device keys, baseline files, the noise-aware rule, comparison.

>>> from profiler.baseline import judge_latency, LatencyRule
>>> judge_latency([10.0] * 30, [10.2] * 30, rule=LatencyRule(threshold=0.10)).outcome   # +2 %: under threshold
'unchanged'
"""

from profiler.baseline.compare import LATENCY_MODES, CheckReport, EntryResult, compare
from profiler.baseline.files import (
    DEFAULT_ROOT,
    build_baseline,
    load_baseline,
    save_baseline,
    single_device,
)
from profiler.baseline.keys import entry_key
from profiler.baseline.render import FORMATS, render
from profiler.baseline.rule import LatencyRule, LatencyVerdict, judge_latency, speed_factors
from profiler.baseline.select import find_baseline, newest_baseline, select_baseline
from profiler.core.device_key import device_key, slugify

__all__ = [
    "DEFAULT_ROOT",
    "FORMATS",
    "LATENCY_MODES",
    "CheckReport",
    "EntryResult",
    "LatencyRule",
    "LatencyVerdict",
    "build_baseline",
    "compare",
    "device_key",
    "entry_key",
    "find_baseline",
    "judge_latency",
    "load_baseline",
    "newest_baseline",
    "render",
    "save_baseline",
    "select_baseline",
    "single_device",
    "slugify",
    "speed_factors",
]
