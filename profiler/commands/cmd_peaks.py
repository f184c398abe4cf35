"""``profiler peaks --device cpu|cuda [--threads N] [--json] [--no-save]``: measure and store the device's peaks."""

from __future__ import annotations

import argparse
import sys

from profiler.commands.common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("peaks", help="measure matmul throughput, copy bandwidth and launch cost of a device")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (default 1, as in CPU sweeps)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs (a rough figure)")
    p.add_argument("--no-save", action="store_true", help="print only; do not write $ARCHPROF_CACHE/peaks/")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.hardware.measure import measure_peaks, save_peaks

    doc = measure_peaks(args.device, threads=args.threads, quick=args.quick)
    path = None if args.no_save else save_peaks(doc)
    if args.json:
        print_json({**doc, "saved_to": str(path) if path else None})
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"peaks of {doc['device_name']} ({doc['device']}, {doc['threads']} thread(s), clock: {doc['clock']})"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for dtype, tf in doc["matmul_tflops"].items():
        value = "not measured" if tf is None else f"{tf * 1e3:,.1f} GFLOP/s" if tf < 1 else f"{tf:,.2f} TFLOP/s"
        table.add_row(f"matmul {dtype} (n={doc['sizes']['matmul_n']})", value)
    copy = f"copy bandwidth ({doc['sizes']['copy_mib']:g} MiB, read + write)"
    table.add_row(copy, f"{doc['copy_bandwidth_gbs']:,.1f} GB/s")
    table.add_row("launch cost (x.add_(1), 1 element; median)", f"{doc['launch_us']:,.2f} µs")
    table.add_row("launch cost, fastest block", f"{doc['launch_us_fastest']:,.2f} µs")
    # Piped output gets rich's 80 columns by default: too narrow for the table, so widen it.
    console = Console() if sys.stdout.isatty() else Console(width=150)
    console.print(table)
    console.print(f"device key {doc['device_key']}" + (f"; saved to {path}" if path else "; not saved"))
    if doc.get("wall"):
        w = doc["wall"]
        console.print(
            f"wall clock: matmul fp32 {w['matmul_tflops']['fp32'] * 1e3:.1f} GFLOP/s, copy "
            f"{w['copy_bandwidth_gbs']:.1f} GB/s, launch {w['launch_us']:.2f} µs"
        )
    if doc.get("loadavg"):
        console.print(f"load average while measuring: {doc['loadavg']} on {doc.get('cpu_count') or '?'} CPUs")
    return 0
