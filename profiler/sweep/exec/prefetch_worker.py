"""The preparation process of the prefetch pool: ``python -m profiler.sweep.exec.prefetch_worker``.

``profiler.sweep.exec.prefetch.Prefetcher`` keeps a few of these processes alive. Each reads one JSON job per stdin
line (one (spec, resolution) pair: whether to count it, the ONNX graph dtypes to export, where the caches are) and
writes one JSON answer per line (``profiler.sweep.exec.events.PrepDone``): the seconds of each phase and an error,
if any. Library prints go to stderr, never into the protocol. The process dies with its parent
(``worker.die_with_parent``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from profiler.sweep.exec.events import PrepDone
from profiler.sweep.tasks import Task

PREP_LOG_ENV = "ARCHPROF_TIMER_LOG"  # test hook shared with the worker: preparation intervals are logged as "prep"


def prepare(job: dict[str, Any]) -> PrepDone:
    """Build, count and export one (spec, resolution); returns the seconds of each phase (and an error, if any)."""
    import signal

    import models
    from profiler import timing
    from profiler.counting.cache import CountCache

    task = Task.from_dict(job["task"])
    out: dict[str, Any] = {"build_s": 0.0, "count_s": 0.0, "export_s": 0.0}
    if task.fault == "prefetch_crash":
        os.kill(os.getpid(), signal.SIGKILL)  # test hook: a preparation process that dies
    prepare_onnx = getattr(timing, "prepare_onnx", None)
    counts = CountCache(Path(job["counts_dir"]) if job.get("counts_dir") else None)
    try:
        t0 = time.perf_counter()
        spec = models.spec_from_dict(task.spec)
        if job["count"]:
            counts.get(task, spec)  # the count cache writes counts/<spec>_r<res>.json for the worker
            out["count_s"] = time.perf_counter() - t0
        if job["onnx_dtypes"] and callable(prepare_onnx):
            t1 = time.perf_counter()
            model = spec.build().eval()
            out["build_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            prepare_onnx(
                model,
                resolution=task.resolution,
                dtypes=job["onnx_dtypes"],
                cache_key=task.spec_hash,
                cache_dir=job.get("onnx_cache_dir"),
                opset=job.get("opset"),
                exporter=job.get("exporter", "dynamo"),
            )
            out["export_s"] = time.perf_counter() - t2
    except Exception as exc:  # the timing worker will meet (and record) the same error in the row
        out["error"] = f"{type(exc).__name__}: {exc}"[:1000]
    return PrepDone(key=task.prep_key, **out)


def main() -> int:
    """Entry point of ``python -m profiler.sweep.exec.prefetch_worker``: one JSON job per stdin line, one JSON answer
    per line."""
    from profiler.sweep.exec.worker import die_with_parent

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints go to stderr, never into the protocol
    sys.stdout = sys.stderr
    die_with_parent()
    import torch

    torch.set_num_threads(1)  # one core per preparation process: the pool size sets the parallelism
    log = os.environ.get(PREP_LOG_ENV)
    for line in sys.stdin:
        start = time.monotonic_ns()
        res = prepare(json.loads(line))
        if log:
            with open(log, "a") as f:
                f.write(f"prep {os.getpid()} {start} {time.monotonic_ns()}\n")
        proto.write(res.to_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
