"""``profiler sweep [--config FILE] [--device auto|cpu|cuda] [--run-id ID] [--resume ID] [--time-budget T]
[--dry-run]``.

Measures every (model × setting × repeat) of a sweep definition into ``results/<run-id>/``, one row per
measurement committed as it is measured; ``--resume`` continues a killed or failed run where it stopped.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from profiler.commands.common import DEVICES
from profiler.core.errors import UsageError

if TYPE_CHECKING:
    from profiler.sweep.config import SweepConfig
    from profiler.sweep.resume import Resumed


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="measure a sweep of models and settings (crash-safe, resumable)")
    p.add_argument(
        "--config",
        default=None,
        help="sweep definition (TOML); default experiments/quick-cpu.toml on CPU, "
        "experiments/regnet-claim.toml on CUDA",
    )
    p.add_argument(
        "--device", choices=("auto", *DEVICES), default="auto", help="auto (default): CUDA when present, else CPU"
    )
    p.add_argument("--run-id", default=None, help="name of the run directory (default: timestamp-config)")
    p.add_argument("--resume", metavar="ID", default=None, help="continue run ID (a run id or a path)")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: measure failed rows again")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan and a time estimate; measure nothing (--device cuda works without CUDA)",
    )
    p.add_argument(
        "--time-budget",
        metavar="T",
        default=None,
        help="run the largest subset that fits T (e.g. 10m, 600s, 1h): every cell >= 8 models from >= 3 "
        "families first, then more models, then repeats; no task starts once T is spent",
    )
    p.add_argument("--results-dir", default="results", help="where run directories live (default results/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    p.add_argument(
        "--no-peaks",
        action="store_true",
        help="do not measure the device's peaks (~15 s) when none are stored (they feed the roofline "
        "and the mechanistic model; config key measure_peaks)",
    )
    p.add_argument(
        "--executor",
        choices=("subprocess", "ray"),
        default="subprocess",
        help="subprocess (default): one worker process at a time on this machine; ray: one Ray task "
        "per GPU (or per [timing] threads CPUs) on a Ray cluster (pip install -e '.[ray]')",
    )
    p.add_argument(
        "--address",
        default=None,
        help="with --executor ray: the cluster to join (auto or HOST:PORT); default: start a local one",
    )
    p.add_argument(
        "--ray-workers",
        type=int,
        default=None,
        metavar="N",
        help="with --executor ray: at most N groups at once (default: every GPU, or CPUs / threads)",
    )
    p.set_defaults(func=run)


def _device(arg: str, executor: str = "subprocess", planning_only: bool = False) -> str:
    from profiler.timing import check_device, default_device

    if executor == "ray" and arg == "cuda":
        return arg  # the GPUs are the cluster's, not this driver's: RayExecutor checks the cluster's resources
    if planning_only and arg == "cuda":
        return arg  # a dry run plans for a CUDA host from anywhere (estimates use the CUDA calibration)
    if arg == "auto":
        if default_device() == "cuda":
            return "cuda"
        print("note: no CUDA device found; sweeping on CPU", file=sys.stderr)
        return "cpu"
    check_device(arg)
    return arg


def _print_session(s: dict) -> None:
    """The session's numbers without a progress bar: wall and timed time, unstable rows, budget, phases."""
    from rich.console import Console

    from profiler.sweep.progress import phase_table, unstable_line

    print(
        f"wall time {s['wall_s']:.1f} s, timed iterations {s['timed_s']:.1f} s, "
        f"overhead ratio {s['overhead_ratio']} (wall / timed); {s['rows']} rows, {s['failed']} failed"
    )
    if line := unstable_line(s):
        print(line)
    if s.get("budget"):
        b = s["budget"]
        print(
            f"time budget {b['budget_s']:.0f} s: estimated {b['estimate_s']:.0f} s, actual {b['actual_s']:.0f} s"
            + ("; stopped by the budget (resume to continue)" if b.get("stopped_by_budget") else "")
        )
    Console().print(phase_table(s))


def run(args: argparse.Namespace) -> int:
    from profiler.results.store import resolve_run
    from profiler.sweep.budget import parse_duration
    from profiler.sweep.config import config_file, load_config

    if args.retry_failed and not args.resume:
        raise UsageError("--retry-failed needs --resume ID")
    if args.resume and args.run_id:
        raise UsageError("give either --resume ID (continue a run) or --run-id ID (a new run), not both")
    if args.executor != "ray" and (args.address or args.ray_workers is not None):
        raise UsageError("--address and --ray-workers need --executor ray")
    if args.executor == "ray":
        from profiler.sweep.exec.ray_pool import import_ray

        import_ray()  # not installed → exit 2 with the install command, before any planning
    budget_s = parse_duration(args.time_budget) if args.time_budget is not None else None
    device = _device(args.device, args.executor, planning_only=args.dry_run)
    resumed = None
    if args.resume:
        from profiler.sweep.resume import config_from_meta, open_resume

        run_dir = resolve_run(args.resume, args.results_dir)
        resumed = open_resume(run_dir, read_only=args.dry_run)  # the store opened, meta.json read: once each
        try:
            config = config_from_meta(run_dir, resumed.meta, config_file(args.config, device) if args.config else None)
        except BaseException:
            resumed.close()
            raise
    else:
        config = load_config(config_file(args.config, device))
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.results_dir) / (args.run_id or f"{stamp}-{config.name}")
        if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / "results.sqlite").exists():
            raise UsageError(f"{run_dir} exists and is not an archprof run; choose another --run-id")
    try:
        return _plan_and_run(args, config, device, run_dir, budget_s, resumed)
    finally:
        if resumed is not None:
            resumed.close()  # run_sweep closed it when its session ended; here for every other way out


