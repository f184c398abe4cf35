"""The regime text: named by its source, "unknown" with the reason, the M5 shares' sum stated (issue #27)."""

from __future__ import annotations

from profiler.analysis.explain import explain


def cell(shares: dict[str, float], p: dict[str, float], const: float) -> dict:
    return {
        "mechanistic": {"available": False, "reason": "no peaks for device 'AMD EPYC'"},
        "forms": {"M5": {"wls": {"share_median": shares, "p_hc3": {"const": 0.5, **p}, "share_median_const": const}}},
        "heldout": {"forms": {}},
    }


def test_regime_from_the_fit_says_so_before_the_missing_mechanistic_model():
    e = explain(cell({"F": 0.49, "A": 0.11, "N": 0.35}, {"F": 1e-4, "A": 0.004, "N": 1e-4}, -0.02))
    assert e["regime"] == "compute-bound"
    assert e["text"].startswith(
        "compute-bound: named by the t ~ F + A + N fit, whose largest term is F (the "
        "mechanistic model is unavailable: no peaks"
    )
    assert "they sum to 95 %, not 100 %: medians of per-model shares do not add up" in e["text"]
    assert "the intercept's median share is -2 %" in e["text"]


def test_regime_is_unknown_with_a_reason_when_no_term_is_significant():
    e = explain(cell({"F": 0.5, "A": 0.2, "N": 0.3}, {"F": 0.3, "A": 0.6, "N": 0.4}, 0.0))
    assert e["regime"] == "unknown"
    assert e["text"].startswith("unknown: no regime can be named: the mechanistic model is unavailable (no peaks")
    assert "no term of t ~ F + A + N is significant" in e["text"] and "they add up to 100 %" in e["text"]


def test_regime_is_unknown_without_tables_or_ops():
    e = explain(
        {"mechanistic": {"available": False, "reason": "no per-op tables"}, "forms": {}, "heldout": {"forms": {}}}
    )
    assert e["regime"] == "unknown" and "the launch count N is not available" in e["text"]


def test_mechanistic_shares_say_when_their_medians_do_not_add_up():
    mech = {
        "available": True,
        "regime": "compute-bound",
        "share_median": {"launch": 0.1, "memory": 0.2, "compute": 0.5},
        "launch_us": 2.0,
        "launch_source": "measured",
        "k": 1.0,
        "peaks_source": "measured",
        "peaks_device": "cpu",
    }
    e = explain({"mechanistic": mech, "forms": {}, "heldout": {"forms": {}}})
    assert e["regime"] == "compute-bound" and "these medians sum to 80 %, not 100 %" in e["text"]
    mech["share_median"]["compute"] = 0.7
    assert "sum to" not in explain({"mechanistic": mech, "forms": {}, "heldout": {"forms": {}}})["text"]
