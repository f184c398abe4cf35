"""The sweep's progress display (rich, on stderr): current model, done/total, failures, ETA; and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.core.phases import LABELS as _PHASE_LABELS
from profiler.core.phases import WARMUP
from profiler.results.measurement import Measurement
from profiler.sweep.tasks import Task


class SweepProgress:
    """A rich progress bar, or nothing when ``enabled`` is False (library use, tests)."""

    def __init__(self, total: int, done: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.failed = 0
        self._bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("{task.description:<44}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._id = self._bar.add_task("starting", total=total, completed=done, failed=0)

    def __enter__(self) -> SweepProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, task: Task) -> None:
        if self._bar is not None:
            desc = f"{task.model} {task.backend} {task.dtype} b{task.batch} r{task.resolution}"
            self._bar.update(self._id, description=desc[:44])  # 28 cut "onnxruntime" and the batch

    def advance(self, row: Measurement) -> None:
        if not row.ok:
            self.failed += 1
            if self._bar is not None:
                from rich.markup import escape

                msg = escape(f"{row.task_key}: {str(row.error)[:200]}")
                self.console.print(f"[red]failed[/red] {msg}")
        if self._bar is not None:
            self._bar.update(self._id, advance=1, failed=self.failed)

    def summary(self, run_dir: Path, session: dict[str, Any]) -> None:
        """Print the end-of-session numbers: rows, failures, wall time, time in timed iterations, overhead."""
        ratio = session["overhead_ratio"]
        print(
            f"measured {session['rows']} of {session['planned']} planned "
            f"({session['skipped_stored']} already stored, {session['failed']} failed this session)"
        )
        print(
            f"wall time {session['wall_s']:.1f} s, timed iterations {session['timed_s']:.1f} s, "
            f"overhead ratio {ratio if ratio is not None else 'n/a'} (wall / timed)"
        )
        if line := unstable_line(session):
            print(line)
        budget = session.get("budget")
        if budget:
            stop = "; stopped by the budget (resume to continue)" if budget.get("stopped_by_budget") else ""
            print(
                f"time budget {budget['budget_s']:.0f} s: estimated {budget['estimate_s']:.0f} s, "
                f"actual {budget['actual_s']:.0f} s{stop}"
            )
        from rich.console import Console

        Console().print(phase_table(session))


def unstable_line(session: dict[str, Any]) -> str | None:
    """'unstable rows: k of n ...' for a session that recorded them (older sessions did not)."""
    if "unstable" not in session:
        return None
    n, names = session["unstable"], session.get("unstable_rows") or []
    if not n:
        return f"unstable rows: 0 of {session['rows']} (every median within its ci_target)"
    shown = names[:5]
    more = f" and {n - len(shown)} more" if n > len(shown) else ""
    return (
        f"unstable rows: {n} of {session['rows']} (median's 95 % CI wider than ± ci_target): {', '.join(shown)}{more}"
    )


# Where a device's first-run costs land in the warm-up phase (named in the label on that device only).
_WARMUP_NOTE = {"cuda": "warm-up (cuDNN autotuning shows here)"}


def phase_rows(session: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(phase, seconds, share of wall) of a session: the rows' phases, the prefetch pool's waits, and the rest."""
    wall = float(session.get("wall_s") or 0.0)
    phases = session.get("phases_s") or {}
    labels = {**_PHASE_LABELS, WARMUP: _WARMUP_NOTE.get(str(session.get("device")), _PHASE_LABELS[WARMUP])}
    out = [(label, float(phases[k])) for k, label in labels.items() if phases.get(k)]
    pf = session.get("prefetch") or {}
    if pf.get("before_s"):
        out.append((f"preparation before timing ({pf.get('workers')} processes)", float(pf["before_s"])))
    if pf.get("wait_s"):
        out.append(("waiting for the prefetch pool", float(pf["wait_s"])))
    other = wall - sum(v for _, v in out)
    out.append(("other (process starts, model copies, phases not reported)", max(0.0, other)))
    return [(label, v, v / wall if wall > 0 else 0.0) for label, v in out]


def phase_table(session: dict[str, Any]) -> Any:
    """Where the session's wall time went (a rich Table)."""
    from rich.table import Table

    table = Table(title="where the wall time went", title_justify="left")
    if session.get("failed"):  # a failed row's phases are those that ran before it failed
        table.caption = (
            f"phases include {session['failed']} failed row(s): "
            f"{float(session.get('failed_phases_s') or 0.0):.1f} s spent before failing"
        )
        table.caption_justify = "left"
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for label, sec, share in phase_rows(session):
        table.add_row(label, f"{sec:.1f}", f"{share:.0%}")
    table.add_row("wall", f"{float(session.get('wall_s') or 0):.1f}", "100%")
    return table
