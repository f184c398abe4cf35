"""``profiler predict MODEL | --space S [--samples N] --from PATH [--form M3] [--cell KEY=VALUE ...]``.

Predicted latency (ms per batch of the cell, per image in a per-image cell) with a 95 % prediction interval for
models that were not measured, from their counts and a form fitted to one cell of measured results. The forms with
N or B (M5, M6, M7, M8) and the per-op-class model (``--form opclass``) need per-op tables: the run's (its
``counts/*.ops.json``) and the new model's, counted here (registry, ``timm:``, ``torchvision:`` or a file model);
``opclass`` also names the op classes that dominate the prediction.

With ``--device NAME`` (or ``--compare RUN_B``): on another GPU, from the datasheet (``commands.predict_device``).
"""

from __future__ import annotations

import argparse

from profiler.commands.common import print_json
from profiler.errors import UsageError

TABLE_FORMS = ("M5", "M6", "M7", "M8", "opclass")  # need per-op tables of the run and of the new model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict latency of unmeasured models from a fitted runtime form")
    p.add_argument("model", nargs="?", help="registered model name (or use --space)")
    p.add_argument("--space", help="design space to sample models from, e.g. RegNetX")
    p.add_argument("--samples", type=int, default=10, help="number of design-space samples (default 10)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--from", dest="source", required=True, help="measured results: run directory, .csv, .parquet")
    p.add_argument("--form", default="M3",
                   help="form to fit: M0 M1 M2 M3 M4 P M5 M6 M7 M8, or opclass (per-op-class model) (default M3; "
                        "with --device: M7, M8 or opclass, default opclass)")
    p.add_argument("--cell", action="append", default=[], metavar="KEY=VALUE", help="select a cell, e.g. device=cuda")
    p.add_argument("--resolution", type=int, help="input resolution (default: the model's own, or 224)")
    p.add_argument("--json", action="store_true", help="print JSON")
    g = p.add_argument_group("on another GPU (datasheet transfer of the cell's traffic fit)")
    g.add_argument("--device", help="target GPU, e.g. 'H100 SXM', rtx4090, 'NVIDIA L4' (profiler/hardware/datasheets)")
    g.add_argument("--models", type=lambda s: [m for m in s.split(",") if m], help="comma-separated models to predict")
    g.add_argument("--compare", metavar="RUN_B", help="a run measured on the target: score the predictions on it")
    g.add_argument("--calibrate", type=int, metavar="K", help="fit one scale per term on K models of RUN_B")
    g.add_argument("--from-device", help="the GPU of --from when its run does not name it")
    p.set_defaults(func=run)


def _cell_selectors(selectors: list[str]) -> dict[str, str]:
    """``--cell KEY=VALUE`` arguments as a dict."""
    want = {}
    for s in selectors:
        key, sep, val = s.partition("=")
        if not sep or not key:
            raise UsageError(f"--cell expects KEY=VALUE, got {s!r}")
        want[key] = val
    return want


def _cell_resolution(cell, wanted: int | None) -> int | None:
    """The resolution to predict at. A cell measured at one resolution predicts at that one only (a form fitted
    at 112 px says nothing about 224 px); a cell spanning several (models at their native resolutions) predicts
    inside that span, by default at the model's own resolution (None here)."""
    have = sorted({int(r) for r in cell["resolution"]}) if "resolution" in cell else []
    if not have:
        return wanted
    if len(have) == 1:
        if wanted not in (None, have[0]):
            raise UsageError(f"the cell was measured at {have[0]} px, not {wanted} px; a form fitted there does "
                             f"not predict another resolution. Use --resolution {have[0]} (or leave it out)")
        return have[0]
    if wanted is not None and not have[0] <= wanted <= have[-1]:
        raise UsageError(f"the cell was measured at {have[0]}–{have[-1]} px ({have}), not {wanted} px; choose a "
                         "resolution in that span")
    return wanted


