"""``profiler compare RUN_A RUN_B``: per-image latency of the models two runs share, and the ratio A / B."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="two runs side by side per model (e.g. archprof's timing vs timm's table)")
    p.add_argument("a", metavar="RUN_A", help="run directory, run id or 'latest' (e.g. a timm-compare sweep)")
    p.add_argument("b", metavar="RUN_B", help="the other run (e.g. results/public-timm-infer-amp-nchw-…-rtx3090)")
    p.add_argument("--results-dir", default="results", help="where run ids are looked up (default results/)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.commands.common import print_json
    from profiler.results.compare import compare, render

    result = compare(args.a, args.b, args.results_dir)
    if args.json:
        print_json(result)
    else:
        render(result)
    return 0
