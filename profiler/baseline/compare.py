"""Compare a run's rows with a baseline: counts exactly, latency by the noise-aware rule, one verdict per setting.

Verdicts: ``pass``; ``fail`` (counts changed, measurement failed, or latency regressed with ``latency="fail"``);
``warn`` (latency regressed with ``latency="warn"``); ``reference`` (the normalizing model: its latency is 1 by
construction, its counts are still checked); ``new`` (not in the baseline); ``missing`` (in the baseline, not
measured). Exit code 1 when any verdict is ``fail``, else 0.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from profiler.baseline.files import COUNT_FIELDS, pool_rows
from profiler.baseline.keys import cell_of
from profiler.baseline.rule import LatencyRule, LatencyVerdict, judge_latency, median_ratio, speed_factors

LATENCY_MODES = ("fail", "warn", "off")
MAX_LAYER_LINES = 5


@dataclass
class EntryResult:
    """The comparison of one setting."""

    key: str
    model: str
    verdict: str
    messages: list[str] = field(default_factory=list)
    counts_changed: bool = False
    latency: LatencyVerdict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "model": self.model,
            "verdict": self.verdict,
            "messages": self.messages,
            "counts_changed": self.counts_changed,
            "latency": self.latency.to_dict() if self.latency else None,
        }


@dataclass
class CheckReport:
    """Everything ``profiler check`` prints; ``exit_code`` 1 when any setting failed."""

    entries: list[EntryResult]
    notes: list[str]
    baseline_path: str
    baseline_key: str
    current_key: str
    latency_mode: str
    rule: LatencyRule
    normalization: str

    @property
    def exit_code(self) -> int:
        return 1 if any(e.verdict == "fail" for e in self.entries) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "baseline": self.baseline_path,
            "baseline_key": self.baseline_key,
            "current_key": self.current_key,
            "latency_mode": self.latency_mode,
            "threshold": self.rule.threshold,
            "alpha": self.rule.alpha,
            "normalization": self.normalization,
            "notes": self.notes,
            "entries": [e.to_dict() for e in self.entries],
        }


def count_changes(base: Mapping[str, Any], cur: Mapping[str, Any]) -> list[str]:
    """One line per count (macs, params, acts) that differs, e.g. ``"macs 1814073344 → 1900000000 (+4.73%)"``."""
    out = []
    for k in COUNT_FIELDS:
        b, c = base.get(k), cur.get(k)
        if b != c:
            rel = f" ({(c - b) / b:+.2%})" if isinstance(b, int) and isinstance(c, int) and b else ""
            out.append(f"{k} {b} → {c}{rel}")
    return out


def layer_changes(
    base_layers: Mapping[str, list[int]] | None, model: str, resolution: int, spec_json: str | None = None
) -> list[str]:
    """The layers whose counts differ between the baseline and the current model code (empty if not countable);
    ``spec_json``: the current row's spec (an external model is counted as measured)."""
    from profiler.baseline.files import layer_counts

    if not base_layers:
        return []
    cur = layer_counts(model, resolution, spec_json)
    if cur is None:
        return []
    lines = []
    for name in sorted(set(base_layers) | set(cur)):
        b, c = base_layers.get(name), cur.get(name)
        if b == c:
            continue
        if b is None:
            lines.append(f"layer {name!r} added (macs, params, acts = {c})")
        elif c is None:
            lines.append(f"layer {name!r} removed (was macs, params, acts = {b})")
        else:
            diff = ", ".join(f"{k} {x} → {y}" for k, x, y in zip(COUNT_FIELDS, b, c, strict=True) if x != y)
            lines.append(f"layer {name!r}: {diff}")
    if len(lines) > MAX_LAYER_LINES:
        lines = [*lines[:MAX_LAYER_LINES], f"… and {len(lines) - MAX_LAYER_LINES} more layer(s)"]
    return lines


