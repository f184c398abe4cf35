"""Sweep planning: config → ordered tasks, and their cost estimate (``profiler.sweep.run`` runs them).

``plan(config, device)`` expands the config into tasks in the order they run: repeats outermost (so repeat 0
of every model runs before repeat 1 — drift shows as a repeat effect, not a model effect), the model order
shuffled per repeat with the config's seed, and each model's settings kept together so that one worker builds
(and exports) the model once. Within a model, ONNX Runtime rows come after the other backends' rows, grouped by
(resolution, graph dtype), so that consecutive rows share one ONNX Runtime session (batch 1 and 64 only rebind
IO); eager rows first, grouped by (dtype, memory format), so that consecutive rows share one converted model.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError
from profiler.sweep.config import ModelEntry, SweepConfig
from profiler.sweep.tasks import Task


def plan_with_skips(config: SweepConfig, device: str) -> tuple[list[Task], list[str]]:
    """The tasks of ``config`` on ``device`` in run order, and why each impossible combination was skipped."""
    import models
    from profiler.timing import validate_request

    timing = config.timing_config().to_dict()
    ort_cuda_graph = bool(timing.get("ort_cuda_graph"))
    per_model: dict[str, list[Task]] = {}
    skipped: list[str] = []
    for group in config.groups:
        s = group.settings
        for name in group.models:
            entry: ModelEntry = config.models[name]
            # Through JSON once: the task holds exactly what a worker will receive (lists, not tuples).
            spec_dict = json.loads(json.dumps(models.spec_to_dict(entry.spec)))
            spec_hash = models.spec_hash(entry.spec)
            min_res = models.min_resolution(entry.spec)
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
                                    validate_request(
                                        backend, device, dtype, mf, batch, res, ort_cuda_graph=ort_cuda_graph
                                    )
                                except UsageError as exc:
                                    skipped.append(f"{backend}/{device}/{dtype}/{mf}: {exc}")
                                    continue
                                per_model.setdefault(name, []).append(
                                    Task(
                                        model=name,
                                        family=entry.family,
                                        spec=spec_dict,
                                        spec_hash=spec_hash,
                                        backend=backend,
                                        device=device,
                                        dtype=dtype,
                                        memory_format=mf,
                                        batch=batch,
                                        resolution=res,
                                        repeat=0,
                                        timing=timing,
                                        count=config.count,
                                        timeout_s=config.task_timeout_s,
                                        fault=config.faults.get(name),
                                        isolation=config.isolation,
                                    )
                                )
    for name in per_model:
        per_model[name] = _shared_state_order(per_model[name])
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


def _shared_state_order(tasks: list[Task]) -> list[Task]:
    """A model's tasks with those that share worker state adjacent: eager rows first, per converted model (dtype,
    memory format); other backends next; ONNX Runtime rows last, per session (resolution, graph dtype). Groups
    keep the order in which the config first names them, and rows within a group keep theirs (stable sort)."""
    from profiler.timing.onnx_export import GRAPH_DTYPE

    def group(t: Task) -> tuple:
        if t.backend == "eager":
            return (0, t.dtype, t.memory_format)
        if t.backend == "onnxruntime":
            return (2, t.resolution, GRAPH_DTYPE.get(t.dtype, "fp32"))
        return (1,)

    first: dict[tuple, int] = {}
    for i, t in enumerate(tasks):
        first.setdefault(group(t), i)
    return sorted(tasks, key=lambda t: (group(t)[0], first[group(t)]))


def plan(config: SweepConfig, device: str) -> list[Task]:
    """The tasks of ``config`` on ``device``, in run order (see module doc)."""
    return plan_with_skips(config, device)[0]


def make_estimate(
    config: SweepConfig,
    device: str,
    tasks: list[Task],
    results_dir: Path | str | None = None,
    env: dict[str, Any] | None = None,
    gmacs_of: Any = None,
):  # -> profiler.sweep.estimate.Estimate
    """Per-task cost estimates of ``tasks``: previous runs on this device key under ``results_dir``, else built-in."""
    from profiler.sweep import estimate, estimate_fit
    from profiler.sweep.exec.prefetch import default_workers, has_prepare_onnx, resolve_mode
    from profiler.timing.onnx_cache import onnx_cache_checker

    model = estimate.BUILTIN[device]
    if results_dir is not None and Path(results_dir).is_dir():
        if env is None:
            from profiler.core import environment

            env = environment.capture(device)
        model = estimate_fit.from_previous_runs(device, env, results_dir)
    mode = resolve_mode(config.prefetch, device)
    workers = config.prefetch_workers or default_workers(mode)
    return estimate.estimate(
        tasks,
        model,
        gmacs_of or estimate.gmacs_lookup(tasks, config),
        prep_mode=mode,
        prep_workers=workers,
        prepare_onnx=has_prepare_onnx(),
        export_cached=onnx_cache_checker() if device == "cpu" else None,
    )


def estimate_seconds(config: SweepConfig, tasks: list[Task], device: str | None = None) -> float:
    """Estimated wall seconds of ``tasks`` (built-in calibration of the tasks' device)."""
    if not tasks:
        return 0.0
    est = make_estimate(config, device or tasks[0].device, tasks)
    return est.total_s(t.key for t in tasks)
