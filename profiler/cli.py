"""The ``profiler`` command line: one sub-command per module in ``profiler.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from profiler.core.errors import UsageError

# Each module defines ``add_parser(subparsers)`` which registers its sub-command with ``func=run``.
COMMAND_MODULES = (
    "cmd_list",
    "cmd_count",
    "cmd_time",
    "cmd_sweep",
    "cmd_export",
    "cmd_merge",
    "cmd_import",
    "cmd_compare",
    "cmd_analyze",
    "cmd_predict",
    "cmd_report",
    "cmd_baseline",
    "cmd_check",
    "cmd_peaks",
    "cmd_trace",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-commands import their heavy dependencies only when run)."""
    parser = argparse.ArgumentParser(
        prog="profiler",
        description="archprof: count, time and model the runtime of CNN architectures.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"profiler.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 check failed, 2 usage error)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
