"""The tables of one analysis cell: each form's WLS fit, the test battery, and the held-out errors.

Built from the cell's entry in ``analyze_frame``'s result (``forms``, ``tests``, ``heldout``) with the cell helpers
of ``tables`` (rows of (text, sort key)); the run-wide tables (per model, failed rows, environment) are there.
"""

from __future__ import annotations

from profiler.analysis.verdict import fmt_p
from profiler.report.tables import Table, fmt, make_table, num, num_ci, txt

ALPHA = 0.05
TERM_HEADERS = {
    "const": "const (ms)",
    "F": "F (ms per GMAC)",
    "sqrtF": "√F (ms per √GMAC)",
    "A": "A (ms per M acts)",
    "P": "P (ms per M params)",
    "N": "N (ms per k ops)",
    "B": "B (ms per MB per image)",
}


def coefficients(cell: dict) -> Table:
    """Per form: WLS coefficients with 95 % intervals, weighted R², AIC/BIC, RMS relative residual."""
    rows = []
    for form, f in cell["forms"].items():
        w = f["wls"]
        row = [txt(form), txt(f["formula"])]
        for term in TERM_HEADERS:
            row.append(num_ci(w["coef"][term], w["ci95"].get(term)) if term in w["coef"] else txt("", ""))
        row += [
            num(w["r2"], ".4f"),
            num(w["aic"], ".1f"),
            num(w["bic"], ".1f"),
            num(100 * w["rms_rel_resid"] if w["rms_rel_resid"] is not None else None, ".1f"),
        ]
        rows.append(row)
    headers = ["form", "specification", *TERM_HEADERS.values(), "R² (weighted)", "AIC", "BIC", "RMS rel. residual (%)"]
    return make_table(
        "Coefficients (WLS, common weights 1/t̂²) with 95 % confidence intervals",
        headers,
        rows,
        note="F: GMAC per image, A: million activations per image, P: million parameters, B: MB of memory traffic "
        "per image at the row's batch and dtype (weights once per batch); t: "
        f"{cell.get('latency_unit', 'ms per batch')}.",
    )


def tests(cell: dict) -> Table:
    """The test battery: nested HC3 F-tests, J and encompassing tests, Vuong, Breusch–Pagan, RESET, VIF."""
    t, rows = cell["tests"], []

    def row(test: str, what: str, stat: str, p: float | None, p_holm: float | None, reading: str) -> None:
        rows.append(
            [
                txt(test),
                txt(what),
                txt(stat),
                txt(fmt_p(p) if p is not None else "–", p if p is not None else 1),
                txt(fmt_p(p_holm) if p_holm is not None else "–", p_holm if p_holm is not None else 1),
                txt(reading),
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
    return make_table(
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
                txt(form),
                num_ci(m["mape"], ci["mape"], 100, ".1f", " %"),
                num(100 * m["median_ape"], ".1f"),
                num_ci(m["rms_log"], ci["rms_log"], 1, ".3f"),
                num_ci(m["within10"], ci["within10"], 100, ".0f", " %"),
                num(m.get("n_nonpositive", 0), "d"),
            ]
        )
    forms = make_table(
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
                txt(key.replace("_vs_", " vs ")),
                num_ci(c["mape_reduction"], c["mape_reduction_ci"], 100, ".0f", " %"),
                txt(f"[{fmt(100 * adj[0], '.0f')}, {fmt(100 * adj[1], '.0f')}] at {level}"),
                num_ci(c["rms_log_reduction"], c["rms_log_reduction_ci"], 100, ".0f", " %"),
                num_ci(c["within10_gain"], c["within10_gain_ci"], 100, ".0f", " pp"),
            ]
        )
    comps = make_table(
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


RESOURCE_COLUMNS = ("compute", "traffic", "launch", "fixed")


def opclass_per_model(cell: dict) -> Table | None:
    """Per measured model: where the per-op-class model puts its time (resources, the top op classes) and the
    measured / predicted ratio (in-sample fit on the whole cell); None where the model is unavailable."""
    oc = cell.get("opclass") or {}
    if not oc.get("available"):
        return None
    rows = []
    for m in oc["per_model"]:
        res, pred = m["ms_by_resource"], m["predicted_ms"]
        top = ", ".join(f"{d['label']} {100 * d['share']:.0f} %" for d in m["dominant"] if d["share"] is not None)
        rows.append(
            [
                txt(m["model"]),
                num(m.get("resolution"), "d"),
                num(m["measured_ms"]),
                num(pred),
                num(m["ratio"], ".2f"),
                *(num(100 * res[r] / pred if pred > 0 else None, ".0f") for r in RESOURCE_COLUMNS),
                txt(top),
            ]
        )
    headers = [
        "model",
        "px",
        "measured (ms)",
        "predicted (ms)",
        "measured / predicted",
        "compute (%)",
        "traffic (%)",
        "launches (%)",
        "fixed (%)",
        "op classes that carry the time",
    ]
    return make_table(
        "Where the per-op-class model puts each model's time",
        headers,
        rows,
        sortable=True,
        note=f"{oc['formula']}; fitted by NNLS on relative errors on every model of the cell ({oc['classes']}; "
        f"launch groups {oc['launch_groups']}). Shares of the predicted time; a launch group's time goes to its "
        "classes by their op counts. Held-out errors of this model are under 'opclass' above.",
    )
