"""``profiler merge RUN RUN... -o RUN``: one run from runs measured on different machines (rows keep their device)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="combine runs from several machines (e.g. one per GPU type) into one run")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids under --results-dir, or run directory paths")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="RUN",
        help="the new run: a run id (created under --results-dir) or a directory path",
    )
    p.add_argument("--results-dir", default="results", help="where run ids are looked up (default results/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.core.errors import UsageError
    from profiler.results.merge import merge_runs
    from profiler.results.store import resolve_run

    sources = []
    for arg in args.runs:
        path = resolve_run(arg, args.results_dir)
        if not path.is_dir():
            raise UsageError(f"{arg!r} is neither a run directory nor a run id under {args.results_dir}/")
        sources.append(path)
    out = Path(args.output)
    if len(out.parts) == 1:  # a bare id, like sweep's --run-id
        out = Path(args.results_dir) / out
    summary = merge_runs(sources, out, argv=sys.argv)
    print(
        f"merged {summary['rows']} rows from {', '.join(summary['sources'])} "
        f"({'; '.join(summary['device_names']) or 'no device names'}) into {summary['out']}/"
    )
    ref = out.name if out.parent == Path("results") else str(out)
    print(f"next:\n  python -m profiler analyze {ref}\n  python -m profiler report {ref}")
    return 0
