"""``profiler predict --from RUN --device NAME [--compare RUN_B [--calibrate K]] [MODEL | --models M,…]``.

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

from profiler.analysis.traffic_fit import cell_dtype, design, features, table_terms, traffic_form
from profiler.errors import UsageError
from profiler.hardware import transfer
from profiler.hardware.datasheets import Datasheet, lookup

MIN_SCORED = 8  # --calibrate K leaves at least this many models of RUN_B to score


def _run_dir(source: str) -> tuple[Path | None, dict]:
    """The run directory behind a RUN argument (None for a CSV) and its meta environment."""
    from profiler.runs import RunMeta
    from profiler.store import resolve_run

    try:
        path = resolve_run(source)
    except (UsageError, FileNotFoundError, ValueError):
        return None, {}
    if not Path(path).is_dir():
        return None, {}
    return Path(path), RunMeta.read(path, strict=False).environment or {}


def _device_name(cell: pd.DataFrame, env: dict, given: str | None, what: str) -> str:
    if given:
        return given
    if "device_name" in cell and cell["device_name"].notna().any():
        return str(cell["device_name"].dropna().iloc[0])
    if env.get("gpu_name"):
        return str(env["gpu_name"])
    raise UsageError(f"{what} does not name its GPU; give it with --from-device NAME")


def _measured(env: dict, ds: Datasheet, dtype: str) -> transfer.DevicePeaks | None:
    """Measured peaks of a run (``environment["peaks"]``) for this GPU and dtype, if it has them."""
    from profiler.hardware.datasheets import DTYPE_ALIASES, match

    peaks = env.get("peaks")
    if not isinstance(peaks, dict) or peaks.get("device") != "cuda" or match(peaks.get("device_name")) is not ds:
        return None
    tflops = (peaks.get("matmul_tflops") or {}).get(DTYPE_ALIASES.get(dtype, dtype))
    gbs = peaks.get("copy_bandwidth_gbs")
    if not (isinstance(tflops, int | float) and tflops > 0 and isinstance(gbs, int | float) and gbs > 0):
        return None
    return transfer.DevicePeaks(ds.name, float(tflops), float(gbs), f"measured {str(peaks.get('measured_at'))[:10]}")


def device_peaks(src: Datasheet, tgt: Datasheet, dtype: str, src_env: dict,
                 tgt_env: dict) -> tuple[transfer.DevicePeaks, transfer.DevicePeaks]:
    """Both devices' peaks: measured where both runs have them, else both from the datasheet (transfer's rule)."""
    ms, mt = _measured(src_env, src, dtype), _measured(tgt_env, tgt, dtype)
    if ms is not None and mt is not None:
        return ms, mt
    return tuple(transfer.DevicePeaks(d.name, d.peak_tflops(dtype), d.bandwidth_gbs, f"datasheet: {d.source}")
                 for d in (src, tgt))  # type: ignore[return-value]


def _model_features(names: list[str], resolution: int | None, dtype: str) -> pd.DataFrame:
    """F and B_act of models that were not measured, from their counts."""
    from profiler.analysis.optables import table_from_doc
    from profiler.commands.common import resolve_model
    from profiler.counting import count_model
    from profiler.counting.ops import op_table_doc

    rows = []
    for name in names:
        info = resolve_model(name)
        res = resolution or info.resolution
        try:
            table = table_from_doc(op_table_doc(count_model(name, res, batch=1, method="torch")))
        except ValueError as exc:
            raise UsageError(f"cannot count {name} at {res} px: {exc}") from None
        flops, bytes_act = table_terms(table, dtype)
        rows.append({"model": name, "family": info.family, "resolution": res, "F": flops, "B_act": bytes_act,
                     "t_ms": math.nan})
    return pd.DataFrame(rows)


def _compare_features(source: str, selectors: dict[str, str], dtype: str) -> tuple[pd.DataFrame, dict, str]:
    """RUN_B's models of the same dtype: features with measured ms per image, its environment, its GPU name."""
    from profiler.analysis import load_frame
    from profiler.analysis.data import cell_label, select_cell

    run_dir, env = _run_dir(source)
    want = {k: v for k, v in selectors.items() if k not in ("device", "device_name", "batch")} | {"dtype": dtype}
    frame = load_frame(source)
    if "dtype" not in frame:
        want.pop("dtype")
    key, cell = select_cell(frame, want)
    feat, _ = features(cell, run_dir, f"--compare {source} cell {cell_label(key)}")
    return feat, env, _device_name(cell, env, None, f"--compare {source}")


