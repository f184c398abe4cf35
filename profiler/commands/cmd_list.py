"""``profiler list [PATTERN] [--json]``: the registered models, their family and default resolution.

A ``timm:`` or ``torchvision:`` pattern (``timm:resnet*``) lists what it expands to in that library.
"""

from __future__ import annotations

import argparse

from profiler.commands.common import one_line, print_json
from profiler.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered models (or timm:/torchvision: ones, e.g. 'timm:resnet*')")
    p.add_argument("pattern", nargs="?", default="*",
                   help="fnmatch pattern, e.g. 'regnetx_*', 'timm:regnet*' or 'torchvision:resnet*'")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import models

    try:
        rows = [
            {"name": n, "family": (info := models.model_info(n)).family, "resolution": info.resolution}
            for n in models.list_models(args.pattern)
        ]
    except ValueError as exc:  # a library that is not installed, a wildcard on user code
        raise UsageError(one_line(str(exc))) from None
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no model matches {args.pattern!r}")
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'model':<{width}}  {'family':<14} resolution")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['family']:<14} {r['resolution']}")
    families = {r["family"] for r in rows}
    print(f"{len(rows)} models in {len(families)} families")
    return 0
