"""Work done once (issue 23): ``profiler sweep`` plans once, and under ``--time-budget`` captures the environment,
estimates (which reads earlier runs' stores) and fits the budget once; a resume opens the store and reads
``meta.json`` once. Counted through the command with a fake executor: nothing is measured."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from profiler.cli import main
from profiler.sweep.exec.local import Executor

MODELS = [
    "mobilenet_v1_x0_25",
    "mobilenet_v1_x0_5",
    "shufflenet_v2_x0_5",
    "shufflenet_v1_g3_x0_25",
    "regnetx_200mf",
    "regnety_200mf",
    "resnet18",
    "mobilenet_v2_x0_5",
    "efficientnet_b0",
]
CONFIG = f"""
name = "once"
count = false
prefetch = "off"
measure_peaks = false
[models]
include = {MODELS!r}
[settings]
resolutions = [32]
batches = [1]
backends = ["eager"]
[timing]
iters = 3
threads = 1
"""


class NoMeasure(Executor):
    """An executor that runs nothing (the session records 0 rows); it takes its limits when built, as every one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("limits", "on_start", "prefetch")})
        self.ran: list[str] = []

    def _run(self, tasks: list[Any]) -> Iterator[dict[str, Any]]:
        self.ran += [t.key for t in tasks]
        yield from ()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Counter:
    """Counts of each expensive step, by wrapping the function each module looks up at call time."""
    import profiler.core.environment as environment
    import profiler.sweep.budget as budget
    import profiler.sweep.estimate as estimate
    import profiler.sweep.estimate_fit as estimate_fit
    import profiler.sweep.exec.local as local
    import profiler.sweep.planning as planning
    from profiler.results.runs import RunMeta
    from profiler.results.store import ResultStore

    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    seen: Counter = Counter()

    def counted(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(environment, "capture", counted("capture", lambda device: {"cpu_model": "x", "torch": "2"}))
    monkeypatch.setattr(planning, "plan_with_skips", counted("plan", planning.plan_with_skips))
    monkeypatch.setattr(planning, "make_estimate", counted("estimate", planning.make_estimate))
    # Scanning earlier runs: counted, not done (the resumed run itself lies under --results-dir).
    monkeypatch.setattr(
        estimate_fit,
        "from_previous_runs",
        counted("previous_runs", lambda device, env, results_dir: estimate.BUILTIN[device]),
    )
    monkeypatch.setattr(estimate, "gmacs_lookup", lambda tasks, config: lambda t: 0.05)  # no meta-device counts
    monkeypatch.setattr(budget, "plan_budget", counted("plan_budget", budget.plan_budget))
    monkeypatch.setattr(RunMeta, "read", classmethod(counted("meta_read", RunMeta.read.__func__)))
    monkeypatch.setattr(ResultStore, "open", classmethod(counted("store_open", ResultStore.open.__func__)))
    monkeypatch.setattr(ResultStore, "read_meta", counted("meta_rmw", ResultStore.read_meta))
    monkeypatch.setattr(local, "SubprocessExecutor", NoMeasure)
    return seen


def _sweep(tmp_path: Path, *extra: str) -> int:
    cfg = tmp_path / "once.toml"
    cfg.write_text(CONFIG)
    return main(
        [
            "sweep",
            "--device",
            "cpu",
            "--results-dir",
            str(tmp_path / "results"),
            "--no-progress",
            "--time-budget",
            "10m",
            *extra,
        ]
    )


def test_a_budgeted_sweep_plans_captures_estimates_and_fits_once(
    tmp_path: Path, calls: Counter, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "results").mkdir()
    assert _sweep(tmp_path, "--config", str(tmp_path / "once.toml"), "--run-id", "r") == 0
    assert "time budget 600 s" in capsys.readouterr().out  # the session printed from the plan, not re-read
    assert {k: calls[k] for k in ("plan", "capture", "estimate", "previous_runs", "plan_budget")} == dict.fromkeys(
        ("plan", "capture", "estimate", "previous_runs", "plan_budget"), 1
    )
    assert calls["meta_read"] == calls["meta_rmw"] == 1  # only the writer's read-modify-write of its session

    calls.clear()  # resume: the run's store opened once, its meta.json read once, its recorded environment used
    assert _sweep(tmp_path, "--resume", "r") == 0
    assert {k: calls[k] for k in ("plan", "estimate", "previous_runs", "plan_budget", "store_open")} == dict.fromkeys(
        ("plan", "estimate", "previous_runs", "plan_budget", "store_open"), 1
    )
    assert calls["capture"] == 0
    assert calls["meta_read"] - calls["meta_rmw"] == 1 and calls["meta_rmw"] == 1

    calls.clear()  # a dry run of the resume: the same, read-only, and nothing written
    assert _sweep(tmp_path, "--resume", "r", "--dry-run") == 0
    assert "9 of 9 measurements fit" in capsys.readouterr().out
    assert (calls["plan"], calls["estimate"], calls["plan_budget"], calls["store_open"], calls["meta_read"]) == (
        1,
        1,
        1,
        1,
        1,
    )
