"""``profiler list [PATTERN] [--json]``: the registered models, their family and default resolution, and the
design spaces that sweeps and ``predict --space`` sample from.

A ``timm:`` or ``torchvision:`` pattern (``timm:resnet*``) lists what it expands to in that library.
"""

from __future__ import annotations

import argparse

from profiler.commands.common import one_line, print_json
from profiler.core.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered models (or timm:/torchvision: ones, e.g. 'timm:resnet*')")
    p.add_argument(
        "pattern",
        nargs="?",
        default="*",
        help="part of a name (e.g. 'resnet') or an fnmatch pattern (e.g. 'regnetx_*', 'timm:regnet*' "
        "or 'torchvision:resnet*')",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=run)


def name_pattern(text: str) -> str:
    """An fnmatch pattern as given, else a substring match, as timm's ``list_models`` users expect.

    >>> name_pattern("resnet"), name_pattern("regnetx_*")
    ('*resnet*', 'regnetx_*')
    """
    return text if any(c in text for c in "*?[") else f"*{text}*"


def run(args: argparse.Namespace) -> int:
    import fnmatch

    import models

    # A library pattern (timm:resnet*) is that library's fnmatch pattern, as given; a registry one also matches parts.
    pattern = args.pattern if ":" in args.pattern else name_pattern(args.pattern.lower())
    try:
        rows = [
            {"name": n, "family": (info := models.model_info(n)).family, "resolution": info.resolution}
            for n in models.list_models(pattern)
        ]
    except ValueError as exc:  # a library that is not installed, a wildcard on user code
        raise UsageError(one_line(str(exc))) from None
    spaces = {n: s for n, s in models.SPACES.items() if fnmatch.fnmatchcase(n, pattern)}
    if not rows and not spaces:
        raise UsageError(
            f"no model or design space matches {args.pattern!r} (a part of a name, e.g. 'resnet', or "
            "a pattern, e.g. 'regnetx_*' or 'timm:resnet*'); `python -m profiler list` lists them all"
        )
    if args.json:
        print_json(rows)
        return 0
    if rows:
        _print_models(rows)
    if spaces:
        _print_spaces(spaces)
    return 0


def _print_models(rows: list[dict]) -> None:
    width = max(len(r["name"]) for r in rows)
    print(f"{'model':<{width}}  {'family':<14} resolution")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['family']:<14} {r['resolution']}")
    families = {r["family"] for r in rows}
    print(f"{len(rows)} models in {len(families)} families")


def _print_spaces(spaces: dict) -> None:
    width = max(len(n) for n in spaces)
    print("\ndesign spaces (samplers: `predict --space NAME`, sweep `samples = [{space = NAME, n = ...}]`)")
    for name, space in spaces.items():
        print(f"  {name:<{width}}  {space.description}")
