"""``profiler time MODEL --backend B --device D --batch N --resolution R --dtype T [--json]``: time one model."""

from __future__ import annotations

import argparse

from profiler.commands.common import (  # the protocol's choices, copied so that the parser imports nothing heavy
    BACKENDS,
    COMPILE_MODES,
    DEVICES,
    DTYPES,
    EXPORTERS,
    MEMORY_FORMATS,
    MODEL_HELP,
    add_model_kwargs,
    build_model,
    print_json,
    resolve_model,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("time", help="time one model (eager, CUDA graph, torch.compile or ONNX Runtime; CPU or CUDA)")
    p.add_argument("model", help=MODEL_HELP)
    add_model_kwargs(p)
    p.add_argument("--backend", choices=BACKENDS, default="eager")
    p.add_argument("--device", choices=DEVICES, default="cpu")
    p.add_argument("--batch", type=int, default=1, help="images per batch (default 1)")
    p.add_argument("--resolution", type=int, default=None, help="input side in pixels (default: the model's)")
    p.add_argument("--dtype", choices=DTYPES, default="fp32", help="precision (default fp32; tf32 is CUDA only)")
    p.add_argument("--memory-format", choices=MEMORY_FORMATS, default="contiguous")
    p.add_argument("--iters", type=int, default=30, help="timed iterations (default 30)")
    p.add_argument("--warmup-s", type=float, default=0.2, help="minimum warm-up seconds (default 0.2)")
    p.add_argument(
        "--compile-mode", choices=COMPILE_MODES, default="default", help="torch.compile mode (--backend compile)"
    )
    p.add_argument("--ort-cuda-graph", action="store_true", help="onnxruntime on cuda: replay a captured CUDA graph")
    p.add_argument(
        "--exporter",
        choices=EXPORTERS,
        default="dynamo",
        help="ONNX exporter tried first, the other the fallback (default dynamo; torchscript is faster)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="intra-op threads (default: 1 on CPU, as sweeps do: all threads on a shared machine made "
        "latency swing by 10x; the library default on CUDA)",
    )
    p.add_argument("--cache-dir", default=None, help="ONNX export cache (default $ARCHPROF_CACHE/onnx)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import models
    from profiler.core import environment
    from profiler.core.errors import UsageError
    from profiler.counting import check_runs
    from profiler.timing import MeasurementError, TimingConfig, check_device, measure, validate_request

    info = resolve_model(args.model, args.model_kwargs)
    resolution = info.resolution if args.resolution is None else args.resolution
    try:
        models.check_resolution(info.spec, resolution)
    except ValueError:
        raise UsageError(
            f"{args.model} needs resolution >= {models.min_resolution(info.spec)}, got {resolution}"
        ) from None
    if args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    threads = args.threads
    if threads is None and args.device == "cpu":
        threads = 1
        if not args.json:
            print("note: 1 intra-op thread (the sweep's rule on CPU); ask for more with --threads N")
    config = TimingConfig(
        iters=args.iters,
        warmup_s=args.warmup_s,
        threads=threads,
        compile_mode=args.compile_mode,
        ort_cuda_graph=args.ort_cuda_graph,
        exporter=args.exporter,
    )
    # Before building the model: an impossible request is a usage error, said at once.
    validate_request(
        args.backend,
        args.device,
        args.dtype,
        args.memory_format,
        args.batch,
        resolution,
        ort_cuda_graph=config.ort_cuda_graph,
    )
    check_device(args.device)
    check_runs(info, resolution, args.batch)  # an external model that cannot run here: its reason, exit 2
    model = build_model(info)
    try:
        result = measure(
            model,
            backend=args.backend,
            device=args.device,
            dtype=args.dtype,
            batch=args.batch,
            resolution=resolution,
            memory_format=args.memory_format,
            config=config,
            cache_key=models.spec_hash(info.spec),
            cache_dir=args.cache_dir,
        )
    except MeasurementError as exc:
        print(f"measurement failed: {type(exc).__name__}: {exc}")
        return 1
    env = environment.capture(args.device)
    s = result.stats
    if args.json:
        print_json(
            {
                "model": args.model,
                "family": info.family,
                "spec": models.spec_to_dict(info.spec),
                "backend": args.backend,
                "device": args.device,
                "batch": args.batch,
                "resolution": resolution,
                "dtype": args.dtype,
                "memory_format": args.memory_format,
                **s,
                "samples_ms": result.samples_ms,
                "details": result.details,
                "env": env,
            }
        )
        return 0
    where = env.get("gpu_name") if args.device == "cuda" else env.get("cpu_model")
    print(
        f"{args.model}  {args.backend}/{args.device} ({where})  batch {args.batch}  {resolution}px  "
        f"{args.dtype}  {args.memory_format}"
    )
    print(
        f"  latency   median {s['latency_ms_median']:.3f} ms   IQR {s['latency_ms_iqr']:.3f} ms   "
        f"p5 {s['latency_ms_p5']:.3f}   p95 {s['latency_ms_p95']:.3f}   min {s['latency_ms_min']:.3f}"
    )
    print(
        f"  throughput {s['throughput_ips']:.1f} images/s   CV {100 * s['latency_cv']:.1f} %   "
        f"{s['n_samples']} samples" + ("" if s["stable"] else "   (UNSTABLE: CV above 5 %)")
    )
    d = result.details
    if args.backend == "onnxruntime":
        print(
            f"  onnx: {d.get('export_path')} by {d.get('exporter')}, opset {d.get('opset')}, "
            f"provider {d.get('provider')}, "
            f"graph opt {d.get('graph_optimization_level')}, max output error {d.get('max_output_error_rel'):.2e}"
            f" of scale" + (", CUDA graph" if d.get("ort_cuda_graph") else "")
        )
    elif args.backend in ("compile", "cudagraph"):
        how = f"inductor mode {d.get('compile_mode')}" if args.backend == "compile" else "torch.cuda.CUDAGraph replay"
        print(
            f"  {args.backend}: {how}, compile {d.get('compile_s'):.2f} s (not in latency), max output error "
            f"{d.get('max_output_error_rel'):.2e} of scale"
        )
    if phases := d.get("phases"):
        print("  phases    " + "   ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in phases.items()))
    return 0
