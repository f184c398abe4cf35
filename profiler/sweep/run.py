"""Running a sweep: planned tasks → executor → results store (crash-safe, resumable, one writer per run).

``run_sweep`` measures what the store does not hold yet; the plan and its order come from
``profiler.sweep.planning`` (``plan``, ``plan_with_skips`` and ``make_estimate`` stay importable from here).
"""

from __future__ import annotations

import datetime as _dt
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.core import paths
from profiler.core.errors import UsageError
from profiler.results.measurement import Measurement
from profiler.results.store import PHASE_COLUMNS, ResultStore
from profiler.sweep import planning
from profiler.sweep.config import SweepConfig

# Planning lives in profiler.sweep.planning (below the SweepPlan); these names stay the sweep's API here.
plan, plan_with_skips = planning.plan, planning.plan_with_skips
make_estimate, estimate_seconds = planning.make_estimate, planning.estimate_seconds

if TYPE_CHECKING:
    from profiler.sweep.exec.local import Executor
    from profiler.sweep.sweep_plan import SweepPlan


def _meta(
    config: SweepConfig,
    device: str,
    argv: list[str] | None,
    skipped: list[str] | None = None,
    env: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new run's ``meta.json``; ``env``: the environment already captured for this sweep (else captured now)."""
    from profiler.core import environment
    from profiler.hardware.measure import attach_peaks

    env = dict(env) if env is not None else environment.capture(device)
    # Measured peaks of this device key (`profiler peaks`), for the report's roofline; CPU keys name the threads.
    attach_peaks(env, device, threads=config.timing_config().threads or env.get("torch_threads"))
    return {
        "run": {
            "config_name": config.name,
            "device": device,
            "argv": argv if argv is not None else sys.argv,
            "git_commit": env.get("git_commit"),
            "started_at": _now(),
            # combinations that can never be measured (e.g. amp on ONNX Runtime), with the reason
            "skipped": list(skipped or []),
        },
        "environment": env,
        "config": config.to_dict(),
        "sessions": [],
    }


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def run_sweep(
    config: SweepConfig,
    *,
    device: str,
    run_dir: Path | str,
    resume: bool = False,
    show_progress: bool = True,
    retry_failed: bool = False,
    make_executor: Callable[..., Executor] | None = None,
    argv: list[str] | None = None,
    time_budget_s: float | None = None,
    results_dir: Path | str | None = None,
    plan: SweepPlan | None = None,
) -> Path:
    """Measure every planned task not yet in ``run_dir`` (one row each, committed as measured); returns run_dir.

    ``resume=True`` opens an existing run (its config text must match) and skips stored tasks (failed ones too,
    unless ``retry_failed``). The session's wall time, timed time, overhead ratio and phase sums go to
    ``meta.json``. ``time_budget_s``: only the subset ``profiler.sweep.budget.plan_budget`` selects is run, and no task
    starts once the rest of the budget cannot fit its estimate (``results_dir``: where earlier runs calibrate it).
    ``make_executor(*, limits, on_start)`` builds the executor (an executor class will do; default: a
    ``SubprocessExecutor`` with the config's prefetch pool): it gets its limits when built, never later.
    ``plan``: the sweep planned already (``sweep_plan.make_plan``, with the same config and device and, on resume,
    the opened run): its tasks, environment, estimate and budget (``plan.budget_s`` rules) are used, not made
    again; the session is left in ``plan.session``.
    """
    import scipy.stats  # noqa: F401  (protocol.median_ci_rel's)

    from profiler.sweep.exec.local import Limits
    from profiler.sweep.lock import RunLock
    from profiler.sweep.progress import SweepProgress
    from profiler.sweep.resume import check_resumable, open_resume
    from profiler.sweep.sweep_plan import make_plan
    from profiler.timing import protocol  # noqa: F401  (the row loop's imports, before its first row: _unstable)

    run_dir = Path(run_dir)
    if plan is None:
        resumed = open_resume(run_dir) if resume else None
        try:
            plan = make_plan(
                config,
                device,
                results_dir=results_dir or run_dir.parent,
                budget_s=time_budget_s,
                resumed=resumed,
                retry_failed=retry_failed,
            )
        except BaseException:
            if resumed is not None:
                resumed.close()
            raise
    tasks, skipped, time_budget_s = plan.tasks, plan.skipped, plan.budget_s
    if resume:
        resumed = plan.resumed if plan.resumed is not None else open_resume(run_dir)
        try:
            check_resumable(run_dir, resumed.meta, config, device)
        except BaseException:
            resumed.close()
            raise
        store = resumed.store
    else:
        store = ResultStore.create(run_dir, _meta(config, device, argv, skipped, env=plan.environment()))
    lock = RunLock(run_dir)
    try:
        lock.acquire()  # held until the session is recorded: the stored keys read below stay true
    except UsageError:
        store.close()
        raise
    with store, lock:
        done = store.done_keys(include_failed=not retry_failed)
        todo = [t for t in tasks if t.key not in done]
        n_stored = len(tasks) - len(todo)
        budget: dict[str, Any] = {}
        t0, started = time.perf_counter(), _now()
        limits = Limits()
        if time_budget_s is not None:
            bplan = plan.budget_plan(done)  # the plan's, unless another writer stored rows since it was made
            est = plan.estimate()
            todo = bplan.tasks
            limits = Limits(
                stop_at_unix=time.time() + time_budget_s - (time.perf_counter() - t0), estimates_s=est.cost_s
            )
            budget = {
                "budget_s": time_budget_s,
                "estimate_s": round(bplan.estimate_s, 1),
                "selected": len(todo),
                "cells_covered": len(bplan.covered_cells),
                "cells_dropped": [list(c) for c in bplan.dropped_cells],
                "calibration": est.model.source,
            }
        progress = SweepProgress(total=len(tasks), done=n_stored, enabled=show_progress)
        executor = (make_executor or functools.partial(_default_executor, config, device, run_dir))(
            limits=limits, on_start=progress.start
        )
        tally = _Tally()
        prefetch = executor.prefetch
        interrupted = False
        try:
            with progress:
                if prefetch is not None:
                    prefetch.start(todo)  # "before": prepares everything now; "overlap": the first few
                for row in executor.run(todo):
                    store.add(row)
                    tally.add(row)
                    progress.advance(row)
        except KeyboardInterrupt:
            interrupted = True  # the rows stored so far stay; the session is recorded below, then re-raised
        finally:
            if prefetch is not None:
                prefetch.close()
        wall_s = time.perf_counter() - t0
        timed_s = tally.timed_s
        session = {
            "started_at": started,
            "wall_s": round(wall_s, 4),
            "timed_s": round(timed_s, 6),
            "overhead_ratio": round(wall_s / timed_s, 2) if timed_s > 0 else None,
            "rows": tally.n_rows,
            "failed": tally.n_failed,
            "planned": len(tasks),
            "skipped_stored": n_stored,
            "phases_s": {k: round(v, 3) for k, v in tally.phases.items()},
            "failed_phases_s": round(tally.failed_phases_s, 3),
            "argv": argv if argv is not None else sys.argv,
            "interrupted": interrupted,
            "unstable": len(tally.unstable),
            "unstable_rows": tally.unstable[:20],
            "device": device,
        }
        if prefetch is not None:
            session["prefetch"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in prefetch.stats.items()}
        if budget:
            stopped = executor.stopped_by_budget
            budget |= {
                "actual_s": round(wall_s, 1),
                "stopped_by_budget": stopped,
                "not_started": len(todo) - tally.n_rows,
            }
            session["budget"] = budget
        doc = store.read_meta()  # read-modify-write by the writer: another key may have changed since
        doc.setdefault("sessions", []).append(session)
        store.write_meta(doc)
        plan.session = session
        if interrupted:
            raise KeyboardInterrupt
        if show_progress:
            progress.summary(run_dir, session)
    return run_dir


def _default_executor(config: SweepConfig, device: str, run_dir: Path, **built: Any) -> Executor:
    """The subprocess executor, with the config's prefetch pool; ``built``: its limits and progress callback."""
    from profiler.sweep.exec.local import SubprocessExecutor
    from profiler.sweep.exec.prefetch import Prefetcher

    pool = (
        None
        if config.prefetch == "off"
        else Prefetcher(
            config.prefetch,
            device,
            workers=config.prefetch_workers,
            lookahead=config.prefetch_lookahead,
            counts_dir=paths.counts_dir(run_dir),
            log_path=run_dir / "logs" / "prefetch.log",
        )
    )
    return SubprocessExecutor(
        run_dir / "logs" / "workers.log", counts_dir=paths.counts_dir(run_dir), prefetch=pool, **built
    )


@dataclass
class _Tally:
    """What a session's rows add up to: rows, failures, timed seconds, phase sums, unstable rows."""

    n_rows: int = 0
    n_failed: int = 0
    timed_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    failed_phases_s: float = 0.0  # of those phases, the seconds failed rows spent before failing
    unstable: list[str] = field(default_factory=list)  # medians less precise than their ci_target (issue #27)

    def add(self, row: Measurement) -> None:
        self.n_rows += 1
        self.n_failed += not row.ok
        if row.ok and row.samples_ms:
            self.timed_s += sum(row.samples_ms) / 1000.0
            if _unstable(row):
                self.unstable.append(f"{row.model} {row.backend} batch {row.batch}")
        for name in PHASE_COLUMNS:  # every row's, failed ones included: failures cost time too
            if (seconds := getattr(row, name)) is not None:
                self.phases[name] = self.phases.get(name, 0.0) + float(seconds)
                self.failed_phases_s += 0.0 if row.ok else float(seconds)


def _unstable(row: Measurement) -> bool:
    """Whether a measured row's median missed its ci_target (``protocol.is_unstable``).

    ``run_sweep`` imports what this needs (numpy, scipy.stats) before the first row. Imported here, on the first
    row, a Ctrl-C landing inside a C extension's import set CPython's "unhandled KeyboardInterrupt" mark even though
    the sweep caught it: the process then ended by SIGINT instead of printing the resume hint and exiting 130.
    """
    from profiler.timing.protocol import is_unstable, row_ci_target

    return is_unstable(row.samples_ms, row_ci_target(row.details_json))


def session_summary(run_dir: Path | str) -> dict[str, Any] | None:
    """The last session recorded in a run's meta.json (wall time, timed time, overhead ratio)."""
    from profiler.results.runs import RunMeta

    return RunMeta.read(run_dir).last_session
