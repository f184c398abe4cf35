"""The model forms of the runtime claim and how each is fitted.

Forms (every one with an intercept; F = MACs in G, √F in √G, A = activations in M, P = params in M — scaled so
that the design matrix is well conditioned):

    M0 t ~ F            FLOPs alone (the baseline)
    M1 t ~ F + √F       the paper's literal wording ("a linear and a square-root term")
    M2 t ~ F + A
    M3 t ~ √F + A       the claim as worded in DESIGN.md
    M4 t ~ F + √F + A   encompasses M0–M3
    P  t ~ P            parameters alone, for comparison
    M5 t ~ F + A + N    N = aten ops launched per inference (in k): the launch-bound regime (issue #14)
    M6 t ~ √F + A + N   the claim's form plus launches
    M7 t ~ F + B        B = memory traffic at the cell's batch and dtype, per image (issue #26)
    M8 t ~ F + B + N    the same plus launches

M5, M6 and M8 need the ``ops`` column (from the results or from per-op tables, ``optables``); M7 and M8 need
``bytes_batch`` (bytes moved by one batch at its dtype: ``counting.opclass``; filled from the per-op tables). B is
``bytes_batch / batch`` in MB: per image, like F and A, so that within a cell (one batch) every term scales alike;
the weights' share of B shrinks as 1/batch since they are read once per batch. A cell without a column is analyzed
without the forms that need it.

Specification (primary): *feasible WLS on the raw latency scale*. Latency spans orders of magnitude and its errors
are multiplicative (sd ∝ mean), so an unweighted fit would be decided by the largest models. Step 1 fits M4 by
OLS; step 2 fits every form by WLS with the *common* weights w = 1/t̂², t̂ = the M4 fit (clipped below at half
the smallest measured latency). The additive forms keep their meaning (t is a sum of a fixed cost, a
FLOP-proportional and an activation-proportional term), and because all forms share one weighting they are
compared on the same response — which the J, encompassing, F and Vuong tests require. M4 provides the weights
because it nests every other form, so t̂ is consistent under any of them.

Variant ("log space"): nonlinear least squares of log t on log(Xβ) with the same regressors — the same additive
mean with an explicitly multiplicative (log-normal) error. Regressing log t on log F etc. would be a power law,
a different claim, so it is not used. The variant is reported as a robustness check; its coefficients should
agree with the WLS ones when the specification is right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FORMS: dict[str, str] = {
    "M0": "t ~ F",
    "M1": "t ~ F + sqrt(F)",
    "M2": "t ~ F + A",
    "M3": "t ~ sqrt(F) + A",
    "M4": "t ~ F + sqrt(F) + A",
    "P": "t ~ P",
    "M5": "t ~ F + A + N",
    "M6": "t ~ sqrt(F) + A + N",
    "M7": "t ~ F + B",
    "M8": "t ~ F + B + N",
}
TERMS: dict[str, tuple[str, ...]] = {
    "M0": ("F",),
    "M1": ("F", "sqrtF"),
    "M2": ("F", "A"),
    "M3": ("sqrtF", "A"),
    "M4": ("F", "sqrtF", "A"),
    "P": ("P",),
    "M5": ("F", "A", "N"),
    "M6": ("sqrtF", "A", "N"),
    "M7": ("F", "B"),
    "M8": ("F", "B", "N"),
}
UNITS = {"F": "GMAC", "sqrtF": "sqrt(GMAC)", "A": "M acts", "P": "M params", "N": "k ops", "B": "MB per image"}
NEEDS_OPS = ("M5", "M6", "M8")
NEEDS_TRAFFIC = ("M7", "M8")


def has_ops(frame: pd.DataFrame) -> bool:
    """Whether every row has a positive ``ops`` count (what the N forms need)."""
    if "ops" not in frame.columns:
        return False
    n = pd.to_numeric(frame["ops"], errors="coerce").to_numpy(float)
    return bool(len(n) and np.all(np.isfinite(n) & (n > 0)))


def has_traffic(frame: pd.DataFrame) -> bool:
    """Whether every row has a positive ``bytes_batch`` (what the B forms need)."""
    if "bytes_batch" not in frame.columns:
        return False
    b = pd.to_numeric(frame["bytes_batch"], errors="coerce").to_numpy(float)
    return bool(len(b) and np.all(np.isfinite(b) & (b > 0)))


def available_forms(frame: pd.DataFrame) -> tuple[str, ...]:
    """The forms that can be fitted on ``frame``: all but those whose column (``ops``, ``bytes_batch``) is missing."""
    ops, traffic = has_ops(frame), has_traffic(frame)
    return tuple(f for f in FORMS if (f not in NEEDS_OPS or ops) and (f not in NEEDS_TRAFFIC or traffic))


def check_form(form: str) -> str:
    """``form`` if known, else ValueError listing the valid names."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; valid: {', '.join(FORMS)}")
    return form


