"""The in-sample test battery for one cell: fit statistics, nested robust F-tests, non-nested tests, diagnostics.

All tests run on the common-weight WLS fits of ``forms`` (equivalently: OLS on the whitened data √w·t, √w·X),
so every comparison is on the same response. statsmodels provides each test except Vuong's.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from profiler.analysis.forms import TERMS, FittedForm, design

NESTED_PAIRS = (
    ("M0", "M1"),
    ("M0", "M2"),
    ("M0", "M4"),
    ("M3", "M4"),
    ("M2", "M5"),
    ("M3", "M6"),
    ("M0", "M7"),
    ("M7", "M8"),
)
# pairs with an N or B form only where ops / traffic are known
NONNESTED_PAIRS = (("M0", "M3"), ("M2", "M3"), ("M3", "M5"), ("M3", "M7"))


def fit_stats(fit: FittedForm) -> dict:
    """Coefficients with classical and HC3 standard errors, R² (weighted), adjusted R², AIC, BIC."""
    res = fit.result
    hc3 = res.get_robustcov_results(cov_type="HC3")
    names = ("const", *TERMS[fit.form])
    ci = np.asarray(res.conf_int(alpha=0.05))
    return {
        "coef": dict(zip(names, map(float, res.params), strict=True)),
        "se": dict(zip(names, map(float, res.bse), strict=True)),
        "se_hc3": dict(zip(names, map(float, hc3.bse), strict=True)),
        "p_hc3": dict(zip(names, map(float, hc3.pvalues), strict=True)),
        "ci95": {n: [float(lo), float(hi)] for n, (lo, hi) in zip(names, ci, strict=True)},
        "r2": float(res.rsquared),
        "adj_r2": float(res.rsquared_adj),
        "llf": float(res.llf),
        "aic": float(res.aic),
        "bic": float(res.bic),
        "n_params": len(names),
        "rms_rel_resid": float(np.sqrt(np.mean((np.asarray(res.resid) / res.model.endog) ** 2))),
        # median over models of each term's share β_j·x_j / t̂ of the fitted time (which term carries the fit)
        "share_median": {
            t: float(np.median(res.params[i + 1] * res.model.exog[:, i + 1] / res.fittedvalues))
            for i, t in enumerate(TERMS[fit.form])
        },
        "share_median_const": float(np.median(res.params[0] / res.fittedvalues)),  # the fixed cost's share
    }


def nested_test(small: FittedForm, big: FittedForm) -> dict:
    """Robust (HC3) Wald F-test that the terms of ``big`` missing from ``small`` are all zero."""
    extra = [t for t in TERMS[big.form] if t not in TERMS[small.form]]
    if set(TERMS[small.form]) - set(TERMS[big.form]):
        raise ValueError(f"{small.form} is not nested in {big.form}")
    names = ("const", *TERMS[big.form])
    r = np.zeros((len(extra), len(names)))
    for i, t in enumerate(extra):
        r[i, names.index(t)] = 1.0
    hc3 = big.result.get_robustcov_results(cov_type="HC3")
    out = {"small": small.form, "big": big.form, "terms": extra}
    if np.isnan(hc3.cov_params()).any():
        # HC3 divides by (1 - leverage)²: a model with leverage 1 (few models, one far from the rest in some term)
        # leaves the robust covariance undefined, and statsmodels refuses the test. No p-value, not a crash.
        n = int(big.result.nobs)
        return {
            **out,
            "F": float("nan"),
            "df": [len(extra), n - len(names)],
            "p": float("nan"),
            "note": "HC3 covariance undefined (a model with leverage 1); not tested",
        }
    w = hc3.wald_test(r, use_f=True, scalar=True)
    return {**out, "F": float(w.statistic), "df": [int(w.df_num), int(w.df_denom)], "p": float(w.pvalue)}


def _whitened_ols(fit: FittedForm):
    import statsmodels.api as sm

    return sm.OLS(fit.result.model.wendog, fit.result.model.wexog).fit()


def j_test(alt: FittedForm, null: FittedForm) -> dict:
    """Davidson–MacKinnon J test of ``null``: does adding ``alt``'s fitted values to ``null`` help?

    A small p rejects ``null``. Runs ``statsmodels.stats.diagnostic.compare_j`` on the whitened regressions.
    """
    from statsmodels.stats.diagnostic import compare_j

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tuple-vs-NamedTuple deprecation; both unpack alike
        out = compare_j(_whitened_ols(alt), _whitened_ols(null))
    return {"null": null.form, "alt": alt.form, "t": float(out[0]), "p": float(out[1])}


def encompassing_test(a: FittedForm, b: FittedForm) -> dict:
    """Encompassing test (HC3): p_a small → ``a`` omits something ``b`` explains (``a`` rejected); and vice versa."""
    from statsmodels.stats.diagnostic import compare_encompassing

    with warnings.catch_warnings():
        # When one form fits almost exactly the augmented design is near rank-deficient; the test still holds.
        warnings.simplefilter("ignore")
        df = compare_encompassing(_whitened_ols(a), _whitened_ols(b), cov_type="HC3")
    return {
        "a": a.form,
        "b": b.form,
        "F_a": float(df.loc["x", "stat"]),
        "p_a": float(df.loc["x", "pvalue"]),
        "F_b": float(df.loc["z", "stat"]),
        "p_b": float(df.loc["z", "pvalue"]),
    }


def obs_loglik(fit: FittedForm) -> np.ndarray:
    """Per-observation Gaussian log-likelihood of the WLS fit at the MLE σ²; sums to ``result.llf``."""
    res = fit.result
    w = np.asarray(res.model.weights, float)
    r = np.asarray(res.resid, float)
    n = len(r)
    sigma2 = float(np.sum(w * r**2) / n)
    return 0.5 * np.log(w) - 0.5 * np.log(2 * np.pi * sigma2) - w * r**2 / (2 * sigma2)


def vuong(ll1: np.ndarray, ll2: np.ndarray, k1: int, k2: int) -> dict:
    """Vuong (1989) test of non-nested models with the Schwarz correction.

    m_i = ll1_i − ll2_i; LR = Σm − (k1 − k2)·ln(n)/2; z = LR / (√n · sd(m)) (sd with ddof=0).
    z > 0 favours model 1; p is two-sided (H0: the models are equally close to the truth).
    """
    m = np.asarray(ll1, float) - np.asarray(ll2, float)
    n = len(m)
    lr = float(m.sum() - (k1 - k2) * np.log(n) / 2.0)
    omega = float(m.std(ddof=0))
    if omega == 0.0:
        return {"z": float("nan"), "p": float("nan"), "lr": lr}
    z = lr / (np.sqrt(n) * omega)
    return {"z": float(z), "p": float(2 * stats.norm.sf(abs(z))), "lr": lr}


def vuong_test(a: FittedForm, b: FittedForm) -> dict:
    """Vuong z of ``a`` against ``b`` (z > 0 favours ``a``)."""
    out = vuong(obs_loglik(a), obs_loglik(b), len(a.result.params), len(b.result.params))
    return {"a": a.form, "b": b.form, **out}


def breusch_pagan(fit: FittedForm) -> dict:
    """Breusch–Pagan (robust/Koenker) on the whitened residuals against the form's regressors."""
    from statsmodels.stats.diagnostic import het_breuschpagan

    res = fit.result
    lm, lm_p, _f, _f_p = het_breuschpagan(res.wresid, res.model.exog, robust=True)
    return {"lm": float(lm), "p": float(lm_p)}


