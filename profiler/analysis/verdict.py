"""The verdict on the claim, per cell, from stated rules.

The claim: runtime is better predicted by √F + A (form M3) than by FLOPs alone (M0). Inputs, per cell:
R = held-out (leave-one-family-out) relative MAPE reduction of M3 vs M0 with its cluster-bootstrap interval
[lo, hi] (95 %; Bonferroni-widened to 1 − 0.05/m when m > 1 cells are analyzed); p0 = Holm-adjusted p of the J test
of M0 against M3 (small: M0 rejected); p3 = Holm-adjusted p of the J test of M3 against M0; α = 0.05.

1. fewer than 3 families with held-out predictions → **inconclusive** (too few clusters for an interval);
2. lo > 0, p0 < α, p3 ≥ α → **supported**;
3. lo > 0, p0 < α, p3 < α → **partly supported** (M3 beats M0 out of sample but is itself rejected: a fuller form
   such as M4 is needed);
4. hi < 0, or (lo ≤ 0 and p3 < α and p0 ≥ α) → **not supported**;
5. lo ≤ 0 ≤ hi, p0 < α and p3 < α → **both forms rejected** (neither is adequate);
6. anything else → **inconclusive** (the interval spans 0, or the held-out and J evidence disagree).

Caveats are added automatically: fewer than 5 families; VIF(√F, A) > 10; fewer than 20 models; Breusch–Pagan or
RESET rejecting M3 at α; families that could not be held out.
"""

from __future__ import annotations

ALPHA = 0.05
MIN_FAMILIES_VERDICT = 3


def fmt_p(p: float) -> str:
    """'p < 0.001' or 'p = 0.04'."""
    if p != p:
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def decide(cell: dict) -> dict:
    """{'label', 'text', 'caveats'} for one analyzed cell (the dict built by ``analyze_frame``)."""
    held = cell["heldout"]
    comp = held.get("comparisons", {}).get("M3_vs_M0")
    j = {(r["null"], r["alt"]): r for r in cell["tests"]["j"]}
    p0 = j[("M0", "M3")]["p_holm"]
    p3 = j[("M3", "M0")]["p_holm"]
    caveats = _caveats(cell)
    jtext = (
        f"J test {'rejects' if p0 < ALPHA else 'does not reject'} FLOPs alone ({fmt_p(p0)}) and "
        f"{'rejects' if p3 < ALPHA else 'does not reject'} M3 ({fmt_p(p3)})"
    )
    if comp is None or held.get("n_families", 0) < MIN_FAMILIES_VERDICT:
        nf = held.get("n_families", 0)
        return {
            "label": "inconclusive",
            "text": f"inconclusive: only {nf} families could be held out (need {MIN_FAMILIES_VERDICT}); {jtext}",
            "caveats": caveats,
        }
    r = comp["mape_reduction"]
    lo, hi = comp["mape_reduction_ci_adj"]
    level = comp["ci_adj_level"]
    better = "lower" if r >= 0 else "higher"
    ci_txt = f"{100 * level:.1f} % CI {100 * lo:.0f} to {100 * hi:.0f} %"
    oos = f"M3 predicts held-out families with {_pct(abs(r))} {better} MAPE than FLOPs alone ({ci_txt})"
    label = rule_label(lo, hi, p0, p3)
    if label == "partly supported":
        oos += "; but M3 is itself rejected, a fuller form (e.g. M4) is needed"
    return {"label": label, "text": f"{label}: {oos}; {jtext}", "caveats": caveats}


def rule_label(lo: float, hi: float, p0: float, p3: float) -> str:
    """The verdict's words from rules 2–6 (the interval [lo, hi] of R and the Holm-adjusted J p-values).

    >>> rule_label(0.1, 0.5, 0.001, 0.3), rule_label(-0.2, 0.1, 0.5, 0.5)
    ('supported', 'inconclusive')
    """
    if lo > 0 and p0 < ALPHA and p3 >= ALPHA:
        return "supported"
    if lo > 0 and p0 < ALPHA:
        return "partly supported"
    if hi < 0 or (p3 < ALPHA <= p0):
        return "not supported"
    if p0 < ALPHA and p3 < ALPHA:
        return "both forms rejected: neither is adequate"
    return "inconclusive"


def _caveats(cell: dict) -> list[str]:
    out = []
    nf = cell["n_families"]
    if nf < 5:
        out.append(f"only {nf} families: intervals that resample so few clusters are unreliable")
    if cell["n"] < 20:
        out.append(f"only {cell['n']} models: the tests have little power")
    vif = cell["tests"]["vif"]["sqrtF"]
    if vif > 10:
        out.append(
            f"√F and A are nearly collinear (VIF {vif:.0f}, r = {cell['tests']['vif']['corr']:.3f}): "
            "their separate coefficients are poorly identified"
        )
    diag = cell["tests"]["diagnostics"]["M3"]
    if diag["breusch_pagan"]["p"] < ALPHA:
        out.append(
            f"heteroskedasticity remains after weighting (Breusch–Pagan on M3, {fmt_p(diag['breusch_pagan']['p'])}); "
            "the F-tests use HC3, the J tests do not"
        )
    if diag["reset"]["p"] < ALPHA:
        out.append(f"RESET rejects M3's functional form ({fmt_p(diag['reset']['p'])})")
    held = cell["heldout"]
    if held.get("n", cell["n"]) < cell["n"]:
        out.append(f"{cell['n'] - held.get('n', 0)} models could not be held out (too few models left to fit)")
    return out
