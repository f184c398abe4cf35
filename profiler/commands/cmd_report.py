"""``profiler report PATH [-o OUT.html]``: one self-contained HTML report (verdict, figures, tables)."""

from __future__ import annotations

import argparse
from pathlib import Path

from profiler.core.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render a self-contained HTML report of a run or results file")
    p.add_argument("path", help="run directory, run id, 'latest', .csv or .parquet")
    p.add_argument("-o", "--output", help="output file (default: reports/<run-id>.html)")
    p.add_argument("--boot", type=int, default=2000, help="cluster-bootstrap draws (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--trace",
        action="append",
        default=[],
        metavar="FILE",
        help="a `profiler trace -o` JSON to show per layer (repeatable; the run's traces/*.json too)",
    )
    p.add_argument(
        "--predict-on",
        type=lambda s: [d for d in s.split(",") if d.strip()],
        default=[],
        metavar="DEV,…",
        help="add the run's models predicted on these GPUs of the datasheet table "
        "(e.g. h100-sxm,l4: `profiler predict --device`)",
    )
    p.set_defaults(func=run)


def default_output(path: str) -> Path:
    """reports/<run-id>.html: the run directory's name, or the file's stem (its run's name for an export)."""
    from profiler.core.paths import meta_path
    from profiler.results.store import resolve_run

    resolved = resolve_run(path)
    if resolved.is_dir():
        name = resolved.resolve().name
    elif resolved.stem in ("results",) and meta_path(resolved.parent).is_file():
        name = resolved.resolve().parent.name  # results/<run-id>/results.csv from `profiler export`
    else:
        name = resolved.stem
    return Path("reports") / f"{name}.html"


def check_writable(out: Path) -> None:
    """UsageError now (before seconds of rendering) when ``out`` cannot be written: its folder cannot be made,
    or a file cannot be created there. A probe file made here is removed again."""
    import errno

    try:
        if out.is_dir():
            raise OSError(errno.EISDIR, "is a directory")
        out.parent.mkdir(parents=True, exist_ok=True)
        existed = out.exists()
        with open(out, "a", encoding="utf-8"):
            pass
        if not existed:
            out.unlink()
    except OSError as exc:
        raise UsageError(
            f"cannot write the report to {out}: {exc.strerror or exc}; give -o a path in a writable "
            "folder (default reports/<run-id>.html)"
        ) from None


def run(args: argparse.Namespace) -> int:
    from profiler.report import write_report

    if args.boot < 100:
        raise UsageError(f"--boot must be at least 100 (got {args.boot})")
    out = Path(args.output) if args.output else default_output(args.path)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"output {out} should end in .html")
    for t in args.trace:
        if not Path(t).is_file():
            raise UsageError(f"--trace {t} does not exist; write one with `profiler trace MODEL -o FILE.json`")
    check_writable(out)
    if args.predict_on:
        from profiler.hardware.datasheets import lookup

        args.predict_on = [lookup(d).key for d in args.predict_on]  # an unknown name: exit 2, closest names
    try:
        write_report(args.path, out, n_boot=args.boot, seed=args.seed, traces=args.trace, predict_on=args.predict_on)
    except OSError as exc:  # e.g. the disk filled up while rendering
        raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    size_kb = out.stat().st_size / 1024
    print(f"wrote {out} ({size_kb:.0f} KiB)")
    return 0
