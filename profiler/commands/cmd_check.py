"""``profiler check``: measure (or read a run) and compare with a stored baseline; exit 0 pass, 1 regression, 2 usage.

Counts must match exactly. Latency regresses only beyond ``--threshold`` AND with a significant one-sided
Mann–Whitney test, after dividing by the machine-speed factor of the reference model. On another machine (device
key mismatch) ``--latency fail`` exits 2, while ``warn``/``off`` fall back to counts only with a warning.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from profiler.commands.common import DEVICES
from profiler.core.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="compare counts and latency with a stored baseline (CI)")
    p.add_argument("--baseline", help="baseline file, or a baselines directory (default: results/baselines)")
    p.add_argument("--name", help="baseline name (default: the config's name or file stem)")
    p.add_argument("--config", help="sweep config (TOML) to measure now, e.g. experiments/ci-check.toml")
    p.add_argument("--run", help="compare an existing run (directory, run id, 'latest', CSV/Parquet) instead")
    p.add_argument("--models", help="fnmatch pattern: compare only these models (the reference is kept)")
    p.add_argument("--device", choices=DEVICES, help="device to measure on (default: CUDA when present, else CPU)")
    p.add_argument(
        "--latency",
        choices=("fail", "warn", "off"),
        default="fail",
        help="what a latency regression does (default: %(default)s)",
    )
    p.add_argument("--threshold", type=float, default=0.10, help="relative slowdown threshold (default: 0.10)")
    p.add_argument("--alpha", type=float, default=0.01, help="one-sided Mann-Whitney level (default: 0.01)")
    p.add_argument("--reference", help="reference model for machine-speed normalization (default: config/baseline)")
    p.add_argument("--format", choices=("table", "json", "github"), default="table", help="output format")
    p.add_argument(
        "--keep-run",
        metavar="DIR",
        help="keep the measured rows as a run in DIR instead of a temporary one (A/B mode: two runs, "
        "DIR/side-A and DIR/side-B)",
    )
    p.add_argument(
        "--against",
        metavar="REV",
        help="A/B mode: measure git revision REV (in a temporary worktree) and this working tree now, "
        "interleaved, and judge latency B vs A (default with --config in a git checkout: the "
        "merge-base with main); 'stored' compares latency with the stored baseline instead",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="A/B rounds, each a fresh process per model and side (default: the config's repeats, >= 2)",
    )
    p.set_defaults(func=run)


def _measure(args: argparse.Namespace, cfg: Any, device: str, tmp: str) -> str:
    """Run the config's sweep into a run directory and return its path."""
    from profiler.baseline.select import restrict_config
    from profiler.sweep.run import run_sweep

    if args.models:
        cfg = restrict_config(cfg, args.models, args.reference or cfg.reference_model)
    run_dir = Path(args.keep_run) if args.keep_run else Path(tmp) / "check-run"
    return str(run_sweep(cfg, device=device, run_dir=run_dir, show_progress=False))


def run(args: argparse.Namespace) -> int:
    import tempfile

    from profiler.baseline import (
        LatencyRule,
        compare,
        load_baseline,
        render,
        select_baseline,
        single_device,
    )
    from profiler.core.device_key import device_key, slugify
    from profiler.results.runs import open_run
    from profiler.timing import default_device

    if not 0 < args.threshold < 10:
        raise UsageError(f"--threshold must be a relative slowdown in (0, 10), e.g. 0.10; got {args.threshold}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be in (0, 1), got {args.alpha}")
    if bool(args.run) == bool(args.config):
        raise UsageError("give exactly one of --config FILE (measure now) or --run RUN (compare a stored run)")
    cfg = None
    if args.config:
        from profiler.sweep.config import load_config

        config_path = Path(args.config)
        if not config_path.is_file():
            raise UsageError(f"config {config_path} does not exist")
        cfg = load_config(config_path)  # name and reference_model come from here, validated like any sweep's
    if args.rounds is not None and args.rounds < 2:
        raise UsageError(f"--rounds must be >= 2 (the rule compares whole processes), got {args.rounds}")
    device = args.device or default_device()  # as `sweep --device auto`: CUDA when present
    if cfg is not None:
        from profiler.commands import check_ab

        ab = check_ab.resolve(args)
        if ab is not None:
            return check_ab.run_ab(args, config_path, cfg, device, *ab)
    notes: list[str] = []
    bpath, pre_key = None, None
    if cfg is not None:  # find the baseline before measuring for a minute (same key as the sweep's meta will give)
        from profiler.core.environment import capture

        pre_key = device_key(capture(device), device)
        bpath = select_baseline(args.baseline, args.name or cfg.name, pre_key, args.latency, notes)
    with tempfile.TemporaryDirectory(prefix="archprof-check-") as tmp:
        measured = open_run(args.run or _measure(args, cfg, device, tmp))
        df, path = measured.rows, measured.path
    device = single_device(df, str(path), "a check")
    env = measured.meta.environment if measured.is_dir else None
    if not env:
        from profiler.core.environment import capture

        env = capture(device)
        notes.append(f"{path} records no environment; the device key is this machine's")
    key = device_key(env, device)
    # an export is named by its file, as a run directory by its config: Run.name of an export with no meta
    name = args.name or (cfg.name if cfg is not None else slugify(measured.name if measured.is_dir else path.stem))
    if bpath is None or key != pre_key:
        notes.clear()
        bpath = select_baseline(args.baseline, name, key, args.latency, notes)
    baseline = load_baseline(bpath)
    reference = args.reference or getattr(cfg, "reference_model", None) or baseline.get("reference_model")
    report = compare(
        baseline,
        df,
        current_key=key,
        latency=args.latency,
        rule=LatencyRule(args.threshold, args.alpha),
        reference_model=reference,
        models=args.models,
        baseline_path=str(bpath),
    )
    report.notes[:0] = notes
    if report.latency_mode != "off":
        report.notes.append(
            "a device-key match is not a speed match: machines that share a key differed by 2x; "
            "prefer `check --config FILE --against REV` (both sides measured now)"
        )
    print(render(report, args.format))
    for n in report.notes:
        print(f"warning: {n}", file=sys.stderr)
    return report.exit_code
