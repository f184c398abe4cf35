"""Does √FLOPs + activations predict runtime better than FLOPs alone? The statistical analysis.

>>> from profiler.analysis import FORMS, analyze_frame, load_frame
>>> list(FORMS)
['M0', 'M1', 'M2', 'M3', 'M4', 'P', 'M5', 'M6', 'M7', 'M8']

``analyze_frame(df)`` returns a JSON-safe dict (what ``profiler analyze --json`` prints): per cell the fits of
every form (WLS, and the log-space variant), the test battery, leave-one-family-out errors with cluster-bootstrap
intervals and a verdict in words. See ``forms`` (specification), ``battery`` (tests), ``heldout``, ``verdict``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from profiler.analysis.battery import (
    NESTED_PAIRS,
    NONNESTED_PAIRS,
    breusch_pagan,
    encompassing_test,
    fit_stats,
    holm,
    j_test,
    nested_test,
    reset_test,
    vif_sqrtf_acts,
    vuong,
    vuong_test,
)
from profiler.analysis.battery import obs_loglik as battery_loglik
from profiler.analysis.data import (
    aggregate,
    cell_label,
    check_cell,
    latency_unit,
    load_frame,
    split_cells,
    validate,
)
from profiler.analysis.explain import explain
from profiler.analysis.forms import FORMS, UNITS, FittedForm, available_forms, common_weights, fit_form, fit_log
from profiler.analysis.heldout import heldout
from profiler.analysis.mechanistic import FORMULA as MECH_FORMULA
from profiler.analysis.mechanistic import NAME, MechanisticCell, obs_loglik, resolve_peaks, summarize_fit
from profiler.analysis.opclass_model import FORMULA as OPCLASS_FORMULA
from profiler.analysis.opclass_model import NAME as OPCLASS
from profiler.analysis.opclass_model import OpClassCell
from profiler.analysis.opclass_model import summarize as summarize_opclass
from profiler.analysis.optables import attach_tables, table_for_rows
from profiler.analysis.robustness import N_RESAMPLES
from profiler.analysis.verdict import decide
from profiler.core.errors import UsageError
from profiler.core.jsonsafe import json_safe

__all__ = ["FORMS", "FittedForm", "analysis_inputs", "analyze_cell", "analyze_frame", "fit_form", "load_frame"]


def analyze_cell(
    cell: pd.DataFrame,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha_adj: float = 0.05,
    mech_inputs=None,
    opclass_tables=None,
) -> dict:
    """Everything about one cell except the verdict and the Holm adjustment (which need all cells).

    ``mech_inputs``: (per-row op tables, ``DevicePeaks``) for the mechanistic model, or a string saying why it is
    unavailable, or None. ``opclass_tables``: the per-row op tables for the per-op-class model (or None).
    """
    w = common_weights(cell)
    names = available_forms(cell)
    fits = {f: fit_form(cell, f, weights=w) for f in names}
    forms = {}
    for f, fit in fits.items():
        log_fit = fit_log(cell, f, start=fit.result.params)
        log_fit.pop("params")
        forms[f] = {"formula": FORMS[f], "wls": fit_stats(fit), "log": log_fit}
    nested = [(a, b) for a, b in NESTED_PAIRS if a in fits and b in fits]
    nonnested = [(a, b) for a, b in NONNESTED_PAIRS if a in fits and b in fits]
    tests = {
        "nested_hc3": [nested_test(fits[a], fits[b]) for a, b in nested],
        "j": [j_test(fits[alt], fits[null]) for a, b in nonnested for null, alt in ((a, b), (b, a))],
        "encompassing": [encompassing_test(fits[a], fits[b]) for a, b in nonnested],
        "vuong": [vuong_test(fits[b], fits[a]) for a, b in nonnested] + [vuong_test(fits["M3"], fits["P"])],
        "diagnostics": {f: {"breusch_pagan": breusch_pagan(fits[f]), "reset": reset_test(fits[f])} for f in fits},
        "vif": vif_sqrtf_acts(cell),
    }
    mc, mech = None, {"available": False, "reason": "no per-op tables for this cell"}
    if isinstance(mech_inputs, str):
        mech["reason"] = mech_inputs
    elif mech_inputs is not None:
        mc = MechanisticCell(cell, *mech_inputs)
        params = mc.fit(np.ones(len(cell), bool), w)
        mech = {"available": True, **summarize_fit(mc, params, w)}
        if mc.peaks.launch_source == "measured":  # what the data alone would say about the per-op cost
            k_free, launch_free = mc.fit(np.ones(len(cell), bool), w, free_launch=True)
            mech.update(k_if_launch_fitted=k_free, launch_us_if_fitted=1e3 * launch_free)
        ll = obs_loglik(mc.predict(params), mc.t, w)
        for other in ("M0", "M5"):
            if other in fits:
                k = len(fits[other].result.params)
                tests["vuong"].append({"a": NAME, "b": other, **vuong(ll, battery_loglik(fits[other]), 2, k)})
    oc, oc_fit, opclass = _opclass_block(cell, opclass_tables)
    if oc is not None:
        ll = obs_loglik(oc.predict(oc_fit), oc.t, w)
        for other in ("M0", "M8"):
            if other in fits:
                k = len(fits[other].result.params)
                tests["vuong"].append(
                    {"a": OPCLASS, "b": other, **vuong(ll, battery_loglik(fits[other]), len(oc_fit.coef), k)}
                )
    return {
        "n": len(cell),
        "n_families": int(cell["family"].nunique()),
        "families": sorted(map(str, cell["family"].unique())),
        "n_repeats_median": float(cell["n_repeats"].median()) if "n_repeats" in cell else 1.0,
        "forms": forms,
        "mechanistic": mech,
        "opclass": opclass,
        "tests": tests,
        "heldout": heldout(cell, n_boot=n_boot, seed=seed, alpha_adj=alpha_adj, mech=mc, opclass=oc),
    }


def _opclass_block(cell: pd.DataFrame, tables) -> tuple:
    """(model, fit, JSON block) of the per-op-class model fitted on all the cell's models; (None, None, block
    saying why) where it is unavailable."""
    if not tables or any(t is None for t in tables):
        return None, None, {"available": False, "reason": "no per-op tables for this cell"}
    try:
        oc = OpClassCell(cell, tables)
        fit = oc.fit()
    except UsageError as exc:  # fewer models than coefficients, or a dtype without element sizes
        return None, None, {"available": False, "reason": str(exc)}
    res = [int(r) for r in cell["resolution"]] if "resolution" in cell and cell["resolution"].notna().all() else None
    return oc, fit, {"available": True, **summarize_opclass(oc, fit, [str(m) for m in cell["model"]], res)}


_TEST_ID = {"j": ("null", "alt"), "nested_hc3": ("small", "big"), "encompassing": ("a", "b")}


def _holm_across_cells(cells: list[dict]) -> None:
    """Add ``p_holm`` to every J, nested and encompassing test: Holm across the cells that have that test."""
    for kind, pkeys in (("j", ("p",)), ("nested_hc3", ("p",)), ("encompassing", ("p_a", "p_b"))):
        groups: dict[tuple, list[dict]] = {}
        for c in cells:
            for r in c["tests"][kind]:
                groups.setdefault(tuple(r[k] for k in _TEST_ID[kind]), []).append(r)
        for rows in groups.values():
            for pk in pkeys:
                for r, p in zip(rows, holm([r[pk] for r in rows]), strict=True):
                    r[pk.replace("p", "p_holm", 1)] = p


def analyze_frame(
    df: pd.DataFrame,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    run_dir: Path | None = None,
    measured_peaks: dict | None = None,
    raw: pd.DataFrame | None = None,
    n_resamples: int = N_RESAMPLES,
) -> dict:
    """Analyze every cell of a results frame (raw rows or ``load_frame`` output). JSON-safe dict.

    Cells too small to fit are listed under ``skipped``; if no cell can be analyzed a UsageError says why.
    ``run_dir`` (where per-op tables may be stored) and ``measured_peaks`` (a sweep's ``environment["peaks"]``)
    feed the N forms and the mechanistic model; ``analysis_inputs(path)`` finds both for a path.
    ``raw`` (the rows before aggregation; ``df`` itself when it is raw) gives the noise check: unstable rows and
    the verdict refitted on ``n_resamples`` resampled timings (``robustness``; 0: off).
    """
    if n_boot < 100:
        raise UsageError(f"n_boot must be at least 100 (got {n_boot})")
    if n_resamples < 0:
        raise UsageError(f"n_resamples must be 0 (off) or more (got {n_resamples})")
    if "n_repeats" not in df.columns:
        raw = validate(df)
        df = aggregate(raw)
    batch_notes = list(df.attrs.get("notes", []))
    df = df.copy()
    tables, notes = attach_tables(df, run_dir)
    notes = batch_notes + list(notes)
    todo, skipped = [], []
    for key, cell in split_cells(df):
        why = check_cell(cell, cell_label(key))
        (skipped.append({"cell": key, "reason": why}) if why else todo.append((key, cell)))
    if not todo:
        raise UsageError("; ".join(s["reason"] for s in skipped))
    alpha_adj = 0.05 / len(todo)
    cells = []
    for key, cell in todo:
        mech_inputs = _mech_inputs(key, cell, tables, measured_peaks)
        res = analyze_cell(
            cell,
            n_boot=n_boot,
            seed=seed,
            alpha_adj=alpha_adj,
            mech_inputs=mech_inputs,
            opclass_tables=table_for_rows(cell, tables),
        )
        cells.append({"cell": key, "label": cell_label(key), "latency_unit": latency_unit(key), **res})
    _holm_across_cells(cells)
    for c in cells:
        c["verdict"] = decide(c)
        c["explanation"] = explain(c)
        c["verdict"]["regime"] = c["explanation"]["regime"]  # the claim's verdict, and what the runtime follows
        c["verdict"]["best_explanation"] = {  # beside the claim's question (M3 vs M0): what explains it best
            "form": c["explanation"]["best_heldout"],
            "regime": c["explanation"]["regime"],
            "classes": [t["label"] for t in c["explanation"]["classes"]],
        }
    stability = _noise_check(cells, raw, n_resamples, seed)
    return json_safe(
        {
            "claim": "runtime ~ sqrt(FLOPs) + activations (M3) predicts better than FLOPs alone (M0)",
            "forms": {**FORMS, NAME: MECH_FORMULA, OPCLASS: OPCLASS_FORMULA},
            "units": dict(UNITS),
            "n_cells": len(cells),
            "cells": cells,
            "skipped": skipped,
            "notes": notes,
            "stability": stability,
        }
    )


def _noise_check(cells: list[dict], raw: pd.DataFrame | None, n_resamples: int, seed: int) -> dict | None:
    """Unstable rows per cell and the verdict's agreement under resampled timings; marks fragile verdicts."""
    from profiler.analysis import robustness as rb

    if raw is None:
        return None
    per_cell = {cell_label(k): rb.unstable_rows(sub) for k, sub in split_cells(raw)}
    agree: dict = {}
    why_not = None if n_resamples > 0 else "off (n_resamples = 0)"
    if why_not is None and not rb.has_noise(raw):
        why_not = "not computed: the rows carry no per-iteration samples and no repeats to resample"
    if why_not is None:
        agree = rb.verdict_agreement(
            raw, {c["label"]: c["verdict"]["label"] for c in cells}, n_resamples=n_resamples, seed=seed
        )
    for c in cells:
        v, u = c["verdict"], per_cell.get(c["label"], {})
        v["unstable_rows"] = u.get("n_unstable", 0)
        if note := rb.unstable_text(u):
            v["caveats"].append(note)
        if (r := agree.get(c["label"])) is None:
            continue
        v["robustness"] = r
        v["fragile"] = r["agreement"] < rb.MIN_AGREEMENT
        if v["fragile"]:
            rest = v["text"].removeprefix(v["label"] + ": ")
            v["text"] = f"{v['label']}: {rb.fragile_text(v['label'], r, v['unstable_rows'])}; {rest}"
    return {
        "unstable": rb.unstable_rows(raw),
        "n_resamples": n_resamples,
        "min_agreement": rb.MIN_AGREEMENT,
        "noise_check": why_not or "done",
    }


def _mech_inputs(key: dict, cell: pd.DataFrame, tables: dict, measured: dict | None):
    """(tables per row, peaks) for the mechanistic model of one cell, or a string saying why it is unavailable."""
    rows = table_for_rows(cell, tables)
    if not rows or any(t is None for t in rows):
        return "no per-op tables (the rows carry no spec_json to count, and the run stores none)"
    names = cell["device_name"].dropna() if "device_name" in cell else pd.Series([], dtype=object)
    device_name = str(names.iloc[0]) if len(names) else str(key.get("device", ""))
    if isinstance(measured, dict) and measured.get("device") not in (None, key.get("device")):
        measured = None  # peaks of another device than this cell's
    peaks, why = resolve_peaks(device_name, str(key.get("dtype", "fp32")), measured)
    return why if peaks is None else (rows, peaks)


def analysis_inputs(path: str | Path) -> dict:
    """``run_dir`` and ``measured_peaks`` for ``analyze_frame`` from a run directory or a file inside one."""
    from profiler.results.runs import RunMeta
    from profiler.results.store import resolve_run

    p = resolve_run(path)
    run_dir = p if p.is_dir() else p.parent
    env = RunMeta.read(run_dir, strict=False).environment or {}
    peaks = env.get("peaks") if isinstance(env.get("peaks"), dict) else None
    return {"run_dir": run_dir, "measured_peaks": peaks}
