"""Counting many (spec, resolution) pairs in a pool of processes, cached by spec hash, with a progress bar.

Each job counts one spec at one resolution (batch 1, ``method="torch"``: on the meta device, no weights) through
``profiler.counting.cache.CountCache`` under a cache directory (``$ARCHPROF_CACHE/counts`` by default), so a second
import of the same models (another table of the same models) reads JSON files instead of counting again. A job that
fails returns its reason (one line); the others go on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.core import paths


@dataclass(frozen=True)
class CountJob:
    """One spec at one resolution: ``key`` = ``<spec_hash>_r<resolution>`` (the run's counts/ file name)."""

    label: str
    spec: dict[str, Any]  # models.spec_to_dict
    spec_hash: str
    resolution: int

    @property
    def key(self) -> str:
        return paths.count_key(self.spec_hash, self.resolution)


def default_cache_dir() -> Path:
    """``$ARCHPROF_CACHE/counts`` (default ``~/.cache/archprof/counts``)."""
    return paths.cache_dir(paths.COUNTS_DIR)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # shapes only: threads would only compete with the other workers


def count_job(job: CountJob, cache_dir: str) -> tuple[str, dict[str, int] | None, str | None, float]:
    """(key, counts or None, reason or None, seconds) of one job; never raises (a failure is data)."""
    t0 = time.perf_counter()
    try:
        import models
        from profiler.counting.cache import CountCache

        spec = models.spec_from_dict(job.spec)
        counts = CountCache(Path(cache_dir)).count(job.key, spec, job.resolution)
        return job.key, counts, None, time.perf_counter() - t0
    except Exception as exc:  # one model that cannot be built or counted must not stop the import
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        return job.key, None, f"{type(exc).__name__}: {text}", time.perf_counter() - t0


def _progress(total: int, enabled: bool):  # -> rich.progress.Progress | None
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("counting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=False,
    )


def count_all(
    jobs: Iterable[CountJob],
    cache_dir: Path,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, tuple[dict[str, int] | None, str | None]]:
    """``key -> (counts, None)`` or ``(None, reason)`` for every job; cached ones are read, the rest counted in a
    pool of ``workers`` processes (0: in this process, e.g. tests)."""
    jobs = list({j.key: j for j in jobs}.values())
    out: dict[str, tuple[dict[str, int] | None, str | None]] = {}
    todo = []
    for j in jobs:
        hit = paths.count_file(cache_dir, j.key)
        if hit.is_file() and paths.ops_file(cache_dir, j.key).is_file():
            out[j.key] = (json.loads(hit.read_text()), None)
        else:
            todo.append(j)
    bar = _progress(len(todo), progress and bool(todo))
    if bar is not None:
        bar.start()
        task_id = bar.add_task("", total=len(todo))
    try:
        if workers <= 0:
            results = (count_job(j, str(cache_dir)) for j in todo)
            for key, counts, why, _ in results:
                out[key] = (counts, why)
                if bar is not None:
                    bar.update(task_id, advance=1, description=key)
            return out
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
            futures = {pool.submit(count_job, j, str(cache_dir)): j for j in todo}
            for fut in as_completed(futures):
                key, counts, why, _ = fut.result()
                out[key] = (counts, why)
                if bar is not None:
                    bar.update(task_id, advance=1, description=futures[fut].label)
    finally:
        if bar is not None:
            bar.stop()
    return out
