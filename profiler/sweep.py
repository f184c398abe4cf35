"""Sweep planning and running: config → ordered tasks → executor → results store (crash-safe, resumable).

``plan(config, device)`` expands the config into tasks in the order they run: repeats outermost (so repeat 0
of every model runs before repeat 1 — drift shows as a repeat effect, not a model effect), the model order
shuffled per repeat with the config's seed, and each model's settings kept together so that one worker builds
(and exports) the model once. ``run_sweep`` measures what the store does not hold yet.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from profiler.config import ModelEntry, SweepConfig
from profiler.errors import UsageError
from profiler.store import ResultStore
from profiler.tasks import Task

# Rough speeds for --dry-run estimates only (MAC/s of a batch-1 conv net; per-worker and per-export overheads).
_EST_MACS_PER_S = {"cpu": 1.5e10, "cuda": 2e12}
_EST_MIN_ITER_S = {"cpu": 2e-4, "cuda": 1.5e-3}  # launch-bound floor per forward
_EST_WORKER_S = 6.0  # start a process, import torch/models/onnxruntime
_EST_EXPORT_S = 4.0  # torch.onnx export + session creation
_EST_COUNT_S = 2.0


def plan_with_skips(config: SweepConfig, device: str) -> tuple[list[Task], list[str]]:
    """The tasks of ``config`` on ``device`` in run order, and why each impossible combination was skipped."""
    import models
    from profiler.timing import validate_request

    timing = config.timing_config().to_dict()
    per_model: dict[str, list[Task]] = {}
    skipped: list[str] = []
    for group in config.groups:
        s = group.settings
        for name in group.models:
            entry: ModelEntry = config.models[name]
            # Through JSON once: the task holds exactly what a worker will receive (lists, not tuples).
            spec_dict = json.loads(json.dumps(models.spec_to_dict(entry.spec)))
            spec_hash = models.spec_hash(entry.spec)
            min_res = int(getattr(type(entry.spec), "min_resolution", 1))
            for res in s.resolutions:
                res = entry.resolution if res == "native" else int(res)
                if res < min_res:
                    skipped.append(f"{name} at {res}px: below its minimum resolution {min_res}")
                    continue
                for batch in s.batches:
                    for backend in s.backends:
                        for dtype in s.dtypes:
                            for mf in s.memory_formats:
                                try:
                                    validate_request(backend, device, dtype, mf, batch, res)
                                except UsageError as exc:
                                    skipped.append(f"{backend}/{device}/{dtype}/{mf}: {exc}")
                                    continue
                                per_model.setdefault(name, []).append(Task(
                                    model=name, family=entry.family, spec=spec_dict, spec_hash=spec_hash,
                                    backend=backend, device=device, dtype=dtype, memory_format=mf,
                                    batch=batch, resolution=res, repeat=0, timing=timing, count=config.count,
                                    timeout_s=config.task_timeout_s, fault=config.faults.get(name),
                                    isolation=config.isolation,
                                ))
    tasks: list[Task] = []
    seen: set[str] = set()
    for rep in range(config.repeats):
        order = list(per_model)
        if config.shuffle:
            random.Random(f"{config.seed}-{rep}").shuffle(order)  # str seeds are stable across processes
        for name in order:
            for t in per_model[name]:
                task = Task(**{**t.to_dict(), "repeat": rep})
                if task.key not in seen:  # a subsweep may repeat a main-grid setting
                    seen.add(task.key)
                    tasks.append(task)
    return tasks, sorted(set(skipped))


def plan(config: SweepConfig, device: str) -> list[Task]:
    """The tasks of ``config`` on ``device``, in run order (see module doc)."""
    return plan_with_skips(config, device)[0]


def estimate_seconds(config: SweepConfig, tasks: list[Task]) -> float:
    """A rough wall-time estimate (MACs from a meta-device FLOP count, scaled with resolution²)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    macs_224: dict[str, float] = {}
    for t in tasks:
        if t.spec_hash in macs_224:
            continue
        try:
            with torch.device("meta"):  # no allocation, no init: fast even for 30 GFLOP models
                model = config.models[t.model].spec.build().eval()
                x = torch.zeros(1, 3, 224, 224)
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                model(x)
            macs_224[t.spec_hash] = counter.get_total_flops() / 2
        except Exception:  # an estimate must not stop a dry run; assume a mid-size network
            macs_224[t.spec_hash] = 2e9
    total = _EST_WORKER_S * len({t.group_key for t in tasks})
    total += _EST_COUNT_S * len({(t.spec_hash, t.resolution) for t in tasks if t.count})
    total += _EST_EXPORT_S * len({(t.spec_hash, t.resolution, t.batch, t.dtype, t.repeat)
                                  for t in tasks if t.backend == "onnxruntime"})
    for t in tasks:
        iter_s = max(_EST_MIN_ITER_S[t.device],
                     macs_224[t.spec_hash] * (t.resolution / 224) ** 2 * t.batch / _EST_MACS_PER_S[t.device])
        n = t.timing["iters"] + t.timing["warmup_iters"] + (2 if t.backend == "onnxruntime" else 0)
        total += n * iter_s + max(0.0, t.timing["warmup_s"] - t.timing["warmup_iters"] * iter_s)
    return total


