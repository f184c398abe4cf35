"""One long-lived worker and a pool that prepares ahead: the worker asks for each (spec, resolution) as it reaches
it, so timing starts after the first model is prepared, not after the whole sweep's (``executor._gate``)."""

from __future__ import annotations

from typing import Any

import pytest

from profiler.sweep.config import parse_config
from profiler.sweep.exec.local import InlineExecutor, SubprocessExecutor
from profiler.sweep.run import plan
from profiler.sweep.tasks import Task

ONE_WORKER = """
name = "gate"
shuffle = false
isolation = "sweep"
count = false
[models]
include = ["mobilenet_v1_x0_25", "shufflenet_v2_x0_5", "regnetx_200mf"]
[settings]
resolutions = [32]
batches = [1, 2]
backends = ["eager"]
[timing]
iters = 3
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""
DIED = "preparation process killed by signal SIGKILL (9)"


class FakePool:
    """A Prefetcher's executor-facing side: logs each wait, fails one model's pair."""

    mode = "overlap"

    def __init__(self, events: list[tuple[str, str]], fail_model: str) -> None:
        self.events, self.fail_model = events, fail_model

    def ready(self, tasks: list[Task]) -> str | None:
        models = sorted({t.model for t in tasks})
        self.events.append(("ready", ",".join(models)))
        return DIED if self.fail_model in models else None


@pytest.mark.parametrize("executor", [SubprocessExecutor, InlineExecutor])
def test_the_worker_waits_for_each_model_not_for_the_whole_sweep(executor: Any) -> None:
    tasks = plan(parse_config(ONE_WORKER, "gate.toml"), "cpu")
    assert len({t.group_key for t in tasks}) == 1  # one worker for the whole sweep
    events: list[tuple[str, str]] = []
    ex = executor(prefetch=FakePool(events, fail_model="shufflenet_v2_x0_5"))
    rows = []
    for row in ex.run(tasks):
        rows.append(row)
        events.append(("row", row.model))
    assert events == [
        ("ready", "mobilenet_v1_x0_25"),
        ("row", "mobilenet_v1_x0_25"),
        ("row", "mobilenet_v1_x0_25"),
        ("ready", "shufflenet_v2_x0_5"),
        ("row", "shufflenet_v2_x0_5"),
        ("row", "shufflenet_v2_x0_5"),
        ("ready", "regnetx_200mf"),
        ("row", "regnetx_200mf"),
        ("row", "regnetx_200mf"),
    ]
    status = {(r.model, r.batch): r.status for r in rows}
    assert [s for (m, _), s in status.items() if m == "shufflenet_v2_x0_5"] == ["failed", "failed"]
    assert all(r.error == DIED for r in rows if r.status == "failed")
    assert sum(s == "ok" for s in status.values()) == 4
    assert len({r.worker_pid for r in rows}) == 1  # the failed pair did not cost the worker its life


def test_overlap_on_a_cpu_says_it_can_slow_the_timing(tmp_path, capsys) -> None:
    from profiler.cli import main

    cfg = tmp_path / "overlap.toml"
    cfg.write_text(
        ONE_WORKER.replace('isolation = "sweep"', 'isolation = "sweep"\nprefetch = "overlap"')
        .replace('"shufflenet_v2_x0_5", "regnetx_200mf"', "")
        .replace("batches = [1, 2]", "batches = [1]")
    )
    assert (
        main(["sweep", "--config", str(cfg), "--device", "cpu", "--results-dir", str(tmp_path / "r"), "--no-progress"])
        == 0
    )
    err = capsys.readouterr().err
    assert 'prefetch = "overlap" on cpu' in err and "can slow it" in err
