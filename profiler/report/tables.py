"""The report's tables as plain data (headers + rows of (text, sort key)); the template only lays them out."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from profiler.analysis.verdict import fmt_p

ALPHA = 0.05
TERM_HEADERS = {
    "const": "const (ms)",
    "F": "F (ms per GMAC)",
    "sqrtF": "√F (ms per √GMAC)",
    "A": "A (ms per M acts)",
    "P": "P (ms per M params)",
    "N": "N (ms per k ops)",
}


@dataclass
class Table:
    """One table: ``rows`` hold (text, sort key) pairs; numeric sort keys sort numerically in the page."""

    title: str
    headers: list[str]
    rows: list[list[tuple[str, Any]]]
    sortable: bool = False
    note: str = ""
    numeric: list[bool] = field(default_factory=list)


def fmt(x: float | None, spec: str = ".3g") -> str:
    """A number, or an en dash for missing values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, spec)


def _c(text: str, key: Any = None) -> tuple[str, Any]:
    return (text, text if key is None else key)


def _num(x: float | None, spec: str = ".3g") -> tuple[str, Any]:
    return (fmt(x, spec), x if x is not None else "")


def _ci(x: float | None, ci: list | None, scale: float = 1.0, spec: str = ".3g", unit: str = "") -> tuple[str, Any]:
    if x is None:
        return _c("–", "")
    text = f"{format(scale * x, spec)}{unit}"
    if ci and None not in ci:
        text += f" [{format(scale * ci[0], spec)}, {format(scale * ci[1], spec)}]"
    return (text, x)


def _table(title: str, headers: list[str], rows: list, **kw) -> Table:
    def is_num(key: Any) -> bool:
        return isinstance(key, int | float) or key == ""  # "" is an empty cell: it does not make a column text

    numeric = [all(is_num(r[i][1]) for r in rows) for i in range(len(headers))] if rows else []
    return Table(title, headers, rows, numeric=numeric, **kw)


def coefficients(cell: dict) -> Table:
    """Per form: WLS coefficients with 95 % intervals, weighted R², AIC/BIC, RMS relative residual."""
    rows = []
    for form, f in cell["forms"].items():
        w = f["wls"]
        row = [_c(form), _c(f["formula"])]
        for term in TERM_HEADERS:
            row.append(_ci(w["coef"][term], w["ci95"].get(term)) if term in w["coef"] else _c("", ""))
        row += [
            _num(w["r2"], ".4f"),
            _num(w["aic"], ".1f"),
            _num(w["bic"], ".1f"),
            _num(100 * w["rms_rel_resid"] if w["rms_rel_resid"] is not None else None, ".1f"),
        ]
        rows.append(row)
    headers = ["form", "specification", *TERM_HEADERS.values(), "R² (weighted)", "AIC", "BIC", "RMS rel. residual (%)"]
    return _table(
        "Coefficients (WLS, common weights 1/t̂²) with 95 % confidence intervals",
        headers,
        rows,
        note="F: GMAC per image, A: million activations per image, P: million parameters; t: ms per batch.",
    )


