"""``profiler list [PATTERN] [--json]``: the registered models, their family and default resolution."""

from __future__ import annotations

import argparse

from profiler.commands.common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'regnetx_*'")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import models

    rows = [
        {"name": n, "family": (info := models.model_info(n)).family, "resolution": info.resolution}
        for n in models.list_models(args.pattern)
    ]
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
