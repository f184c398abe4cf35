"""Why a cell's runtime is what it is: the regime (launch-, memory- or compute-bound) and the term that carries it.

The regime comes from the fitted mechanistic model (``mechanistic``): the largest of the median shares of
predicted time spent in launches, memory-bound ops and compute-bound ops. Where the mechanistic model is
unavailable (no per-op tables or no peaks) it comes from the t ~ F + A + N fit instead: the term with the largest
median share of the fitted time (N → launch-bound, A → memory-bound, F → compute-bound; A tracks memory traffic,
F compute), and the text says that source first. Where neither names one — no model, or no term of that fit is
significant — the regime is "unknown" and the text says why. The term shares are medians over models of
β·x / t̂: they need not add up to 100 %, and the intercept (a fixed cost per inference) takes a share of its own;
the text gives their sum and the intercept's share. The text also names the best form out of sample
(leave-one-family-out MAPE) and, from the per-op-class model (``opclass_model``), how its predicted time splits
into launches, compute and traffic and which op classes carry it.
"""

from __future__ import annotations

from profiler.analysis.verdict import ALPHA, fmt_p

TERM_REGIME = {"N": "launch-bound", "A": "memory-bound", "F": "compute-bound", "sqrtF": "compute-bound"}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def term_shares(cell: dict, form: str = "M5") -> dict[str, dict]:
    """{term: {"share": median share of the fitted time, "p": HC3 p-value}} of a fitted form; {} if absent."""
    f = cell["forms"].get(form)
    if f is None or "share_median" not in f["wls"]:
        return {}
    w = f["wls"]
    return {t: {"share": s, "p": w["p_hc3"][t]} for t, s in w["share_median"].items()}


def _sum_note(shares) -> str:
    """'; these medians sum to 96 %' when per-model medians do not add up to 100 % (beyond rounding), else ''."""
    total = sum(v for v in shares if v is not None)
    return "" if abs(total - 1) < 0.015 else f"; these medians sum to {_pct(total)}, not 100 %"


def _shares_text(cell: dict, shares: dict[str, dict]) -> str:
    """The M5 term shares, what they sum to and the intercept's share (medians need not add up)."""
    terms = ", ".join(f"{t} {_pct(v['share'])} ({fmt_p(v['p'])})" for t, v in shares.items())
    total = sum(v["share"] for v in shares.values())
    const_share = cell["forms"]["M5"]["wls"].get("share_median_const")  # absent in results of older versions
    rest = f"; the intercept's median share is {_pct(const_share)}" if const_share is not None else ""
    adds = (
        "they add up to 100 %"
        if abs(total - 1) < 0.005
        else f"they sum to {_pct(total)}, not 100 %: medians of per-model shares do not add up"
    )
    return f"in t ~ F + A + N the fitted time splits {terms} (median shares over models, HC3 p; {adds}{rest})"


def explain(cell: dict) -> dict:
    """{'regime', 'source', 'text', 'best_heldout', 'classes'} for one analyzed cell."""
    mech = cell.get("mechanistic") or {}
    shares = term_shares(cell)
    held = cell["heldout"].get("forms", {})
    best = min(held, key=lambda f: held[f]["mape"]) if held else None
    parts = []
    if mech.get("available"):
        regime, source = mech["regime"], "mechanistic"
        s = mech["share_median"]
        parts.append(
            f"the mechanistic model puts {_pct(s['launch'])} of predicted time in launches, {_pct(s['memory'])} in "
            f"memory-bound and {_pct(s['compute'])} in compute-bound ops (median over models; launch "
            f"{mech['launch_us']:.1f} µs/op {mech['launch_source']}, k = {mech['k']:.2f} × the roofline on "
            f"{mech['peaks_source']} peaks of {mech['peaks_device']}{_sum_note(s.values())})"
        )
    elif shares and shares[top := max(shares, key=lambda t: shares[t]["share"])]["p"] < ALPHA:
        regime, source = TERM_REGIME[top], "M5 terms"
        parts.append(
            f"named by the t ~ F + A + N fit, whose largest term is {top} (the mechanistic model is "
            f"unavailable: {mech.get('reason', 'no tables')})"
        )
    else:
        regime, source = "unknown", "none"
        why = (
            "no term of t ~ F + A + N is significant"
            if shares
            else "the launch count N is not available for the t ~ F + A + N fit"
        )
        parts.append(
            f"no regime can be named: the mechanistic model is unavailable ({mech.get('reason', 'no tables')})"
            f" and {why}"
        )
    if shares:
        parts.append(_shares_text(cell, shares))
    classes = _class_sentence(cell.get("opclass") or {}, parts)
    if best is not None:
        ref = held.get("M0", {}).get("mape")
        parts.append(f"best out of sample: {best} (held-out MAPE {_pct(held[best]['mape'])}; FLOPs alone {_pct(ref)})")
    return {
        "regime": regime,
        "source": source,
        "best_heldout": best,
        "classes": classes,
        "text": f"{regime}: " + "; ".join(parts),
    }


def _class_sentence(oc: dict, parts: list[str]) -> list[dict]:
    """Append what the per-op-class model says to ``parts``; the op classes that carry the time (median shares)."""
    if not oc.get("available"):
        return []
    from profiler.analysis.opclass_model import LABELS as CLASS_LABELS

    res = oc["share_median_by_resource"]
    top = [{"class": c, "label": CLASS_LABELS[c], "share": v} for c, v in oc["share_median_by_class"].items() if v > 0][
        :3
    ]
    parts.append(
        f"the per-op-class model puts {_pct(res['launch'])} in launches, {_pct(res['compute'])} in compute and "
        f"{_pct(res['traffic'])} in memory traffic; the time is carried by "
        + ", ".join(f"{t['label']} ({_pct(t['share'])})" for t in top)
        + " (median shares over models)"
    )
    return top
