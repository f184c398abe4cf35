"""Does setting batch-norm statistics from data (``profiler/timing/calibrate.py``) change eager latency?

    python benchmarks/calibration_latency.py                      # 6 models at 112 px, CPU, 1 thread
    python benchmarks/calibration_latency.py --models resnet50 --resolution 224 --device cuda --dtype fp16

Two copies of the same weights, one with PyTorch's default batch-norm statistics and one calibrated, are timed in
interleaved rounds (``--iters`` iterations each after a warm-up). Prints per model the median of the per-round
medians of each and their ratio (calibrated ÷ default): values change, operators do not, so the ratio should be 1
within noise, unless subnormal numbers or zero-skipping kernels make values matter. The load average is printed.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ["efficientnet_b0", "mobilenet_v2", "mobilenet_v1", "inception_v3", "shufflenet_v2_x1_0", "resnet18"]


def _median_ms(model, x, iters: int, sync) -> float:
    import torch

    out = []
    with torch.inference_mode():
        for _ in range(iters):
            t = time.perf_counter()
            model(x)
            sync()
            out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main() -> None:
    import torch

    import models
    from profiler.timing.calibrate import calibrate_bn
    from profiler.timing.eager import make_input, prepare

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--resolution", type=int, default=112)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16"])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--iters", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1) if a.device == "cpu" else None
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    print(
        f"load average {os.getloadavg()[0]:.2f}; {a.device} {a.dtype}, {a.resolution} px, batch 1, "
        f"{a.rounds} interleaved rounds x {a.iters} iterations"
    )
    ratios = []
    for name in a.models:
        torch.manual_seed(0)
        base = models.get_model(name).eval()
        cal = copy.deepcopy(base)
        calibrate_bn(cal, a.resolution)
        pair = {k: prepare(m, a.device, a.dtype, "contiguous") for k, m in (("default", base), ("calibrated", cal))}
        x = make_input(1, a.resolution, a.device, a.dtype, "contiguous")
        per: dict[str, list[float]] = {"default": [], "calibrated": []}
        for m in pair.values():
            _median_ms(m, x, 5, sync)
        for r in range(a.rounds):
            for k in ("default", "calibrated") if r % 2 == 0 else ("calibrated", "default"):
                per[k].append(_median_ms(pair[k], x, a.iters, sync))
        med = {k: statistics.median(v) for k, v in per.items()}
        ratios.append(med["calibrated"] / med["default"])
        print(
            f"{name:22} default {med['default']:8.2f} ms  calibrated {med['calibrated']:8.2f} ms  "
            f"ratio {ratios[-1]:.3f}",
            flush=True,
        )
    print(
        f"geometric mean ratio {statistics.geometric_mean(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}); "
        f"load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
