"""``profiler predict MODEL | --space S [--samples N] --from PATH [--form F] [--cell KEY=VALUE ...]``.

Predicted latency (ms per batch of the cell, per image in a per-image cell) with a 95 % prediction interval for
models that were not measured, from their counts and a form fitted to one cell of measured results. The default
form is the cell's best held-out form among M0–M6 (leave-one-family-out MAPE, as ``analyze`` ranks them); the
default cell of a run with several is the one of the run's first setting (its config's first backend, batch,
dtype and memory format). A form asked for with N or B (M5, M6, M7, M8) and the per-op-class model (``--form
opclass``) use per-op tables: the run's (its ``counts/*.ops.json``) and the new model's, counted here (registry,
``timm:``, ``torchvision:`` or a file model); ``opclass`` also names the op classes that dominate the prediction.

With ``--device NAME`` (or ``--compare RUN_B``): on another GPU, from the datasheet (``analysis.cross_device``).
"""

from __future__ import annotations

import argparse

from profiler.commands.common import MODEL_HELP, add_model_kwargs, print_json
from profiler.core.errors import UsageError

TABLE_FORMS = ("M5", "M6", "M7", "M8", "opclass")  # need per-op tables of the run and of the new model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict latency of unmeasured models from a fitted runtime form")
    p.add_argument("model", nargs="?", help=MODEL_HELP + " (or use --space)")
    add_model_kwargs(p)
    p.add_argument(
        "--space",
        help="design space to sample models from: anynetx_a … anynetx_e, regnetx, regnety (see `profiler list`)",
    )
    p.add_argument("--samples", type=int, default=10, help="number of design-space samples (default 10)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--from", dest="source", required=True, help="measured results: run directory, .csv, .parquet")
    p.add_argument(
        "--form",
        default=None,
        help="form to fit: M0 M1 M2 M3 M4 P M5 M6 M7 M8, or opclass (per-op-class model) (default: the "
        "cell's best held-out form; with --device: M7, M8 or opclass, default opclass)",
    )
    p.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="select a cell, e.g. backend=onnxruntime (default: the only one, or the run's first setting)",
    )
    p.add_argument("--resolution", type=int, help="input resolution (default: the model's own, or 224)")
    p.add_argument("--json", action="store_true", help="print JSON")
    g = p.add_argument_group("on another GPU (datasheet transfer of the cell's traffic fit)")
    g.add_argument("--device", help="target GPU, e.g. 'H100 SXM', rtx4090, 'NVIDIA L4' (profiler/hardware/datasheets)")
    g.add_argument("--models", type=lambda s: [m for m in s.split(",") if m], help="comma-separated models to predict")
    g.add_argument("--compare", metavar="RUN_B", help="a run measured on the target: score the predictions on it")
    g.add_argument("--calibrate", type=int, metavar="K", help="fit one scale per term on K models of RUN_B")
    g.add_argument("--from-device", help="the GPU of --from when its run does not name it")
    p.set_defaults(func=run)


def _form_reason(form: str, mape: dict[str, float]) -> str:
    """' (the best held-out form: ...)' when the form was chosen by held-out MAPE, else ''."""
    if not mape:
        return ""
    others = ", ".join(f"{f} {100 * m:.1f} %" for f, m in sorted(mape.items(), key=lambda x: x[1]) if f != form)
    return f" (the cell's best held-out form: leave-one-family-out MAPE {100 * mape[form]:.1f} %; {others})"


def _counts_of_model(name: str, resolution: int | None, with_ops: bool, kwargs: str | None = None) -> list[dict]:
    from profiler.analysis.predict_new import count_new_model

    row, c = count_new_model(name, resolution, kwargs)
    return [{**row, "ops": c.ops} if with_ops else row]