def _check_span(cell, rows: list[dict]) -> None:
    """Refuse a default (native) resolution outside the cell's span instead of extrapolating silently."""
    have = sorted({int(r) for r in cell["resolution"]}) if "resolution" in cell else []
    for r in rows:
        if have and not have[0] <= r["resolution"] <= have[-1]:
            raise UsageError(f"{r['model']} would be predicted at {r['resolution']} px, outside the cell's "
                             f"{have[0]}–{have[-1]} px; give --resolution in that span")


def _counts_of_model(name: str, resolution: int | None) -> list[dict]:
    import models
    from profiler.commands.common import resolve_model
    from profiler.counting import count_model

    info = resolve_model(name)
    res = resolution or info.resolution
    try:
        models.check_resolution(info.spec, res)
    except ValueError:
        raise UsageError(f"{name} needs resolution >= {models.min_resolution(info.spec)}, got {res}") from None
    c = count_model(name, res)
    return [
        {"model": name, "family": info.family, "resolution": res, "macs": c.macs, "params": c.params, "acts": c.acts}
    ]


def _counts_of_space(space: str, n: int, seed: int, resolution: int | None) -> list[dict]:

    res = resolution or 224
    from models.spaces import sample_named

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
        rows.append({"model": name, "family": spec.family, "resolution": res, **c})
    return rows


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    if args.device or args.compare or args.models:
        return _run_on_device(args)

    from profiler.analysis import fit_form, load_frame
    from profiler.analysis.data import select_cell
    from profiler.analysis.forms import check_form

    if bool(args.model) == bool(args.space):
        raise UsageError("give either a MODEL name or --space S (not both)")
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1 (got {args.samples})")
    try:
        form = args.form if args.form == "opclass" else check_form(args.form)
    except ValueError as exc:
        raise UsageError(f"{exc}, opclass") from None
    if args.resolution is not None and args.resolution < 1:
        raise UsageError(f"--resolution must be a positive number of pixels, got {args.resolution}")
    if form in TABLE_FORMS:
        if args.space:
            raise UsageError(f"--form {form} needs per-op tables: give a MODEL (--space predicts with M0–M4 and P)")
        from profiler.commands.predict_tables import run_with_tables

        return run_with_tables(args, form, _cell_selectors(args.cell), _cell_resolution)
    key, cell = select_cell(load_frame(args.source), _cell_selectors(args.cell))
    if len(cell) < 4:
        raise UsageError(f"the selected cell has {len(cell)} measured models; {form} needs more")
    args.resolution = _cell_resolution(cell, args.resolution)
    rows = (
        _counts_of_model(args.model, args.resolution)
        if args.model
        else _counts_of_space(args.space, args.samples, args.seed, args.resolution)
    )
    _check_span(cell, rows)
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
    if args.json:
        print_json({"cell": key, "form": form, "latency_unit": unit, "predictions": out})
        return 0
    at = ", ".join(sorted({f"{r['resolution']} px" for r in out}))
    print(f"form {form} fitted on {len(cell)} models of cell {key or 'all'}; predicted at {at}; latency in {unit}; "
          "95 % prediction intervals")
    for r in out:
        lo, hi = r["pi95_ms"]
        seen = f"  (measured {r['measured_ms']:.3g})" if r["measured_ms"] is not None else ""
        print(
            f"{r['model']:<28} {r['macs'] / 1e9:8.3f} GMAC {r['acts'] / 1e6:8.2f} M acts  "
            f"{r['predicted_ms']:9.3f} ms  [{lo:.3f}, {hi:.3f}]{seen}"
        )
    return 0


def _run_on_device(args: argparse.Namespace) -> int:
    from profiler.analysis.source_fit import SOURCE_FORMS
    from profiler.commands import predict_device

    if args.space:
        raise UsageError("--device predicts models of a list or of a run (--models, --compare); --space does not apply")
    if args.form not in ("M3", *SOURCE_FORMS):  # M3: predict's default, replaced by the traffic form M7
        raise UsageError(f"--device carries a traffic fit: --form {', '.join(SOURCE_FORMS)} (not {args.form})")
    if args.model:
        args.models = [args.model, *(args.models or [])]
    doc = predict_device.predict(args)
    if args.json:
        print_json(doc)
    else:
        print(predict_device.render(doc))
    return 0
