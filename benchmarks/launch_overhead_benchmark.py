"""Launch overhead, side by side: ``profiler time`` of one model in every backend, each in a fresh process.

Prints per (batch, backend): median latency, CV, compile/capture seconds (never part of latency), the ratio to
eager and the launch-overhead share (eager − backend) / eager. Run it on an idle machine and report the load.

    python benchmarks/launch_overhead_benchmark.py                              # cuda if present: resnet50, b1 & b64
    python benchmarks/launch_overhead_benchmark.py --device cpu --model resnet18 --batches 1 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (label, extra `profiler time` arguments); the ORT CUDA graph only exists on cuda, cudagraph too.
SETTINGS = {
    "cpu": [
        ("eager", ["--backend", "eager"]),
        ("compile", ["--backend", "compile"]),
        ("onnxruntime", ["--backend", "onnxruntime"]),
    ],
    "cuda": [
        ("eager", ["--backend", "eager"]),
        ("cudagraph", ["--backend", "cudagraph"]),
        ("compile", ["--backend", "compile"]),
        ("compile reduce-overhead", ["--backend", "compile", "--compile-mode", "reduce-overhead"]),
        ("onnxruntime", ["--backend", "onnxruntime"]),
        ("onnxruntime cuda-graph", ["--backend", "onnxruntime", "--ort-cuda-graph"]),
    ],
}


def time_one(args: argparse.Namespace, batch: int, extra: list[str]) -> dict:
    """One `profiler time --json` in a fresh process; {"error": ...} when it fails."""
    cmd = [
        sys.executable,
        "-m",
        "profiler",
        "time",
        args.model,
        "--device",
        args.device,
        "--batch",
        str(batch),
        "--dtype",
        args.dtype,
        "--iters",
        str(args.iters),
        "--json",
        *extra,
    ]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.resolution:
        cmd += ["--resolution", str(args.resolution)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout_s)
    if p.returncode != 0:
        return {"error": (p.stdout + p.stderr).strip().splitlines()[-1:] or [f"exit {p.returncode}"]}
    return json.loads(p.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="default: 1 64 on cuda, 1 on cpu")
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--timeout-s", type=float, default=900.0)
    args = ap.parse_args()
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    batches = args.batches or ([1, 64] if args.device == "cuda" else [1])
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(
        f"{args.model} {args.device} {args.dtype} threads={args.threads or 'default'} load before: "
        f"{' '.join(load)} ({os.cpu_count()} CPUs)"
    )
    print(
        f"{'batch':>5}  {'backend':<24} {'median ms':>10} {'CV %':>6} {'compile s':>9} {'/ eager':>8} "
        f"{'overhead share':>14}"
    )
    for batch in batches:
        eager_ms = None
        for label, extra in SETTINGS[args.device]:
            r = time_one(args, batch, extra)
            if "error" in r:
                print(f"{batch:>5}  {label:<24} failed: {r['error'][0][:100]}")
                continue
            ms = r["latency_ms_median"]
            eager_ms = ms if label == "eager" else eager_ms
            comp = r["details"].get("compile_s")
            ratio = f"{ms / eager_ms:8.3f}" if eager_ms else f"{'–':>8}"
            share = f"{100 * (eager_ms - ms) / eager_ms:13.1f}%" if eager_ms and label != "eager" else f"{'–':>14}"
            print(
                f"{batch:>5}  {label:<24} {ms:10.3f} {100 * r['latency_cv']:6.1f} "
                f"{comp if comp is not None else '–':>9} {ratio} {share}"
            )
    with open("/proc/loadavg") as f:
        print(f"load after: {' '.join(f.read().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