def compare(
    baseline: Mapping[str, Any],
    df,  # pandas.DataFrame of the current run's rows
    *,
    current_key: str,
    latency: str = "fail",
    rule: LatencyRule | None = None,
    reference_model: str | None = None,
    models: str | None = None,
    baseline_path: str = "",
    name_layers: bool = True,
) -> CheckReport:
    """Compare the current rows with ``baseline``. A device-key mismatch must be handled by the caller: here it
    only switches latency off (counts-only) and adds a note."""
    if latency not in LATENCY_MODES:
        raise ValueError(f"latency mode {latency!r}; valid: {', '.join(LATENCY_MODES)}")
    rule = rule or LatencyRule()
    notes: list[str] = []
    if baseline["device_key"] != current_key and latency != "off":
        notes.append(
            f"device key {current_key!r} differs from the baseline's {baseline['device_key']!r}: "
            "latency not compared (counts only)"
        )
        latency = "off"
    base_entries: dict[str, Any] = dict(baseline["entries"])
    current = pool_rows(df)
    if models:
        keep = lambda m: fnmatch.fnmatchcase(m, models) or m == reference_model  # noqa: E731
        base_entries = {k: v for k, v in base_entries.items() if keep(v["model"])}
        current = {k: v for k, v in current.items() if keep(v["model"])}

    factors, normalization = {}, "latency not compared"
    if latency != "off":
        ref_ratios = {
            cell_of(b): median_ratio(b["samples_ms"], current[k]["samples_ms"])
            for k, b in baseline["entries"].items()
            if b["model"] == reference_model and k in current and current[k]["samples_ms"]
        }
        factors, normalization = speed_factors(ref_ratios, [cell_of(b) for b in base_entries.values()])
        if reference_model is None:
            normalization = "no machine-speed normalization (no reference_model named)"

    results = []
    for key in sorted(set(base_entries) | set(current)):
        b, c = base_entries.get(key), current.get(key)
        if b is None:
            results.append(EntryResult(key, c["model"], "new", ["not in the baseline"]))
            continue
        if c is None:
            results.append(EntryResult(key, b["model"], "missing", ["in the baseline but not measured"]))
            continue
        results.append(_judge(key, b, c, latency, rule, factors.get(cell_of(b), 1.0), reference_model, name_layers))
    return CheckReport(results, notes, baseline_path, baseline["device_key"], current_key, latency, rule, normalization)


def _judge(
    key: str,
    b: Mapping[str, Any],
    c: Mapping[str, Any],
    latency: str,
    rule: LatencyRule,
    factor: float,
    reference_model: str | None,
    name_layers: bool,
) -> EntryResult:
    res = EntryResult(key, b["model"], "pass")
    if c["errors"] and not c["samples_ms"]:
        res.verdict = "fail"
        res.messages.append("measurement failed: " + "; ".join(c["errors"])[:300])
        return res
    if c["counts"] is None or b.get("counts") is None:
        res.messages.append("counts not recorded; not compared")
    else:
        changes = count_changes(b["counts"], c["counts"])
        if changes:
            res.verdict, res.counts_changed = "fail", True
            res.messages.append("counts changed: " + "; ".join(changes))
            if name_layers:
                res.messages.extend(
                    layer_changes(b.get("layers"), b["model"], int(b["resolution"]), c.get("spec_json"))
                )
            if b.get("spec_hash") and c.get("spec_hash") and b["spec_hash"] != c["spec_hash"]:
                res.messages.append(f"spec changed (hash {b['spec_hash']} → {c['spec_hash']})")
    if latency == "off":
        return res
    if b["model"] == reference_model:
        if res.verdict == "pass":
            res.verdict = "reference"
        res.messages.append("reference model: defines the machine-speed factor")
        res.latency = judge_latency(b["samples_ms"], c["samples_ms"], factor=1.0, rule=rule)
        return res
    res.latency = v = judge_latency(
        b["samples_ms"],
        c["samples_ms"],
        factor=factor,
        rule=rule,
        baseline_process_ms=b.get("repeat_medians_ms") or (),
        current_process_ms=c.get("repeat_medians_ms") or (),
    )
    if v.outcome == "regression":
        res.messages.append(
            f"latency regressed: normalized ratio {v.norm_ratio:.3f} > {1 + rule.threshold:.2f}, "
            f"p = {v.p_slower:.2g} < {rule.alpha}"
        )
        if res.verdict == "pass":
            res.verdict = "fail" if latency == "fail" else "warn"
    elif v.outcome == "improvement":
        res.messages.append(f"faster than the baseline (normalized ratio {v.norm_ratio:.3f}); consider updating it")
    elif v.outcome == "insufficient":
        res.messages.append("too few samples for a latency verdict")
    return res
