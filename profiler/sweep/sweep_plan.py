"""One plan per sweep: the tasks, the environment, the estimate and the budget plan, each made once.

``profiler sweep`` builds a ``SweepPlan`` (``make_plan``) and hands it to the dry run (``dryrun.print_dry_run``)
or to ``run.run_sweep(plan=...)``; nothing downstream plans the tasks, captures the environment, estimates (which
reads every earlier run's store under ``--results-dir``) or fits the budget a second time. On ``--resume`` the plan
carries the run (``resume.Resumed``: its store opened once, its ``meta.json`` read once).

The environment is captured on first use: the estimate's device key and a new run's ``meta.json`` share it; a
resume uses the environment its run recorded (``meta.json``), as the run's own estimate always did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.sweep import planning
from profiler.sweep.config import SweepConfig
from profiler.sweep.tasks import Task

if TYPE_CHECKING:
    from profiler.sweep.budget import BudgetPlan
    from profiler.sweep.estimate import Estimate
    from profiler.sweep.resume import Resumed


@dataclass
class SweepPlan:
    """What one sweep session will do, computed once: tasks (run order), skipped combinations, stored keys, and
    on demand (cached) the environment, the estimate and the budget plan."""

    config: SweepConfig
    device: str
    tasks: list[Task]
    skipped: list[str]
    results_dir: Path | None = None  # where earlier runs calibrate the estimate
    budget_s: float | None = None
    resumed: Resumed | None = None
    done: frozenset[str] = frozenset()  # keys the resumed run holds (failed ones too, unless retry_failed)
    session: dict[str, Any] | None = None  # set by run_sweep once the session is recorded in meta.json
    _environment: dict[str, Any] | None = field(default=None, repr=False)
    _estimate: Estimate | None = field(default=None, repr=False)
    _budget: BudgetPlan | None = field(default=None, repr=False)
    _budget_done: frozenset[str] = field(default=frozenset(), repr=False)

    def environment(self) -> dict[str, Any]:
        """This machine's environment (``environment.capture``), or the resumed run's recorded one; captured once."""
        if self._environment is None:
            from profiler.core import environment

            recorded = self.resumed.meta.environment if self.resumed is not None else None
            self._environment = recorded or environment.capture(self.device)
        return self._environment

    def estimate(self) -> Estimate:
        """Per-task cost estimates of every planned task (``planning.make_estimate``), made once."""
        if self._estimate is None:
            self._estimate = planning.make_estimate(
                self.config, self.device, self.tasks, self.results_dir, env=self.environment()
            )
        return self._estimate

    def budget_plan(self, done: Iterable[str] | None = None) -> BudgetPlan:
        """The subset that fits ``budget_s`` (``budget.plan_budget``), given the stored keys ``done`` (default: the
        plan's). Made once; made again only if ``done`` differs (another writer added rows since planning).
        UsageError (exit 2) when not even one cell of 8 models fits."""
        from profiler.sweep import budget

        if self.budget_s is None:
            raise ValueError("budget_plan() needs a plan made with budget_s")
        done = self.done if done is None else frozenset(done)
        if self._budget is None or done != self._budget_done:
            est = self.estimate()
            self._budget = budget.plan_budget(self.tasks, self.budget_s, est.total_s, est.gmacs_of, done=done)
            self._budget_done = done
        return self._budget

    @property
    def todo(self) -> list[Task]:
        """The tasks this session would run: the budget's subset, else every task not stored yet."""
        if self.budget_s is not None:
            return self.budget_plan().tasks
        return [t for t in self.tasks if t.key not in self.done]


def make_plan(
    config: SweepConfig,
    device: str,
    *,
    results_dir: Path | str | None = None,
    budget_s: float | None = None,
    resumed: Resumed | None = None,
    retry_failed: bool = False,
) -> SweepPlan:
    """Plan ``config`` on ``device`` once (``planning.plan_with_skips``); a resumed run's stored keys are read here."""
    tasks, skipped = planning.plan_with_skips(config, device)
    done = frozenset(resumed.store.done_keys(include_failed=not retry_failed)) if resumed is not None else frozenset()
    return SweepPlan(
        config, device, tasks, skipped, Path(results_dir) if results_dir is not None else None, budget_s, resumed, done
    )