def tests(cell: dict) -> Table:
    """The test battery: nested HC3 F-tests, J and encompassing tests, Vuong, Breusch–Pagan, RESET, VIF."""
    t, rows = cell["tests"], []

    def row(test: str, what: str, stat: str, p: float | None, p_holm: float | None, reading: str) -> None:
        rows.append(
            [
                _c(test),
                _c(what),
                _c(stat),
                _c(fmt_p(p) if p is not None else "–", p if p is not None else 1),
                _c(fmt_p(p_holm) if p_holm is not None else "–", p_holm if p_holm is not None else 1),
                _c(reading),
            ]
        )

    def rejects(p: float | None) -> bool:
        return p is not None and p < ALPHA

    for r in t["nested_hc3"]:
        row(
            "F-test (HC3)",
            f"{r['small']} ⊂ {r['big']}: adds {' + '.join(r['terms'])}",
            f"F = {fmt(r['F'], '.2f')}",
            r["p"],
            r.get("p_holm"),
            "added terms matter" if rejects(r.get("p_holm")) else "added terms not needed",
        )
    for r in t["j"]:
        row(
            "J test",
            f"H0: {r['null']} adequate, against {r['alt']}",
            f"t = {fmt(r['t'], '.2f')}",
            r["p"],
            r.get("p_holm"),
            f"{r['null']} rejected" if rejects(r.get("p_holm")) else f"{r['null']} not rejected",
        )
    for r in t["encompassing"]:
        for side, other in (("a", "b"), ("b", "a")):
            row(
                "encompassing (HC3)",
                f"H0: {r[side]} encompasses {r[other]}",
                f"F = {fmt(r['F_' + side], '.2f')}",
                r["p_" + side],
                r.get("p_holm_" + side),
                f"{r[side]} rejected" if rejects(r.get("p_holm_" + side)) else f"{r[side]} not rejected",
            )
    for r in t["vuong"]:
        z = r["z"]
        favour = "–" if z is None else (r["a"] if z > 0 else r["b"])
        row(
            "Vuong",
            f"{r['a']} vs {r['b']} (z > 0 favours {r['a']})",
            f"z = {fmt(z, '.2f')}",
            r["p"],
            None,
            f"favours {favour}" if rejects(r["p"]) else "no significant difference",
        )
    for form, d in t["diagnostics"].items():
        bp, rs = d["breusch_pagan"], d["reset"]
        row(
            "Breusch–Pagan",
            f"{form}: heteroskedasticity after weighting",
            f"LM = {fmt(bp['lm'], '.2f')}",
            bp["p"],
            None,
            "present" if rejects(bp["p"]) else "not detected",
        )
        row(
            "RESET",
            f"{form}: functional form",
            f"F = {fmt(rs['F'], '.2f')}",
            rs["p"],
            None,
            "misspecified" if rejects(rs["p"]) else "not rejected",
        )
    v = t["vif"]
    row(
        "VIF",
        "√F and A in M3",
        f"VIF = {fmt(v['sqrtF'], '.1f')}, r = {fmt(v['corr'], '.3f')}",
        None,
        None,
        "nearly collinear" if (v["sqrtF"] or 0) > 10 else "acceptable",
    )
    return _table(
        "Test battery (p_Holm: Holm-adjusted across cells; α = 0.05)",
        ["test", "hypothesis", "statistic", "p", "p (Holm)", "reading"],
        rows,
        sortable=True,
    )


def heldout(cell: dict) -> list[Table]:
    """Leave-one-family-out errors per form, and the reductions of each richer form against M0."""
    h = cell["heldout"]
    if not h.get("forms"):
        return []
    rows = []
    for form, m in h["forms"].items():
        ci = m["ci95"]
        rows.append(
            [
                _c(form),
                _ci(m["mape"], ci["mape"], 100, ".1f", " %"),
                _num(100 * m["median_ape"], ".1f"),
                _ci(m["rms_log"], ci["rms_log"], 1, ".3f"),
                _ci(m["within10"], ci["within10"], 100, ".0f", " %"),
                _num(m.get("n_nonpositive", 0), "d"),
            ]
        )
    forms = _table(
        f"Held-out errors (leave one family out; {h['n']} models, {h['n_families']} families; "
        f"95 % cluster-bootstrap intervals, {h.get('n_boot', '?')} draws)",
        [
            "form",
            "MAPE (%) [95 % CI]",
            "median APE (%)",
            "RMS log error [95 % CI]",
            "within ±10 % (share of models) [95 % CI]",
            "held-out t̂ ≤ 0 (in MAPE as is; not in RMS log)",
        ],
        rows,
        sortable=True,
    )
    comp_rows = []
    for key, c in h.get("comparisons", {}).items():
        adj, level = c["mape_reduction_ci_adj"], f"{fmt(100 * c['ci_adj_level'], '.1f')} %"
        comp_rows.append(
            [
                _c(key.replace("_vs_", " vs ")),
                _ci(c["mape_reduction"], c["mape_reduction_ci"], 100, ".0f", " %"),
                _c(f"[{fmt(100 * adj[0], '.0f')}, {fmt(100 * adj[1], '.0f')}] at {level}"),
                _ci(c["rms_log_reduction"], c["rms_log_reduction_ci"], 100, ".0f", " %"),
                _ci(c["within10_gain"], c["within10_gain_ci"], 100, ".0f", " pp"),
            ]
        )
    comps = _table(
        "Held-out improvement of the first form over the second (> 0: the first predicts better)",
        [
            "comparison",
            "MAPE reduction (%) [95 % CI]",
            "adjusted CI (multiple cells)",
            "RMS-log reduction (%) [95 % CI]",
            "within ±10 % gain (pp) [95 % CI]",
        ],
        comp_rows,
    )
    return [forms, comps]


