"""``profiler predict`` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from profiler.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("'predict' is not implemented yet")