def _plan_and_run(
    args: argparse.Namespace,
    config: SweepConfig,
    device: str,
    run_dir: Path,
    budget_s: float | None,
    resumed: Resumed | None,
) -> int:
    """Plan once (``sweep_plan.make_plan``), then print the dry run or run the sweep with that plan."""
    from profiler.core.paths import counts_dir
    from profiler.sweep.run import run_sweep
    from profiler.sweep.sweep_plan import make_plan

    plan = make_plan(
        config, device, results_dir=args.results_dir, budget_s=budget_s, resumed=resumed, retry_failed=args.retry_failed
    )
    tasks, skipped = plan.tasks, plan.skipped
    if not tasks:
        raise UsageError(f"{config.path}: the plan on {device} is empty (every combination was skipped)")
    if args.dry_run:
        from profiler.sweep.dryrun import print_dry_run

        print_dry_run(plan, run_dir)
        return 0
    if budget_s is not None:  # a budget too small for one cell fails here, before anything is measured
        plan.budget_plan()
    make_executor = None  # run_sweep's default: the subprocess executor
    if args.executor == "ray":
        import functools

        from profiler.sweep.exec.ray_pool import RayExecutor

        make_executor = functools.partial(RayExecutor, args.address, args.ray_workers, counts_dir=counts_dir(run_dir))
    resume_ref = run_dir.name if run_dir.parent == Path(args.results_dir) else str(run_dir)
    resume_hint = f"python -m profiler sweep --resume {resume_ref}" + (
        f" --results-dir {args.results_dir}" if args.results_dir != "results" and resume_ref == run_dir.name else ""
    )
    print(f"run {run_dir.name}: {run_dir}/ ({len(tasks)} measurements planned)", file=sys.stderr, flush=True)
    for note in skipped:  # recorded in meta.json too (run.skipped)
        print(f"skipped: {note}", file=sys.stderr)
    if config.measure_peaks and not args.no_peaks and not args.resume:
        from profiler.hardware.measure import ensure_peaks

        ensure_peaks(device, config.timing_config().threads, say=lambda m: print(m, file=sys.stderr, flush=True))
    from profiler.sweep.exec.prefetch import resolve_mode

    if device == "cpu" and make_executor is None and resolve_mode(config.prefetch, device) == "overlap":
        print(
            'note: prefetch = "overlap" on cpu: preparation processes run beside the CPU timing and can slow it '
            '("auto" prepares everything first on a CPU)',
            file=sys.stderr,
        )
    try:
        run_sweep(
            config,
            device=device,
            run_dir=run_dir,
            resume=bool(args.resume),
            show_progress=not args.no_progress,
            retry_failed=args.retry_failed,
            make_executor=make_executor,
            argv=sys.argv,
            time_budget_s=budget_s,
            results_dir=args.results_dir,
            plan=plan,
        )
    except KeyboardInterrupt:
        print(f"interrupted; what was measured is kept. Resume with: {resume_hint}", file=sys.stderr)
        return 130
    except PermissionError as exc:  # nothing is lost: rows are committed one by one as they are measured
        raise UsageError(
            f"cannot write to {exc.filename or run_dir}: permission denied; choose a writable "
            "--results-dir (rows measured so far are kept)"
        ) from None
    s = plan.session  # what run_sweep recorded: meta.json is not read again
    if args.no_progress and s:
        _print_session(s)
    # A bare run id resolves under results/ only; elsewhere the commands need the path.
    ref = run_dir.name if run_dir.parent == Path("results") else str(run_dir)
    print(f"results: {run_dir}/")
    print("next:")
    for cmd in (f"analyze {ref}", f"report {ref}", f"export {ref} --format csv"):
        print(f"  python -m profiler {cmd}")
    if s and s.get("rows") and s.get("failed") == s.get("rows"):
        print(
            f"error: every measurement of this session failed ({s['rows']} rows); see {run_dir}/logs/ and the "
            "rows' error column",
            file=sys.stderr,
        )
        return 1
    return 0