def _meta(config: SweepConfig, device: str, argv: list[str] | None) -> dict[str, Any]:
    from profiler import environment

    env = environment.capture(device)
    return {"run": {"config_name": config.name, "device": device, "argv": argv if argv is not None else sys.argv,
                    "git_commit": env.get("git_commit"), "started_at": _now()},
            "environment": env, "config": config.to_dict(), "sessions": []}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def run_sweep(
    config: SweepConfig,
    *,
    device: str,
    run_dir: Path | str,
    resume: bool = False,
    show_progress: bool = True,
    retry_failed: bool = False,
    executor: Any = None,
    argv: list[str] | None = None,
) -> Path:
    """Measure every planned task not yet in ``run_dir`` (one row each, committed as measured); returns run_dir.

    ``resume=True`` opens an existing run (its config text must match) and skips stored tasks (failed ones too,
    unless ``retry_failed``). The session's wall time, timed time and overhead ratio go to ``meta.json``.
    """
    from profiler.executor import SubprocessExecutor
    from profiler.runlock import RunLock
    from profiler.sweep_progress import SweepProgress

    run_dir = Path(run_dir)
    tasks = plan(config, device)
    if resume:
        store = ResultStore.open(run_dir)
        meta = store.read_meta()
        stored = (meta.get("config") or {}).get("text")
        if stored is not None and stored != config.text:
            store.close()
            raise UsageError(f"{run_dir} was measured with a different config text; resume needs the same config")
        meta_device = (meta.get("run") or {}).get("device")
        if meta_device not in (None, device):
            store.close()
            raise UsageError(f"{run_dir} was measured on {meta_device}; resume it with --device {meta_device}")
    else:
        meta = _meta(config, device, argv)
        store = ResultStore.create(run_dir, meta)
    lock = RunLock(run_dir)
    try:
        lock.acquire()  # held until the session is recorded: the stored keys read below stay true
    except UsageError:
        store.close()
        raise
    with store, lock:
        done = store.done_keys(include_failed=not retry_failed)
        todo = [t for t in tasks if t.key not in done]
        executor = executor or SubprocessExecutor(run_dir / "logs" / "workers.log", counts_dir=run_dir / "counts")
        progress = SweepProgress(total=len(tasks), done=len(tasks) - len(todo), enabled=show_progress)
        executor.on_start = progress.start
        t0, started = time.perf_counter(), _now()
        timed_s, n_rows, n_failed = 0.0, 0, 0
        interrupted = False
        try:
            with progress:
                for row in executor.run(todo):
                    store.add(row)
                    n_rows += 1
                    ok = row.get("status") == "ok"
                    n_failed += not ok
                    if ok and row.get("samples_ms"):
                        timed_s += sum(row["samples_ms"]) / 1000.0
                    progress.advance(row)
        except KeyboardInterrupt:
            interrupted = True  # the rows stored so far stay; the session is recorded below, then re-raised
        wall_s = time.perf_counter() - t0
        session = {"started_at": started, "wall_s": round(wall_s, 4), "timed_s": round(timed_s, 6),
                   "overhead_ratio": round(wall_s / timed_s, 2) if timed_s > 0 else None,
                   "rows": n_rows, "failed": n_failed, "planned": len(tasks), "skipped_stored": len(tasks) - len(todo),
                   "argv": argv if argv is not None else sys.argv, "interrupted": interrupted}
        meta = store.read_meta()
        meta.setdefault("sessions", []).append(session)
        store.write_meta(meta)
        if interrupted:
            raise KeyboardInterrupt
        if show_progress:
            progress.summary(run_dir, session)
    return run_dir


def session_summary(run_dir: Path | str) -> dict[str, Any] | None:
    """The last session recorded in a run's meta.json (wall time, timed time, overhead ratio)."""
    path = Path(run_dir) / "meta.json"
    sessions = json.loads(path.read_text()).get("sessions", []) if path.is_file() else []
    return sessions[-1] if sessions else None