def per_model(raw: pd.DataFrame) -> Table:
    """Every measured (model, setting): counts, median latency over repeats, spread, throughput. Sortable."""
    ok = raw[raw["status"].astype(str) == "ok"] if "status" in raw else raw
    # A setting with one value across the run is in the page header; a column of it would only add width.
    keys = ["model", "family"] + [
        c for c in ("backend", "device", "dtype", "batch", "resolution") if c in ok and ok[c].nunique(dropna=False) > 1
    ]
    agg = {
        "macs": ("macs", "first"),
        "params": ("params", "first"),
        "acts": ("acts", "first"),
        "latency_ms": ("latency_ms", "median"),
        "repeats": ("latency_ms", "size"),
    }
    for c in ("latency_ms_iqr", "throughput_ips", "n_samples"):
        if c in ok:
            agg[c] = (c, "median")
    g = ok.groupby(keys, dropna=False).agg(**agg).reset_index().sort_values(["family", "macs"])
    heads = {
        "model": "model",
        "family": "family",
        "backend": "backend",
        "device": "device",
        "dtype": "precision",
        "batch": "batch (images)",
        "resolution": "resolution (px)",
    }
    headers = [heads[k] for k in keys] + [
        "FLOPs (GMAC / image)",
        "params (M)",
        "acts (M / image)",
        "latency (ms / batch, median)",
    ]
    extra = [c for c in ("latency_ms_iqr", "throughput_ips", "n_samples") if c in g]
    headers += [
        {"latency_ms_iqr": "IQR (ms)", "throughput_ips": "throughput (images/s)", "n_samples": "timed iterations"}[c]
        for c in extra
    ] + ["repeats"]
    rows = []
    for r in g.to_dict("records"):
        row = [_num(r[k], "g") if isinstance(r[k], int | float) else _c(str(r[k])) for k in keys]
        row += [
            _num(r["macs"] / 1e9, ".3f"),
            _num(r["params"] / 1e6, ".2f"),
            _num(r["acts"] / 1e6, ".2f"),
            _num(r["latency_ms"], ".4g"),
        ]
        row += [_num(r[c], {"latency_ms_iqr": ".3g", "throughput_ips": ",.0f"}.get(c, ".0f")) for c in extra] + [
            _num(r["repeats"], "d")
        ]
        rows.append(row)
    return _table(f"Per-model results ({len(rows)} rows; click a column header to sort)", headers, rows, sortable=True)


def failed(raw: pd.DataFrame) -> Table | None:
    """Failed measurements with their reasons, or None when everything succeeded."""
    if "status" not in raw:
        return None
    bad = raw[raw["status"].astype(str) != "ok"]
    if bad.empty:
        return None
    cols = [c for c in ("model", "family", "backend", "device", "dtype", "batch", "resolution", "repeat") if c in bad]
    rows = [
        [_c(str(r[c])) for c in cols] + [_c(str(r.get("error") or "(no reason recorded)"))]
        for r in bad.to_dict("records")
    ]
    return _table(f"Failed measurements ({len(rows)})", [*cols, "reason"], rows, sortable=True)


def environment(env: dict, extra: dict) -> Table:
    """Key/value rows of the captured environment and of the run's configuration."""
    rows = []
    for k, v in {**env, **extra}.items():
        text = "not recorded" if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
        rows.append([_c(str(k)), _c(text)])
    return _table("Environment and configuration", ["key", "value"], rows)
