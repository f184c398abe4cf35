"""Predict on a GPU never measured (`profiler predict --from RUN --device NAME [--compare RUN_B [--calibrate K]]`).

Predicts models on a GPU that was never measured: the traffic fit of RUN's cell, each term scaled by the
datasheet ratio of its resource (``profiler.hardware.transfer``). Without MODEL/--models/--compare it predicts
RUN's own models. ``--compare RUN_B`` scores the predictions against RUN_B's measurements of the same dtype.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from profiler.analysis.source_fit import DEFAULT_FORM, Rows, cell_dtype, columns, fit_default, fit_source, with_tables
from profiler.core.errors import UsageError
from profiler.hardware import transfer
from profiler.hardware.datasheets import PEAK_DTYPES, Datasheet, lookup

MIN_SCORED = 8  # --calibrate K leaves at least this many models of RUN_B to score


def _run_dir(source: str) -> tuple[Path, dict]:
    """The run directory behind a RUN argument (``analysis_inputs``: a file's folder) and its meta environment."""
    from profiler.analysis import analysis_inputs
    from profiler.results.runs import RunMeta

    run_dir = analysis_inputs(source)["run_dir"]
    return run_dir, RunMeta.read(run_dir, strict=False).environment or {}


def _device_name(cell: pd.DataFrame, env: dict, given: str | None, what: str) -> str:
    if given:
        return given
    if "device_name" in cell and cell["device_name"].notna().any():
        return str(cell["device_name"].dropna().iloc[0])
    if env.get("gpu_name"):
        return str(env["gpu_name"])
    raise UsageError(f"{what} does not name its GPU; give it with --from-device NAME")


def _measured(env: dict, ds: Datasheet) -> transfer.DevicePeaks | None:
    """Measured peaks of a run (``environment["peaks"]``) when they are this GPU's."""
    from profiler.hardware.datasheets import match

    peaks = env.get("peaks")
    if not isinstance(peaks, dict) or peaks.get("device") != "cuda" or match(peaks.get("device_name")) is not ds:
        return None
    measured = (peaks.get("matmul_tflops") or {}).items()
    tflops = {d: float(v) for d, v in measured if isinstance(v, int | float) and v > 0}
    gbs = peaks.get("copy_bandwidth_gbs")
    if not tflops or not (isinstance(gbs, int | float) and gbs > 0):
        return None
    return transfer.DevicePeaks(ds.name, tflops, float(gbs), f"measured {str(peaks.get('measured_at'))[:10]}")


def _datasheet(ds: Datasheet) -> transfer.DevicePeaks:
    tflops = {d: ds.peak_tflops(d) for d in PEAK_DTYPES if ds.has_peak(d)}
    return transfer.DevicePeaks(ds.name, tflops, ds.bandwidth_gbs, f"datasheet: {ds.source}")


def device_peaks(
    src: Datasheet, tgt: Datasheet, src_env: dict, tgt_env: dict, needed: set[str], notes: list[str]
) -> tuple[transfer.DevicePeaks, transfer.DevicePeaks]:
    """Both devices' peaks: measured where both runs have them for every dtype in ``needed``, else both from the
    datasheet (transfer's rule); a note where one side's measured peaks go unused."""
    from profiler.hardware.datasheets import DTYPE_ALIASES

    need = {DTYPE_ALIASES.get(d, d) for d in needed}
    ms, mt = (
        m if m is not None and need <= set(m.tflops) else None
        for m in (_measured(src_env, src), _measured(tgt_env, tgt))
    )
    if ms is not None and mt is not None:
        return ms, mt
    for m, other in ((ms, tgt), (mt, src)):
        if m is not None:
            notes.append(
                f"measured peaks of {m.name} not used: {other.name} has none at {', '.join(sorted(need))}, "
                "and a ratio of a measured to a datasheet peak would carry their gap into every prediction"
            )
    return _datasheet(src), _datasheet(tgt)


def _load_cell(source: str, want: dict[str, str]) -> tuple[dict, pd.DataFrame, list[str]]:
    """The one cell of a run or CSV matching ``want``, mixed batches compared per image."""
    from profiler.analysis import load_frame
    from profiler.analysis.data import per_image, select_cell

    frame, notes = per_image(load_frame(source))
    key, cell = select_cell(frame, want)
    return key, cell, notes


def _unit(key: dict) -> str:
    from profiler.analysis.data import latency_unit

    return latency_unit(key) if "batch" in key else "ms per batch"


def _model_rows(names: list[str], resolution: int | None, source: Rows) -> Rows:
    """Models that were not measured, counted here (``predict_tables.new_model_table``), at the source cell's
    setting (``predict_new.with_table_columns``: a per-image cell's median batch)."""
    from profiler.analysis.predict_new import new_model_table, with_table_columns

    made = [new_model_table(name, resolution) for name in names]
    tables = [t for _, t in made]
    frame = with_table_columns(source.frame, pd.DataFrame([r for r, _ in made]), tables).assign(latency_ms=math.nan)
    return Rows(frame, tables, [f"models counted here, at the source cell's setting ({cell_dtype(source.frame)})"])


def _compare_rows(source: str, key: dict, form: str) -> tuple[Rows, dict, str, dict]:
    """RUN_B's cell of the source's dtype, backend, memory format and batch (any batch where the source compares
    per image; any device)."""
    run_dir, env = _run_dir(source)
    from profiler.analysis.data import PER_IMAGE

    same = ("backend", "dtype", "memory_format") + (() if key.get("batch") == PER_IMAGE else ("batch",))
    want = {k: str(v) for k, v in key.items() if k in same}
    try:
        bkey, cell, _ = _load_cell(source, want)
    except UsageError as exc:
        raise UsageError(f"--compare {source}: {exc}") from None
    if _unit(bkey) != _unit(key) or (bkey.get("batch") != key.get("batch") and "image" not in _unit(key)):
        raise UsageError(
            f"--compare {source} is in {_unit(bkey)} at batch {bkey.get('batch')}, the source in "
            f"{_unit(key)} at batch {key.get('batch')}: predictions compare like with like"
        )
    from profiler.analysis.data import cell_label

    rows = with_tables(cell, run_dir, f"--compare {source} cell {cell_label(bkey)}", form)
    return rows, env, _device_name(cell, env, None, f"--compare {source}"), bkey


def _calibrate(
    times: np.ndarray, rows: Rows, k: int, fit: transfer.TermFit
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scales per resource from ``k`` models spread over FLOPs (``transfer``'s rule), and the mask of models left
    to score."""
    n = len(rows.frame)
    if k > n - MIN_SCORED:
        raise UsageError(
            f"--calibrate {k} leaves {n - k} models of the compared run to score; at most "
            f"{max(n - MIN_SCORED, 0)} (the compared run has {n}, {MIN_SCORED} must remain)"
        )
    idx = transfer.pick_spread(rows.frame["macs"].to_numpy(float), k)
    scales = transfer.calibrate(times[idx], rows.frame["latency_ms"].to_numpy(float)[idx], groups=fit.resources)
    scored = np.ones(n, bool)
    scored[idx] = False
    return scales, scored, [str(rows.frame["model"].iloc[i]) for i in idx]


def _source_sheet(name: str) -> Datasheet:
    try:
        return lookup(name)
    except UsageError as exc:
        raise UsageError(
            f"the source run's GPU: {exc}; if the run's name for it is wrong, give --from-device NAME"
        ) from None


def _check_args(args: argparse.Namespace) -> None:
    if args.calibrate is not None and not args.compare:
        raise UsageError("--calibrate K needs --compare RUN_B (the models it calibrates on)")
    if args.calibrate is not None and args.calibrate < 1:
        raise UsageError(f"--calibrate must be at least 1, got {args.calibrate}")


def predict(args: argparse.Namespace) -> dict:
    """Everything ``predict --device`` prints, as one JSON-able document."""
    from profiler.analysis.data import cell_label
    from profiler.analysis.data import cell_selectors as _cell_selectors

    _check_args(args)
    target = lookup(args.device) if args.device else None
    form = DEFAULT_FORM if args.form is None else args.form  # no --form: the traffic model's default
    run_dir, env = _run_dir(args.source)
    key, cell, notes = _load_cell(args.source, _cell_selectors(args.cell))
    if str(key.get("device", "cuda")) == "cpu" and not args.from_device:
        raise UsageError(
            f"{args.source} cell {cell_label(key)} was measured on a CPU; --device carries one GPU's fit to another GPU"
        )
    rows = with_tables(cell, run_dir, f"{args.source} cell {cell_label(key)}", form)
    fit = fit_default(rows, notes) if args.form is None else fit_source(form, rows)
    form = fit.form
    dtype = cell_dtype(rows.frame)
    source = _source_sheet(_device_name(cell, env, args.from_device, f"run {args.source}"))
    tgt_env: dict = {}
    if args.compare:
        new, tgt_env, tgt_name, _ = _compare_rows(args.compare, key, form)
        target = target or lookup(tgt_name)
    elif args.models:
        new = _model_rows(args.models, args.resolution, rows)
    else:  # the source measured them, the target did not
        new = Rows(rows.frame.assign(latency_ms=math.nan), rows.tables, [])
    if target is None:
        raise UsageError("give --device NAME (or --compare RUN_B, whose GPU is then the target)")
    src_peaks, tgt_peaks = device_peaks(source, target, env, tgt_env, transfer.compute_dtypes(fit, dtype), notes)
    factors = transfer.ratios(fit, src_peaks, tgt_peaks, dtype)
    times = transfer.term_times(fit, columns(form, new, fit), factors)
    scales, scored, calib_models = np.ones(len(fit.terms)), np.ones(len(new.frame), bool), []
    if args.calibrate:
        scales, scored, calib_models = _calibrate(times, new, args.calibrate, fit)
    pred = (times * scales).sum(axis=1)
    doc = {
        "source": {
            "run": args.source,
            "cell": key,
            "device": source.name,
            "dtype": dtype,
            "peaks": vars(src_peaks),
            "models": fit.n_models,
        },
        "target": {"device": target.name, "peaks": vars(tgt_peaks)},
        "fit": _fit_doc(fit, factors, scales),
        "unit": _unit(key),
        "notes": notes + rows.notes + new.notes,
        "predictions": _rows(fit, new.frame, pred, calib_models),
    }
    if args.compare:
        doc["compare"] = _compare_doc(
            args.compare, fit, pred[scored], new.frame["latency_ms"].to_numpy(float)[scored], calib_models
        )
    return doc


def _compare_doc(run: str, fit: transfer.TermFit, pred: np.ndarray, measured: np.ndarray, calib: list[str]) -> dict:
    """The scores of the predictions against RUN_B, and how often its measurement fell inside the interval."""
    lo, hi = transfer.interval(fit, pred)
    inside = (measured >= lo) & (measured <= hi)
    coverage = float(100 * inside.mean()) if len(pred) and np.isfinite(lo).all() else None
    return {"run": run, "calibrated_on": calib, **transfer.summary(pred, measured), "interval_coverage_pct": coverage}


def _fit_doc(fit: transfer.TermFit, factors: np.ndarray, scales: np.ndarray) -> dict:
    terms = [
        {"term": t, "resource": r, "coef_ms": float(c), "factor": float(f), "scale": float(s)}
        for t, r, c, f, s in zip(fit.terms, fit.resources, fit.coef, factors, scales, strict=True)
    ]
    return {"form": fit.form, "terms": terms, "launch_rule": "launch and fixed terms unchanged (host time)"}


def _rows(fit: transfer.TermFit, new: pd.DataFrame, pred: np.ndarray, calib_models: list[str]) -> list[dict]:
    lo, hi = transfer.interval(fit, pred)
    out = []
    for r, p, a, b in zip(new.itertuples(), pred, lo, hi, strict=True):
        out.append(
            {
                "model": r.model,
                "family": r.family,
                "resolution": getattr(r, "resolution", None),
                "gmacs": r.macs / 1e9,
                "predicted_ms": float(p),
                "pi95_ms": [float(a), float(b)],
                "measured_ms": None if math.isnan(r.latency_ms) else float(r.latency_ms),
                "calibration": r.model in calib_models,
            }
        )
    return out


def _peak_text(side: dict, dtype: str) -> str:
    from profiler.hardware.datasheets import DTYPE_ALIASES

    p = side["peaks"]
    d = DTYPE_ALIASES.get(dtype, dtype)
    at = f"{p['tflops'][d]:g} TFLOP/s {d}" if d in p["tflops"] else f"no {d} peak"
    return f"{side['device']} {at}, {p['bandwidth_gbs']:g} GB/s ({p['source']})"


def render(doc: dict) -> str:
    """The text ``predict --device`` prints."""
    src, tgt = doc["source"], doc["target"]
    lines = [
        f"{src['device']} -> {tgt['device']}: {doc['fit']['form']} fitted on {src['models']} models of "
        f"{src['run']} ({src['dtype']}); {doc['unit']}, 95 % interval from the source's held-out error",
        f"  peaks: {_peak_text(src, src['dtype'])}; {_peak_text(tgt, src['dtype'])}",
        "  terms: "
        + "; ".join(
            f"{t['term']} ({t['resource']}) x{t['factor']:.3f}"
            + (f" scale {t['scale']:.2f}" if t["scale"] != 1 else "")
            for t in doc["fit"]["terms"]
        )
        + f"; {doc['fit']['launch_rule']}",
    ]
    lines += [f"  note: {n}" for n in doc["notes"]]
    for r in doc["predictions"]:
        lo, hi = r["pi95_ms"]
        seen = (
            ""
            if r["measured_ms"] is None
            else f"  measured {r['measured_ms']:.4g}  ratio "
            f"{r['predicted_ms'] / r['measured_ms']:.3f}" + ("  (calibration)" if r["calibration"] else "")
        )
        lines.append(
            f"{r['model']:<32} {r['resolution'] or '':>4} {r['predicted_ms']:9.4g} ms  [{lo:.4g}, {hi:.4g}]{seen}"
        )
    if "compare" in doc:
        c = doc["compare"]
        cal = f", calibrated on {', '.join(c['calibrated_on'])}" if c["calibrated_on"] else ", no target measurement"
        cover = (
            ""
            if c["interval_coverage_pct"] is None
            else f"; {c['interval_coverage_pct']:.0f} % of the measurements inside their 95 % interval"
        )
        lines.append(
            f"vs {c['run']} ({c['n']} models scored{cal}): MAPE {c['mape_pct']:.1f} %, "
            f"{c['within10_pct']:.0f} % within ±10 %, median ratio {c['median_ratio']:.3f}{cover}"
        )
    return "\n".join(lines)
