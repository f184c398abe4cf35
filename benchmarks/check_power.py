"""Power of the `profiler check` latency rule on this machine: false alarms and detection rate.

Measures a fresh baseline of a target and a reference model, then N unchanged re-measurements and N with an
injected slowdown of the target (1.3x and 2x: the wrapped model spins for (factor - 1) times its own forward
time, so the slowdown is proportional whatever the machine's speed). Each trial measures the reference right
before the target, like a CI sweep, and is judged by the same rule as `profiler check`
(``profiler.baseline.judge_latency`` with the reference's median ratio as the machine-speed factor). Conditions
are interleaved per trial so that drift of the machine hits all of them alike.

    python benchmarks/check_power.py                  # 20 trials per condition, resnet18 @ 64 px, 30 iters
    python benchmarks/check_power.py --n 5 --json     # quicker, machine-readable
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a source checkout

import numpy as np
import torch
from torch import nn

import models
from profiler.baseline import LatencyRule, judge_latency
from profiler.baseline.rule import median_ratio
from profiler.timing import TimingConfig, measure


class Slowed(nn.Module):
    """``inner`` followed by a busy wait of ``(factor - 1)`` × the forward's own time (a proportional slowdown)."""

    def __init__(self, inner: nn.Module, factor: float) -> None:
        super().__init__()
        self.inner, self.factor = inner, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        y = self.inner(x)
        until = time.perf_counter() + (self.factor - 1.0) * (time.perf_counter() - t0)
        while time.perf_counter() < until:  # spin, not sleep: sleep overshoots by ~0.1 ms at this scale
            pass
        return y


def samples_of(model: nn.Module, resolution: int, cfg: TimingConfig) -> list[float]:
    return measure(model, backend="eager", device="cpu", dtype="fp32", batch=1, resolution=resolution,
                   config=cfg).samples_ms


def paired(ref: nn.Module, target: nn.Module, resolution: int, cfg: TimingConfig, rounds: int):
    """Reference and target samples, measured in ``rounds`` alternating blocks and pooled (like a sweep's
    repeats) so that slow changes of the machine's load hit both alike."""
    r, t = [], []
    for _ in range(rounds):
        r += samples_of(ref, resolution, cfg)
        t += samples_of(target, resolution, cfg)
    return r, t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="trials per condition (default: %(default)s)")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--reference", default="regnetx_200mf")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--iters", type=int, default=30, help="timed iterations per round")
    ap.add_argument("--rounds", type=int, default=1, help="alternating reference/target rounds, pooled")
    ap.add_argument("--factors", type=float, nargs="+", default=[1.3, 2.0])
    ap.add_argument("--threshold", type=float, default=0.10)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads (default 1: steadier on a shared machine)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    cfg, rule = TimingConfig(iters=args.iters, threads=args.threads), LatencyRule(args.threshold, args.alpha)
    target, ref = models.get_model(args.model), models.get_model(args.reference)
    conditions = {1.0: target, **{f: Slowed(target, f) for f in args.factors}}
    t_start = time.perf_counter()
    # One throwaway round: the first measurements of a process pay one-off costs (allocator growth, oneDNN
    # primitive creation, page faults) that would bias the baseline low-speed and every later ratio with it.
    paired(ref, target, args.resolution, cfg, 1)
    base_ref, base_t = paired(ref, target, args.resolution, cfg, args.rounds)
    trials: dict[float, list[dict]] = {f: [] for f in conditions}
    for _ in range(args.n):
        for f, m in conditions.items():
            cur_ref, cur = paired(ref, m, args.resolution, cfg, args.rounds)
            factor = median_ratio(base_ref, cur_ref)
            norm = judge_latency(base_t, cur, factor=factor, rule=rule)
            raw = judge_latency(base_t, cur, factor=1.0, rule=rule)
            trials[f].append({"factor": factor, "norm_ratio": norm.norm_ratio, "ratio": norm.ratio,
                              "alarm": norm.outcome == "regression", "alarm_raw": raw.outcome == "regression"})
    elapsed = time.perf_counter() - t_start
    load = [round(x, 1) for x in os.getloadavg()]  # other work on the machine is the main source of noise

    summary = {
        "model": args.model, "reference": args.reference, "resolution": args.resolution, "iters": args.iters,
        "rounds": args.rounds,
        "n": args.n, "threshold": args.threshold, "alpha": args.alpha, "threads": args.threads,
        "cpu_count": os.cpu_count(), "load_avg_1_5_15": load,
        "baseline_median_ms": float(np.median(base_t)), "elapsed_s": round(elapsed, 1), "conditions": {},
    }
    for f, ts in trials.items():
        summary["conditions"][f"{f:g}x"] = {
            "alarms": sum(t["alarm"] for t in ts), "alarms_unnormalized": sum(t["alarm_raw"] for t in ts),
            "norm_ratio_median": float(np.median([t["norm_ratio"] for t in ts])),
            "norm_ratio_range": [float(min(t["norm_ratio"] for t in ts)), float(max(t["norm_ratio"] for t in ts))],
            "speed_factor_range": [float(min(t["factor"] for t in ts)), float(max(t["factor"] for t in ts))],
        }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{args.model} @ {args.resolution}px, {args.iters} iters, reference {args.reference}; "
          f"threshold {args.threshold:.0%}, alpha {args.alpha}; baseline median {summary['baseline_median_ms']:.2f} ms"
          f"; {args.n} trials per condition; {elapsed:.0f} s; {args.threads} thread(s), load average {load} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'condition':>9}  {'alarms':>8}  {'(no norm.)':>10}  {'norm. ratio median [range]':>30}  "
          "speed factor range")
    for name, c in summary["conditions"].items():
        lo, hi = c["norm_ratio_range"]
        flo, fhi = c["speed_factor_range"]
        kind = "false alarms" if name == "1x" else "detections"
        print(f"{name:>9}  {c['alarms']:>3}/{args.n:<4}  {c['alarms_unnormalized']:>5}/{args.n:<4}  "
              f"{c['norm_ratio_median']:>10.3f} [{lo:.3f}, {hi:.3f}]  {flo:.3f}..{fhi:.3f}   ({kind})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
