"""Failed measurements keep their phases: the exception leaving ``measure`` carries the phases that ran before
it (``.phases``), the worker copies them into the failed row (a phase that never started stays NULL), and the
sweep's wall-time table counts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from profiler.sweep.tasks import Task
from profiler.timing import DeviceOOMError, ExportError, OutputMismatchError, TimingConfig, measure
from profiler.timing import onnx as tonnx
from tests.support.nets import Tiny, Unexportable
from tests.support.sweeps import make_task

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = TimingConfig(iters=2, warmup_iters=1, warmup_s=0.0)
ORT = dict(backend="onnxruntime", device="cpu", dtype="fp32", batch=1, resolution=16, config=FAST)


class Hungry(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 6422528000 bytes.")


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("a bug in the model, not a MeasurementError")


@pytest.fixture
def garbage_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """ONNX Runtime's output check fails (as if the graph computed garbage): a failure after export and load."""
    tonnx.clear_session_cache()
    monkeypatch.setattr(tonnx, "output_error", lambda actual, reference: 1.0)
    yield
    tonnx.clear_session_cache()


# --- the timing layer ------------------------------------------------------------------------------------------


def test_output_mismatch_carries_export_load_and_first_run(tmp_path: Path, garbage_outputs: None) -> None:
    with pytest.raises(OutputMismatchError, match="differs from eager fp32 by 1 of the output scale") as info:
        measure(Tiny(), cache_key="tiny", cache_dir=tmp_path, **ORT)
    phases = info.value.phases
    # The checked first run is warm-up; the timed loop never started: no timed_s (not 0).
    assert set(phases) == {"export_s", "load_s", "warmup_s"}
    assert phases["export_s"] > 0 and phases["load_s"] > 0 and phases["warmup_s"] > 0


def test_cache_hit_then_mismatch_has_zero_export(tmp_path: Path, garbage_outputs: None) -> None:
    with pytest.raises(OutputMismatchError):
        measure(Tiny(), cache_key="tiny", cache_dir=tmp_path, **ORT)
    tonnx.clear_session_cache()
    with pytest.raises(OutputMismatchError) as info:  # the graph is cached now: reading it is loading
        measure(Tiny(), cache_key="tiny", cache_dir=tmp_path, **ORT)
    assert info.value.phases["export_s"] == 0.0 and info.value.phases["load_s"] > 0


def test_export_failure_carries_the_export_time_only(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="archprof_test::twist") as info:
        measure(Unexportable(), cache_key="unexportable", cache_dir=tmp_path, **ORT)
    assert set(info.value.phases) == {"export_s"} and info.value.phases["export_s"] > 0


def test_eager_oom_in_warmup_carries_load_and_partial_warmup() -> None:
    with pytest.raises(DeviceOOMError, match="out of host memory at batch 1") as info:
        measure(Hungry(), backend="eager", device="cpu", dtype="fp32", batch=1, resolution=8, config=FAST)
    assert set(info.value.phases) == {"load_s", "warmup_s"}
    assert all(v >= 0 for v in info.value.phases.values())


def test_any_exception_from_a_backend_carries_phases() -> None:
    with pytest.raises(ValueError, match="a bug in the model") as info:  # type and message unchanged
        measure(Broken(), backend="eager", device="cpu", dtype="fp32", batch=1, resolution=8, config=FAST)
    assert set(info.value.phases) == {"load_s", "warmup_s"}


def test_compile_failures_carry_the_phases_that_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    from profiler.timing import CompileError
    from tests.support.nets import tiny_net
    from tests.support.timing import fake_compile

    kw = dict(backend="compile", device="cpu", dtype="fp32", batch=1, resolution=16, config=FAST)
    fake_compile(monkeypatch, fail=RuntimeError("inductor exploded"))
    with pytest.raises(CompileError, match="inductor exploded") as info:
        measure(tiny_net(), **kw)
    assert set(info.value.phases) == {"compile_s"}  # failed while compiling: its seconds up to the failure
    fake_compile(monkeypatch, scale=1.5)
    with pytest.raises(OutputMismatchError) as info:
        measure(tiny_net(), **kw)
    assert set(info.value.phases) == {"compile_s"}
    fake_compile(monkeypatch, graphs_per_call=(1, 0, 0, 1, 0))  # a recompilation found after the timed loop
    with pytest.raises(CompileError, match="recompiled") as info:
        measure(tiny_net(), **kw)
    assert set(info.value.phases) == {"compile_s", "warmup_s", "timed_s"}


