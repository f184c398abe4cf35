"""Carry a runtime fit from one GPU to another by the datasheet ratio of the resource each term stands for.

A fit is linear in terms tagged by resource, t̂ = Σ_j coef_j · x_j (ms per image or per batch, as its cell).
On a target device:
- ``compute`` terms (FLOPs) scale by peak_source / peak_target at the cell's dtype (AMP and fp16 → the fp16
  tensor peak with FP32 accumulate; fp32 → the non-tensor FP32 peak; tf32, bf16 their own);
- ``traffic`` terms (bytes moved) by bandwidth_source / bandwidth_target;
- ``launch`` terms (ops launched) and the ``fixed`` intercept are left unchanged: they are host time (Python,
  the dispatcher, the driver) and a datasheet says nothing about the host CPU. This is the documented rule; a
  target driven by a slower or faster host is outside what the ratios can know.

Peaks: measured ones (``profiler peaks``, a run's ``environment["peaks"]``) are used only when *both* devices
have them for the dtype, since a measured matmul reaches 60–90 % of a datasheet peak and a ratio of one measured
to one datasheet figure would carry that gap into every prediction; otherwise both come from the datasheet.

``--calibrate K`` fits one scale per resource (compute, traffic, launch, fixed: the ratios the datasheet
supplied, whatever the number of terms carrying them) on K models measured on the target, chosen by
:func:`pick_spread` spread over FLOPs (sorted by MACs, the models at the quantiles (i + ½)/K), by non-negative
least squares on relative errors with a ridge pull of weight ``CALIBRATION_RIDGE`` towards 1 (the datasheet
transfer is the prior: three models cannot pin several scales alone). Only the other models are scored. On timm's
tables the result of K = 3 moves by several points of "within ±10 %" with the choice of rule (FLOPs or arithmetic
intensity, per resource or per term): three models are a small sample; ``benchmarks/cross_device.py`` reports it.

The prediction interval is the source fit's leave-one-family-out error carried over: the 2.5th and 97.5th
percentiles of log(measured / predicted) on the source device, applied to the target prediction. It does not
include the error of the transfer itself (measured by ``--compare``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESOURCES = ("compute", "traffic", "launch", "fixed")
CALIBRATION_RIDGE = 1.0  # weight of the pull of each scale towards 1, in units of one model's squared relative error
INTERVAL_PCT = (2.5, 97.5)


@dataclass(frozen=True)
class DevicePeaks:
    """The figures a transfer needs for one device (TFLOP/s per dtype, GB/s), and where they came from."""

    name: str
    tflops: dict[str, float]  # by peak dtype: fp32, tf32, fp16, bf16 (amp reads fp16)
    bandwidth_gbs: float
    source: str  # "datasheet: <document (year)>" or "measured <date>"

    def peak(self, dtype: str) -> float:
        """TFLOP/s at ``dtype``; UsageError naming the dtype the device has no peak for."""
        from profiler.core.errors import UsageError
        from profiler.hardware.datasheets import DTYPE_ALIASES

        value = self.tflops.get(DTYPE_ALIASES.get(dtype, dtype))
        if value is None:
            raise UsageError(
                f"{self.name} has no {dtype} peak ({self.source}); known: {', '.join(sorted(self.tflops)) or 'none'}"
            )
        return value


@dataclass(frozen=True)
class TermFit:
    """A fitted form whose terms are tagged by resource; coefficients in ms per image per unit of the term."""

    form: str
    terms: tuple[str, ...]
    resources: tuple[str, ...]
    coef: np.ndarray
    log_resid: np.ndarray  # leave-one-family-out log(measured / predicted) on the source, for the interval
    n_models: int
    dtypes: tuple[str | None, ...] = ()  # per term, the dtype a compute term runs at (None: the cell's dtype)

    def __post_init__(self) -> None:
        bad = [r for r in self.resources if r not in RESOURCES]
        if bad or len(self.resources) != len(self.terms) or len(self.coef) != len(self.terms):
            raise ValueError(f"terms {self.terms} need one resource each out of {RESOURCES}, got {self.resources}")


def _term_dtype(fit: TermFit, j: int, dtype: str) -> str:
    return (fit.dtypes[j] if j < len(fit.dtypes) else None) or dtype


def compute_dtypes(fit: TermFit, dtype: str) -> set[str]:
    """The dtypes whose peaks the compute terms of ``fit`` need (a term's own, else the cell's ``dtype``)."""
    return {_term_dtype(fit, j, dtype) for j, r in enumerate(fit.resources) if r == "compute"}


def ratios(fit: TermFit, source: DevicePeaks, target: DevicePeaks, dtype: str) -> np.ndarray:
    """Per term, the factor its time is multiplied by on the target (the module doc's rule); a compute term at its
    own dtype where the fit says (per-op-class model), else at the cell's ``dtype``."""
    out = []
    for j, r in enumerate(fit.resources):
        if r == "compute":
            d = _term_dtype(fit, j, dtype)
            out.append(source.peak(d) / target.peak(d))
        else:
            out.append(source.bandwidth_gbs / target.bandwidth_gbs if r == "traffic" else 1.0)
    return np.array(out, float)


def term_times(fit: TermFit, x: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(n models, n terms) ms per image of each term on the target: x_ij · coef_j · factor_j."""
    return np.asarray(x, float) * (fit.coef * factors)[None, :]


def interval(fit: TermFit, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % interval of each prediction from the source's held-out log errors (module doc)."""
    if len(fit.log_resid) < 2:
        return np.full_like(predicted, np.nan), np.full_like(predicted, np.nan)
    lo, hi = np.percentile(fit.log_resid, INTERVAL_PCT)
    return predicted * np.exp(lo), predicted * np.exp(hi)


def pick_spread(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` models spread over ``values``: sorted, the ones at the quantiles (i + ½)/k.

    >>> pick_spread(np.array([5.0, 1.0, 3.0, 4.0, 2.0, 6.0]), 3).tolist()
    [4, 3, 5]
    """
    order = np.argsort(np.asarray(values, float), kind="stable")
    pos = np.floor((np.arange(k) + 0.5) / k * len(order)).astype(int)
    return order[np.unique(np.clip(pos, 0, len(order) - 1))]


def calibrate(
    times: np.ndarray, measured: np.ndarray, ridge: float = CALIBRATION_RIDGE, groups: tuple[str, ...] | None = None
) -> np.ndarray:
    """One scale per term (or per group of terms, e.g. per resource) from the calibration models: NNLS on
    relative errors plus a pull towards 1; returned per term."""
    from scipy.optimize import nnls

    times = np.asarray(times, float)
    if groups is not None:
        names = list(dict.fromkeys(groups))
        member = np.array([[g == name for name in names] for g in groups], float)  # (terms, groups)
        return member @ calibrate(times @ member, measured, ridge)
    w = 1.0 / np.asarray(measured, float)
    k = times.shape[1]
    a = np.vstack([times * w[:, None], np.sqrt(ridge) * np.eye(k)])
    b = np.concatenate([np.asarray(measured, float) * w, np.sqrt(ridge) * np.ones(k)])
    scales, _ = nnls(a, b)
    return scales


def summary(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """MAPE (%), share within ±10 % (%), median ratio predicted/measured, and the number of models.

    >>> s = summary(np.array([1.0, 2.2, 2.7]), np.array([1.0, 2.0, 3.0]))
    >>> s["n"], round(s["mape_pct"], 3), s["within10_pct"], s["median_ratio"]
    (3, 6.667, 100.0, 1.0)
    """
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    err = np.abs(p / m - 1.0)
    return {
        "n": len(m),
        "mape_pct": float(100 * err.mean()) if len(m) else float("nan"),
        "within10_pct": float(100 * (err <= 0.1 + 1e-12).mean()) if len(m) else float("nan"),
        "median_ratio": float(np.median(p / m)) if len(m) else float("nan"),
    }
