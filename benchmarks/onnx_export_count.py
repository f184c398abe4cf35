"""ONNX exports a sweep needs, per-batch-and-dtype graphs (before) vs one graph per (spec, resolution) (now).

Counts come from the sweep's own plan (no model is built). With ``--time MODEL`` it also times, on this machine,
the graphs one (spec, resolution) of that model needs for ``--batches`` × ``--dtypes``: the old way (a static
export per batch and graph dtype, fp16 by a half-precision export) against ``prepare_onnx`` (one dynamic export,
fp16 converted from it, both checked on the CPU). Times depend on load: report ``/proc/loadavg`` with them.

    python benchmarks/onnx_export_count.py experiments/quick-cpu.toml
    python benchmarks/onnx_export_count.py --device cuda experiments/regnet-claim.toml
    python benchmarks/onnx_export_count.py --time resnet50 --resolution 112 --batches 1 64 --dtypes fp32 fp16
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a source checkout


def count(config_path: str, device: str) -> None:
    from profiler.sweep.config import load_config
    from profiler.sweep.run import plan
    from profiler.timing.onnx_export import GRAPH_DTYPE

    cfg = load_config(config_path)
    ort = [t for t in plan(cfg, device) if t.backend == "onnxruntime"]
    before = {(t.spec_hash, t.resolution, t.batch, GRAPH_DTYPE[t.dtype]) for t in ort}
    pairs = {(t.spec_hash, t.resolution) for t in ort}
    fp16_pairs = {(t.spec_hash, t.resolution) for t in ort if GRAPH_DTYPE[t.dtype] == "fp16"}
    print(
        f"{cfg.name}: {len(ort)} onnxruntime rows; exports before (spec, resolution, batch, graph dtype) = "
        f"{len(before)}; exports now (spec, resolution) = {len(pairs)} + {len(fp16_pairs)} fp16 conversions"
    )


def time_one(name: str, resolution: int, batches: list[int], dtypes: list[str]) -> None:
    import torch

    import models
    from profiler.timing import prepare_onnx
    from profiler.timing.eager import make_input, prepare
    from profiler.timing.onnx_export import GRAPH_DTYPE, export_graph

    torch.set_num_threads(1)  # as the sweeps do on CPU; the exporters are single-threaded Python mostly
    model = models.get_model(name).eval()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for g in sorted({GRAPH_DTYPE[d] for d in dtypes}):
            for b in batches:
                m = prepare(copy.deepcopy(model), "cpu", g, "contiguous")
                x = make_input(b, resolution, "cpu", g, "contiguous")
                export_graph(m, x, Path(tmp) / f"old_b{b}_{g}.onnx", dynamic=False)
        old_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        details = prepare_onnx(
            copy.deepcopy(model), resolution=resolution, dtypes=dtypes, cache_key="bench", cache_dir=Path(tmp) / "cache"
        )
        new_s = time.perf_counter() - t0
    n_old = len({GRAPH_DTYPE[d] for d in dtypes}) * len(batches)
    print(
        f"{name} @ {resolution}px, batches {batches}, dtypes {dtypes}: before {n_old} static exports "
        f"{old_s:.1f} s; now prepare_onnx {new_s:.1f} s "
        + ", ".join(f"{d}: {v['export_path']} {v['export_s']:.1f} s" for d, v in details.items())
    )
    print(f"ratio before / now: {old_s / new_s:.2f}; load average: {Path('/proc/loadavg').read_text().strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", help="sweep TOML files to count exports for")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="plan the sweeps for this device")
    ap.add_argument("--time", metavar="MODEL", help="time the exports of one (spec, resolution) of MODEL")
    ap.add_argument("--resolution", type=int, default=112)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "fp16"])
    args = ap.parse_args()
    for path in args.configs:
        count(path, args.device)
    if args.time:
        time_one(args.time, args.resolution, args.batches, args.dtypes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
