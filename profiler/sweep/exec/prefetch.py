"""Preparation of upcoming sweep tasks in a pool of CPU processes: model build, counts and the ONNX export.

A ``Prefetcher`` takes the (spec, resolution) pairs of a sweep in run order and prepares each one in one of a few
long-lived ``python -m profiler.sweep.exec.prefetch_worker`` processes: it builds the model, writes the counts into
the run's
``counts/`` (the cache the timing worker reads) and, when the timing layer offers
``profiler.timing.prepare_onnx`` (one export per spec and resolution), exports the ONNX graphs into the ONNX
cache. The timing worker then finds both ready (cache hits). Without ``prepare_onnx`` the worker still exports
inside ``measure`` as before, and the pool only counts.

Overlap rule (recorded in the session): ``overlap`` (default on CUDA) prepares up to ``lookahead`` pairs ahead
while the GPU worker times: CPU work cannot disturb GPU timing much, and one GPU timing process at a time is kept
by the executor. ``before`` (default on CPU) prepares every pair first, in parallel, and only then starts timing:
background CPU work would disturb CPU timing, so the two never run at once. ``off`` leaves everything to the
timing worker. A preparation process that dies is retried once in a fresh process; dying twice makes the rows of
that (spec, resolution) failed rows naming the exit, so the sweep never hangs on it.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from profiler.core.phases import PREPARE_PHASES
from profiler.sweep.exec.events import PrepDone
from profiler.sweep.tasks import Task

MODES = ("auto", "overlap", "before", "off")


class PrepDied(RuntimeError):
    """A preparation process exited while preparing (signal, OOM kill)."""


def resolve_mode(mode: str, device: str) -> str:
    """``auto`` → ``overlap`` on CUDA (GPU timing is not disturbed by CPU work), ``before`` on CPU."""
    return ("overlap" if device == "cuda" else "before") if mode == "auto" else mode


def default_workers(mode: str) -> int:
    """Processes: all cores but two when overlapping (the timing worker keeps a core), at most 4; all cores first."""
    cpus = os.cpu_count() or 1
    return max(1, min(4, cpus - 2)) if mode == "overlap" else max(1, cpus)


def _jobs(tasks: list[Task], counts_dir: str | None, onnx_cache_dir: str | None) -> dict[str, dict[str, Any]]:
    """One job per (spec, resolution), in first-use order: what to prepare for it."""
    jobs: dict[str, dict[str, Any]] = {}
    for t in tasks:
        job = jobs.setdefault(
            t.prep_key,
            {
                "task": t.to_dict(),
                "count": False,
                "onnx_dtypes": [],
                "counts_dir": counts_dir,
                "onnx_cache_dir": onnx_cache_dir,
                "opset": t.timing.get("opset"),
                "timeout_s": t.timeout_s,
                "exporter": t.timing.get("exporter", "dynamo"),
            },
        )
        job["count"] = job["count"] or t.count
        if t.backend == "onnxruntime" and t.dtype not in job["onnx_dtypes"]:
            job["onnx_dtypes"].append(t.dtype)
    # A pair with nothing to prepare (no counts; no ONNX, or no prepare_onnx to call) starts no process.
    onnx = has_prepare_onnx()
    return {
        k: j
        for k, j in jobs.items()
        if j["count"] or (onnx and j["onnx_dtypes"]) or j["task"]["fault"] == "prefetch_crash"
    }


class Prefetcher:
    """Prepares (spec, resolution) pairs ahead of the timing worker (see module doc for the overlap rule)."""

    def __init__(
        self,
        mode: str,
        device: str,
        *,
        workers: int = 0,
        lookahead: int = 3,
        counts_dir: Path | str | None = None,
        onnx_cache_dir: Path | str | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        self.mode = resolve_mode(mode, device)
        self.workers = workers or default_workers(self.mode)
        self.lookahead = max(1, lookahead)
        self.counts_dir = None if counts_dir is None else str(counts_dir)
        self.onnx_cache_dir = None if onnx_cache_dir is None else str(onnx_cache_dir)
        self.log_path = log_path
        self._jobs: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._futures: dict[str, Future[PrepDone]] = {}
        self._seen: set[str] = set()  # jobs whose answer is in ``stats``
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.stats: dict[str, Any] = {
            "mode": self.mode,
            "workers": self.workers,
            "lookahead": self.lookahead,
            "prepared": 0,
            "failed": 0,
            "retried": 0,
            **dict.fromkeys(PREPARE_PHASES, 0.0),
            "wait_s": 0.0,
            "prepare_onnx": has_prepare_onnx(),
        }

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self, tasks: list[Task]) -> None:
        """Plan the jobs of ``tasks``; ``before``: prepare them all now; ``overlap``: start the first few."""
        if self.mode == "off" or not tasks:
            return
        self._jobs = _jobs(tasks, self.counts_dir, self.onnx_cache_dir)
        self._order = list(self._jobs)
        for _ in range(min(self.workers, len(self._order))):
            th = threading.Thread(target=self._serve, daemon=True)
            th.start()
            self._threads.append(th)
        if self.mode == "before":
            t0 = time.perf_counter()
            for key in self._order:
                self._submit(key)
            for key in self._order:
                self._result(key)
            self.stats["before_s"] = round(time.perf_counter() - t0, 3)
            self.close()  # nothing runs beside the timing worker from here on
        else:
            self._top_up(0)

    def close(self) -> None:
        """Stop the pool: jobs not started yet are dropped (a budget stop must not wait for them)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].cancel()
        for _ in self._threads:
            self._queue.put(None)
        for th in self._threads:
            th.join(timeout=30)
        self._threads = []

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the executor's side ------------------------------------------------------------------------------
    def ready(self, group: list[Task]) -> str | None:
        """Wait until the pairs of ``group`` are prepared; None, or why the group must fail (a dead process)."""
        if self.mode == "off" or not self._jobs:
            return None
        t0 = time.perf_counter()
        reason = None
        for key in dict.fromkeys(t.prep_key for t in group):
            if key not in self._jobs:
                continue
            if self.mode == "overlap":
                self._submit(key)
                self._top_up(self._order.index(key) + 1)
            res = self._result(key)
            if res.died:
                reason = res.error
        self.stats["wait_s"] += time.perf_counter() - t0
        return reason

    def _top_up(self, start: int) -> None:
        for key in self._order[start : start + self.lookahead]:
            self._submit(key)

    def _submit(self, key: str) -> None:
        if key not in self._futures:
            fut: Future[PrepDone] = Future()
            self._futures[key] = fut
            self._queue.put((key, fut))

    def _result(self, key: str) -> PrepDone:
        res = self._futures[key].result()
        if key not in self._seen:
            self._seen.add(key)
            self.stats["prepared" if not res.error else "failed"] += 1
            for phase in PREPARE_PHASES:
                self.stats[phase] += getattr(res, phase)
        return res

    # --- pool threads: one long-lived process each -----------------------------------------------------------
    def _serve(self) -> None:
        proc: subprocess.Popen | None = None
        try:
            while (item := self._queue.get()) is not None:
                key, fut = item
                res = PrepDone(key=key)
                for attempt in (1, 2):
                    if proc is None or proc.poll() is not None:
                        proc = _spawn(self.log_path)
                    try:
                        res = _ask(proc, self._jobs[key])
                        break
                    except PrepDied as exc:
                        proc = None
                        res = PrepDone(key=key, error=f"preparation process {exc}", died=True)
                        if attempt == 1:
                            self.stats["retried"] += 1
                    except Exception as exc:  # a bug of the pool: the pair's rows fail; ready() never waits forever
                        _stop(proc)
                        proc = None
                        res = PrepDone(
                            key=key, error=f"preparation pool failed: {type(exc).__name__}: {exc}", died=True
                        )
                        break
                fut.set_result(res)
        finally:
            if proc is not None and proc.poll() is None:
                proc.stdin.close()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def has_prepare_onnx() -> bool:
    from profiler import timing

    return callable(getattr(timing, "prepare_onnx", None))


