"""The noise-aware latency rule: relative threshold AND one-sided significance, after machine-speed normalization.

A setting regresses only when (1) its median, divided by the machine-speed factor, exceeds the baseline median by
more than ``threshold`` and (2) a one-sided Mann–Whitney U test says the normalized current samples are
stochastically larger than the baseline samples at level ``alpha``. (1) guards against tiny but "significant"
shifts (thousands of samples make any difference significant); (2) guards against a noisy median that crossed
the threshold by chance. Per-iteration samples within one process are autocorrelated, so the p-value is
optimistic; the threshold is the main guard against false alarms and alpha is kept small.

Both conditions must hold on the normalized samples *and* on the raw ones. Normalization alone lets the
reference model's own noise raise alarms: on this 2-core machine (benchmarks/check_power.py, quiet, 1 thread)
the reference's ratio ranged 0.76–1.27 between unchanged trials, and normalized-only judging gave 6/20 false
alarms where raw judging gave 0/20. Requiring both keeps the purpose of normalization (a uniformly slower machine
fails the normalized test, so it is no regression) without importing the reference's noise; the cost is that a
real slowdown hidden by a simultaneously faster machine is missed.

Samples of one process cannot show the spread *between* processes, and on a shared VM that spread is large for
small models (a 3 ms model measured 2.5–5.8 ms in fresh processes here, each tight within itself). So when both
sides were measured in ≥ 2 processes (sweep ``repeats``), a regression also needs process-level separation: the
fastest current process must be slower than the slowest baseline process by more than the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_SAMPLES = 5  # fewer samples than this on either side: no significance test, no latency verdict


@dataclass(frozen=True)
class LatencyRule:
    """Knobs of the latency decision (all reported with the verdict)."""

    threshold: float = 0.10  # relative slowdown of the normalized median that counts as a regression
    alpha: float = 0.01  # one-sided Mann–Whitney level

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 10:
            raise ValueError(f"threshold must be in (0, 10), got {self.threshold}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")


@dataclass(frozen=True)
class LatencyVerdict:
    """Outcome of one comparison; ``ratio`` is raw current/baseline median, ``norm_ratio`` divides by ``factor``."""

    baseline_ms: float
    current_ms: float
    ratio: float
    factor: float
    norm_ratio: float
    p_slower: float | None  # one-sided p-value, H1: normalized current > baseline
    p_faster: float | None  # one-sided p-value, H1: normalized current < baseline
    outcome: str  # "regression" | "improvement" | "unchanged" | "insufficient"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_latency(
    baseline_ms: Sequence[float],
    current_ms: Sequence[float],
    *,
    factor: float = 1.0,
    rule: LatencyRule | None = None,
    baseline_process_ms: Sequence[float] = (),
    current_process_ms: Sequence[float] = (),
) -> LatencyVerdict:
    """Compare two sample sets of per-batch latency (ms); ``factor`` is the machine-speed ratio to divide out.
    ``*_process_ms``: the median of each measuring process (repeat), for the process-level condition.

    >>> judge_latency([10.0] * 20 + [10.5] * 10, [12.5] * 20 + [13.0] * 10).outcome
    'regression'
    >>> judge_latency([10.0] * 20 + [10.5] * 10, [12.5] * 20 + [13.0] * 10, factor=1.25).outcome
    'unchanged'
    >>> judge_latency([10.0] * 20 + [10.5] * 10, [10.0] * 20 + [10.5] * 10, factor=0.8).outcome  # noisy reference
    'unchanged'
    """
    from scipy.stats import mannwhitneyu

    rule = rule or LatencyRule()
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError(f"normalization factor must be positive and finite, got {factor}")
    base = np.asarray(baseline_ms, dtype=float)
    cur = np.asarray(current_ms, dtype=float) / factor
    base, cur = base[np.isfinite(base)], cur[np.isfinite(cur)]
    b_med = float(np.median(base)) if base.size else math.nan
    c_raw = float(np.median(cur)) * factor if cur.size else math.nan
    ratio = c_raw / b_med if b_med > 0 else math.nan
    norm_ratio = ratio / factor
    if base.size < MIN_SAMPLES or cur.size < MIN_SAMPLES or not math.isfinite(norm_ratio):
        return LatencyVerdict(b_med, c_raw, ratio, factor, norm_ratio, None, None, "insufficient")
    p_slower = float(mannwhitneyu(cur, base, alternative="greater").pvalue)
    p_faster = float(mannwhitneyu(cur, base, alternative="less").pvalue)
    raw = cur * factor
    raw_slower = ratio > 1 + rule.threshold and mannwhitneyu(raw, base, alternative="greater").pvalue < rule.alpha
    raw_faster = ratio < 1 / (1 + rule.threshold) and mannwhitneyu(raw, base, alternative="less").pvalue < rule.alpha
    proc_slower, proc_faster = _process_separation(baseline_process_ms, current_process_ms, factor, rule.threshold)
    if norm_ratio > 1 + rule.threshold and p_slower < rule.alpha and raw_slower and proc_slower:
        outcome = "regression"
    elif norm_ratio < 1 / (1 + rule.threshold) and p_faster < rule.alpha and raw_faster and proc_faster:
        outcome = "improvement"
    else:
        outcome = "unchanged"
    return LatencyVerdict(b_med, c_raw, ratio, factor, norm_ratio, p_slower, p_faster, outcome)


def _process_separation(
    base: Sequence[float], cur: Sequence[float], factor: float, threshold: float
) -> tuple[bool, bool]:
    """(slower, faster) by whole processes, raw and normalized; (True, True) when either side has < 2 processes."""
    b, c = np.asarray(base, float), np.asarray(cur, float)
    b, c = b[np.isfinite(b)], c[np.isfinite(c)]
    if b.size < 2 or c.size < 2:
        return True, True
    lo = min(c.min(), c.min() / factor)  # the slowdown must hold both raw and normalized
    hi = max(c.max(), c.max() / factor)
    return bool(lo > b.max() * (1 + threshold)), bool(hi < b.min() / (1 + threshold))


def median_ratio(baseline_ms: Iterable[float], current_ms: Iterable[float]) -> float:
    """median(current) / median(baseline), NaN when either side is empty or non-positive."""
    b, c = np.asarray(list(baseline_ms), float), np.asarray(list(current_ms), float)
    if not b.size or not c.size or np.median(b) <= 0:
        return math.nan
    return float(np.median(c) / np.median(b))


def speed_factors(reference_ratios: Mapping[tuple, float], cells: Iterable[tuple]) -> tuple[dict[tuple, float], str]:
    """Machine-speed factor per cell: the reference model's ratio in that cell, else the geometric mean of the
    cells that have one, else 1.0. Returns the factors and a sentence saying what was applied."""
    cells = list(dict.fromkeys(cells))
    good = {c: r for c, r in reference_ratios.items() if r > 0 and math.isfinite(r)}
    if not good:
        return dict.fromkeys(cells, 1.0), "no machine-speed normalization (reference model not measured)"
    fallback = float(np.exp(np.mean(np.log(list(good.values())))))
    factors = {c: good.get(c, fallback) for c in cells}
    missing = [c for c in cells if c not in good]
    text = "machine-speed factor " + ", ".join(f"{_cell_text(c)}: {r:.3f}" for c, r in good.items())
    if missing:
        text += f"; geometric mean {fallback:.3f} used for {len(missing)} cell(s) without the reference"
    return factors, text


def _cell_text(cell: tuple) -> str:
    backend, dtype, batch, resolution, memory_format = cell
    mf = "" if memory_format == "contiguous" else f"/{memory_format}"
    return f"{backend}/{dtype}/b{batch}/r{resolution}{mf}"
