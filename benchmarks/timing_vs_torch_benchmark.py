"""Accuracy check of the eager timer: our median vs ``torch.utils.benchmark.Timer.blocked_autorange``.

Same model object, same input, same threads, inference mode for both; the two timers alternate over several
rounds so that drift of a shared machine hits both alike. Prints the ratio of medians per model; on an idle
CPU they should agree within ±5 %.

    python benchmarks/timing_vs_torch_benchmark.py      # resnet18, resnet50, regnetx_400mf, mobilenet_v2
    python benchmarks/timing_vs_torch_benchmark.py --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a source checkout

import torch
import torch.utils.benchmark as tb

import models
from profiler.timing import TimingConfig, measure
from profiler.timing.eager import make_input

DEFAULT_MODELS = ("resnet18", "resnet50", "regnetx_400mf", "mobilenet_v2")


def compare(name: str, args: argparse.Namespace) -> dict:
    """Per-round medians of both timers for one model, and the ratio of their medians."""
    model = models.get_model(name)
    info = models.model_info(name)
    resolution = args.resolution or info.resolution
    config = TimingConfig(iters=args.iters, warmup_s=args.warmup_s, threads=args.threads)
    x = make_input(args.batch, resolution, args.device, "fp32", "contiguous")
    ours, theirs = [], []
    for _ in range(args.rounds):
        r = measure(
            model,
            backend="eager",
            device=args.device,
            dtype="fp32",
            batch=args.batch,
            resolution=resolution,
            config=config,
        )  # model now eval, on the device, fp32
        ours.append(r.stats["latency_ms_median"])
        timer = tb.Timer(
            stmt="model(x)", globals={"model": model, "x": x}, num_threads=args.threads or torch.get_num_threads()
        )
        with torch.inference_mode():  # grad mode is thread-local, and the Timer runs in this thread
            m = timer.blocked_autorange(min_run_time=args.min_run_time)
        theirs.append(m.median * 1e3)  # s → ms
    ours_ms, theirs_ms = statistics.median(ours), statistics.median(theirs)
    print(f"{name}: ours {ours_ms:.3f} ms, torch.utils.benchmark {theirs_ms:.3f} ms", file=sys.stderr)
    return {
        "model": name,
        "resolution": resolution,
        "batch": args.batch,
        "device": args.device,
        "ours_ms": ours_ms,
        "torch_benchmark_ms": theirs_ms,
        "ratio": ours_ms / theirs_ms,
        "ours_rounds_ms": ours,
        "torch_rounds_ms": theirs,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--resolution", type=int, default=None, help="default: each model's own")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--warmup-s", type=float, default=0.2)
    p.add_argument("--rounds", type=int, default=3, help="alternations of the two timers")
    p.add_argument("--min-run-time", type=float, default=1.0, help="blocked_autorange budget per round, s")
    p.add_argument("--threads", type=int, default=None, help="default: torch's current count")
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    rows = [compare(name, args) for name in args.models]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(
            f"device {args.device}, batch {args.batch}, threads {args.threads or torch.get_num_threads()}, "
            f"torch {torch.__version__}"
        )
        print(f"{'model':<16} {'ours ms':>10} {'torch.utils.benchmark ms':>26} {'ratio':>7}")
        for r in rows:
            flag = "" if abs(r["ratio"] - 1) <= args.tolerance else f"  outside ±{100 * args.tolerance:.0f} %"
            print(f"{r['model']:<16} {r['ours_ms']:>10.3f} {r['torch_benchmark_ms']:>26.3f} {r['ratio']:>7.3f}{flag}")
    return 0 if all(abs(r["ratio"] - 1) <= args.tolerance for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
