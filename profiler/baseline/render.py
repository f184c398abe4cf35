"""Render a ``CheckReport``: a plain table, JSON, or GitHub Actions workflow annotations."""

from __future__ import annotations

import math

from profiler.baseline.compare import CheckReport

FORMATS = ("table", "json", "github")


def _ms(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.3f}"


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)


# What ``--latency`` does, in words: "latency: fail" read like a failed result (issue #27).
_GATE = {
    "fail": "a regression fails the check (--latency fail)",
    "warn": "a regression only warns (--latency warn)",
    "off": "off (counts only)",
}


def render_table(report: CheckReport) -> str:
    """Fixed-width table: setting, baseline and current median (ms), raw and normalized ratio, p, verdict."""
    head = ("setting", "base ms", "cur ms", "ratio", "norm", "p", "verdict")
    rows = []
    for e in report.entries:
        v = e.latency
        rows.append(
            (
                e.key,
                _ms(v.baseline_ms if v else None),
                _ms(v.current_ms if v else None),
                _num(v.ratio if v else None),
                _num(v.norm_ratio if v else None),
                _num(v.p_slower if v else None, ".2g"),
                e.verdict,
            )
        )
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]

    def fmt(r):
        return "  ".join(
            str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths, strict=True))
        )

    lines = [
        f"baseline: {report.baseline_path} ({report.baseline_key})",
        f"current device key: {report.current_key}",
        f"latency gate: {_GATE[report.latency_mode]}, threshold {report.rule.threshold:.0%}, alpha "
        f"{report.rule.alpha}; {report.normalization}",
        "",
        fmt(head),
        fmt(tuple("-" * w for w in widths)),
    ]
    lines += [fmt(r) for r in rows]
    details = [
        f"  {e.key}: {m}" for e in report.entries if e.verdict in ("fail", "warn", "missing") for m in e.messages
    ]
    if details:
        lines += ["", "details:", *details]
    lines += [f"note: {n}" for n in report.notes]
    counts = {v: sum(e.verdict == v for e in report.entries) for v in ("pass", "fail", "warn", "new", "missing")}
    lines += [
        "",
        "result: "
        + ("FAIL" if report.exit_code else "PASS")
        + " ("
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + ")",
    ]
    return "\n".join(lines)


def render_json(report: CheckReport) -> str:
    """The report as JSON (NaN → null)."""
    from profiler.core.jsonsafe import dumps

    return dumps(report.to_dict(), indent=2)


def _escape(text: str, prop: bool = False) -> str:
    # GitHub's workflow-command escaping: % \r \n always; , and : too inside properties.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(report: CheckReport) -> str:
    """``::error title=...::message`` per failure, ``::warning`` per warning/missing, ``::notice`` for notes."""
    lines = []
    for e in report.entries:
        level = {"fail": "error", "warn": "warning", "missing": "warning"}.get(e.verdict)
        if level:
            title = _escape(f"archprof check: {e.key} {e.verdict}", prop=True)
            lines.append(f"::{level} title={title}::{_escape('; '.join(e.messages))}")
    for n in report.notes:
        lines.append(f"::warning title=archprof check::{_escape(n)}")
    lines.append(f"::notice title=archprof check::{_escape(report.normalization)}")
    return "\n".join([*lines, render_table(report)])


def render(report: CheckReport, fmt: str) -> str:
    """Dispatch on ``fmt`` (one of ``FORMATS``)."""
    if fmt == "json":
        return render_json(report)
    if fmt == "github":
        return render_github(report)
    return render_table(report)
