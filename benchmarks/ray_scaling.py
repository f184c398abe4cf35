"""What scales with Ray: one small CPU sweep with the subprocess executor, Ray with 1 worker and Ray with 2.

    PYTHONPATH=. python benchmarks/ray_scaling.py [--workers 1,2] [--iters 20]

Per executor: the sweep's wall time (the session's ``wall_s``: the executor loop, not Ray's start-up, which is
printed apart), the sum of the rows' ``duration_s`` (build + count + warm-up + timed iterations, inside a worker),
the speed-up over the subprocess executor, and the executor's overhead per task, (wall · workers − Σ duration_s)
/ tasks — worker-seconds not spent inside a row: starting a process, importing torch, scheduling, streaming rows
(for one worker this is (wall − Σ duration_s) / tasks). ``busy`` = Σ duration_s / (wall · workers). The load
average is printed: on a shared machine these figures are under load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from functools import partial
from pathlib import Path

from profiler.results.store import load_results
from profiler.sweep.config import parse_config
from profiler.sweep.exec.local import SubprocessExecutor
from profiler.sweep.run import run_sweep, session_summary

CONFIG = """
name = "ray-scaling"
seed = 0
count = true
task_timeout_s = 300
[models]
include = ["mobilenet_v1_x0_25", "mobilenet_v2_x0_5", "shufflenet_v2_x0_5", "regnetx_200mf", "regnety_200mf",
           "resnet18"]
[settings]
resolutions = [64]
batches = [1, 4]
backends = ["eager"]
[timing]
iters = {iters}
warmup_iters = 2
warmup_s = 0.0
threads = 1
"""


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _one(name: str, make_executor, config, root: Path, workers: int) -> dict:
    run = root / name
    run_sweep(config, device="cpu", run_dir=run, show_progress=False, make_executor=make_executor)
    df = load_results(run)
    wall_s = session_summary(run)["wall_s"]
    busy_s = float(df["duration_s"].sum())
    return {
        "name": name,
        "workers": workers,
        "wall_s": wall_s,
        "busy_s": busy_s,
        "tasks": len(df),
        "failed": int((df["status"] != "ok").sum()),
        "overhead_s": (wall_s * workers - busy_s) / len(df),
        "busy": busy_s / (wall_s * workers),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", default="1,2", help="Ray worker counts to try (default 1,2)")
    p.add_argument("--iters", type=int, default=20, help="timed iterations per measurement (default 20)")
    args = p.parse_args()
    import ray

    from profiler.sweep.exec.ray_pool import RayExecutor

    config = parse_config(CONFIG.format(iters=args.iters), "ray-scaling.toml")
    print(f"load average before: {_load()}; {os.cpu_count()} CPUs, ray {ray.__version__}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results.append(_one("subprocess", partial(SubprocessExecutor, counts_dir=root / "c0"), config, root, 1))
        t0 = time.perf_counter()
        ray.init(
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}},
        )
        init_s = time.perf_counter() - t0
        try:
            for n in (int(w) for w in args.workers.split(",")):
                ex = partial(RayExecutor, num_workers=n, counts_dir=root / f"c{n}")
                results.append(_one(f"ray x{n}", ex, config, root, n))
        finally:
            ray.shutdown()
    base = results[0]["wall_s"]
    print(f"ray.init (local cluster, once): {init_s:.1f} s")
    print(
        f"{'executor':<11} {'tasks':>5} {'failed':>6} {'wall s':>7} {'Σ dur s':>8} {'speed-up':>8} "
        f"{'ovh/task s':>10} {'busy':>5}"
    )
    for r in results:
        print(
            f"{r['name']:<11} {r['tasks']:>5} {r['failed']:>6} {r['wall_s']:>7.1f} {r['busy_s']:>8.1f} "
            f"{base / r['wall_s']:>8.2f} {r['overhead_s']:>10.2f} {r['busy']:>5.0%}"
        )
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
