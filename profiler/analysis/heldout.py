"""Leave-one-family-out (LOFO) prediction errors and their cluster bootstrap.

Each family in turn is removed, every form is refitted on the rest (same weighting rule as the full fit) and
predicts the removed family. That asks the question the claim is about: does the form transfer to an
architecture family it has not seen? The per-observation errors are computed once; the bootstrap then resamples
*families* (the clusters) of those errors with vectorized numpy — no refitting — so that 2,000 draws cost
milliseconds. (It treats the held-out errors as fixed, as is usual for cross-validation error intervals.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from profiler.analysis.forms import available_forms, common_weights, fit_form

WITHIN = 0.10  # nn-Meter's "±10 % accuracy"
COMPARISONS = (
    ("M3", "M0"),
    ("M2", "M0"),
    ("M1", "M0"),
    ("M4", "M0"),
    ("M5", "M0"),
    ("M6", "M0"),
    ("M6", "M3"),
    ("mech", "M0"),
    ("mech", "M5"),
    ("M7", "M0"),
    ("M8", "M0"),
    ("opclass", "M0"),
    ("opclass", "M3"),
    ("opclass", "M8"),
)


def lofo_predictions(
    cell: pd.DataFrame, forms: tuple[str, ...] | None = None, mech=None, opclass=None, notes: list | None = None
) -> dict[str, np.ndarray]:
    """{form: held-out predicted latency_ms per row of ``cell``}; NaN where the rest is too small to fit.

    ``mech`` (a ``mechanistic.MechanisticCell`` of the same rows) adds the mechanistic model under "mech",
    ``opclass`` (an ``opclass_model.OpClassCell``) the per-op-class model under "opclass"; where a training set
    has fewer models than its coefficients, "opclass" is left out and ``notes`` (if given) says why.
    Predictions are returned as they are: a non-positive one is not clipped (``error_metrics`` reports it).
    """
    from profiler.analysis.opclass_model import TooFewModels

    forms = available_forms(cell) if forms is None else forms
    fam = cell["family"].to_numpy()
    names = list(forms) + ["mech"] * (mech is not None) + ["opclass"] * (opclass is not None)
    out = {f: np.full(len(cell), np.nan) for f in names}
    for family in pd.unique(fam):
        test = fam == family
        train = cell[~test]
        if len(train) < 6:  # M4 has 4 coefficients; keep ≥ 2 residual degrees of freedom
            continue
        w = common_weights(train)
        for f in forms:
            out[f][test] = fit_form(train, f, weights=w).predict(cell[test])
        if mech is not None:
            out["mech"][test] = mech.predict(mech.fit(~test, w), test)
        if "opclass" in out:
            try:
                out["opclass"][test] = opclass.predict(opclass.fit(~test), test)
            except TooFewModels as exc:
                out.pop("opclass")
                if notes is not None:
                    notes.append(f"opclass left out of the held-out comparison (without {family}): {exc}")
    return out


def error_metrics(pred: np.ndarray, t: np.ndarray) -> dict:
    """MAPE, median APE, RMS log error, share within ±10 % (fractions) and the number of predictions ≤ 0.

    APE is |t̂ − t| / t for every prediction, a non-positive one included (it counts as it is, ≥ 100 %). The log
    error is undefined for t̂ ≤ 0: RMS log is over the positive predictions only (None if there are none), and
    ``n_nonpositive`` says how many were left out of it.
    """
    ape = np.abs(pred - t) / t
    pos = pred > 0
    log_err = np.log(pred[pos] / t[pos])
    return {
        "mape": float(ape.mean()),
        "median_ape": float(np.median(ape)),
        "rms_log": float(np.sqrt(np.mean(log_err**2))) if pos.any() else None,
        "within10": float(np.mean(ape <= WITHIN)),
        "n_nonpositive": int((~pos).sum()),
    }


def _family_sums(pred: np.ndarray, t: np.ndarray, codes: np.ndarray, n_fam: int) -> np.ndarray:
    """(n_fam, 5): count, Σ APE, Σ log² (positive predictions), count positive, count within ±10 % per family."""
    ape = np.abs(pred - t) / t
    pos = pred > 0
    sq = np.where(pos, np.log(np.where(pos, pred, 1.0) / t) ** 2, 0.0)
    cols = [np.ones_like(t), ape, sq, pos.astype(float), (ape <= WITHIN).astype(float)]
    return np.column_stack([np.bincount(codes, weights=c, minlength=n_fam) for c in cols])


def _metrics_from_sums(s: np.ndarray) -> dict[str, np.ndarray]:
    n = s[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        rms_log = np.sqrt(s[..., 2] / s[..., 3])
    return {"mape": s[..., 1] / n, "rms_log": rms_log, "within10": s[..., 4] / n}


def cluster_bootstrap(
    preds: dict[str, np.ndarray],
    t: np.ndarray,
    families: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    comparisons: tuple[tuple[str, str], ...] = COMPARISONS,
    alpha_adj: float = 0.05,
) -> dict:
    """Percentile 95 % intervals, resampling families, for each form's errors and for A-vs-B differences.

    Differences: ``mape_reduction`` = 1 − MAPE_A/MAPE_B and ``rms_log_reduction`` likewise (> 0: A better);
    ``within10_gain`` = share_A − share_B. ``*_ci_adj`` are at level 1 − ``alpha_adj`` (multiplicity across cells).
    """
    codes, uniq = pd.factorize(families)
    n_fam = len(uniq)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_fam, size=(n_boot, n_fam))
    # counts[b, j] = how often family j is drawn in replicate b
    counts = np.bincount((draws + n_fam * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n_fam)
    counts = counts.reshape(n_boot, n_fam).astype(float)
    boot = {f: _metrics_from_sums(counts @ _family_sums(p, t, codes, n_fam)) for f, p in preds.items()}

    def ci(x: np.ndarray, alpha: float = 0.05) -> list[float]:
        return [float(v) for v in np.nanpercentile(x, [50 * alpha, 100 - 50 * alpha])]

    out: dict = {"n_boot": n_boot, "seed": seed, "forms": {}, "comparisons": {}}
    for f, m in boot.items():
        out["forms"][f] = {k: ci(v) for k, v in m.items()}
    for a, b in comparisons:
        if a not in preds or b not in preds:
            continue
        point = {f: error_metrics(preds[f], t) for f in (a, b)}
        ma, mb = boot[a], boot[b]
        out["comparisons"][f"{a}_vs_{b}"] = {
            "mape_reduction": 1 - point[a]["mape"] / point[b]["mape"],
            "mape_reduction_ci": ci(1 - ma["mape"] / mb["mape"]),
            "mape_reduction_ci_adj": ci(1 - ma["mape"] / mb["mape"], alpha_adj),
            "ci_adj_level": 1 - alpha_adj,
            "rms_log_reduction": (
                1 - point[a]["rms_log"] / point[b]["rms_log"] if point[a]["rms_log"] and point[b]["rms_log"] else None
            ),
            "rms_log_reduction_ci": ci(1 - ma["rms_log"] / mb["rms_log"]),
            "within10_gain": point[a]["within10"] - point[b]["within10"],
            "within10_gain_ci": ci(ma["within10"] - mb["within10"]),
        }
    return out


def heldout(
    cell: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0, alpha_adj: float = 0.05, mech=None, opclass=None
) -> dict:
    """LOFO errors of every form (the mechanistic and per-op-class models too) with cluster-bootstrap intervals."""
    pre_notes: list[str] = []
    preds = lofo_predictions(cell, mech=mech, opclass=opclass, notes=pre_notes)
    t = cell["latency_ms"].to_numpy(float)
    ok = np.all([np.isfinite(p) for p in preds.values()], axis=0)
    fam = cell["family"].to_numpy()
    if ok.sum() == 0 or len(pd.unique(fam[ok])) < 2:
        return {"n": int(ok.sum()), "n_families": len(pd.unique(fam[ok])), "forms": {}, "comparisons": {}}
    preds = {f: p[ok] for f, p in preds.items()}
    boot = cluster_bootstrap(preds, t[ok], fam[ok], n_boot=n_boot, seed=seed, alpha_adj=alpha_adj)
    forms = {f: {**error_metrics(p, t[ok]), "ci95": boot["forms"][f]} for f, p in preds.items()}
    notes = pre_notes + [
        f"{f}: {m['n_nonpositive']} held-out prediction(s) ≤ 0 — counted in MAPE as they are, left out of the "
        "RMS log error"
        for f, m in forms.items()
        if m["n_nonpositive"]
    ]
    return {
        "notes": notes,
        "n": int(ok.sum()),
        "n_families": len(pd.unique(fam[ok])),
        "n_boot": n_boot,
        "seed": seed,
        "forms": forms,
        "comparisons": boot["comparisons"],
    }
