"""Does √FLOPs + activations predict runtime better than FLOPs alone? The statistical analysis.

>>> from profiler.analysis import FORMS, analyze_frame, load_frame
>>> list(FORMS)
['M0', 'M1', 'M2', 'M3', 'M4', 'P']

``analyze_frame(df)`` returns a JSON-safe dict (what ``profiler analyze --json`` prints): per cell the fits of
every form (WLS, and the log-space variant), the test battery, leave-one-family-out errors with cluster-bootstrap
intervals and a verdict in words. See ``forms`` (specification), ``battery`` (tests), ``heldout``, ``verdict``.
"""

from __future__ import annotations

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
    vuong_test,
)
from profiler.analysis.data import aggregate, cell_label, check_cell, load_frame, split_cells, validate
from profiler.analysis.forms import FORMS, UNITS, FittedForm, common_weights, fit_form, fit_log
from profiler.analysis.heldout import heldout
from profiler.analysis.verdict import decide
from profiler.errors import UsageError
from profiler.jsonsafe import json_safe

__all__ = ["FORMS", "FittedForm", "analyze_cell", "analyze_frame", "fit_form", "load_frame"]


def analyze_cell(cell: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0, alpha_adj: float = 0.05) -> dict:
    """Everything about one cell except the verdict and the Holm adjustment (which need all cells)."""
    w = common_weights(cell)
    fits = {f: fit_form(cell, f, weights=w) for f in FORMS}
    forms = {}
    for f, fit in fits.items():
        log_fit = fit_log(cell, f, start=fit.result.params)
        log_fit.pop("params")
        forms[f] = {"formula": FORMS[f], "wls": fit_stats(fit), "log": log_fit}
    tests = {
        "nested_hc3": [nested_test(fits[a], fits[b]) for a, b in NESTED_PAIRS],
        "j": [j_test(fits[alt], fits[null]) for a, b in NONNESTED_PAIRS for null, alt in ((a, b), (b, a))],
        "encompassing": [encompassing_test(fits[a], fits[b]) for a, b in NONNESTED_PAIRS],
        "vuong": [vuong_test(fits[b], fits[a]) for a, b in NONNESTED_PAIRS] + [vuong_test(fits["M3"], fits["P"])],
        "diagnostics": {f: {"breusch_pagan": breusch_pagan(fits[f]), "reset": reset_test(fits[f])} for f in FORMS},
        "vif": vif_sqrtf_acts(cell),
    }
    return {
        "n": len(cell),
        "n_families": int(cell["family"].nunique()),
        "families": sorted(map(str, cell["family"].unique())),
        "n_repeats_median": float(cell["n_repeats"].median()) if "n_repeats" in cell else 1.0,
        "forms": forms,
        "tests": tests,
        "heldout": heldout(cell, n_boot=n_boot, seed=seed, alpha_adj=alpha_adj),
    }


def _holm_across_cells(cells: list[dict]) -> None:
    """Add ``p_holm`` to every J, nested and encompassing test: Holm across cells, per test."""
    for kind, pkeys in (("j", ("p",)), ("nested_hc3", ("p",)), ("encompassing", ("p_a", "p_b"))):
        n_tests = len(cells[0]["tests"][kind])
        for i in range(n_tests):
            for pk in pkeys:
                adj = holm([c["tests"][kind][i][pk] for c in cells])
                for c, p in zip(cells, adj, strict=True):
                    c["tests"][kind][i][pk.replace("p", "p_holm", 1)] = p


def analyze_frame(df: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Analyze every cell of a results frame (raw rows or ``load_frame`` output). JSON-safe dict.

    Cells too small to fit are listed under ``skipped``; if no cell can be analyzed a UsageError says why.
    """
    if n_boot < 100:
        raise UsageError(f"n_boot must be at least 100 (got {n_boot})")
    if "n_repeats" not in df.columns:
        df = aggregate(validate(df))
    todo, skipped = [], []
    for key, cell in split_cells(df):
        why = check_cell(cell, cell_label(key))
        (skipped.append({"cell": key, "reason": why}) if why else todo.append((key, cell)))
    if not todo:
        raise UsageError("; ".join(s["reason"] for s in skipped))
    alpha_adj = 0.05 / len(todo)
    cells = []
    for key, cell in todo:
        res = analyze_cell(cell, n_boot=n_boot, seed=seed, alpha_adj=alpha_adj)
        cells.append({"cell": key, "label": cell_label(key), **res})
    _holm_across_cells(cells)
    for c in cells:
        c["verdict"] = decide(c)
    return json_safe(
        {
            "claim": "runtime ~ sqrt(FLOPs) + activations (M3) predicts better than FLOPs alone (M0)",
            "forms": dict(FORMS),
            "units": dict(UNITS),
            "n_cells": len(cells),
            "cells": cells,
            "skipped": skipped,
        }
    )
