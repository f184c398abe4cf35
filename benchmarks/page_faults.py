"""Fresh-process CPU timing with and without ``keep_heap`` (profiler/timing/allocator.py), side by side.

Each (model, condition) is measured in its own fresh process, like a sweep worker, ``--rounds`` times with the
conditions interleaved; the table shows minor page faults per timed iteration and the median latency of each
condition, and the ratio of the medians (before / after).

    python benchmarks/page_faults.py                            # mobilenet_v2, resnet18, regnetx_400mf @ 224 px
    python benchmarks/page_faults.py --models mobilenet_v2 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys
import models
from profiler.timing import TimingConfig, measure
name, res, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = measure(models.get_model(name), backend="eager", device="cpu", dtype="fp32", batch=1, resolution=res,
            config=TimingConfig(iters=iters, threads=1))
print(json.dumps({"median_ms": r.stats["latency_ms_median"], "minflt_per_iter": r.details["minflt_per_iter"],
                  "warmup_iters": r.details["warmup_iters_done"], "allocator": r.details["allocator"]}))
"""


def measure_fresh(model: str, resolution: int, iters: int, keep_heap: bool) -> dict:
    env = {
        **os.environ,
        "ARCHPROF_KEEP_HEAP": "1" if keep_heap else "0",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, str(resolution), str(iters)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mobilenet_v2", "resnet18", "regnetx_400mf"])
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per (model, condition)")
    args = ap.parse_args(argv)
    import numpy as np

    print(
        f"fresh process per measurement, 1 thread, {args.resolution} px, {args.iters} iters, {args.rounds} rounds; "
        f"load average {Path('/proc/loadavg').read_text().split()[:3]} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'model':<16} {'faults/iter before':>18} {'after':>7} {'median ms before':>17} {'after':>8} "
        f"{'before/after':>12}"
    )
    for model in args.models:
        res: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.rounds):
            for keep in (False, True):  # interleaved: drift hits both conditions alike
                res[keep].append(measure_fresh(model, args.resolution, args.iters, keep))
        f = {k: float(np.median([r["minflt_per_iter"] for r in v])) for k, v in res.items()}
        m = {k: float(np.median([r["median_ms"] for r in v])) for k, v in res.items()}
        print(
            f"{model:<16} {f[False]:>18.0f} {f[True]:>7.0f} {m[False]:>17.2f} {m[True]:>8.2f} "
            f"{m[False] / m[True]:>12.2f}"
        )
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