def test_success_phases_are_unchanged_by_the_log(tmp_path: Path) -> None:
    tonnx.clear_session_cache()
    r = measure(Tiny(), cache_key="ok", cache_dir=tmp_path, **ORT)
    p = r.details["phases"]
    assert set(p) == {"export_s", "load_s", "warmup_s", "timed_s"} and p["export_s"] > 0
    assert p["warmup_s"] >= r.details["first_run_s"] and p["timed_s"] >= sum(r.samples_ms) / 1000 - 1e-4
    tonnx.clear_session_cache()


# --- the worker's failed rows ----------------------------------------------------------------------------------


class _TinySpec:
    def build(self) -> nn.Module:
        return Tiny()


def _task(backend: str, fault: str | None = None) -> Task:
    return make_task(
        spec_hash="tinyfailphase",
        backend=backend,
        timing={"iters": 2, "warmup_iters": 1, "warmup_s": 0.0, "threads": 1},
        count=False,
        fault=fault,
    )


def _stored(rows: list[dict], tmp_path: Path) -> dict:
    """The row as the store gives it back (a NULL column is None)."""
    from profiler.results.store import ResultStore

    with ResultStore.create(tmp_path / "run", {"run_id": "failphases"}) as store:
        for row in rows:
            store.add(row)
        return store.rows()[0]


