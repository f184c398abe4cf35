"""Does the verdict survive timing noise? Unstable rows, and the verdict refitted on resampled timings.

Two back-to-back sweeps on one machine gave different verdicts (issue #27). The analysis therefore

- counts **unstable rows**: rows whose median's distribution-free 95 % CI (from the row's own per-iteration
  samples, ``protocol.median_ci_rel``) is wider than ± the row's ``ci_target`` (its adaptive-timing target; ±2 %
  where none was set);
- **resamples** the timings: each row's latency is drawn from its own samples (``noise="run"``, the default: one
  sample between the row's 10th and 90th percentile, the level the row could have had at another moment of the
  machine's load; ``"median"``: the median of a bootstrap resample, the median's standard error only), the
  repeats of a (model, resolution) are resampled with replacement, and the verdict's rules are applied again
  (the J tests, Holm across cells, and the leave-one-family-out M3-vs-M0 interval — the inputs of ``decide``).
  ``agreement`` is the share of resamples whose words equal the verdict's; below ``MIN_AGREEMENT`` the verdict
  is *fragile*.

Why "run": in three back-to-back quick-cpu sweeps on the shared 2-core machine (load 5–6,
``benchmarks/verdict_stability.py``) a row's median moved between sweeps by a log-sd of 0.215 (median over
rows), its bootstrap standard error was 0.024 and the spread of its own samples 0.157: the median's standard
error misses nearly all of the noise that changes a verdict between two sweeps; the samples' spread does not.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter

import numpy as np
import pandas as pd

from profiler.analysis.data import aggregate, cell_label, split_cells
from profiler.analysis.heldout import cluster_bootstrap
from profiler.analysis.verdict import MIN_FAMILIES_VERDICT, rule_label

N_RESAMPLES = 50  # refits on resampled timings per noise check (analyze, report)
MIN_AGREEMENT = 0.90  # below this share of resamples giving the same words, the verdict is "fragile"


def _samples(v) -> np.ndarray | None:
    if isinstance(v, str):
        v = json.loads(v)
    if v is None or (isinstance(v, float) and np.isnan(v)) or len(v) == 0:
        return None
    return np.asarray(v, dtype=np.float64)


def unstable_rows(raw: pd.DataFrame) -> dict:
    """How many ok rows have a median less precise than their target: ``{n_rows, n_unstable, rows, rule}``.

    ``rows`` names them (model, backend, batch, ci %); ``n_rows`` counts the rows with per-iteration samples.
    """
    from profiler.timing.protocol import median_ci_rel, row_ci_target

    if "samples_ms" not in raw.columns:
        return {"n_rows": 0, "n_unstable": 0, "rows": [], "rule": "no per-iteration samples"}
    ok = raw[raw["status"].astype(str) == "ok"] if "status" in raw.columns else raw
    n, bad = 0, []
    for _, r in ok.iterrows():
        x = _samples(r["samples_ms"])
        if x is None:
            continue
        n += 1
        ci, target = median_ci_rel(x), row_ci_target(r.get("details_json"))
        if ci > target:
            what = " ".join(str(r[k]) for k in ("model", "backend", "batch", "dtype") if k in r and pd.notna(r[k]))
            bad.append({"row": what, "median_ci_pct": round(100 * ci, 1), "target_pct": round(100 * target, 1)})
    return {
        "n_rows": n,
        "n_unstable": len(bad),
        "rows": bad,
        "rule": "median's 95 % CI (from the row's own samples) wider than ± its ci_target (±2 % if unset)",
    }


def has_noise(raw: pd.DataFrame) -> bool:
    """Whether anything can be resampled: a row with per-iteration samples, or a model measured more than once."""
    if "samples_ms" in raw.columns and any(_samples(v) is not None for v in raw["samples_ms"]):
        return True
    keys = [
        k
        for k in ("device", "device_name", "backend", "batch", "dtype", "memory_format", "model", "resolution")
        if k in raw.columns
    ]
    return bool(len(raw)) and bool(raw.groupby(keys, dropna=False).size().max() > 1)


def unstable_text(u: dict) -> str | None:
    """One line for a sweep summary, ``analyze`` or the report; None when every row is stable."""
    if not u.get("n_unstable"):
        return None
    names = ", ".join(f"{b['row']} (±{b['median_ci_pct']} %)" for b in u["rows"][:5])
    more = f" and {u['n_unstable'] - 5} more" if u["n_unstable"] > 5 else ""
    return f"{u['n_unstable']} of {u['n_rows']} rows unstable ({u['rule']}): {names}{more}"


class _Cell:
    """What does not change between resamples of one cell: design matrices, families, row groups."""

    def __init__(self, cell: pd.DataFrame, groups: list[np.ndarray]) -> None:
        from profiler.analysis.forms import design

        self.x = {f: design(cell, f) for f in ("M4", "M0", "M3")}
        self.families = cell["family"].to_numpy()
        self.groups = groups  # per aggregated row: the indices of its raw rows (repeats)


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """WLS coefficients (the estimator of ``forms.fit_form``: least squares on √w-scaled rows)."""
    sw = np.sqrt(w)
    return np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]


def _weights(x4: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``forms.common_weights`` on arrays: 1/t̂² from an OLS fit of M4, mean 1."""
    t_hat = np.maximum(x4 @ np.linalg.lstsq(x4, y, rcond=None)[0], 0.5 * y.min())
    w = 1.0 / t_hat**2
    return w / w.mean()


