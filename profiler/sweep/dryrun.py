"""``sweep --dry-run`` output: the plan (``sweep_plan.SweepPlan``, made once by the command), measured nothing."""

from __future__ import annotations

import math
from pathlib import Path

from profiler.sweep.budget import cell_of
from profiler.sweep.sweep_plan import SweepPlan
from profiler.sweep.tasks import Task


def print_dry_run(plan: SweepPlan, run_dir: Path) -> None:
    """The plan (or the budgeted subset), per cell, and its time estimate with where the numbers come from.

    The estimate's device key is this machine's environment (or a resumed run's): a CUDA plan made on a CPU-only
    machine gets no matching previous run and so uses the built-in (H200) calibration.
    """
    config, device, tasks, skipped, budget_s = plan.config, plan.device, plan.tasks, plan.skipped, plan.budget_s
    est = plan.estimate()
    done = plan.done
    todo = [t for t in tasks if t.key not in done]
    print(
        f"sweep {config.name} ({config.path}) on {device}: {len(tasks)} measurements, "
        f"{len({t.model for t in tasks})} models, {len({t.group_key for t in todo})} worker processes "
        f"(isolation {config.isolation}), {config.repeats} repeat(s)" + (f"; {len(done)} stored" if done else "")
    )
    for note in skipped:
        print(f"  skipped: {note}")
    if budget_s is not None:
        bp = plan.budget_plan()
        todo = bp.tasks
        print(
            f"time budget {budget_s:.0f} s: {len(todo)} of {len(tasks) - len(done)} measurements fit; "
            f"{len(bp.covered_cells)} cell(s) covered, {len(bp.dropped_cells)} dropped"
        )
    print(f"{'cell':<44} {'models':>6} {'families':>8} {'decades':>7} {'repeats':>7} {'rows':>5}")
    cells: dict[tuple, list[Task]] = {}
    for t in todo:
        cells.setdefault(cell_of(t), []).append(t)
    for cell, ts in cells.items():
        macs = [est.gmacs_of(t) for t in ts]
        span = math.log10(max(macs) / min(macs)) if macs and min(macs) > 0 else 0.0
        name = "/".join(str(c) if not isinstance(c, int) else f"b{c}" for c in cell)
        print(
            f"{name:<44} {len({(t.model, t.resolution) for t in ts}):>6} {len({t.family for t in ts}):>8} "
            f"{span:>7.1f} {len({t.repeat for t in ts}):>7} {len(ts):>5}"
        )
    total = est.total_s(t.key for t in todo)
    keys = [t.key for t in todo]
    items = {s for k in keys for s in est.shared_of.get(k, ())}
    path = sum(est.cost_s[k] for k in keys)
    shared = sum(est.shared_s.get(s, 0.0) for s in items)
    print(
        f"estimated time: {total / 60:.1f} min (timing path {path / 60:.1f} min: rows incl. warm-up and timed; "
        f"worker starts/builds/exports on the path {shared / 60:.1f} min; prefetch {est.prep_mode}, "
        f"{est.prep_workers} processes)"
    )
    parts: dict[str, float] = {}
    for k in keys:
        for name, v in est.parts_of.get(k, {}).items():
            parts[name] = parts.get(name, 0.0) + v
    kinds: dict[str, float] = {}
    for s in sorted(items):  # a set: sorted, so that the line reads the same on every run
        kinds[s.split(":", 1)[0]] = kinds.get(s.split(":", 1)[0], 0.0) + est.shared_s.get(s, 0.0)
    print(
        "  rows: "
        + ", ".join(f"{n.removesuffix('_s')} {v / 60:.1f}" for n, v in parts.items())
        + " min; shared: "
        + ", ".join(f"{n} {v / 60:.1f}" for n, v in kinds.items() if v)
        + " min"
    )
    print(f"calibration: {est.model.source}")
    print(f"would write: {run_dir}")