def regressors(frame: pd.DataFrame) -> pd.DataFrame:
    """The scaled regressors F, sqrtF, A, P (N where ``ops``, B where ``bytes_batch`` is present) of every row
    (counts per image)."""
    f_g = frame["macs"].to_numpy(float) / 1e9
    cols = {
        "F": f_g,
        "sqrtF": np.sqrt(f_g),
        "A": frame["acts"].to_numpy(float) / 1e6,
        "P": frame["params"].to_numpy(float) / 1e6,
    }
    if "ops" in frame.columns:
        cols["N"] = pd.to_numeric(frame["ops"], errors="coerce").to_numpy(float) / 1e3
    if "bytes_batch" in frame.columns:
        from profiler.analysis.optables import row_batches

        images = row_batches(frame)[0]
        cols["B"] = pd.to_numeric(frame["bytes_batch"], errors="coerce").to_numpy(float) / images / 1e6
    return pd.DataFrame(cols, index=frame.index)


def design(frame: pd.DataFrame, form: str) -> np.ndarray:
    """(n, 1 + k) design matrix of ``form``: a column of ones, then its terms."""
    reg = regressors(frame)
    cols = [np.ones(len(frame))] + [reg[t].to_numpy() for t in TERMS[check_form(form)]]
    return np.column_stack(cols)


def common_weights(frame: pd.DataFrame) -> np.ndarray:
    """WLS weights 1/t̂² from an OLS fit of M4, normalized to mean 1 (see module docstring)."""
    y = frame["latency_ms"].to_numpy(float)
    x = design(frame, "M4")
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    t_hat = np.maximum(x @ beta, 0.5 * y.min())  # a negative OLS fit must not give a huge or negative weight
    w = 1.0 / t_hat**2
    return w / w.mean()


@dataclass
class FittedForm:
    """A form fitted by WLS on one cell; ``result`` is the statsmodels WLS results (nonrobust covariance)."""

    form: str
    result: object  # statsmodels RegressionResultsWrapper
    weights: np.ndarray

    @property
    def params(self) -> dict[str, float]:
        return dict(zip(("const", *TERMS[self.form]), map(float, self.result.params), strict=True))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted latency_ms for rows with macs, params, acts."""
        return design(frame, self.form) @ np.asarray(self.result.params)

    def predict_interval(self, frame: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
        """mean, mean_ci_lower/upper, obs_ci_lower/upper (the obs interval assumes sd ∝ the predicted mean)."""
        x = design(frame, self.form)
        mean = x @ np.asarray(self.result.params)
        # New observations get the same weighting law as the fit: w ∝ 1/t̂², on the fit's normalization.
        scale = float(np.mean(self.weights * self.result.fittedvalues**2))
        w_new = scale / np.maximum(mean, 1e-12) ** 2
        # One row at a time: statsmodels rejects a weights vector whose length equals the number of columns.
        frames = [
            self.result.get_prediction(x[i : i + 1], weights=w_new[i : i + 1]).summary_frame(alpha=alpha)
            for i in range(len(x))
        ]
        return pd.concat(frames, ignore_index=True)


def fit_form(cell: pd.DataFrame, form: str, weights: np.ndarray | None = None) -> FittedForm:
    """Fit ``form`` to one cell's rows by WLS with the common weights (computed here unless given)."""
    import statsmodels.api as sm

    w = common_weights(cell) if weights is None else np.asarray(weights, float)
    res = sm.WLS(cell["latency_ms"].to_numpy(float), design(cell, form), weights=w).fit()
    return FittedForm(form=form, result=res, weights=w)


def fit_log(cell: pd.DataFrame, form: str, start: np.ndarray | None = None) -> dict:
    """The log-space variant: NLS of log t on log(Xβ). Returns coefficients, SEs, RMS log residual, AIC/BIC."""
    from scipy.optimize import least_squares

    x = design(cell, form)
    log_t = np.log(cell["latency_ms"].to_numpy(float))
    if start is None:
        start = fit_form(cell, form).result.params
    floor = 1e-9

    def resid(beta: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(x @ beta, floor)) - log_t

    sol = least_squares(resid, np.asarray(start, float), method="lm")
    n, k = x.shape
    r = sol.fun
    ssr = float(r @ r)
    s2 = ssr / max(n - k, 1)
    try:
        cov = s2 * np.linalg.inv(sol.jac.T @ sol.jac)
        se = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        se = np.full(k, np.nan)
    llf = -0.5 * n * (np.log(2 * np.pi * ssr / n) + 1)
    names = ("const", *TERMS[form])
    return {
        "coef": dict(zip(names, map(float, sol.x), strict=True)),
        "se": dict(zip(names, map(float, se), strict=True)),
        "rms_log_resid": float(np.sqrt(ssr / n)),
        "llf": float(llf),
        "aic": float(2 * (k + 1) - 2 * llf),
        "bic": float((k + 1) * np.log(n) - 2 * llf),
        "converged": bool(sol.success),
        "params": sol.x,
    }