def reset_test(fit: FittedForm, power: int = 3) -> dict:
    """Ramsey RESET (HC3 Wald on t̂², …, t̂^power) keeping the WLS weights.

    ``statsmodels.stats.diagnostic.linear_reset`` re-creates the model class without its weights, so for WLS
    the same regression is set up here explicitly.
    """
    import statsmodels.api as sm

    res = fit.result
    x = res.model.exog
    fitted = np.asarray(res.fittedvalues) / np.mean(res.fittedvalues)  # scaled: powers stay conditioned
    aug = np.column_stack([x] + [fitted**p for p in range(2, power + 1)])
    big = sm.WLS(res.model.endog, aug, weights=res.model.weights).fit(cov_type="HC3")
    k = aug.shape[1]
    r = np.eye(power - 1, k, k=k - (power - 1))
    w = big.wald_test(r, use_f=True, scalar=True)
    return {"F": float(w.statistic), "p": float(w.pvalue)}


def vif_sqrtf_acts(cell) -> dict:
    """VIF of √F and A in M3 (unweighted; with two regressors both equal 1/(1 − r²)) and their correlation."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    x = design(cell, "M3")
    return {
        "sqrtF": float(variance_inflation_factor(x, 1)),
        "A": float(variance_inflation_factor(x, 2)),
        "corr": float(np.corrcoef(x[:, 1], x[:, 2])[0, 1]),
    }


def holm(pvalues: list[float], alpha: float = 0.05) -> list[float]:
    """Holm-adjusted p-values (NaN passed through)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="holm")[1]
    return out.tolist()