def _j_p(y: np.ndarray, w: np.ndarray, x_null: np.ndarray, x_alt: np.ndarray) -> float:
    """``battery.j_test`` p (small: the null form is rejected) on arrays."""
    import statsmodels.api as sm
    from statsmodels.stats.diagnostic import compare_j

    sw = np.sqrt(w)
    yw = y * sw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        out = compare_j(sm.OLS(yw, x_alt * sw[:, None]).fit(), sm.OLS(yw, x_null * sw[:, None]).fit())
    return float(out[1])


def _lofo(c: _Cell, y: np.ndarray) -> dict[str, np.ndarray]:
    """``heldout.lofo_predictions`` of M0 and M3 on arrays."""
    out = {f: np.full(len(y), np.nan) for f in ("M0", "M3")}
    for family in pd.unique(c.families):
        test = c.families == family
        train = ~test
        if train.sum() < 6:
            continue
        w = _weights(c.x["M4"][train], y[train])
        for f in out:
            out[f][test] = c.x[f][test] @ _wls(c.x[f][train], y[train], w)
    return out


def _holm(p: list[float]) -> np.ndarray:
    """Holm-adjusted p-values (``battery.holm``, whose statsmodels call runs gc.collect() each time: 0.1 s)."""
    p_arr = np.asarray(p, float)
    order = np.argsort(p_arr)
    adj = np.minimum(1.0, np.maximum.accumulate(p_arr[order] * np.arange(len(p_arr), 0, -1)))
    out = np.empty_like(adj)
    out[order] = adj
    return out


def _label_inputs(c: _Cell, y: np.ndarray, n_boot: int, seed: int, alpha_adj: float) -> dict:
    """The J p-values and the held-out M3-vs-M0 interval of one cell (what ``decide`` reads)."""
    w = _weights(c.x["M4"], y)
    out = {"p0": _j_p(y, w, c.x["M0"], c.x["M3"]), "p3": _j_p(y, w, c.x["M3"], c.x["M0"]), "ci": None}
    preds = _lofo(c, y)
    ok = np.isfinite(preds["M0"]) & np.isfinite(preds["M3"])
    fam = c.families[ok]
    if len(pd.unique(fam)) >= MIN_FAMILIES_VERDICT:
        boot = cluster_bootstrap(
            {f: p[ok] for f, p in preds.items()},
            y[ok],
            fam,
            n_boot=n_boot,
            seed=seed,
            comparisons=(("M3", "M0"),),
            alpha_adj=alpha_adj,
        )
        out["ci"] = boot["comparisons"]["M3_vs_M0"]["mape_reduction_ci_adj"]
    return out


