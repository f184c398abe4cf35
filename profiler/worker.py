"""Worker process of a sweep: ``python -m profiler.worker`` measures one group of tasks (one model, one repeat).

Protocol (see ``profiler.executor``): the parent writes one JSON line ``{"tasks": [...], "counts_dir": ...,
"onnx_cache_dir": ...}`` to stdin; the worker answers with JSON lines on stdout — ``{"event": "start", "key": K}``
before a task and ``{"event": "row", "row": {...}}`` after it. Everything else the libraries print goes to stderr
(fd 1 is redirected), so a stray print can never corrupt the protocol. The parent writes the rows to the store;
a worker never touches it.

Test hook ``ARCHPROF_TEST_SLOWDOWN="MODEL=FACTOR"`` (environment): MODEL's forward is followed by a busy wait of
(FACTOR - 1) x its own time, a real, measured slowdown (``benchmarks/check_power.py`` injects it into one side
of an A/B check).

Test hook: a task's ``fault`` (from the config's ``[faults]`` table) makes the worker raise ("raise"), die by
SIGKILL ("crash") or hang ("hang") at that task, so that failure handling can be tested on any machine.
"""

from __future__ import annotations

import copy
import datetime as _dt
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from profiler.tasks import Task

PARENT_PID_ENV = "ARCHPROF_PARENT_PID"
SLOWDOWN_ENV = "ARCHPROF_TEST_SLOWDOWN"


def _slowdown(model_name: str) -> float:
    """The injected slowdown factor for ``model_name`` from ``ARCHPROF_TEST_SLOWDOWN`` (1.0: none)."""
    spec = os.environ.get(SLOWDOWN_ENV, "")
    name, _, factor = spec.partition("=")
    return float(factor) if name == model_name and factor else 1.0


def _slowed(model: Any, factor: float) -> Any:
    """``model`` whose forward spins for (factor - 1) x its own duration afterwards (spin, not sleep: sleep
    overshoots at the millisecond scale)."""
    inner_forward = model.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        y = inner_forward(*args, **kwargs)
        until = time.perf_counter() + (factor - 1.0) * (time.perf_counter() - t0)
        while time.perf_counter() < until:
            pass
        return y

    model.forward = forward
    return model


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


class _CountCache:
    """Counts per (spec, resolution): computed once per run, shared by workers through small JSON files."""

    def __init__(self, directory: Path | None) -> None:
        self.dir = directory
        self.mem: dict[str, dict[str, int]] = {}

    def get(self, task: Task, spec: Any) -> dict[str, int]:
        key = f"{task.spec_hash}_r{task.resolution}"
        if key in self.mem:
            return self.mem[key]
        path = self.dir / f"{key}.json" if self.dir else None
        if path is not None and path.is_file():
            self.mem[key] = json.loads(path.read_text())
            return self.mem[key]
        from profiler.counting import count_model

        # Fake tensors under FlopCounterMode: no kernels run, no fvcore needed on the GPU host; the golden test
        # shows it equals fvcore's count on every registered model.
        c = count_model(spec, task.resolution, batch=1, method="torch")
        counts = {"macs": c.macs, "params": c.params, "acts": c.acts, "acts_all": c.acts_all}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(counts))
            tmp.replace(path)  # atomic: a killed worker never leaves half a file
        self.mem[key] = counts
        return counts


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
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def run_tasks(
    tasks: Iterable[Task],
    counts_dir: Path | str | None = None,
    onnx_cache_dir: Path | str | None = None,
    on_start: Callable[[Task], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Measure ``tasks`` in this process, yielding one result row each; a failure is a ``failed`` row."""
    import models
    from profiler.timing import TimingConfig, measure

    counts = _CountCache(Path(counts_dir) if counts_dir else None)
    pristine: dict[str, Any] = {}  # spec_hash -> (spec, CPU fp32 model): built once, deep-copied per task
    for task in tasks:
        if on_start is not None:
            on_start(task)
        row = {**task.base_row(), "worker_pid": os.getpid(), "started_at": _now()}
        t0 = time.perf_counter()
        try:
            if task.spec_hash not in pristine:
                pristine.clear()  # one model at a time in memory
                spec = models.spec_from_dict(task.spec)
                pristine[task.spec_hash] = (spec, spec.build().eval())
            spec, model = pristine[task.spec_hash]
            if task.count:
                row.update(counts.get(task, spec))
            _inject(task.fault)
            timed = copy.deepcopy(model)
            if (factor := _slowdown(task.model)) != 1.0:
                timed = _slowed(timed, factor)
            result = measure(
                timed, backend=task.backend, device=task.device, dtype=task.dtype,
                batch=task.batch, resolution=task.resolution, memory_format=task.memory_format,
                config=TimingConfig(**task.timing), cache_key=task.spec_hash, cache_dir=onnx_cache_dir,
            )
            if factor != 1.0:
                result.details["test_slowdown"] = factor  # recorded with the row: never mistaken for real data
            row.update(result.stats)
            row.update(latency_ms=result.stats["latency_ms_median"], samples_ms=result.samples_ms,
                       details_json=json.dumps(result.details, default=str), status="ok", error=None)
        except Exception as exc:  # failures are data: any error of this one measurement becomes a row
            row.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        if row["status"] == "failed":
            _release(task.device)  # outside the except block: its traceback no longer pins the failed tensors
        row["duration_s"] = round(time.perf_counter() - t0, 4)
        if task.device == "cuda" and row["status"] == "ok":
            row["device_name"] = _cuda_name()
        elif task.device == "cpu":
            row["device_name"] = _cpu_name()
        yield row


def _cuda_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def _cpu_name() -> str | None:
    from profiler.environment import cpu_model

    try:
        return cpu_model()
    except Exception:  # a name is nice to have; never fail a measurement over it
        return None


def _die_with_parent() -> None:
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
    """Entry point of ``python -m profiler.worker``."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # fd 1 (C libraries, print) now goes to stderr
    sys.stdout = sys.stderr
    _die_with_parent()
    job = json.loads(sys.stdin.readline())
    tasks = [Task.from_dict(t) for t in job["tasks"]]

    def started(task: Task) -> None:
        proto.write(json.dumps({"event": "start", "key": task.key}) + "\n")

    for row in run_tasks(tasks, job.get("counts_dir"), job.get("onnx_cache_dir"), on_start=started):
        proto.write(json.dumps({"event": "row", "row": row}, default=str) + "\n")
    proto.write(json.dumps({"event": "done"}) + "\n")
    proto.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
