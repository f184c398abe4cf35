"""The sweep's progress display (rich, on stderr): current model, done/total, failures, ETA; and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.tasks import Task


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
            TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.console,
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
            desc = f"{task.model} {task.backend} b{task.batch} r{task.resolution}"
            self._bar.update(self._id, description=desc[:28])

    def advance(self, row: dict[str, Any]) -> None:
        if row.get("status") != "ok":
            self.failed += 1
            if self._bar is not None:
                from rich.markup import escape

                msg = escape(f"{row.get('task_key')}: {str(row.get('error'))[:200]}")
                self.console.print(f"[red]failed[/red] {msg}")
        if self._bar is not None:
            self._bar.update(self._id, advance=1, failed=self.failed)

    def summary(self, run_dir: Path, session: dict[str, Any]) -> None:
        """Print the end-of-session numbers: rows, failures, wall time, time in timed iterations, overhead."""
        ratio = session["overhead_ratio"]
        print(f"measured {session['rows']} of {session['planned']} planned "
              f"({session['skipped_stored']} already stored, {session['failed']} failed this session)")
        print(f"wall time {session['wall_s']:.1f} s, timed iterations {session['timed_s']:.1f} s, "
              f"overhead ratio {ratio if ratio is not None else 'n/a'} (wall / timed)")