def _spawn(log_path: Path | str | None) -> subprocess.Popen:
    from profiler.core.paths import PROJECT_ROOT  # holds profiler/ and models/
    from profiler.sweep.exec.worker import PARENT_PID_ENV

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env[PARENT_PID_ENV] = str(os.getpid())
    err: Any = subprocess.DEVNULL
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        err = open(log_path, "ab")  # noqa: SIM115 - inherited by the child; the parent's copy is closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiler.sweep.exec.prefetch_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err,
    )
    if err is not subprocess.DEVNULL:
        err.close()
    return proc


def _ask(proc: subprocess.Popen, job: dict[str, Any]) -> PrepDone:
    """Send one job, wait for its answer line (at most the task's timeout; then the process is killed)."""
    try:
        proc.stdin.write((json.dumps(job) + "\n").encode())
        proc.stdin.flush()
    except BrokenPipeError:
        raise PrepDied(f"exited with code {proc.wait()} before taking the job") from None
    ready, _, _ = select.select([proc.stdout], [], [], float(job.get("timeout_s") or 600.0))
    line = proc.stdout.readline() if ready else None
    if not line:
        if not ready:
            proc.kill()
        from profiler.sweep.exec.local import describe_exit

        raise PrepDied(describe_exit(proc.wait()) if ready else "timed out; killed")
    try:
        return PrepDone.parse(line)
    except (ValueError, TypeError) as exc:  # e.g. a library printed on the protocol's fd: the process is not trusted
        _stop(proc)
        raise PrepDied(f"answered outside its protocol ({exc}); killed") from None


def _stop(proc: subprocess.Popen | None) -> None:
    """Kill ``proc`` (if any) and reap it."""
    if proc is not None:
        proc.kill()
        proc.wait()
