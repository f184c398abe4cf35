"""``sweep --time-budget``: the largest subset of a sweep that fits, coverage first.

``plan_budget`` is a pure function of (tasks, estimated costs, budget). Order of what is taken:

1. Coverage: in every analysis cell (device, backend, batch, dtype, memory format) the first ``min_models``
   models — with at least ``min_families`` families — of one global priority order, repeat 0. The priority order
   spreads models over the FLOPs decades (farthest-point in log10 MACs, a bonus for an unseen family), so the
   same models serve every cell and their shared costs (worker, build, export) are paid once. A cell is taken
   whole or not at all (a cell of 5 models cannot be analyzed).
2. More models: the rest of the priority order, repeat 0, task by task while it fits.
3. Repeats: repeat 1 of every selected (model, setting), then repeat 2, …

The selected tasks run in the plan's order (repeats outermost, seeded shuffle), coverage models first within
repeat 0, so a run cut short still holds whole cells.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from profiler.core.errors import UsageError
from profiler.sweep.tasks import Task

_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """``"10m"``, ``"600s"``, ``"1h"``, ``"1.5h"`` or plain seconds → seconds (> 0); UsageError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", str(text).lower())
    if not m:
        raise UsageError(f"--time-budget {text!r} is not a duration; valid: e.g. 600s, 10m, 1h (a number > 0)")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not seconds > 0:
        raise UsageError(f"--time-budget {text!r} must be > 0; valid: e.g. 600s, 10m, 1h")
    return seconds


def cell_of(t: Task) -> tuple[str, str, int, str, str]:
    """The analysis cell of a task (profiler.analysis groups rows by the same fields)."""
    return (t.device, t.backend, t.batch, t.dtype, t.memory_format)


@dataclass
class BudgetPlan:
    """What fits: the tasks to run (in run order), their estimate, and what was left out."""

    tasks: list[Task]
    estimate_s: float
    budget_s: float
    covered_cells: list[tuple] = field(default_factory=list)
    dropped_cells: list[tuple] = field(default_factory=list)
    tier: dict[str, int] = field(default_factory=dict)  # task key -> 0 coverage, 1 more models, 2 repeats


def priority_order(units: dict[tuple[str, int], tuple[float, str]]) -> list[tuple[str, int]]:
    """(model, resolution) units spread over log10 MACs: farthest point first, +0.3 decade for a new family."""
    left = dict(units)
    if not left:
        return []
    logs = {u: math.log10(max(m, 1.0)) for u, (m, _) in left.items()}
    first = min(left, key=lambda u: (logs[u], u))
    order, fams = [first], {left.pop(first)[1]}
    while left:

        def score(u: tuple[str, int]) -> tuple[float, tuple[str, int]]:
            d = min(abs(logs[u] - logs[p]) for p in order)
            return (d + (0.3 if left[u][1] not in fams else 0.0), tuple(-ord(c) for c in u[0]))  # ties: by name

        best = max(left, key=score)
        fams.add(left.pop(best)[1])
        order.append(best)
    return order


def plan_budget(
    tasks: list[Task],
    budget_s: float,
    total_s: Callable[[Iterable[str]], float],
    macs: Callable[[Task], float],
    *,
    done: Iterable[str] = (),
    min_models: int = 8,
    min_families: int = 3,
) -> BudgetPlan:
    """The subset of ``tasks`` (run order kept) whose estimate ``total_s(keys)`` fits ``budget_s``.

    ``done`` keys (already stored, e.g. on --resume) count as covered at no cost. UsageError when not even one
    cell's coverage fits (the message gives what it would need).
    """
    done = set(done)
    units: dict[tuple[str, int], tuple[float, str]] = {}
    for t in tasks:
        units.setdefault((t.model, t.resolution), (macs(t), t.family))
    order = priority_order(units)
    rank = {u: i for i, u in enumerate(order)}
    by_cell: dict[tuple, dict[tuple[str, int], list[Task]]] = {}
    for t in tasks:
        by_cell.setdefault(cell_of(t), {}).setdefault((t.model, t.resolution), []).append(t)

    chosen: list[str] = []
    tier: dict[str, int] = {}
    chosen_set: set[str] = set()

    def cost_with(keys: list[str]) -> float:
        return total_s([k for k in chosen + keys if k not in done])

    def take(keys: list[str], level: int) -> None:
        for k in keys:
            if k not in chosen_set:
                chosen.append(k)
                chosen_set.add(k)
                tier[k] = level

    covered, dropped, cheapest = [], [], math.inf
    for cell, cell_units in by_cell.items():
        pick = _coverage_units(sorted(cell_units, key=rank.__getitem__), units, min_models, min_families)
        keys = [t.key for u in pick for t in cell_units[u] if t.repeat == 0]
        need = cost_with(keys)
        if need <= budget_s:
            take(keys, 0)
            covered.append(cell)
        else:
            dropped.append(cell)
            cheapest = min(cheapest, total_s([k for k in keys if k not in done]))
    if not covered:
        raise UsageError(
            f"--time-budget {budget_s:g} s is too small for one cell of >= {min_models} models from >= "
            f"{min_families} families: the cheapest cell needs ~{cheapest:.0f} s; give a larger budget"
        )
    max_rep = max(t.repeat for t in tasks)
    for rep in range(max_rep + 1):
        for u in order:
            for cell in covered:
                for t in by_cell[cell].get(u, []):
                    if t.repeat == rep and t.key not in chosen_set and cost_with([t.key]) <= budget_s:
                        take([t.key], 1 if rep == 0 else 2)
    # Run order: the plan's, with repeat 0's coverage models first (a unit's tier is its lowest task tier).
    unit_tier: dict[tuple[str, int, int], int] = {}
    for t in tasks:
        if t.key in chosen_set:
            k = (t.model, t.resolution, t.repeat)
            unit_tier[k] = min(unit_tier.get(k, 9), tier[t.key])
    picked = [t for t in tasks if t.key in chosen_set and t.key not in done]
    picked.sort(key=lambda t: (t.repeat, unit_tier[(t.model, t.resolution, t.repeat)]))
    return BudgetPlan(picked, total_s(t.key for t in picked), budget_s, covered, dropped, tier)


def _coverage_units(
    ranked: list[tuple[str, int]],
    units: dict[tuple[str, int], tuple[float, str]],
    min_models: int,
    min_families: int,
) -> list[tuple[str, int]]:
    """A cell's coverage: the first ``min_models`` units in priority order, plus more until ``min_families``."""
    pick: list[tuple[str, int]] = []
    fams: set[str] = set()
    for u in ranked:
        if len(pick) < min_models or (units[u][1] not in fams and len(fams) < min_families):
            pick.append(u)
            fams.add(units[u][1])
    return pick
