"""Worker process of a sweep: ``python -m profiler.sweep.exec.worker`` measures one group of tasks (one model, one
repeat).

Protocol (see ``profiler.sweep.exec.local``): the parent writes one JSON line ``{"tasks": [...], "counts_dir": ...,
"onnx_cache_dir": ...}`` to stdin; the worker answers with the JSON lines of ``profiler.sweep.exec.events`` on
stdout — ``{"event": "start", "key": K}`` before a task and ``{"event": "row", "row": {...}}`` after it.
Everything else the libraries print goes to stderr (fd 1 is redirected), so a stray print can never corrupt the
protocol. The parent writes the rows to the store;
a worker never touches it.

Budget: a job may carry ``stop_at_unix`` and ``estimates_s`` (task key -> seconds): a task whose estimate does
not fit before ``stop_at_unix`` is not started; the worker then answers ``{"event": "budget"}`` and exits.


Test hooks: ``ARCHPROF_TIMER_LOG`` and ``ARCHPROF_TEST_SLOWDOWN`` (``profiler.sweep.exec.worker_hooks``). A task's
``fault`` (from the config's ``[faults]`` table) makes the worker raise ("raise"), die by
SIGKILL ("crash") or hang ("hang") at that task, so that failure handling can be tested on any machine.
"""

from __future__ import annotations

import copy
import datetime as _dt
import gc
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from profiler.core.phases import PHASES as _PHASES
from profiler.core.phases import TIMING_PHASES as _TIMING_PHASES  # build_s, count_s: the worker's own
from profiler.counting.cache import CountCache
from profiler.results.measurement import Measurement
from profiler.sweep.exec import events
from profiler.sweep.exec.worker_hooks import TIMER_LOG_ENV, RecordingTimer, slowdown_factor, slowed
from profiler.sweep.tasks import Task

PARENT_PID_ENV = "ARCHPROF_PARENT_PID"


def fits(task: Task, stop_at_unix: float | None, estimates_s: dict[str, float] | None) -> bool:
    """Whether ``task`` may start now: its estimated cost ends before ``stop_at_unix`` (always, without one)."""
    if stop_at_unix is None:
        return True
    return time.time() + float((estimates_s or {}).get(task.key, 0.0)) <= stop_at_unix


def phases_of(details: dict[str, Any], samples_ms: list[float]) -> dict[str, float]:
    """The timing layer's phases (``details["phases"]``); warm-up and timed seconds derived when it gives none."""
    out = {k: float(v) for k, v in (details.get("phases") or {}).items() if k in _PHASES and v is not None}
    if "warmup_s" not in out and details.get("warmup_s_done") is not None:
        out["warmup_s"] = float(details["warmup_s_done"])
    if "timed_s" not in out and samples_ms:
        out["timed_s"] = sum(samples_ms) / 1000.0
    return out


def failed_phases(exc: BaseException) -> dict[str, float]:
    """The timing layer's phases that ran before ``exc`` (``exc.phases``, set by ``measure``); absent ones stay
    absent, so that a phase that never started is NULL in the row, not 0."""
    got = getattr(exc, "phases", None)
    got = got if isinstance(got, dict) else {}
    return {k: float(v) for k, v in got.items() if k in _TIMING_PHASES and v is not None}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def _inject(fault: str | None) -> None:
    if fault == "raise":
        from profiler.timing import MeasurementError

        raise MeasurementError("injected fault 'raise' (config [faults])")
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "hang":
        time.sleep(10**6)


def _release(device: str) -> None:
    # After a failure (OOM above all) give the memory back before the next task of this worker.
    _drop_ort_session()
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def _hold_model(task: Task, pristine: dict[str, Any], converted: dict[str, Any], own: Any) -> tuple[Any, Any]:
    """``task``'s (spec, CPU fp32 model), batch norms calibrated at its resolution: the model held since the
    previous row, else built now (one model at a time in memory; ``own`` times the build)."""
    import models
    from profiler.timing.calibrate import BN_MARK, calibrate_bn

    held = pristine.get(task.spec_hash)
    if held is None:
        pristine.clear()  # one model at a time in memory
        converted.clear()
        _drop_ort_session()  # the last model's session cannot serve this one
    if held is None or getattr(held[1], BN_MARK, None) != task.resolution:
        with own.timing("build_s"):
            if held is None:
                spec = models.spec_from_dict(task.spec)
                pristine[task.spec_hash] = held = (spec, spec.build().eval())
            # Once per model and resolution; every converted copy (fp16, CUDA) inherits the statistics.
            calibrate_bn(held[1], task.resolution)
    return held