def _cells(raw: pd.DataFrame, labels: list[str]) -> dict[str, _Cell]:
    """The analyzed cells, aggregated as the analysis does, each row knowing its raw rows."""
    raw = raw.reset_index(drop=True).assign(_row=np.arange(len(raw)))
    out = {}
    for key, sub in split_cells(raw):
        if (label := cell_label(key)) not in labels:
            continue
        g = sub.groupby(["model", "resolution"] if "resolution" in sub else ["model"], dropna=False, sort=True)
        cell = aggregate(sub.drop(columns="_row"))  # same order: aggregate sorts by the same keys
        out[label] = _Cell(cell, [grp["_row"].to_numpy() for _, grp in g])
    return out


NOISE = ("run", "median")


def _draw(x: np.ndarray, rng: np.random.Generator, noise: str) -> float:
    """A row's latency in one resample. ``median``: the median of a bootstrap resample of its samples (the
    median's standard error). ``run``: one of its samples between its 10th and 90th percentile — the level the
    row could have had had it been measured at another moment of the same machine's load."""
    if noise == "median":
        return float(np.median(x[rng.integers(0, x.size, x.size)]))
    lo, hi = np.percentile(x, [10, 90])
    inner = x[(x >= lo) & (x <= hi)]
    return float(inner[rng.integers(0, inner.size)] if inner.size else np.median(x))


def verdict_agreement(
    raw: pd.DataFrame,
    verdicts: dict[str, str],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    n_boot: int = 500,
    noise: str = "run",
) -> dict[str, dict]:
    """Per cell label: how often resampled timings give the verdict's words ``verdicts[label]``.

    ``raw``: validated rows (``samples_ms`` where present). Returns ``{label: {agreement, n_resamples, others}}``
    with ``others`` the other words seen and their shares.
    """
    raw = raw.reset_index(drop=True)
    samples = [_samples(v) for v in raw["samples_ms"]] if "samples_ms" in raw.columns else [None] * len(raw)
    latency = raw["latency_ms"].to_numpy(float)
    cells = _cells(raw, list(verdicts))
    names = list(cells)
    rng = np.random.default_rng(seed)
    seen: dict[str, Counter] = {lab: Counter() for lab in verdicts}
    alpha_adj = 0.05 / max(1, len(names))
    for _ in range(n_resamples):
        lat = np.array([_draw(x, rng, noise) if x is not None else latency[i] for i, x in enumerate(samples)])
        inputs = []
        for n in names:
            y = np.array([np.median(lat[g[rng.integers(0, g.size, g.size)]]) for g in cells[n].groups])
            inputs.append(_label_inputs(cells[n], y, n_boot, seed, alpha_adj))
        p0, p3 = _holm([i["p0"] for i in inputs]), _holm([i["p3"] for i in inputs])
        for n, i, a, b in zip(names, inputs, p0, p3, strict=True):
            seen[n]["inconclusive" if i["ci"] is None else rule_label(i["ci"][0], i["ci"][1], a, b)] += 1
    out = {}
    for lab, words in verdicts.items():
        c = seen[lab]
        others = {w: round(k / n_resamples, 3) for w, k in c.most_common() if w != words}
        out[lab] = {"agreement": c[words] / n_resamples, "n_resamples": n_resamples, "others": others}
    return out


def fragile_text(words: str, r: dict, n_unstable: int) -> str:
    """The sentence that marks a verdict fragile, and why."""
    others = ", ".join(f"'{w}' {100 * s:.0f} %" for w, s in r["others"].items())
    why = f"; {n_unstable} rows of this run are unstable" if n_unstable else ""
    return (
        f"fragile: '{words}' came out in only {100 * r['agreement']:.0f} % of {r['n_resamples']} refits on "
        f"resampled timings (each row's level drawn from its own samples, the repeats resampled; needed "
        f"{100 * MIN_AGREEMENT:.0f} %; "
        f"otherwise {others}){why}"
    )
