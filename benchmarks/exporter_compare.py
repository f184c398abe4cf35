"""Does the ONNX exporter change what ONNX Runtime measures? Export time and ORT latency, dynamo vs TorchScript.

    python benchmarks/exporter_compare.py                       # the quick-cpu models at 112 px, CPU, 1 thread
    python benchmarks/exporter_compare.py --models resnet50 mobilenet_v2 --resolution 224 --rounds 7

Per model: each exporter makes the dynamic-batch graph of the same weights (``export_graph``, as the sweep does),
both graphs are checked against eager fp32 (``check_graph``), then both ONNX Runtime sessions (the sweep's
``make_session``: all graph optimizations, ``--threads`` intra-op threads) are timed in interleaved rounds
(A, B, A, B, …; ``--iters`` iterations each, after a warm-up) so that machine drift hits both sides alike.
Prints per model the export seconds of each exporter, the median latency of each, and the ratio of medians of the
per-round medians (TorchScript ÷ dynamo), then the geometric mean ratio and its range. The load average is printed:
on a shared machine, compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUICK = [
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "densenet121",
    "mobilenet_v1",
    "mobilenet_v2",
    "shufflenet_v1_g3",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
    "googlenet",
    "regnetx_400mf",
    "regnety_800mf",
]


def _time_ms(session, feed: dict, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        session.run(None, feed)
        out.append((time.perf_counter() - t) * 1000)
    return out


def compare(name: str, resolution: int, rounds: int, iters: int, threads: int, work: Path) -> dict:
    """Export times, per-exporter median latency and the latency ratio for one model."""
    import torch

    from models import get_model
    from profiler.timing.onnx import make_session
    from profiler.timing.onnx_export import export_graph
    from profiler.timing.onnx_prepare import check_graph, reference_io
    from profiler.timing.protocol import TimingConfig

    torch.manual_seed(0)
    model = get_model(name).eval()
    ref_in, ref_out = reference_io(model, resolution)
    cfg = TimingConfig(threads=threads)
    sessions, export_s, err = {}, {}, {}
    for exporter in ("dynamo", "torchscript"):
        path = work / f"{name}_{exporter}.onnx"
        t0 = time.perf_counter()
        export_graph(model, torch.from_numpy(ref_in), path, dynamic=True, exporters=(exporter,))
        export_s[exporter] = time.perf_counter() - t0
        err[exporter] = check_graph(path, ref_in, ref_out, "fp32")
        sessions[exporter] = make_session(path, "cpu", "fp32", cfg)[0]
    import numpy as np

    feed = {"input": np.random.default_rng(0).standard_normal((1, 3, resolution, resolution), dtype=np.float32)}
    for s in sessions.values():
        _time_ms(s, feed, 5)  # warm-up
    per_round: dict[str, list[float]] = {"dynamo": [], "torchscript": []}
    for r in range(rounds):
        order = ("dynamo", "torchscript") if r % 2 == 0 else ("torchscript", "dynamo")
        for exporter in order:
            per_round[exporter].append(statistics.median(_time_ms(sessions[exporter], feed, iters)))
    med = {k: statistics.median(v) for k, v in per_round.items()}
    return {
        "model": name,
        "export_s": export_s,
        "median_ms": med,
        "err": err,
        "ratio": med["torchscript"] / med["dynamo"],
        "round_ratios": [b / a for a, b in zip(per_round["dynamo"], per_round["torchscript"], strict=True)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=QUICK)
    p.add_argument("--resolution", type=int, default=112)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    load = os.getloadavg()
    print(
        f"load average before {load[0]:.2f}; {a.resolution} px, batch 1, CPU, {a.threads} thread(s), "
        f"{a.rounds} interleaved rounds x {a.iters} iterations"
    )
    print(
        f"{'model':22} {'export dynamo':>13} {'export ts':>10} {'dynamo ms':>10} {'ts ms':>8} {'ts/dynamo':>10}"
        f" {'round range':>14}"
    )
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            r = compare(name, a.resolution, a.rounds, a.iters, a.threads, Path(tmp))
            ratios.append(r["ratio"])
            rr = r["round_ratios"]
            print(
                f"{name:22} {r['export_s']['dynamo']:12.2f}s {r['export_s']['torchscript']:9.2f}s "
                f"{r['median_ms']['dynamo']:10.2f} {r['median_ms']['torchscript']:8.2f} {r['ratio']:10.3f}"
                f" {min(rr):6.3f}-{max(rr):.3f}",
                flush=True,
            )
    gm = statistics.geometric_mean(ratios)
    print(
        f"geometric mean ts/dynamo latency ratio {gm:.3f} (models {min(ratios):.3f}-{max(ratios):.3f}); "
        f"load average after {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
