"""``profiler export RUN --format csv|parquet [-o OUT]``: a run's rows as one CSV or Parquet file."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's results as CSV or Parquet")
    p.add_argument("run", help="run id under --results-dir, 'latest', or a run directory path")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="output format (default csv)")
    p.add_argument("-o", "--output", default=None, help="output file (default RUN_DIR/results.FORMAT)")
    p.add_argument("--results-dir", default="results", help="where run ids are looked up (default results/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.core.errors import UsageError
    from profiler.results.store import export, resolve_run

    run_dir = resolve_run(args.run, args.results_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{args.run!r} is neither a run directory nor a run id under {args.results_dir}/")
    out = export(run_dir, args.format, args.output)
    print(out)
    return 0
