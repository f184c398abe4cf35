"""``profiler predict MODEL --from RUN --form M5|M6|M7|M8|opclass``: the forms that need per-op tables.

The run's tables come from its ``counts/*.ops.json`` (or are counted from its rows' ``spec_json``); the new model's
is counted here on meta tensors (no kernels run). A model whose op table cannot be made is refused (exit 2).
"""

from __future__ import annotations

import argparse

from profiler.analysis.predict_new import cell_resolution, check_span, new_model_table
from profiler.commands.common import print_json
from profiler.core.errors import UsageError


def _cell_and_tables(source: str, selectors: dict[str, str]):
    from profiler.analysis import analysis_inputs, load_frame
    from profiler.analysis.data import select_cell
    from profiler.analysis.optables import attach_tables, table_for_rows

    inputs = analysis_inputs(source)
    frame = load_frame(source).copy()
    tables, _ = attach_tables(frame, inputs["run_dir"])
    key, cell = select_cell(frame, selectors)
    cell_tables = table_for_rows(cell, tables)
    missing = [str(m) for m, t in zip(cell["model"], cell_tables, strict=True) if t is None]
    if missing:
        raise UsageError(
            f"the run has no per-op tables for {len(missing)} of its models ({', '.join(missing[:3])}"
            f"{'…' if len(missing) > 3 else ''}): a run gets them from "
            "`python -m profiler.results.backfill RUN`, a CSV needs a spec_json column"
        )
    return key, cell, cell_tables


def run_with_tables(args: argparse.Namespace, form: str, selectors: dict[str, str]) -> int:
    import pandas as pd

    from profiler.analysis.forms import available_forms, fit_form
    from profiler.analysis.predict_new import predict_opclass, with_table_columns

    key, cell, cell_tables = _cell_and_tables(args.source, selectors)
    if len(cell) < 8:
        raise UsageError(f"the selected cell has {len(cell)} measured models; {form} needs at least 8")
    resolution = cell_resolution(cell, args.resolution)
    row, table = new_model_table(args.model, resolution, getattr(args, "model_kwargs", None))
    check_span(cell, [row])
    new = with_table_columns(cell, pd.DataFrame([row]), [table])
    if form == "opclass":
        pred = predict_opclass(cell, cell_tables, new, [table])[0]
    else:
        if form not in available_forms(cell):
            raise UsageError(f"{form} cannot be fitted on this cell (no ops or traffic for its models)")
        sf = fit_form(cell, form).predict_interval(new, alpha=0.05).iloc[0]
        pred = {"predicted_ms": float(sf["mean"]), "pi95_ms": [float(sf["obs_ci_lower"]), float(sf["obs_ci_upper"])]}
    measured = dict(zip(zip(cell["model"], cell["resolution"], strict=True), cell["latency_ms"], strict=True))
    out = {
        **row,
        "ops": int(table.ops),
        "bytes_batch": float(new["bytes_batch"].iloc[0]),
        **pred,
        "measured_ms": measured.get((row["model"], row["resolution"])),
    }
    if args.json:
        print_json({"cell": key, "form": form, "predictions": [out]})
        return 0
    lo, hi = out["pi95_ms"]
    print(f"form {form} fitted on {len(cell)} models of cell {key or 'all'}; {out['model']} at {out['resolution']} px")
    seen = f"  (measured {out['measured_ms']:.3g})" if out["measured_ms"] is not None else ""
    print(f"{out['model']}: {out['predicted_ms']:.3f} ms  [{lo:.3f}, {hi:.3f}] 95 % interval{seen}")
    if form == "opclass":
        res = out["ms_by_resource"]
        print("  where the time goes: " + ", ".join(f"{k} {v:.3f} ms" for k, v in res.items() if v > 0))
        top = ", ".join(f"{d['label']} ({100 * d['share']:.0f} %)" for d in out["dominant"])
        print(f"  dominant op classes: {top}")
        print(f"  interval: {out['interval']}")
        if out["unseen_terms"]:
            print(f"  warning: no measured model has {', '.join(out['unseen_terms'])}: those add nothing here")
    return 0
