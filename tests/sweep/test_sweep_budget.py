"""--time-budget: duration parsing, the coverage-first planner (pure, no measuring), the run-time stop, and phase
columns (store migration, worker phases). The estimates it plans with: test_sweep_budget_estimate.py."""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from profiler.core.errors import UsageError
from profiler.results.measurement import Measurement
from profiler.sweep.budget import cell_of, parse_duration, plan_budget, priority_order
from profiler.sweep.tasks import Task
from tests.support.sweeps import TINY, make_task  # the same two-model config as test_sweep.py


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("600s", 600), ("1h", 3600), ("90", 90), ("1.5h", 5400)])
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "-5m", "0", "0s", "5d", "1e3"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--time-budget"):
        parse_duration(text)


def test_cli_rejects_a_bad_budget_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from profiler.cli import main

    assert main(["sweep", "--time-budget", "soon", "--dry-run", "--device", "cpu"]) == 2
    assert "--time-budget" in capsys.readouterr().err


# --- the planner -------------------------------------------------------------------------------------------
FAMILIES = ["a", "b", "c", "d"]


def _tasks(n_models: int = 16, repeats: int = 3, cells=(("eager", 1), ("eager", 64), ("onnxruntime", 1))):
    """Synthetic tasks: model i has 10**(7 + 3 i / n) MACs (3 decades) and family FAMILIES[i % 4]."""
    tasks = []
    for rep in range(repeats):
        for i in range(n_models):
            for backend, batch in cells:
                tasks.append(
                    Task(
                        model=f"m{i:02d}",
                        family=FAMILIES[i % 4],
                        spec={},
                        spec_hash=f"h{i:02d}",
                        backend=backend,
                        device="cuda",
                        dtype="fp32",
                        memory_format="contiguous",
                        batch=batch,
                        resolution=224,
                        repeat=rep,
                    )
                )
    return tasks


def _macs(t: Task) -> float:
    return 10 ** (7 + 3 * int(t.model[1:]) / 16)


def _flat_cost(per_task: float = 1.0, per_model: float = 0.0):
    def total(keys) -> float:
        keys = list(keys)
        return per_task * len(keys) + per_model * len({k.split("|")[0] for k in keys})

    return total


def test_priority_order_spreads_over_decades_and_families() -> None:
    units = {(f"m{i:02d}", 224): (10 ** (7 + 3 * i / 16), FAMILIES[i % 4]) for i in range(16)}
    first8 = priority_order(units)[:8]
    logs = sorted(math.log10(units[u][0]) for u in first8)
    assert logs[0] == 7 and logs[-1] == pytest.approx(7 + 3 * 15 / 16)  # both ends of the range
    assert max(b - a for a, b in itertools.pairwise(logs)) < 0.75  # no big hole in between
    assert len({units[u][1] for u in first8}) >= 3


def test_coverage_first_then_models_then_repeats() -> None:
    tasks = _tasks()
    # 3 cells x 8 models = 24 coverage tasks; a budget of 40 leaves 16 for more models (48 repeat-0 tasks in all).
    plan = plan_budget(tasks, 40, _flat_cost(), _macs)
    assert len(plan.tasks) == 40 and plan.estimate_s == 40
    assert all(t.repeat == 0 for t in plan.tasks)
    per_cell: dict[tuple, set[str]] = {}
    for t in plan.tasks:
        per_cell.setdefault(cell_of(t), set()).add(t.model)
    assert len(per_cell) == 3 and all(len(m) >= 8 for m in per_cell.values())
    assert all(len({FAMILIES[int(m[1:]) % 4] for m in ms}) >= 3 for ms in per_cell.values())
    # With room for every model once, repeats come next; never a repeat 1 before all of repeat 0.
    plan = plan_budget(tasks, 60, _flat_cost(), _macs)
    assert sum(t.repeat == 0 for t in plan.tasks) == 48 and sum(t.repeat == 1 for t in plan.tasks) == 12
    assert plan.tasks == sorted(plan.tasks, key=lambda t: t.repeat)  # repeats outermost in the run order
    assert len(plan_budget(tasks, 1e9, _flat_cost(), _macs).tasks) == len(tasks)