def _calibrate(times: np.ndarray, feat: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scales per term from ``k`` models spread over FLOPs, and the mask of models left to score."""
    if k > len(feat) - MIN_SCORED:
        raise UsageError(f"--calibrate {k} leaves {len(feat) - k} models of the compared run to score; at most "
                         f"{max(len(feat) - MIN_SCORED, 0)} (the compared run has {len(feat)}, {MIN_SCORED} must "
                         "remain)")
    idx = transfer.pick_spread(feat["F"].to_numpy(float), k)
    scales = transfer.calibrate(times[idx], feat["t_ms"].to_numpy(float)[idx])
    scored = np.ones(len(feat), bool)
    scored[idx] = False
    return scales, scored, [str(feat["model"].iloc[i]) for i in idx]


def predict(args: argparse.Namespace) -> dict:
    """Everything ``predict --device`` prints, as one JSON-able document."""
    from profiler.analysis import load_frame
    from profiler.analysis.data import cell_label, select_cell
    from profiler.commands.cmd_predict import _cell_selectors

    target = lookup(args.device) if args.device else None
    if args.calibrate is not None and not args.compare:
        raise UsageError("--calibrate K needs --compare RUN_B (the models it calibrates on)")
    if args.calibrate is not None and args.calibrate < 1:
        raise UsageError(f"--calibrate must be at least 1, got {args.calibrate}")
    selectors = _cell_selectors(args.cell)
    run_dir, env = _run_dir(args.source)
    key, cell = select_cell(load_frame(args.source), selectors)
    label = f"{args.source} cell {cell_label(key)}"
    feat, notes = features(cell, run_dir, label)
    fit = traffic_form(feat)
    dtype = cell_dtype(cell)
    source = lookup(_device_name(cell, env, args.from_device, f"run {args.source}"))
    tgt_env: dict = {}
    if args.compare:
        new, tgt_env, tgt_name = _compare_features(args.compare, selectors, dtype)
        target = target or lookup(tgt_name)
    elif args.models:
        new = _model_features(args.models, args.resolution, dtype)
    else:
        new = feat.assign(t_ms=math.nan)  # the source measured them, the target did not
    if target is None:
        raise UsageError("give --device NAME (or --compare RUN_B, whose GPU is then the target)")
    src_peaks, tgt_peaks = device_peaks(source, target, dtype, env, tgt_env)
    factors = transfer.ratios(fit, src_peaks, tgt_peaks)
    times = transfer.term_times(fit, design(new), factors)
    scales, scored, calib_models = np.ones(len(fit.terms)), np.ones(len(new), bool), []
    if args.calibrate:
        scales, scored, calib_models = _calibrate(times, new, args.calibrate)
    pred = (times * scales).sum(axis=1)
    doc = {
        "source": {"run": args.source, "cell": key, "device": source.name, "dtype": dtype,
                   "peaks": vars(src_peaks), "models": fit.n_models},
        "target": {"device": target.name, "peaks": vars(tgt_peaks)},
        "fit": _fit_doc(fit, factors, scales),
        "unit": "ms per image",
        "notes": notes,
        "predictions": _rows(fit, new, pred, calib_models),
    }
    if args.compare:
        doc["compare"] = {"run": args.compare, "calibrated_on": calib_models,
                          **transfer.summary(pred[scored], new["t_ms"].to_numpy(float)[scored])}
    return doc


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
        out.append({
            "model": r.model, "family": r.family, "resolution": r.resolution, "gflops": r.F / 1e9,
            "act_mb": r.B_act / 1e6, "predicted_ms": float(p), "pi95_ms": [float(a), float(b)],
            "measured_ms": None if math.isnan(r.t_ms) else float(r.t_ms), "calibration": r.model in calib_models,
        })
    return out


def render(doc: dict) -> str:
    """The text ``predict --device`` prints."""
    src, tgt = doc["source"], doc["target"]
    lines = [
        f"{src['device']} -> {tgt['device']}: {doc['fit']['form']} fitted on {src['models']} models of "
        f"{src['run']} ({src['dtype']}); {doc['unit']}, 95 % interval from the source's held-out error",
        f"  peaks: {src['device']} {src['peaks']['tflops']:g} TFLOP/s, {src['peaks']['bandwidth_gbs']:g} GB/s "
        f"({src['peaks']['source']}); {tgt['device']} {tgt['peaks']['tflops']:g} TFLOP/s, "
        f"{tgt['peaks']['bandwidth_gbs']:g} GB/s ({tgt['peaks']['source']})",
        "  terms: " + "; ".join(f"{t['term']} ({t['resource']}) x{t['factor']:.3f}"
                                + (f" scale {t['scale']:.2f}" if t["scale"] != 1 else "")
                                for t in doc["fit"]["terms"]) + f"; {doc['fit']['launch_rule']}",
    ]
    lines += [f"  note: {n}" for n in doc["notes"]]
    for r in doc["predictions"]:
        lo, hi = r["pi95_ms"]
        seen = "" if r["measured_ms"] is None else f"  measured {r['measured_ms']:.4g}  ratio " \
            f"{r['predicted_ms'] / r['measured_ms']:.3f}" + ("  (calibration)" if r["calibration"] else "")
        lines.append(f"{r['model']:<32} {r['resolution'] or '':>4} {r['predicted_ms']:9.4g} ms  "
                     f"[{lo:.4g}, {hi:.4g}]{seen}")
    if "compare" in doc:
        c = doc["compare"]
        cal = f", calibrated on {', '.join(c['calibrated_on'])}" if c["calibrated_on"] else ", no target measurement"
        lines.append(f"vs {c['run']} ({c['n']} models scored{cal}): MAPE {c['mape_pct']:.1f} %, "
                     f"{c['within10_pct']:.0f} % within ±10 %, median ratio {c['median_ratio']:.3f}")
    return "\n".join(lines)
