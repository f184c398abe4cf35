"""``RayExecutor``: a sweep's groups run as Ray tasks, one per GPU (or per ``threads`` CPUs), rows streamed back.

Each (model × repeat) group is one Ray task with ``num_gpus=1`` (on CPU: ``num_cpus=threads``) and
``max_calls=1``, so Ray gives it a fresh worker process — the isolation of ``SubprocessExecutor`` (no allocator,
cuDNN or leak state outlives a model) — and never places two timing workers on one GPU. The task is a streaming
generator: it reports its placement, then a ``start`` event before each measurement and the row after it; the
driver (``ray.wait`` over the in-flight generators) hands rows to ``run_sweep``, the only writer of the store.

A worker or node that dies (``ray.exceptions.RayError``) turns the group's in-flight task into a failed row; the
group's unstarted tasks go back to the queue and run on another worker. A task past its ``timeout_s`` is
cancelled (the worker process is killed) and recorded the same way. Ray is optional: ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from profiler.core import paths
from profiler.core.errors import UsageError
from profiler.core.paths import PROJECT_ROOT
from profiler.results.measurement import Measurement
from profiler.sweep.exec import events
from profiler.sweep.exec.local import Executor, Limits, PhaseTracker
from profiler.sweep.tasks import Task

_PACKAGE_ROOT = PROJECT_ROOT  # holds profiler/ and models/
INSTALL_HINT = 'pip install -e ".[ray]"  (or: pip install "ray>=2.9")'


def import_ray() -> Any:
    """The ``ray`` module, or a UsageError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--executor ray needs Ray, which is not installed; install it with {INSTALL_HINT}") from None
    return ray


def _local_dir(path: str | None) -> str | None:
    # A driver path is usable on this node only if its parent exists here (same machine or a shared filesystem).
    return path if path and Path(path).parent.is_dir() else None