def test_coverage_tasks_run_first_within_repeat_0() -> None:
    plan = plan_budget(_tasks(), 40, _flat_cost(), _macs)
    tiers = [plan.tier[t.key] for t in plan.tasks]
    assert tiers == sorted(tiers)


def test_shared_costs_make_the_planner_reuse_models_across_cells() -> None:
    # A model costs 10 s once (build, export) and 1 s per task: coverage picks the same 8 models in every cell.
    plan = plan_budget(_tasks(), 3 * 8 + 8 * 10, _flat_cost(1.0, 10.0), _macs)
    assert len({t.model for t in plan.tasks}) == 8 and len(plan.tasks) == 24


def test_a_budget_too_small_for_one_cell_says_what_it_needs() -> None:
    with pytest.raises(UsageError, match=r"too small for one cell of >= 8 models .* needs ~8 s"):
        plan_budget(_tasks(), 7.5, _flat_cost(), _macs)
    plan = plan_budget(_tasks(), 17, _flat_cost(), _macs)  # two cells fit, the third is dropped whole
    assert len(plan.covered_cells) == 2 and len(plan.dropped_cells) == 1


def test_resume_counts_stored_tasks_as_covered() -> None:
    tasks = _tasks()
    first = plan_budget(tasks, 30, _flat_cost(), _macs)
    done = {t.key for t in first.tasks}
    second = plan_budget(tasks, 30, _flat_cost(), _macs, done=done)
    assert not done & {t.key for t in second.tasks} and len(second.tasks) == 30


# --- run-time stop and phases ----------------------------------------------------------------------------------


def test_budget_stops_before_a_task_that_cannot_fit_then_resume_completes(tmp_path: Path) -> None:
    from profiler.results.store import load_results
    from profiler.sweep.config import parse_config
    from profiler.sweep.exec.local import InlineExecutor, Limits
    from profiler.sweep.run import plan, run_sweep

    config = parse_config(TINY, "tiny.toml")
    tasks = plan(config, "cpu")
    limits = Limits(
        stop_at_unix=time.time() + 3600, estimates_s={t.key: (1e6 if i == 2 else 0.0) for i, t in enumerate(tasks)}
    )
    made: list[InlineExecutor] = []

    def make(**kw: Any) -> InlineExecutor:
        made.append(InlineExecutor(**{**kw, "limits": limits}))
        return made[-1]

    run_dir = tmp_path / "run"
    run_sweep(config, device="cpu", run_dir=run_dir, show_progress=False, make_executor=make)
    df = load_results(run_dir)
    assert sorted(df["task_key"]) == sorted(t.key for t in tasks[:2]) and (df["status"] == "ok").all()
    assert made[0].stopped_by_budget
    run_sweep(config, device="cpu", run_dir=run_dir, resume=True, show_progress=False, make_executor=InlineExecutor)
    df = load_results(run_dir)
    assert len(df) == 4 and (df["status"] == "ok").all()
    # Phases: the worker's build and the timing layer's warm-up and timed seconds (timed = the samples' sum).
    # The timed loop's wall (rounded to 0.1 ms) holds its samples plus the timer's own overhead.
    sampled_s = df["samples_ms"].map(sum) / 1000
    assert (df["timed_s"] >= sampled_s - 1e-4).all() and (df["timed_s"] < sampled_s + 1.0).all()
    assert df["warmup_s"].notna().all() and (df["build_s"] >= 0).all()
    assert (df["build_s"] > 0).sum() >= 2  # each model's first row built it
    session = json.loads((run_dir / "meta.json").read_text())["sessions"][0]
    assert session["phases_s"]["timed_s"] == pytest.approx(session["timed_s"], abs=1e-3)


