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

from profiler.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="compare counts and latency with a stored baseline (CI)")
    p.add_argument("--baseline", help="baseline file, or a baselines directory (default: results/baselines)")
    p.add_argument("--name", help="baseline name (default: the config's name or file stem)")
    p.add_argument("--config", help="sweep config (TOML) to measure now, e.g. experiments/ci-check.toml")
    p.add_argument("--run", help="compare an existing run (directory, run id, 'latest', CSV/Parquet) instead")
    p.add_argument("--models", help="fnmatch pattern: compare only these models (the reference is kept)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="device to measure on (default: the config's, or cpu)")
    p.add_argument("--latency", choices=("fail", "warn", "off"), default="fail",
                   help="what a latency regression does (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.10, help="relative slowdown threshold (default: 0.10)")
    p.add_argument("--alpha", type=float, default=0.01, help="one-sided Mann-Whitney level (default: 0.01)")
    p.add_argument("--reference", help="reference model for machine-speed normalization (default: config/baseline)")
    p.add_argument("--format", choices=("table", "json", "github"), default="table", help="output format")
    p.add_argument("--keep-run", help="measure into this run directory instead of a temporary one")
    p.add_argument("--against", metavar="REV",
                   help="A/B mode: measure git revision REV (in a temporary worktree) and this working tree now, "
                        "interleaved, and judge latency B vs A (default with --config in a git checkout: the "
                        "merge-base with main); 'stored' compares latency with the stored baseline instead")
    p.add_argument("--rounds", type=int, default=None,
                   help="A/B rounds, each a fresh process per model and side (default: the config's repeats, >= 2)")
    p.set_defaults(func=run)


def _config_extras(path: Path) -> dict[str, Any]:
    """``name`` and ``reference_model`` read straight from the TOML (top level or a ``[check]`` table)."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read config {path}: {exc}") from None
    check = data.get("check", {}) if isinstance(data.get("check"), dict) else {}
    return {"name": data.get("name") or path.stem,
            "reference_model": check.get("reference_model", data.get("reference_model"))}


def _measure(args: argparse.Namespace, config_path: Path, tmp: str) -> str:
    """Run the config's sweep into a run directory and return its path."""
    from profiler.config import load_config
    from profiler.sweep import run_sweep

    cfg = load_config(config_path)
    device = args.device or config_device(cfg)
    if args.models:
        cfg = _restrict(cfg, args.models, args.reference or _config_extras(config_path)["reference_model"])
    run_dir = Path(args.keep_run) if args.keep_run else Path(tmp) / "check-run"
    return str(run_sweep(cfg, device=device, run_dir=run_dir, show_progress=False))


def _restrict(cfg: Any, pattern: str, reference: str | None) -> Any:
    """The config with only the models matching ``pattern`` (plus the reference model) in every group."""
    import dataclasses
    import fnmatch

    keep = lambda m: fnmatch.fnmatchcase(m, pattern) or m == reference  # noqa: E731
    groups = tuple(dataclasses.replace(g, models=tuple(m for m in g.models if keep(m))) for g in cfg.groups)
    groups = tuple(g for g in groups if g.models)
    if not any(keep(m) and m != reference for m in cfg.models):
        raise UsageError(f"--models {pattern!r} matches none of the config's models: {', '.join(cfg.models)}")
    models = {n: e for n, e in cfg.models.items() if keep(n)}
    return dataclasses.replace(cfg, groups=groups, models=models)


def restrict_tasks(tasks: list, pattern: str, reference: str | None) -> list:
    """The tasks of models matching ``pattern`` (and the reference model)."""
    import fnmatch

    kept = [t for t in tasks if fnmatch.fnmatchcase(t.model, pattern) or t.model == reference]
    if not any(t.model != reference for t in kept):
        raise UsageError(f"--models {pattern!r} matches none of the config's models: "
                         f"{', '.join(sorted({t.model for t in tasks}))}")
    return kept


def config_device(cfg: Any) -> str:
    for attr in ("device", "devices"):
        v = getattr(cfg, attr, None)
        if isinstance(v, str):
            return v
        if isinstance(v, list | tuple) and len(v) == 1:
            return str(v[0])
    return "cpu"


def _select_baseline(args: argparse.Namespace, name: str, key: str, warn: list[str]) -> Path:
    """The baseline file to compare with; a key mismatch is fatal (exit 2) only with ``--latency fail``."""
    from profiler.baseline import DEFAULT_ROOT, find_baseline, load_baseline

    target = Path(args.baseline) if args.baseline else DEFAULT_ROOT
    if target.is_file():
        found, others = (target, []) if load_baseline(target)["device_key"] == key else (None, [target])
    elif target.is_dir() or not args.baseline:
        found, others = find_baseline(target, name, key)
    else:
        raise UsageError(f"baseline {target} does not exist (give a baseline .json file or a baselines directory)")
    if found is not None:
        return found
    if not others:
        raise UsageError(f"no baseline {name!r} under {target}/ for device key {key!r} (nor for any other key); "
                         f"create one with `python -m profiler baseline save RUN --name {name}`")
    keys = [load_baseline(p)["device_key"] for p in others]
    if args.latency == "fail":
        raise UsageError(f"device key mismatch: this machine is {key!r} but baseline {name!r} exists only for "
                         f"{keys}; latency across machines is not comparable. Save a baseline here, or use "
                         "--latency warn/off to check counts only")
    same_kind = [p for p, k in zip(others, keys, strict=True) if k.split("-", 1)[0] == key.split("-", 1)[0]]
    chosen = max(same_kind or others, key=lambda p: p.stat().st_mtime)
    warn.append(f"no baseline for this machine ({key}); checking counts only against {chosen}")
    return chosen


def run(args: argparse.Namespace) -> int:
    import tempfile

    from profiler.baseline import (
        LatencyRule,
        compare,
        device_key,
        load_baseline,
        render,
        run_environment,
        single_device,
    )
    from profiler.commands.cmd_baseline import default_name, read_run

    if not 0 < args.threshold < 10:
        raise UsageError(f"--threshold must be a relative slowdown in (0, 10), e.g. 0.10; got {args.threshold}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be in (0, 1), got {args.alpha}")
    if bool(args.run) == bool(args.config):
        raise UsageError("give exactly one of --config FILE (measure now) or --run RUN (compare a stored run)")
    extras: dict[str, Any] = {}
    if args.config:
        config_path = Path(args.config)
        if not config_path.is_file():
            raise UsageError(f"config {config_path} does not exist")
        extras = _config_extras(config_path)
    if args.rounds is not None and args.rounds < 2:
        raise UsageError(f"--rounds must be >= 2 (the rule compares whole processes), got {args.rounds}")
    if args.config:
        from profiler.commands import check_ab

        ab = check_ab.resolve(args)
        if ab is not None:
            return check_ab.run_ab(args, config_path, extras, *ab)
    notes: list[str] = []
    bpath, pre_key = None, None
    if args.config:  # find the baseline before measuring for a minute (same key as the sweep's meta will give)
        from profiler.config import load_config
        from profiler.environment import capture

        pre_device = args.device or config_device(load_config(config_path))
        pre_key = device_key(capture(pre_device), pre_device)
        bpath = _select_baseline(args, args.name or extras["name"], pre_key, notes)
    with tempfile.TemporaryDirectory(prefix="archprof-check-") as tmp:
        run_path = args.run or _measure(args, config_path, tmp)
        df, meta, path = read_run(run_path)
    device = single_device(df, str(path), "a check")
    env = run_environment(meta)
    if not env:
        from profiler.environment import capture

        env = capture(device)
        notes.append(f"{path} records no environment; the device key is this machine's")
    key = device_key(env, device)
    name = args.name or extras.get("name") or default_name(meta, path)
    if bpath is None or key != pre_key:
        notes.clear()
        bpath = _select_baseline(args, name, key, notes)
    baseline = load_baseline(bpath)
    reference = args.reference or extras.get("reference_model") or baseline.get("reference_model")
    report = compare(baseline, df, current_key=key, latency=args.latency,
                     rule=LatencyRule(args.threshold, args.alpha), reference_model=reference,
                     models=args.models, baseline_path=str(bpath))
    report.notes[:0] = notes
    if report.latency_mode != "off":
        report.notes.append("a device-key match is not a speed match: machines that share a key differed by 2x; "
                            "prefer `check --config FILE --against REV` (both sides measured now)")
    print(render(report, args.format))
    for n in report.notes:
        print(f"warning: {n}", file=sys.stderr)
    return report.exit_code