def _counts_of_space(space: str, n: int, seed: int, resolution: int | None, with_ops: bool) -> list[dict]:
    from models.spaces import sample_named
    from profiler.counting import count_model

    res = resolution or 224
    try:
        named = sample_named(space, n, seed)  # named as a sweep names its samples, so measured ones are found
    except (KeyError, ValueError) as exc:
        raise UsageError(f"cannot sample space {space!r}: {exc}") from None
    rows = []
    for name, spec in named:
        if not hasattr(spec, "complexity"):
            raise UsageError(f"specs of space {space!r} have no complexity(); cannot count them without tracing")
        try:
            c = spec.complexity(res)
        except ValueError as exc:
            raise UsageError(f"cannot count {space} samples at {res} px: {exc}") from None
        extra = {"ops": count_model(spec, res, method="torch").ops} if with_ops else {}
        rows.append({"model": name, "family": spec.family, "resolution": res, **c, **extra})
    return rows


def _measured(source: str):
    """The aggregated rows of ``source`` with ops filled from a run's per-op tables, and the run's meta."""
    from profiler.analysis import analysis_inputs, load_frame
    from profiler.analysis.optables import attach_tables
    from profiler.results.runs import RunMeta

    frame = load_frame(source)
    run_dir = analysis_inputs(source)["run_dir"]
    if "spec_hash" in frame.columns:  # counts/*.ops.json of the run (or counted once and cached)
        attach_tables(frame, run_dir)
    return frame, RunMeta.read(run_dir, strict=False)


_SETTINGS = (("backend", "backends"), ("batch", "batches"), ("dtype", "dtypes"), ("memory_format", "memory_formats"))


def _default_cell(frame, meta, given: dict[str, str]) -> tuple[dict, object, str]:
    """The cell to fit: as given; the only one; or the run's first setting. UsageError listing the choices."""
    from profiler.analysis.data import cell_label, select_cell, split_cells

    cells = split_cells(frame)
    if given or len(cells) == 1:
        key, cell = select_cell(frame, given)
        return key, cell, ""
    settings = (meta.config.get("parsed") or {}).get("settings") or {}
    want = {k: str(settings[plural][0]) for k, plural in _SETTINGS if settings.get(plural)}
    if meta.device:
        want["device"] = meta.device
    hits = [(k, c) for k, c in cells if want and all(str(k.get(kk)) == v for kk, v in want.items() if kk in k)]
    if len(hits) == 1:
        return (
            *hits[0],
            "the run's first setting; others: "
            + "; ".join(cell_label(k) for k, _ in cells if k != hits[0][0])
            + " (choose with --cell KEY=VALUE)",
        )
    choices = " | ".join(" ".join(f"--cell {kk}={v}" for kk, v in k.items()) for k, _ in cells)
    raise UsageError(f"{len(cells)} cells in the data; choose one: {choices}")


