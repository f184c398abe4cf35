"""How fast counting is: closed-form complexity of sampled specs, counting the whole registry, and per model side by
side with other counters.

    PYTHONPATH=. python benchmarks/count_speed_benchmark.py [--samples 10000] [--registry torch,fvcore]
        [--peers resnet50,mobilenet_v2,...|all|'']

Prints wall and CPU seconds; the machine's load is printed too because shared CI boxes distort wall time.

Per model (``--peers``): our ``count_model(name, method="torch")`` (builds on meta, one shapes-only pass; the memo
of meta results is cleared first, so each model is counted cold) against peers that run real kernels at batch 1
on a model built with its random init: ``torch.utils.flop_counter.FlopCounterMode``, and ``thop.profile`` /
``ptflops.get_model_complexity_info`` when installed. Each side is timed building the model and counting it, best
CPU time of ``--repeat`` runs (CPU seconds are fairer than wall on a loaded machine); the ratio is peer / ours
(> 1: we are faster).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

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


def _best_cpu_s(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _ours(name: str) -> None:
    from profiler.counting import dispatch

    dispatch._META_CACHE.clear()  # cold: no meta results remembered from other models or earlier runs
    count_model(name, method="torch")


def _flop_counter(name: str) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    info = models.model_info(name)
    model = info.spec.build().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, 3, info.resolution, info.resolution))
    fc.get_total_flops()


def _thop(name: str) -> None:
    import thop

    info = models.model_info(name)
    model = info.spec.build().eval()
    with torch.no_grad():
        thop.profile(model, inputs=(torch.zeros(1, 3, info.resolution, info.resolution),), verbose=False)


def _ptflops(name: str) -> None:
    import ptflops

    info = models.model_info(name)
    model = info.spec.build().eval()
    with torch.no_grad():
        ptflops.get_model_complexity_info(
            model, (3, info.resolution, info.resolution), as_strings=False, print_per_layer_stat=False, verbose=False
        )


def _peers() -> dict[str, Callable[[str], None]]:
    peers: dict[str, Callable[[str], None]] = {"FlopCounterMode": _flop_counter}
    for mod, fn in (("thop", _thop), ("ptflops", _ptflops)):
        try:
            __import__(mod)
        except ImportError:
            print(f"{mod} is not installed: left out (pip install {mod})")
            continue
        peers[mod] = fn
    print("calflops: not run (not installed here)")
    return peers


def _side_by_side(names: list[str], repeat: int) -> None:
    peers = _peers()
    _ours(names[0])  # warm-up: imports and first-call set-up of every side
    for fn in peers.values():
        fn(names[0])
    head = f"{'model':<24} {'ours ms':>8} " + " ".join(f"{p + ' ms':>17} {'ratio':>6}" for p in peers)
    print(head)
    ratios: dict[str, list[float]] = {p: [] for p in peers}
    for n in names:
        ours = _best_cpu_s(lambda n=n: _ours(n), repeat)
        cells = []
        for p, fn in peers.items():
            t = _best_cpu_s(lambda n=n, fn=fn: fn(n), repeat)
            ratios[p].append(t / ours)
            cells.append(f"{t * 1e3:>17.1f} {t / ours:>6.2f}")
        print(f"{n:<24} {ours * 1e3:>8.1f} " + " ".join(cells))
    for p, r in ratios.items():
        print(f"{p} / ours: min {min(r):.2f}, median {sorted(r)[len(r) // 2]:.2f}, max {max(r):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--space", default="anynetx_e")
    p.add_argument("--registry", default="torch", help="comma-separated methods, '' to skip")
    p.add_argument(
        "--peers",
        default="resnet18,resnet50,mobilenet_v1_x0_25,mobilenet_v2,efficientnet_b0,regnetx_400mf,regnety_16gf,"
        "densenet121,shufflenet_v2_x1_0",
        help="models to count side by side with the peers ('all' for the registry, '' to skip)",
    )
    p.add_argument("--repeat", type=int, default=2, help="runs per model and counter (the best CPU time is kept)")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    _space_rate(args.space, args.samples)
    for method in filter(None, args.registry.split(",")):
        _registry(method)
    if args.peers:
        _side_by_side(models.list_models() if args.peers == "all" else args.peers.split(","), args.repeat)


if __name__ == "__main__":
    main()
