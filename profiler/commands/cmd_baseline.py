"""``profiler baseline save RUN [--name NAME]``: store a run's counts and latency samples as a CI baseline."""

from __future__ import annotations

import argparse

from profiler.core.errors import UsageError
from profiler.results.runs import open_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="save a run as a baseline for `profiler check`")
    actions = p.add_subparsers(dest="baseline_action", required=True, metavar="ACTION")
    s = actions.add_parser("save", help="write results/baselines/<device-key>/<name>.json from a run")
    s.add_argument("run", help="run directory, run id under results/, 'latest', or a CSV/Parquet export")
    s.add_argument("--name", help="baseline name (default: the run's config name, else the run id)")
    s.add_argument("--root", default="results/baselines", help="baselines directory (default: %(default)s)")
    s.add_argument("--reference", help="reference model for machine-speed normalization (default: the config's)")
    s.add_argument("--no-layers", action="store_true", help="skip per-layer counts (faster for big sweeps)")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.baseline import build_baseline, save_baseline, slugify

    r = open_run(args.run)
    df, path = r.rows, r.path  # rows first: an unreadable export says so before the missing meta does
    if not r.is_dir or not r.meta:
        raise UsageError(f"{path} has no meta.json (environment); save a baseline from a run directory")
    name = slugify(args.name or r.name)
    doc = build_baseline(df, r.meta, name=name, source=str(path), with_layers=not args.no_layers)
    if args.reference:
        if not any(e["model"] == args.reference for e in doc["entries"].values()):
            models = sorted({e["model"] for e in doc["entries"].values()})
            raise UsageError(f"reference model {args.reference!r} is not in run {path}; measured: {models}")
        doc["reference_model"] = args.reference
    out = save_baseline(doc, args.root)
    n_samples = sum(e["n_samples"] for e in doc["entries"].values())
    print(f"saved {len(doc['entries'])} settings ({n_samples} samples) to {out}")
    print(f"device key: {doc['device_key']}; reference model: {doc['reference_model'] or 'none'}")
    return 0