def _best_form(cell, forms: tuple[str, ...]) -> tuple[str, dict[str, float]]:
    """The form with the lowest leave-one-family-out MAPE in ``cell`` (what ``analyze`` ranks) and every MAPE."""
    import numpy as np

    from profiler.analysis.heldout import error_metrics, lofo_predictions

    preds = lofo_predictions(cell, forms=forms)
    ok = np.all([np.isfinite(p) for p in preds.values()], axis=0)
    if ok.sum() == 0:
        return "M3", {}
    t = cell["latency_ms"].to_numpy(float)[ok]
    mape = {f: error_metrics(p[ok], t)["mape"] for f, p in preds.items()}
    return min(mape, key=mape.get), mape


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    if args.device or args.compare or args.models:
        return _run_on_device(args)

    from profiler.analysis import fit_form
    from profiler.analysis.data import cell_selectors
    from profiler.analysis.forms import NEEDS_OPS, available_forms, check_form
    from profiler.analysis.predict_new import cell_resolution, check_span

    if bool(args.model) == bool(args.space):
        raise UsageError("give either a MODEL name or --space S (not both)")
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1 (got {args.samples})")
    try:
        form = args.form if args.form in (None, "opclass") else check_form(args.form)
    except ValueError as exc:
        raise UsageError(f"{exc}, opclass") from None
    if args.resolution is not None and args.resolution < 1:
        raise UsageError(f"--resolution must be a positive number of pixels, got {args.resolution}")
    if args.model:  # an unknown model is said first, before anything about the measured cells
        from profiler.commands.common import resolve_model

        resolve_model(args.model, args.model_kwargs)
    if args.space:
        args.space = args.space.lower()  # RegNetX, as the paper writes it, is regnetx
    if form in TABLE_FORMS:
        if args.space:
            raise UsageError(f"--form {form} needs per-op tables: give a MODEL (--space predicts with M0–M4 and P)")
        from profiler.commands.predict_tables import run_with_tables

        return run_with_tables(args, form, cell_selectors(args.cell))
    frame, meta = _measured(args.source)
    key, cell, why_cell = _default_cell(frame, meta, cell_selectors(args.cell))
    fittable = available_forms(cell)
    if form is not None and form not in fittable:
        raise UsageError(
            f"{form} needs ops counts of the measured models, which this cell lacks (a run stores "
            f"them in counts/*.ops.json; `python -m profiler.results.backfill RUN`); valid here: "
            f"{', '.join(fittable)}"
        )
    mape: dict[str, float] = {}
    if form is None:
        # The default is chosen among the forms this path predicts from counts (M0-M6); M7/M8 and opclass need
        # the traffic tables of run_with_tables and are used when asked for.
        form, mape = _best_form(cell, tuple(f for f in fittable if f not in ("M7", "M8")))
    if len(cell) < 4:
        raise UsageError(f"the selected cell has {len(cell)} measured models; {form} needs more")
    args.resolution = cell_resolution(cell, args.resolution)
    with_ops = form in NEEDS_OPS
    rows = (
        _counts_of_model(args.model, args.resolution, with_ops, args.model_kwargs)
        if args.model
        else _counts_of_space(args.space, args.samples, args.seed, args.resolution, with_ops)
    )
    check_span(cell, rows)
    new = pd.DataFrame(rows)
    sf = fit_form(cell, form).predict_interval(new, alpha=0.05)
    measured = dict(zip(zip(cell["model"], cell["resolution"], strict=True), cell["latency_ms"], strict=True))
    out = []
    for r, (_, p) in zip(rows, sf.iterrows(), strict=True):
        out.append(
            {
                **r,
                "predicted_ms": float(p["mean"]),
                "pi95_ms": [float(p["obs_ci_lower"]), float(p["obs_ci_upper"])],
                "measured_ms": measured.get((r["model"], r["resolution"])),
            }
        )
    from profiler.analysis.data import latency_unit

    unit = latency_unit(key)  # ms per image in a cell of mixed batches (an imported timm table)
    chosen = _form_reason(form, mape)
    if args.json:
        print_json(
            {
                "cell": key,
                "cell_chosen_as": why_cell or None,
                "form": form,
                "form_chosen_as": chosen or None,
                "heldout_mape": mape or None,
                "latency_unit": unit,
                "predictions": out,
            }
        )
        return 0
    at = ", ".join(sorted({f"{r['resolution']} px" for r in out}))
    print(
        f"form {form}{chosen} fitted on {len(cell)} models of cell {key or 'all'}"
        f"{f' ({why_cell})' if why_cell else ''}; predicted at {at}; latency in {unit}; 95 % prediction intervals"
    )
    for r in out:
        lo, hi = r["pi95_ms"]
        seen = f"  (measured {r['measured_ms']:.3g})" if r["measured_ms"] is not None else ""
        print(
            f"{r['model']:<28} {r['macs'] / 1e9:8.3f} GMAC {r['acts'] / 1e6:8.2f} M acts  "
            f"{r['predicted_ms']:9.3f} ms  [{lo:.3f}, {hi:.3f}]{seen}"
        )
    return 0


def _run_on_device(args: argparse.Namespace) -> int:
    from profiler.analysis import cross_device as predict_device
    from profiler.analysis.source_fit import SOURCE_FORMS

    if args.space:
        raise UsageError("--device predicts models of a list or of a run (--models, --compare); --space does not apply")
    if args.form not in (None, *SOURCE_FORMS):  # no --form: the traffic model's default
        raise UsageError(f"--device carries a traffic fit: --form {', '.join(SOURCE_FORMS)} (not {args.form})")
    if args.model:
        args.models = [args.model, *(args.models or [])]
    doc = predict_device.predict(args)
    if args.json:
        print_json(doc)
    else:
        print(predict_device.render(doc))
    return 0
