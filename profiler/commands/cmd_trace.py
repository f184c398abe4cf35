"""``profiler trace MODEL [--device D] [--batch B] [--resolution R] [--dtype T] [--iters N] [--top K] [--json]
[-o trace.json]``: per-layer device and host time, the device idle fraction, each layer on the roofline."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from profiler.commands.common import DTYPES, MODEL_HELP, add_model_kwargs, parse_kwargs, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="per-layer time of one model with torch.profiler (device, host, roofline)")
    p.add_argument("model", help=MODEL_HELP)
    add_model_kwargs(p)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--batch", type=int, default=1, help="images per batch (default 1)")
    p.add_argument("--resolution", type=int, default=None, help="input side in pixels (default: the model's)")
    p.add_argument("--dtype", choices=DTYPES, default="fp32", help="precision (amp: autocast over fp32 weights)")
    p.add_argument("--iters", type=int, default=5, help="profiled iterations (default 5)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up iterations before profiling (default 3)")
    p.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (default 1, as in CPU sweeps)")
    p.add_argument("--top", type=int, default=10, help="layers listed, by device time (default 10)")
    p.add_argument(
        "--peaks",
        choices=("auto", "stored"),
        default="auto",
        help="auto: stored peaks, else measure and store them as `profiler peaks` does (~15 s, once per "
        "device key); stored: stored only (default auto)",
    )
    p.add_argument("--json", action="store_true", help="print the whole trace as one JSON object")
    p.add_argument("-o", "--output", help="also write the trace JSON here (for `profiler report --trace`)")
    p.add_argument(
        "--run",
        help="also store the trace in RUN's traces/ folder (the run's report shows it); the "
        "trace is taken at the run's resolution",
    )
    p.set_defaults(func=run)


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    from profiler.core.errors import UsageError
    from profiler.core.jsonsafe import json_safe
    from profiler.trace import TraceError, trace_model

    for flag, value in (("--batch", args.batch), ("--top", args.top)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    out = Path(args.output) if args.output else None
    if out is not None and out.suffix.lower() != ".json":
        raise UsageError(f"output {out} should end in .json")
    run_traces = None
    if args.run:
        from profiler.results.store import resolve_run

        run_dir = resolve_run(args.run)
        if not run_dir.is_dir():
            raise UsageError(f"--run {args.run} is not a run directory (results/<run-id>/)")
        run_traces = run_dir / "traces"
        args.resolution = run_resolution(run_dir, args.model, args.resolution)
    try:
        doc = trace_model(
            args.model,
            model_kwargs=parse_kwargs(args.model_kwargs),
            device=args.device,
            dtype=args.dtype,
            batch=args.batch,
            resolution=args.resolution,
            iters=args.iters,
            warmup_iters=args.warmup,
            threads=args.threads,
            measure_peaks_if_missing=args.peaks == "auto",
        )
    except TraceError as exc:
        print(f"trace failed: {exc}")
        return 1
    doc["top"] = [r["name"] for r in doc["layers"][: args.top]]
    if run_traces is not None:
        res, b = doc["resolution"], doc["batch"]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", args.model)  # a reference may hold ':' and '/'
        stored = run_traces / f"{stem}-{args.device}-{args.dtype}-b{b}-r{res}.json"
        out = [out, stored] if out is not None else [stored]
    else:
        out = [out] if out is not None else []
    for path in out:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json_safe(doc), indent=1, allow_nan=False) + "\n")
    if args.json:
        print_json(doc)
        return 0
    print_summary(doc, args.top)
    for path in out:
        print(f"wrote {path}")
    return 0


def run_resolution(run_dir: Path, model: str, wanted: int | None) -> int | None:
    """The resolution to trace for ``--run``: the run's own (the model's there, else the run's only one). A
    resolution the run was not measured at is refused: its report would show a trace of another input size."""
    from profiler.core.errors import UsageError
    from profiler.results.store import load_results

    if not (run_dir / "results.sqlite").exists():
        return wanted  # an empty run directory: nothing to match
    rows = load_results(run_dir)
    ok = rows[rows["status"].astype(str) == "ok"] if "status" in rows else rows
    have = sorted({int(r) for r in ok["resolution"].dropna()}) if "resolution" in ok else []
    own = sorted({int(r) for r in ok.loc[ok["model"] == model, "resolution"].dropna()}) if have else []
    choices = own or have
    if not choices:
        return wanted
    if wanted is None:
        if len(choices) > 1:
            raise UsageError(
                f"--run {run_dir.name} has {model if own else 'models'} at {choices} px; choose one with --resolution"
            )
        print(f"note: tracing at {choices[0]} px, the resolution of run {run_dir.name}", file=sys.stderr)
        return choices[0]
    if wanted not in choices:
        raise UsageError(
            f"--run {run_dir.name} was measured at {', '.join(map(str, choices))} px, not {wanted} px; "
            f"its report would show a trace of another input size: give --resolution {choices[0]} (or "
            "leave it out)"
        )
    return wanted


def _bounds(counts: dict[str, int]) -> str:
    """'15 compute, 19 memory, 35 launch' (zero counts left out)."""
    return ", ".join(f"{n} {b}" for b, n in counts.items() if n) or "none"


def print_summary(doc: dict, top: int) -> None:
    """The totals and the top layers as a rich table."""
    from rich.console import Console
    from rich.table import Table

    t = doc["totals"]
    # Piped output gets rich's 80 columns by default: too narrow for the table, so widen it.
    console = Console() if sys.stdout.isatty() else Console(width=150)
    console.print(
        f"[bold]{doc['model']}[/]  {doc['device']} ({doc['device_name']})  batch {doc['batch']}  "
        f"{doc['resolution']}px  {doc['dtype']}  {doc['threads']} thread(s)  {doc['iters']} iterations"
    )
    idle = "n/a" if t["idle_fraction"] is None else f"{100 * t['idle_fraction']:.1f} %"
    if doc["device"] == "cuda" and t.get("busy_fraction_of_step") is not None:
        idle += f" (device busy {100 * t['busy_fraction_of_step']:.1f} % of the step)"
    console.print(
        f"  step {t['step_ms']:.3f} ms profiled ({t['latency_ms_unprofiled']:.3f} ms unprofiled)   "
        f"device {t['device_ms']:.3f} ms   {t['n_ops']:.0f} ops   {t['n_kernels']:.0f} kernels   "
        f"idle fraction {idle}"
    )
    console.print(f"  idle fraction: {t['idle_definition']}")
    peaks = doc.get("peaks")
    if peaks:
        tf = (peaks.get("matmul_tflops") or {}).get(doc["dtype"])
        console.print(
            f"  peaks ({peaks.get('source')}): matmul {doc['dtype']} "
            f"{'–' if tf is None else f'{tf * 1e3:.1f} GFLOP/s'}, copy {peaks['copy_bandwidth_gbs']:.1f} "
            f"GB/s, launch {peaks['launch_us']:.2f} µs; layers by bound: {_bounds(t['bound_counts'])}"
        )
    else:
        console.print("  no measured peaks stored for this device (run `profiler peaks`): roofline placement unknown")
    table = Table(
        title=f"top {min(top, len(doc['layers']))} of {len(doc['layers'])} layers by device time (per iteration)"
    )
    for col in ("layer", "type", "device ms", "cpu ms", "ops", "kernels", "MMAC", "MB", "FLOP/B", "bound"):
        table.add_column(col, justify="left" if col in ("layer", "type", "bound") else "right")
    for r in doc["layers"][:top]:
        table.add_row(
            r["name"],
            r["type"],
            _ms(r["device_ms"]),
            _ms(r["cpu_ms"]),
            f"{r['n_ops']:g}",
            f"{r['n_kernels']:g}",
            f"{r['macs'] / 1e6:.1f}",
            f"{r['bytes'] / 1e6:.2f}",
            "–" if r["intensity"] is None else f"{r['intensity']:.1f}",
            r["bound"],
        )
    console.print(table)
