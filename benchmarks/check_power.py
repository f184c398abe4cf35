"""Power of `profiler check` in A/B mode on this machine: false alarms on unchanged code and detections.

Each trial is one A/B check as `check --against` runs it: side A and sides B (unchanged, and with a slowdown of
1.3x and 2x injected into one model) measured in interleaved rounds, each round a fresh worker process per side
(orders alternate: A B1 B1.3 B2, then reversed, …), and each B judged against A by the same code
(``profiler.baseline.compare`` with the rule of ``profiler.baseline.rule``, no reference normalization). The
slowdown is real and measured: the worker spins after the target's forward for (factor - 1) x its own time
(``ARCHPROF_TEST_SLOWDOWN``), so it is proportional whatever the machine's speed. The B sides of one trial share
their A, which keeps the benchmark affordable; each condition's count is over independent trials.

    python benchmarks/check_power.py                   # 20 trials, mobilenet_v2_x0_5 + resnet18 @ 64 px
    python benchmarks/check_power.py --n 3 --json      # quicker, machine-readable
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a source checkout

from profiler.baseline import LatencyRule, build_baseline, compare  # noqa: E402
from profiler.baseline.ab import Side, run_rounds  # noqa: E402
from profiler.results.store import ResultStore  # noqa: E402
from profiler.sweep.config import parse_config  # noqa: E402
from profiler.sweep.run import plan  # noqa: E402
from profiler.sweep.tasks import Task  # noqa: E402

CONFIG = """
name = "check-power"
shuffle = false
count = false
isolation = "repeat"
[models]
include = {models}
[settings]
batches = [1]
resolutions = [{resolution}]
backends = ["eager"]
dtypes = ["fp32"]
memory_formats = ["contiguous"]
[timing]
iters = {iters}
warmup_iters = 3
warmup_s = 0.2
threads = 1
"""


def one_trial(
    tasks: list[Task], target: str, factors: list[float], rounds: int, rule: LatencyRule, tmp: Path
) -> dict[float, dict]:
    """One A/B check per condition (1.0 = unchanged), sharing side A; the target's outcome and any alarm."""
    conds = [1.0, *factors]
    sides = [Side("A", ROOT, tasks=tasks)]
    sides += [Side(f"B x{f:g}", ROOT, env={"ARCHPROF_TEST_SLOWDOWN": f"{target}={f}"}, tasks=tasks) for f in conds]
    env = {"cpu_model": "power-benchmark", "torch_threads": 1}
    stores = [ResultStore.create(tmp / f"s{i}", {"environment": env}) for i in range(len(sides))]
    try:
        run_rounds(sides, rounds, lambda i, row: stores[i].add(row))
        frames = [s.dataframe() for s in stores]
    finally:
        for s in stores:
            s.close()
    doc = build_baseline(frames[0], {"environment": env}, name="power", with_layers=False)
    out = {}
    for f, df in zip(conds, frames[1:], strict=True):
        rep = compare(
            doc, df, current_key=doc["device_key"], latency="fail", rule=rule, reference_model=None, name_layers=False
        )
        tgt = next(e for e in rep.entries if e.model == target)
        out[f] = {
            "alarm_target": tgt.verdict == "fail",
            "alarm_any": rep.exit_code == 1,
            "ratio": tgt.latency.ratio if tgt.latency else float("nan"),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="trials (default: %(default)s)")
    ap.add_argument("--model", default="mobilenet_v2_x0_5", help="the model a slowdown is injected into")
    ap.add_argument("--others", nargs="*", default=["resnet18"], help="unchanged models measured alongside")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3, help="A/B rounds per trial (ci-check: its 3 repeats)")
    ap.add_argument("--factors", type=float, nargs="+", default=[1.3, 2.0])
    ap.add_argument("--threshold", type=float, default=0.10)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    import numpy as np

    text = CONFIG.format(models=json.dumps([args.model, *args.others]), resolution=args.resolution, iters=args.iters)
    base = plan(parse_config(text, "<check-power>"), "cpu")
    tasks = [Task(**{**t.to_dict(), "repeat": r}) for r in range(args.rounds) for t in base]
    rule = LatencyRule(args.threshold, args.alpha)
    load0, t0 = os.getloadavg(), time.perf_counter()
    trials: list[dict[float, dict]] = []
    for i in range(args.n):
        with tempfile.TemporaryDirectory(prefix="archprof-power-") as tmp:
            trials.append(one_trial(tasks, args.model, args.factors, args.rounds, rule, Path(tmp)))
        if not args.json:
            alarms = {f: sum(t[f]["alarm_any"] for t in trials) for f in trials[-1]}
            print(
                f"  trial {i + 1}/{args.n} ({time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f}): "
                + ", ".join(
                    f"x{f:g} ratio {r['ratio']:.3f}{' ALARM' if r['alarm_any'] else ''}" for f, r in trials[-1].items()
                )
                + "; alarms so far "
                + ", ".join(f"x{f:g}: {a}/{i + 1}" for f, a in alarms.items()),
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.perf_counter() - t0
    summary = {
        "model": args.model,
        "others": args.others,
        "resolution": args.resolution,
        "iters": args.iters,
        "rounds": args.rounds,
        "n": args.n,
        "threshold": args.threshold,
        "alpha": args.alpha,
        "cpu_count": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load0],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "elapsed_s": round(elapsed, 1),
        "conditions": {},
    }
    for f in trials[0]:
        rs = [t[f] for t in trials]
        ratios = [r["ratio"] for r in rs]
        summary["conditions"][f"{f:g}x"] = {
            "alarms_target": sum(r["alarm_target"] for r in rs),
            "alarms_any_model": sum(r["alarm_any"] for r in rs),
            "ratio_median": float(np.median(ratios)),
            "ratio_range": [float(min(ratios)), float(max(ratios))],
        }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"A/B power: {args.model} (+ {', '.join(args.others) or 'nothing'}) @ {args.resolution} px, {args.iters} "
        f"iters, {args.rounds} rounds per trial, {args.n} trials; threshold {args.threshold:.0%}, alpha "
        f"{args.alpha}; {elapsed:.0f} s; load average {summary['load_avg_before']} -> {summary['load_avg_after']} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"{'injected':>8}  {'target alarms':>13}  {'any-model alarms':>16}  raw ratio median [range]")
    for name, c in summary["conditions"].items():
        lo, hi = c["ratio_range"]
        kind = "false alarms" if name == "1x" else "detections"
        print(
            f"{name:>8}  {c['alarms_target']:>6}/{args.n:<6}  {c['alarms_any_model']:>9}/{args.n:<6}  "
            f"{c['ratio_median']:.3f} [{lo:.3f}, {hi:.3f}]   ({kind})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