def _ray_group(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Body of the Ray task: measure one group with ``run_tasks``, yielding ``hello``, ``start``, ``phase`` and
    ``row`` events."""
    import queue
    import threading

    import ray

    from profiler.sweep.exec.worker import run_tasks

    gpu_ids = ray.get_gpu_ids()
    gpu_index = int(gpu_ids[0]) if gpu_ids else None
    place = {"node": socket.gethostname(), "gpu_index": gpu_index, "worker_pid": os.getpid()}
    yield events.Hello(**place, ray_node_id=ray.get_runtime_context().get_node_id()).to_dict()
    tasks = [Task.from_dict(t) for t in job["tasks"]]
    # The driver's cache root, where it exists on this node (a remote node keeps its own default).
    if _local_dir(job.get("cache_root")):
        os.environ[paths.CACHE_ENV] = job["cache_root"]
    # run_tasks calls on_start before it yields the row; a thread lets the start event reach the driver while the
    # measurement runs, so that the driver knows the in-flight task if this process dies.
    out: queue.Queue[dict[str, Any] | None] = queue.Queue()
    raised: list[BaseException] = []

    def work() -> None:
        try:
            for row in run_tasks(
                tasks,
                _local_dir(job["counts_dir"]),
                _local_dir(job["onnx_cache_dir"]),
                on_start=lambda t: out.put(events.Start(t.key).to_dict()),
                on_phase=lambda t, name, sec: out.put(events.Phase(t.key, name, sec).to_dict()),
            ):
                row.update(node=place["node"], gpu_index=gpu_index)
                out.put(events.Row(row).to_dict())
        except BaseException as exc:  # outside any measurement (those are rows): the driver gets it as RayTaskError
            raised.append(exc)
        finally:
            out.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (msg := out.get()) is not None:
        yield msg
    if raised:
        raise raised[0]


@dataclass
class _Slot:
    """One group on one Ray worker, as the driver tracks it."""

    pending: list[Task]
    deadline: float
    inflight: Task | None = None
    started_any: bool = False
    place: dict[str, Any] = field(default_factory=dict)  # node, gpu_index, worker_pid (row columns)
    phases: PhaseTracker = field(default_factory=PhaseTracker)  # the in-flight task's, for a killed task's row
    ray_node_id: str | None = None


class RayExecutor(Executor):
    """Groups of tasks (``Task.group_key``) as Ray tasks on a local or remote Ray cluster."""

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        counts_dir: Path | str | None = None,
        onnx_cache_dir: Path | str | None = None,
        *,
        limits: Limits | None = None,
        on_start: Callable[[Task], None] | None = None,
        prefetch: Any = None,
    ) -> None:
        super().__init__(limits=limits, on_start=on_start, prefetch=prefetch)
        self.ray = import_ray()
        self.address, self.num_workers = address, num_workers
        self.counts_dir = str(Path(counts_dir).resolve()) if counts_dir else None
        self.onnx_cache_dir = str(Path(onnx_cache_dir).resolve()) if onnx_cache_dir else None

    def _connect(self) -> bool:
        """Join (``address``) or start a Ray cluster; True when this call started it (and must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        if self.address:
            # Other nodes do not have this checkout: ship the two packages with the job.
            env = {"py_modules": [str(_PACKAGE_ROOT / "profiler"), str(_PACKAGE_ROOT / "models")]}
        else:
            env = {
                "env_vars": {
                    "PYTHONPATH": os.pathsep.join(p for p in (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
                }
            }
        try:
            # Worker output stays in Ray's logs (/tmp/ray/session_latest/logs on each node), not on the progress bar.
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env=env,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UsageError(f"cannot connect to the Ray cluster at {self.address!r}: {exc}") from None
        return True

    def capacity(self, tasks: list[Task]) -> tuple[int, dict[str, float]]:
        """How many groups can run at once on the cluster, and the Ray resources of one group."""
        res = self.ray.cluster_resources()
        if tasks[0].device == "cuda":
            need = {"num_gpus": 1}
            slots = int(res.get("GPU", 0))
            if slots < 1:
                raise UsageError(
                    "the Ray cluster has no GPU (ray.cluster_resources() has no 'GPU'); "
                    "sweep with --device cpu or add GPU nodes"
                )
        else:
            threads = int(tasks[0].timing.get("threads") or 1)
            need = {"num_cpus": threads}
            slots = int(res.get("CPU", 0)) // threads
            if slots < 1:
                raise UsageError(
                    f"the Ray cluster has {res.get('CPU', 0):g} CPUs; a task needs {threads} ([timing] threads)"
                )
        if self.num_workers is not None:
            if self.num_workers < 1:
                raise UsageError(f"--ray-workers must be >= 1, got {self.num_workers}")
            slots = min(slots, self.num_workers)
        return slots, need

    def _run(self, tasks: list[Task]) -> Iterator[Measurement]:
        if not tasks:
            return
        started_ray = self._connect()
        try:
            yield from self._drive(tasks)
        finally:
            if started_ray:
                self.ray.shutdown()

    def _drive(self, tasks: list[Task]) -> Iterator[Measurement]:
        ray = self.ray
        slots, need = self.capacity(tasks)
        remote = ray.remote(max_calls=1, max_retries=0, num_returns="streaming", **need)(_ray_group)
        queue_ = deque(list(g) for _, g in groupby(tasks, key=lambda t: t.group_key))
        running: dict[Any, _Slot] = {}
        while queue_ or running:
            while queue_ and len(running) < slots:
                pending = queue_.popleft()
                job = {
                    "tasks": [t.to_dict() for t in pending],
                    "counts_dir": self.counts_dir,
                    "onnx_cache_dir": self.onnx_cache_dir,
                    "cache_root": os.environ.get(paths.CACHE_ENV),
                }
                # Until the first task starts the worker is starting and importing: allow the first task's timeout.
                running[remote.remote(job)] = _Slot(pending, time.monotonic() + pending[0].timeout_s)
            wait_s = max(0.0, min(s.deadline for s in running.values()) - time.monotonic())
            ready, _ = ray.wait(list(running), num_returns=1, timeout=wait_s)
            if not ready:
                for gen, slot in list(running.items()):
                    if time.monotonic() >= slot.deadline:
                        task = slot.inflight or slot.pending[0]
                        ray.cancel(gen, force=True)  # kills the worker process
                        del running[gen]
                        yield from self._fail(
                            slot, task, f"timed out after {task.timeout_s:g} s; Ray worker killed", queue_
                        )
                continue
            for gen in ready:
                slot = running[gen]
                try:
                    ev = events.from_dict(ray.get(next(gen)))
                except StopIteration:
                    del running[gen]
                    if slot.pending:  # the group ended without rows for these: should not happen; never lose them
                        yield from self._fail(slot, slot.pending[0], "Ray worker ended without a row", queue_)
                    continue
                except ray.exceptions.RayError as exc:
                    del running[gen]
                    # RayTaskError: our code raised outside a measurement (e.g. an import); anything else: the worker,
                    # its node or its owner died.
                    what = "raised" if isinstance(exc, ray.exceptions.RayTaskError) else "died"
                    reason = f"Ray worker {what} ({type(exc).__name__}): {_first_line(exc)}"
                    # Between two tasks nothing was in flight: retry the rest. Before any task started, fail the
                    # first one, so that a group whose worker always dies cannot loop forever.
                    task = slot.inflight if slot.inflight is not None else None if slot.started_any else slot.pending[0]
                    yield from self._fail(slot, task, reason, queue_)
                    continue
                if ev is not None:  # an event this version does not know: skipped
                    yield from self._handle(slot, ev)

    def _handle(self, slot: _Slot, ev: events.WorkerEvent) -> Iterator[Measurement]:
        if isinstance(ev, events.Hello):
            slot.place = ev.place
            slot.ray_node_id = ev.ray_node_id
            # The worker is up: waiting for resources or a process start no longer counts against the timeout.
            slot.deadline = time.monotonic() + slot.pending[0].timeout_s
        elif isinstance(ev, events.Start):
            slot.inflight = next(t for t in slot.pending if t.key == ev.key)
            slot.started_any, slot.phases = True, PhaseTracker()
            slot.deadline = time.monotonic() + slot.inflight.timeout_s
            if self.on_start is not None:
                self.on_start(slot.inflight)
        elif isinstance(ev, events.Phase):
            slot.phases.event(ev.phase, ev.s)
        elif isinstance(ev, events.Row):
            slot.pending = [t for t in slot.pending if t.key != ev.row.task_key]
            slot.inflight = None
            yield ev.row

    @staticmethod
    def _fail(slot: _Slot, task: Task | None, reason: str, queue_: deque[list[Task]]) -> Iterator[Measurement]:
        """A failed row for ``task``; the group's other unmeasured tasks go back to the front of the queue."""
        rest = [t for t in slot.pending if t is not task]
        if rest:
            queue_.appendleft(rest)
        if task is not None:
            yield task.failed_row(reason, **slot.place, **(slot.phases.row() if task is slot.inflight else {}))


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # RayTaskError: the exception raised in the task
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"[:300]
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # Ray colours its messages
    return (text.splitlines()[0] if text else "")[:300]
