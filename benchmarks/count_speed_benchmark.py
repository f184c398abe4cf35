"""How fast counting is: closed-form complexity of sampled specs, and counting the whole registry.

    PYTHONPATH=. python benchmarks/count_speed_benchmark.py [--samples 10000] [--registry fvcore,torch]

Prints wall and CPU seconds; the machine's load is printed too because shared CI boxes distort wall time.
"""

from __future__ import annotations

import argparse
import os
import time

import models
from profiler.counting import count_model


def _space_rate(space: str, n: int) -> None:
    t0 = time.perf_counter()
    specs = models.sample(space, n, seed=0)
    t1 = time.perf_counter()
    for s in specs:
        s.complexity(224)
    t2 = time.perf_counter()
    print(f"{space}: sample {n / (t1 - t0):,.0f}/s, complexity {n / (t2 - t1):,.0f}/s, both {n / (t2 - t0):,.0f}/s")


def _registry(method: str) -> None:
    names = models.list_models()
    w0, c0 = time.perf_counter(), time.process_time()
    for n in names:
        count_model(n, method=method)
    print(
        f"registry ({len(names)} models, {method}): {time.perf_counter() - w0:.1f} s wall, "
        f"{time.process_time() - c0:.1f} s CPU"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--space", default="anynetx_e")
    p.add_argument("--registry", default="torch", help="comma-separated methods, '' to skip")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    _space_rate(args.space, args.samples)
    for method in filter(None, args.registry.split(",")):
        _registry(method)


if __name__ == "__main__":
    main()