def run_tasks(
    tasks: Iterable[Task],
    counts_dir: Path | str | None = None,
    onnx_cache_dir: Path | str | None = None,
    on_start: Callable[[Task], None] | None = None,
    should_start: Callable[[Task], bool] | None = None,
    on_phase: Callable[[Task, str, float | None], None] | None = None,
    gate: Callable[[Task], str | None] | None = None,
) -> Iterator[Measurement]:
    """Measure ``tasks`` in this process, yielding one result row each; a failure is a ``failed`` row.

    ``gate(task)`` (the prefetch pool, preparing ahead) is asked once per (spec, resolution), before its first
    task: it returns when that pair is prepared, None or why its tasks must fail (a dead preparation process).
    ``should_start(task) -> False`` (the time budget) stops the loop before that task: no row, nothing started.
    ``on_phase(task, phase, None | seconds)`` hears each phase start and end (build_s, count_s, the timing ones).
    """
    import functools

    from profiler.timing import PhaseLog, TimingConfig, measure

    counts = CountCache(Path(counts_dir) if counts_dir else None)
    from profiler.timing.onnx_cache import onnx_cache_checker

    pristine: dict[str, Any] = {}  # spec_hash -> (spec, CPU fp32 model): built once, deep-copied per task
    graph_cached = onnx_cache_checker(onnx_cache_dir)
    converted: dict[str, Any] = {}  # the last eager row's converted copy (``_model_for``)
    timer_log = os.environ.get(TIMER_LOG_ENV)
    gated: tuple[str, str | None] | None = None  # (prep key, why it failed) of the pair the gate last let through
    for task in tasks:
        if gate is not None and (gated is None or gated[0] != task.prep_key):
            gated = (task.prep_key, gate(task))  # waits for the pool; the budget is checked after the wait
        if gated is not None and gated[1] is not None:
            yield task.failed_row(gated[1], worker_pid=os.getpid())
            continue
        if should_start is not None and not should_start(task):
            return
        if on_start is not None:
            on_start(task)
        row = task.base_row(worker_pid=os.getpid(), started_at=_now(), build_s=0.0, **placement(task.device))
        t0 = time.perf_counter()
        partial: dict[str, Any] = {}  # details known before measuring: a failed row keeps them
        heard = functools.partial(on_phase, task) if on_phase is not None else None
        own = PhaseLog(heard)  # the worker's phases (build_s, count_s); the timing layer keeps its own
        try:
            own.put("build_s", 0.0)  # 0: the model of the previous row serves this one
            spec, model = _hold_model(task, pristine, converted, own)
            if task.count:
                with own.timing("count_s"):
                    row.update(counts.get(task, spec), bytes_batch=counts.bytes_batch(task))
            _inject(task.fault)
            t_copy = time.perf_counter()
            given, model_source = _model_for(task, model, graph_cached, converted)
            if (factor := slowdown_factor(task.model)) != 1.0:  # test hook: never slow a model other rows share
                given, model_source = slowed(copy.deepcopy(given), factor), "copy"
            copy_s = time.perf_counter() - t_copy  # part of the row's overhead (the estimate's row_s)
            partial |= {"model_source": model_source, "model_copy_s": copy_s}
            if factor != 1.0:
                partial["test_slowdown"] = factor  # recorded with the row: never mistaken for real data
            result = measure(
                given,
                backend=task.backend,
                device=task.device,
                dtype=task.dtype,
                batch=task.batch,
                resolution=task.resolution,
                memory_format=task.memory_format,
                config=TimingConfig(**task.timing),
                cache_key=task.spec_hash,
                cache_dir=onnx_cache_dir,
                timer=RecordingTimer(timer_log, task.device) if timer_log else None,
                on_phase=heard,
            )
            result.details |= partial
            row.update(result.stats)
            row.update(
                latency_ms=result.stats["latency_ms_median"],
                samples_ms=result.samples_ms,
                details_json=json.dumps(result.details, default=str),
                status="ok",
                error=None,
            )
            row.update(own, **phases_of(result.details, result.samples_ms))
        except Exception as exc:  # failures are data: any error of this one measurement becomes a row
            row.update(own, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            # What the timing layer spent before failing (export, session, warm-up...) is part of the sweep's cost.
            if phases := failed_phases(exc):
                row.update(phases)
                partial["phases"] = phases
            if isinstance(log := getattr(exc, "ort_log", None), dict):  # ONNX Runtime's lines before the failure
                partial["ort_log"] = log
            if partial:
                row.details_json = json.dumps(partial, default=str)
        if not row.ok:
            converted.clear()
            _release(task.device)  # outside the except block: its traceback no longer pins the failed tensors
        row.duration_s = round(time.perf_counter() - t0, 4)
        if task.device == "cuda" and row.ok:
            row.device_name = _cuda_name()
        elif task.device == "cpu":
            row.device_name = _cpu_name()
        yield row


def _drop_ort_session() -> None:
    if "profiler.timing.onnx" in sys.modules:  # never import onnxruntime just to clear nothing
        sys.modules["profiler.timing.onnx"].clear_session_cache()


def _model_for(
    task: Task, model: Any, graph_cached: Callable[[Task], bool], converted: dict[str, Any]
) -> tuple[Any, str]:
    """(what ``measure`` gets, ``model_source``): ``"copy"``, a deep copy of the pristine model (``measure``
    converts it in place; a copy costs 0.1-0.9 s of Python on the 2-core VM), except

    - ``"pristine"``: the pristine model itself where nothing converts it — an ONNX Runtime row whose graph is
      cached (the model is never touched), an eager row on the CPU in fp32 and contiguous memory (``prepare`` is a
      no-op there, and eval-mode inference under inference_mode changes no state);
    - ``"reused"``: an eager row after an eager row of the same model, device, dtype and memory format gets that
      row's converted copy again (``converted`` holds one).
    """
    if (task.backend == "onnxruntime" and graph_cached(task)) or (
        task.backend == "eager" and task.device == "cpu" and task.dtype == "fp32" and task.memory_format == "contiguous"
    ):
        converted.clear()
        return model, "pristine"
    if task.backend != "eager":
        converted.clear()  # no eager copy held on the device while another backend is timed
        return copy.deepcopy(model), "copy"
    key = (task.spec_hash, task.device, task.dtype, task.memory_format)
    if converted.get("key") == key:
        return converted["model"], "reused"
    converted.clear()  # free the previous copy first
    converted.update(key=key, model=copy.deepcopy(model))
    return converted["model"], "copy"


def placement(device: str) -> dict[str, Any]:
    """Where a row is measured: ``node`` (host name) and ``gpu_index`` (the physical CUDA index; None on CPU)."""
    gpu_index = None
    if device == "cuda":
        # CUDA_VISIBLE_DEVICES (set by Ray or the user) maps this process's cuda:0 to a physical GPU.
        first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
        gpu_index = int(first) if first.isdigit() else None
    return {"node": socket.gethostname(), "gpu_index": gpu_index}


def _cuda_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def _cpu_name() -> str | None:
    from profiler.core.environment import cpu_model

    try:
        return cpu_model()
    except Exception:  # a name is nice to have; never fail a measurement over it
        return None


def die_with_parent() -> None:
    # Linux: the kernel kills this worker when the sweep dies (even by SIGKILL), so no orphan keeps measuring.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    expected = os.environ.get(PARENT_PID_ENV)
    if expected and os.getppid() != int(expected):  # the parent died before prctl took effect
        os._exit(1)


def main() -> int:
    """Entry point of ``python -m profiler.sweep.exec.worker``."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # fd 1 (C libraries, print) now goes to stderr
    sys.stdout = sys.stderr
    die_with_parent()
    job = json.loads(sys.stdin.readline())
    tasks = [Task.from_dict(t) for t in job["tasks"]]

    def started(task: Task) -> None:
        proto.write(events.Start(task.key).to_json() + "\n")

    def phase(task: Task, name: str, seconds: float | None) -> None:  # a killed task's row keeps these
        proto.write(events.Phase(task.key, name, seconds).to_json() + "\n")

    def gate(task: Task) -> str | None:  # the parent answers once the pool has prepared the task's pair
        proto.write(events.Want(task.key).to_json() + "\n")
        answer = sys.stdin.readline()
        return events.GateAnswer.parse(answer).reason if answer else "the sweep stopped answering (stdin closed)"

    stop_at, estimates = job.get("stop_at_unix"), job.get("estimates_s")
    n = 0
    for row in run_tasks(
        tasks,
        job.get("counts_dir"),
        job.get("onnx_cache_dir"),
        on_start=started,
        should_start=lambda t: fits(t, stop_at, estimates),
        on_phase=phase,
        gate=gate if job.get("gate") else None,
    ):
        proto.write(events.Row(row).to_json() + "\n")
        n += 1
    if n < len(tasks):
        proto.write(events.Budget().to_json() + "\n")  # the time budget ends the sweep here
    proto.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
