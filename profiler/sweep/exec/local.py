"""Executors run sweep tasks and yield result rows; the measurement code does not know which one runs it.

- ``SubprocessExecutor`` (default): a fresh ``python -m profiler.sweep.exec.worker`` process per group of tasks (one
  model,
  one repeat), so a crash, a leak or allocator/cuDNN state never outlives a model. A worker that dies turns its
  in-flight task into a failed row naming the exit signal, and a new worker takes the rest of the group; a task
  running longer than its ``timeout_s`` is killed the same way. The worker reports each phase's start and end
  (``phase`` events), so such a row still carries the phases that ran, the one it was killed in up to the kill.
- ``InlineExecutor``: the same work in this process (debugging; no isolation).
A cluster executor (e.g. Ray, one worker per GPU) implements the same ``run(tasks) -> Iterator[row]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from profiler.core.paths import PROJECT_ROOT
from profiler.core.phases import WORKER_PHASES
from profiler.results.measurement import Measurement
from profiler.sweep.exec import events
from profiler.sweep.exec.worker import PARENT_PID_ENV, fits
from profiler.sweep.tasks import Task

_PACKAGE_ROOT = str(PROJECT_ROOT)  # holds profiler/ and models/


@dataclass(frozen=True)
class Limits:
    """What an executor may start, fixed when it is built.

    Time budget (sweep --time-budget): a task starts only if now + ``estimates_s[key]`` <= ``stop_at_unix``
    (without ``stop_at_unix``, always). A task's own timeout is its ``Task.timeout_s``.
    """

    stop_at_unix: float | None = None
    estimates_s: Mapping[str, float] | None = None


class Executor(ABC):
    """Runs tasks, yielding one result row (a ``Measurement``) per task, in any order, each task exactly once.

    Keyword-only, given when it is built: ``limits`` (the time budget; an executor that stops for it sets
    ``stopped_by_budget``, and the tasks it did not start get no row: resumable), ``on_start(task)`` (called when a
    task begins: the progress display), ``prefetch`` (``profiler.sweep.exec.prefetch.Prefetcher``: ``ready(tasks)``
    returns once their (spec, resolution) pairs are prepared: None, or a reason that fails them). When the pool
    prepares ahead ("overlap"), the worker asks per pair as it reaches it (``gate``), so that one long-lived worker
    (isolation "sweep" or "repeat") times the first models while the pool prepares the next; asked once per group
    up front, it waited for every model of the sweep before timing anything.
    """

    def __init__(
        self, *, limits: Limits | None = None, on_start: Callable[[Task], None] | None = None, prefetch: Any = None
    ) -> None:
        self.limits = limits or Limits()
        self.on_start = on_start
        self.prefetch = prefetch
        self.stopped_by_budget = False

    def _gate(self) -> Callable[[Task], str | None] | None:
        """The per-pair wait when the pool prepares ahead ("overlap"), else None."""
        if self.prefetch is None or getattr(self.prefetch, "mode", None) != "overlap":
            return None
        return lambda task: self.prefetch.ready([task])

    def _ready_upfront(self) -> bool:
        """A pool that does not prepare ahead: wait for a whole group before it starts."""
        return self.prefetch is not None and self._gate() is None

    def may_start(self, task: Task) -> bool:
        """False once the time budget cannot fit ``task`` (and from then on: no new task starts)."""
        if not self.stopped_by_budget and not fits(task, self.limits.stop_at_unix, self.limits.estimates_s):
            self.stopped_by_budget = True
        return not self.stopped_by_budget

    def run(self, tasks: Iterable[Task]) -> Iterator[Measurement]:
        """Run ``tasks`` and yield their rows as they are measured."""
        return self._run(list(tasks))

    @abstractmethod
    def _run(self, tasks: list[Task]) -> Iterator[Measurement]: ...


class InlineExecutor(Executor):
    """Measure in this process (no isolation: a crash ends the sweep)."""

    def __init__(
        self,
        counts_dir: Path | str | None = None,
        onnx_cache_dir: Path | str | None = None,
        *,
        limits: Limits | None = None,
        on_start: Callable[[Task], None] | None = None,
        prefetch: Any = None,
    ) -> None:
        super().__init__(limits=limits, on_start=on_start, prefetch=prefetch)
        self.counts_dir, self.onnx_cache_dir = counts_dir, onnx_cache_dir

    def _run(self, tasks: list[Task]) -> Iterator[Measurement]:
        from profiler.sweep.exec.worker import run_tasks

        for _, group in groupby(tasks, key=lambda t: t.group_key):
            group = list(group)
            if not self.may_start(group[0]):
                return
            reason = self.prefetch.ready(group) if self._ready_upfront() else None
            if reason is not None:
                yield from (t.failed_row(reason) for t in group)
                continue
            yield from run_tasks(
                group,
                self.counts_dir,
                self.onnx_cache_dir,
                on_start=self.on_start,
                should_start=self.may_start,
                gate=self._gate(),
            )
            if self.stopped_by_budget:
                return


class PhaseTracker:
    """The in-flight task's phases from its worker's ``phase`` events: what a killed task's row keeps."""

    def __init__(self) -> None:
        self.done: dict[str, float] = {}
        self.running: tuple[str, float] | None = None  # (phase, monotonic start)

    def event(self, name: str, seconds: float | None) -> None:
        if seconds is None:
            self.running = (name, time.monotonic())
        else:
            self.done[name], self.running = float(seconds), None  # seconds: the phase's total so far

    def row(self) -> dict[str, Any]:
        """Phase columns (and details) of a failed row: the running phase counts up to now."""
        out = dict(self.done)
        if self.running is not None:
            name, t0 = self.running
            out[name] = out.get(name, 0.0) + time.monotonic() - t0
        timing = {k: v for k, v in out.items() if k not in WORKER_PHASES}
        return {**out, "details_json": json.dumps({"phases": timing})} if timing else out


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name} ({-code})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class SubprocessExecutor(Executor):
    """One worker process per group of consecutive tasks sharing ``Task.group_key``."""

    def __init__(
        self,
        log_path: Path | str | None = None,
        counts_dir: Path | str | None = None,
        onnx_cache_dir: Path | str | None = None,
        package_root: Path | str | None = None,
        env: dict[str, str] | None = None,
        *,
        limits: Limits | None = None,
        on_start: Callable[[Task], None] | None = None,
        prefetch: Any = None,
    ) -> None:
        super().__init__(limits=limits, on_start=on_start, prefetch=prefetch)
        # package_root: run another checkout's worker (``check --against REV``); env: extra worker variables.
        self.package_root, self.extra_env = str(package_root or _PACKAGE_ROOT), dict(env or {})
        self.cwd = str(package_root) if package_root else None  # `-m` puts the cwd first on sys.path
        self.log_path = Path(log_path) if log_path else None
        self.counts_dir, self.onnx_cache_dir = counts_dir, onnx_cache_dir

    def _run(self, tasks: list[Task]) -> Iterator[Measurement]:
        for _, group in groupby(tasks, key=lambda t: t.group_key):
            pending = list(group)
            if not self.may_start(pending[0]):
                return
            reason = self.prefetch.ready(pending) if self._ready_upfront() else None
            if reason is not None:  # e.g. the preparation process died: failed rows, not a hung sweep
                yield from (t.failed_row(reason) for t in pending)
                continue
            while pending and not self.stopped_by_budget:
                yield from self._worker(pending)
            if self.stopped_by_budget:
                return

    def _spawn(self) -> tuple[subprocess.Popen, Any]:
        env = {**os.environ, **self.extra_env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (self.package_root, env.get("PYTHONPATH")) if p)
        env[PARENT_PID_ENV] = str(os.getpid())
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _worker's finally
        else:
            log = subprocess.DEVNULL
        proc = subprocess.Popen(
            [sys.executable, "-m", worker_module(self.package_root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=self.cwd,
        )
        return proc, log

    def _stderr_tail(self, offset: int) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:500] if lines else ""

    def _worker(self, pending: list[Task]) -> Iterator[Measurement]:
        """Run ``pending`` in one worker; removes each task from ``pending`` once it has a row."""
        by_key = {t.key: t for t in pending}
        offset = self.log_path.stat().st_size if self.log_path and self.log_path.is_file() else 0
        proc, log = self._spawn()
        lines: queue.Queue[bytes | None] = queue.Queue()

        def read() -> None:
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        gate = self._gate()
        job = {
            "tasks": [t.to_dict() for t in pending],
            "counts_dir": _str(self.counts_dir),
            "onnx_cache_dir": _str(self.onnx_cache_dir),
            "stop_at_unix": self.limits.stop_at_unix,
            "estimates_s": {t.key: (self.limits.estimates_s or {}).get(t.key, 0.0) for t in pending},
            "gate": gate is not None,
        }
        inflight: Task | None = None
        phases = PhaseTracker()
        started_any = False
        # Until the first task starts, the worker is importing and building: allow it the first task's timeout.
        deadline = time.monotonic() + pending[0].timeout_s
        try:
            # with a gate, stdin stays open: it carries the answers to the worker's "want"s
            _send_line(proc, json.dumps(job), close=gate is None)
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    task = inflight or pending[0]
                    proc.kill()
                    proc.wait()
                    pending.remove(task)
                    yield task.failed_row(
                        f"timed out after {task.timeout_s:g} s; worker killed",
                        worker_pid=proc.pid,
                        **(phases.row() if task is inflight else {}),
                    )
                    return
                if line is None:
                    break
                ev = events.parse(line)  # not JSON: raises, as it always did; an unknown event: skipped
                if isinstance(ev, events.Start):
                    inflight, started_any, phases = by_key[ev.key], True, PhaseTracker()
                    deadline = time.monotonic() + inflight.timeout_s
                    if self.on_start is not None:
                        self.on_start(inflight)
                elif isinstance(ev, events.Want) and gate is not None:
                    wanted = by_key[ev.key]
                    answer = events.GateAnswer(gate(wanted))  # the worker waits, idle, while the pool finishes
                    deadline = time.monotonic() + wanted.timeout_s  # the wait is not the task's time
                    _send_line(proc, answer.to_json())
                elif isinstance(ev, events.Phase):
                    phases.event(ev.phase, ev.s)
                elif isinstance(ev, events.Budget):
                    self.stopped_by_budget = True  # the worker did not start the rest: no rows, resumable
                elif isinstance(ev, events.Row):
                    task = by_key[ev.row.task_key]
                    pending.remove(task)
                    inflight = None
                    yield ev.row
            code = proc.wait()
            if not pending or (self.stopped_by_budget and inflight is None):
                return
            reason = f"worker {describe_exit(code)}"
            tail = self._stderr_tail(offset)
            if tail:
                reason += f"; last stderr line: {tail}"
            for task in _victims(pending, inflight, started_any):
                pending.remove(task)
                yield task.failed_row(reason, worker_pid=proc.pid, **(phases.row() if task is inflight else {}))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
            if log is not subprocess.DEVNULL:
                log.close()


def _str(p: Path | str | None) -> str | None:
    return None if p is None else str(p)


def _send_line(proc: subprocess.Popen, text: str, *, close: bool = False) -> None:
    """One line to the worker's stdin; a worker that is gone is handled by its exit, not here."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        proc.stdin.write((text + "\n").encode())
        proc.stdin.flush()
        if close:
            proc.stdin.close()


def _victims(pending: list[Task], inflight: Task | None, started_any: bool) -> list[Task]:
    """The tasks a dead worker's exit fails: the one in flight; before any started, the whole group (a worker
    that died before starting anything would die again: don't loop); else the next one."""
    if inflight is not None:
        return [inflight]
    return [pending[0]] if started_any else list(pending)


def worker_module(package_root: Path | str) -> str:
    """The worker's module in the checkout at ``package_root``: ``check --against REV`` may run a commit from before
    the package layout, where the worker was ``profiler.worker``."""
    if (Path(package_root) / "profiler" / "sweep" / "exec" / "worker.py").is_file():
        return "profiler.sweep.exec.worker"
    return "profiler.worker"