def test_failed_ort_row_after_export_has_its_phases(
    tmp_path: Path, garbage_outputs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models
    from profiler.sweep.exec.worker import run_tasks

    monkeypatch.setattr(models, "spec_from_dict", lambda data: _TinySpec())
    heard: list[tuple[str, float | None]] = []
    [row] = list(
        run_tasks(
            [_task("onnxruntime")],
            onnx_cache_dir=tmp_path / "onnx",
            on_phase=lambda task, name, s: heard.append((name, s)),
        )
    )
    assert row.status == "failed" and row.error.startswith("OutputMismatchError: onnxruntime fp32 output")
    # The worker reports each phase's start (None) and end (seconds so far) as it goes: what its parent keeps
    # when it has to kill the worker.
    assert [n for n, s in heard if s is None] == ["build_s", "export_s", "load_s", "warmup_s"]
    assert {n: s for n, s in heard if s is not None} == {
        k: getattr(row, k) for k in ("build_s", "export_s", "load_s", "warmup_s")
    }
    assert row.build_s > 0 and row.export_s > 0 and row.load_s > 0 and row.warmup_s > 0
    details = json.loads(row.details_json)
    assert details["model_source"] == "copy" and set(details["phases"]) == {"export_s", "load_s", "warmup_s"}
    stored = _stored([row], tmp_path)
    assert stored["export_s"] == pytest.approx(row.export_s) and stored["load_s"] > 0
    assert stored["timed_s"] is None and stored["compile_s"] is None and stored["count_s"] is None  # NULL, not 0


def test_failure_before_timing_leaves_timing_phases_null(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models
    from profiler.sweep.exec.worker import run_tasks

    monkeypatch.setattr(models, "spec_from_dict", lambda data: _TinySpec())
    [row] = list(run_tasks([_task("onnxruntime", fault="raise")], onnx_cache_dir=tmp_path / "onnx"))
    assert row.status == "failed" and "injected fault 'raise'" in row.error and row.build_s > 0
    assert row.details_json is None  # nothing was measured: no partial details
    stored = _stored([row], tmp_path)
    assert [stored[p] for p in ("export_s", "compile_s", "load_s", "warmup_s", "timed_s")] == [None] * 5


# --- the sweep's wall-time table -------------------------------------------------------------------------------


def test_wall_time_table_counts_failed_rows_phases(tmp_path: Path) -> None:
    from rich.console import Console

    from profiler.sweep.config import parse_config
    from profiler.sweep.exec.local import Executor
    from profiler.sweep.progress import phase_table
    from profiler.sweep.run import plan, run_sweep
    from tests.support.sweeps import TINY

    config = parse_config(TINY, "tiny.toml")
    tasks = plan(config, "cpu")[:2]

    class Synthetic(Executor):  # one failed row (after 2.5 s of export and load), one ok row
        def _run(self, todo):
            for i, t in enumerate(t for t in todo if t in tasks):
                if i == 0:
                    yield t.failed_row("OutputMismatchError: x", build_s=0.5, export_s=2.0, load_s=0.5)
                else:
                    yield t.base_row(
                        status="ok", samples_ms=[100.0], latency_ms=100.0, build_s=0.25, warmup_s=0.1, timed_s=0.1
                    )

    run = tmp_path / "run"
    run_sweep(config, device="cpu", run_dir=run, show_progress=False, make_executor=Synthetic)
    session = json.loads((run / "meta.json").read_text())["sessions"][0]
    assert session["failed"] == 1 and session["failed_phases_s"] == pytest.approx(3.0)
    assert session["phases_s"]["export_s"] == pytest.approx(2.0)
    assert session["phases_s"]["build_s"] == pytest.approx(0.75)
    console = Console(record=True, width=120)
    console.print(phase_table(session))
    text = console.export_text()
    assert "ONNX export" in text and "phases include 1 failed row(s): 3.0 s spent before failing" in text


# --- a killed worker's row (the parent's side) -----------------------------------------------------------------

FAKE_WORKER = """
import json, os, signal, sys, time

job = json.loads(sys.stdin.readline())
task = job["tasks"][0]


def say(**msg):
    sys.stdout.write(json.dumps(msg) + "\\n")
    sys.stdout.flush()


say(event="start", key=TASK_KEY(task))
for name, s in (("build_s", 0.0), ("build_s", None), ("build_s", 0.25), ("export_s", None), ("export_s", 1.5),
                ("load_s", None)):
    say(event="phase", key=TASK_KEY(task), phase=name, s=s)
time.sleep(0.3)  # in load_s
if task["fault"] == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)  # "hang": the parent kills it at the task's timeout
"""


@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_killed_worker_row_keeps_the_phases_it_reported(tmp_path: Path, fault: str) -> None:
    """A stand-in worker (no torch: fast) reports phases, then dies or hangs inside load_s."""
    from dataclasses import replace

    from profiler.sweep.exec.local import SubprocessExecutor

    task = replace(_task("onnxruntime", fault=fault), timeout_s=1.0)
    root = tmp_path / "fake"
    (root / "profiler").mkdir(parents=True)
    (root / "profiler" / "__init__.py").write_text("")
    key = repr(task.key)
    (root / "profiler" / "worker.py").write_text(FAKE_WORKER.replace("TASK_KEY(task)", key))
    [row] = list(SubprocessExecutor(package_root=root).run([task]))
    assert row.status == "failed" and ("SIGKILL" in row.error or "timed out" in row.error), row.error
    assert row.build_s == 0.25 and row.export_s == 1.5 and row.load_s > 0  # load_s: up to the kill
    if fault == "hang":
        assert "timed out after 1 s" in row.error and row.load_s > 0.5  # killed 1 s after the start
    assert row.warmup_s is None and row.timed_s is None  # never started: NULL
    assert json.loads(row.details_json)["phases"] == {"export_s": 1.5, "load_s": row.load_s}


def test_ray_driver_puts_the_reported_phases_into_a_dead_workers_row() -> None:
    """The Ray driver's bookkeeping (no cluster needed): phase events in, the killed task's row out."""
    from collections import deque

    from profiler.sweep.exec import events
    from profiler.sweep.exec.local import Executor
    from profiler.sweep.exec.ray_pool import RayExecutor, _Slot

    task = _task("onnxruntime")
    slot, driver = _Slot(pending=[task], deadline=0.0), object.__new__(RayExecutor)
    Executor.__init__(driver)  # no Ray needed: the base's state only
    got = [events.Start(task.key)]
    got += [
        events.Phase(task.key, n, s)
        for n, s in (("build_s", 0.0), ("export_s", None), ("export_s", 1.5), ("load_s", None))
    ]
    for ev in got:
        assert list(RayExecutor._handle(driver, slot, ev)) == []
    [row] = list(RayExecutor._fail(slot, task, "Ray worker died (ActorDiedError): killed", deque()))
    assert row.status == "failed" and row.build_s == 0.0 and row.export_s == 1.5 and row.load_s >= 0
    assert row.warmup_s is None and set(json.loads(row.details_json)["phases"]) == {"export_s", "load_s"}