def test_old_runs_without_phase_columns_still_load(tmp_path: Path) -> None:
    from profiler.results.store import COLUMNS, PHASE_COLUMNS, ResultStore, load_results

    run = tmp_path / "old"
    run.mkdir()
    conn = sqlite3.connect(run / "results.sqlite")
    old = [(n, t) for n, t in COLUMNS if n not in PHASE_COLUMNS]
    conn.execute(f"CREATE TABLE measurements ({', '.join(f'{n} {t}' for n, t in old)})")
    conn.execute("INSERT INTO measurements (task_key, model, status) VALUES ('k', 'resnet18', 'ok')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    df = load_results(run)
    assert len(df) == 1 and set(PHASE_COLUMNS) <= set(df.columns) and df["timed_s"].isna().all()
    with ResultStore.open(run) as store:  # upgraded in place: new rows with phases can be added on resume
        store.add(Measurement.from_dict({"task_key": "k2", "model": "resnet18", "status": "ok", "timed_s": 1.5}))
    assert load_results(run).set_index("task_key").loc["k2", "timed_s"] == 1.5


REUSE = """
name = "reuse"
count = false
shuffle = false
[models]
include = ["mobilenet_v1_x0_25"]
[settings]
resolutions = [32]
batches = [1, 2]
backends = ["eager", "onnxruntime"]
memory_formats = ["contiguous", "channels_last"]  # ONNX Runtime: contiguous only (skipped otherwise)
[timing]
iters = 3
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""


@pytest.mark.slow  # one ONNX export of a registered model: ~45 s on the shared 2-core VM
def test_worker_reuses_the_converted_model_and_the_session_and_still_checks(tmp_path: Path) -> None:
    from profiler.sweep.config import parse_config
    from profiler.sweep.exec.worker import run_tasks
    from profiler.sweep.run import plan
    from profiler.timing import onnx as tonnx

    tonnx.clear_session_cache()
    tasks = plan(parse_config(REUSE, "reuse.toml"), "cpu")
    rows = list(run_tasks(tasks, onnx_cache_dir=tmp_path))
    assert [r.status for r in rows] == ["ok"] * 6, [r.error for r in rows]
    details = [json.loads(r.details_json) for r in rows]
    assert [(d["backend"], d["memory_format"], d["batch"]) for d in details] == [
        ("eager", "contiguous", 1),
        ("eager", "contiguous", 2),
        ("eager", "channels_last", 1),
        ("eager", "channels_last", 2),
        ("onnxruntime", "contiguous", 1),
        ("onnxruntime", "contiguous", 2),
    ]
    # CPU fp32 contiguous converts nothing: the pristine model; channels_last: one copy, then reused. The first
    # ONNX Runtime row exports (a cache miss: a copy); the second finds the graph and needs no model.
    assert [d["model_source"] for d in details] == ["pristine", "pristine", "copy", "reused", "copy", "pristine"]
    assert [d["session_reused"] for d in details[4:]] == [False, True]
    assert details[5]["output_checked_rows"] == 2 and details[5]["max_output_error_rel"] < 1e-4
    # The reused session: no export, no session creation (graph file read for the reference only).
    assert rows[5].export_s == 0.0 and rows[5].load_s < rows[4].load_s


def test_eager_cpu_fp32_leaves_the_pristine_model_as_it_was() -> None:
    import torch

    from profiler.sweep.exec.worker import _model_for
    from profiler.timing import TimingConfig, measure
    from profiler.timing.calibrate import calibrate_bn

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    calibrate_bn(model, 16)  # measure sets the batch-norm statistics once per resolution, from a seeded input
    before = {k: v.clone() for k, v in model.state_dict().items()}
    task = make_task(batch=2)
    given, source = _model_for(task, model, lambda t: False, {})
    assert given is model and source == "pristine"
    measure(
        given,
        backend="eager",
        device="cpu",
        dtype="fp32",
        batch=2,
        resolution=16,
        config=TimingConfig(iters=3, warmup_iters=1, warmup_s=0.0, threads=1),
    )
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype for k in before)
    cl = Task(**{**task.to_dict(), "memory_format": "channels_last"})
    assert _model_for(cl, model, lambda t: False, {})[1] == "copy"  # channels_last converts: never the pristine
