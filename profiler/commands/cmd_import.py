"""``profiler import timm FILE.csv --device-name NAME``: a run from timm's published benchmark table."""

from __future__ import annotations

import argparse
from pathlib import Path

from profiler.commands.common import BACKENDS, DEVICES, MEMORY_FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a public benchmark table (timm's benchmark.py CSV) as a run")
    p.add_argument("source", choices=("timm",), help="whose table: timm (huggingface/pytorch-image-models results/)")
    p.add_argument("file", help="the CSV, e.g. benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv")
    p.add_argument("--device-name", required=True, help="the device the table was measured on, e.g. 'NVIDIA RTX 3090'")
    p.add_argument("--device", help=f"{'|'.join(DEVICES)} (default: cpu when the device name or file says CPU)")
    # Checked by the importer (one line naming the valid values), not argparse, so that a bad value exits 2 alike.
    p.add_argument("--dtype", help="amp|fp32|tf32|fp16|bf16 (default: from the file name, e.g. -amp-)")
    p.add_argument(
        "--backend", help=f"{'|'.join(BACKENDS)} (default: from the file name: -dynamo- → compile, else eager)"
    )
    p.add_argument(
        "--memory-format",
        help=f"{'|'.join(MEMORY_FORMATS)} (default: from the file name: -nhwc- → channels_last, else contiguous)",
    )
    p.add_argument(
        "--include",
        default="",
        metavar="PATTERNS",
        help="comma-separated fnmatch patterns on timm names, !PATTERN to exclude, or the rule "
        "cnn-seed-families (profiler/imports/include.py); default: every row",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="RUN",
        help="run id under --results-dir or a directory (default: public-timm-<file stem>)",
    )
    p.add_argument("--results-dir", default="results", help="where a bare run id goes (default results/)")
    p.add_argument("--force", action="store_true", help="replace an existing output run")
    p.add_argument("--workers", type=int, default=2, help="counting processes (default 2; 0 = in this process)")
    p.add_argument("--snapshot", help="the timm repository snapshot the file came from (recorded)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.core.errors import UsageError
    from profiler.imports.include import Include
    from profiler.imports.timm_csv import read_table
    from profiler.imports.timm_import import import_timm, resolve_setting

    if args.workers < 0:
        raise UsageError(f"--workers must be >= 0, got {args.workers}")
    include = Include(args.include)
    table = read_table(args.file)
    setting, named = resolve_setting(
        table,
        args.device_name,
        device=args.device,
        dtype=args.dtype,
        backend=args.backend,
        memory_format=args.memory_format,
    )
    out = Path(args.output or f"public-timm-{Path(args.file).stem.removeprefix('benchmark-')}")
    if len(out.parts) == 1:
        out = Path(args.results_dir) / out
    summary = import_timm(
        out,
        setting,
        named,
        table=table,
        include=include,
        force=args.force,
        workers=args.workers,
        progress=not args.no_progress,
        snapshot=args.snapshot,
    )
    print(
        f"imported {summary['rows']} rows ({summary['models']} models, {summary['families']} families) of "
        f"{Path(args.file).name} into {summary['out']}/ in {summary['wall_s']:.1f} s; "
        f"{len(summary['skipped'])} skipped"
    )
    for s in summary["skipped"][:20]:
        print(f"  skipped {s['model']}: {s['reason']}")
    print(f"next:\n  python -m profiler analyze {summary['out']}\n  python -m profiler report {summary['out']}")
    return 0
