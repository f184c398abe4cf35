"""``profiler analyze PATH [--json] [--boot N] [--seed S]``: test whether √FLOPs + activations beats FLOPs alone."""

from __future__ import annotations

import argparse

from profiler.commands.common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="fit runtime forms per cell, run the test battery and leave-one-family-out prediction; give a verdict",
    )
    p.add_argument(
        "path", help="run directory, .csv or .parquet (columns: model, family, macs, params, acts, latency_ms)"
    )
    p.add_argument("--json", action="store_true", help="print every number as JSON")
    p.add_argument("--boot", type=int, default=2000, help="cluster-bootstrap draws (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--resamples",
        type=int,
        default=50,
        help="refits on resampled timings for the verdict's noise check (default 50; 0: off)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.analysis import analysis_inputs, analyze_frame
    from profiler.analysis.data import validate
    from profiler.analysis.stored import analyze_run
    from profiler.core.errors import UsageError
    from profiler.results.runs import open_run, partial_run_note

    run = open_run(args.path, strict_meta=False)
    try:
        rows = validate(run.rows, source=str(run.path))
        inputs = analysis_inputs(run.path)
        params = {"n_boot": args.boot, "seed": args.seed, "n_resamples": args.resamples}
        result, _ = analyze_run(
            rows,
            lambda: analyze_frame(rows, **params, **inputs),
            run_dir=run.path if run.is_dir else None,
            params=params,
            measured_peaks=inputs["measured_peaks"],
        )
    except UsageError as exc:
        note = partial_run_note(run)  # too few models because the sweep was stopped: say so, and how to go on
        raise (UsageError(f"{note}. {exc}") if note else exc) from None
    if args.json:
        print_json(result)
    else:
        from profiler.analysis.summary import render

        render(result)
    return 0
