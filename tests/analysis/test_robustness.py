"""The verdict's noise check: unstable rows counted, refits on resampled timings, fragile verdicts marked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profiler.analysis import analyze_frame
from profiler.analysis import robustness as rb
from profiler.analysis.battery import holm, j_test
from profiler.analysis.data import aggregate, cell_label, split_cells, validate
from profiler.analysis.forms import common_weights, fit_form
from profiler.analysis.heldout import lofo_predictions
from tests.support.synthetic import synth


def noisy_rows(sigma: float, seed: int = 1, n: int = 30) -> pd.DataFrame:
    """Raw rows of 4 families × 4 models whose ``n`` per-iteration samples have log-sd ``sigma``."""
    df = synth("claim", n_fam=4, per=4, noise=0.2, seed=seed)
    rng = np.random.default_rng(seed)
    df["samples_ms"] = [list(t * rng.lognormal(0, sigma, n)) for t in df["latency_ms"]]
    df["latency_ms"] = [float(np.median(s)) for s in df["samples_ms"]]
    df["status"] = "ok"
    return df


def test_noisy_timings_make_the_verdict_fragile_and_say_why():
    result = analyze_frame(noisy_rows(0.6), n_boot=200, n_resamples=20, seed=0)
    v = result["cells"][0]["verdict"]
    assert v["robustness"]["agreement"] < rb.MIN_AGREEMENT and v["fragile"] is True
    assert v["text"].startswith(f"{v['label']}: fragile: '{v['label']}' came out in only")
    assert "16 rows of this run are unstable" in v["text"]
    assert v["unstable_rows"] == 16 and any("16 of 16 rows unstable" in c for c in v["caveats"])
    assert result["stability"]["unstable"]["n_unstable"] == 16


def test_noise_free_timings_give_a_firm_verdict():
    result = analyze_frame(noisy_rows(0.0), n_boot=200, n_resamples=20, seed=0)
    v = result["cells"][0]["verdict"]
    assert v["robustness"] == {"agreement": 1.0, "n_resamples": 20, "others": {}}
    assert v["fragile"] is False and "fragile" not in v["text"] and v["unstable_rows"] == 0


def test_run_noise_sees_the_spread_that_the_medians_standard_error_hides():
    """400 samples of log-sd 0.4 per row: a precise median (bootstrap: the same words every time) of a row whose
    level at another moment of the machine's load could differ by its spread (the default noise: fragile)."""
    raw = validate(noisy_rows(0.4, seed=2, n=400))
    words = {cell_label(k): "supported" for k, _ in split_cells(aggregate(raw))}
    by_median = rb.verdict_agreement(raw, words, n_resamples=20, noise="median", n_boot=200)
    by_run = rb.verdict_agreement(raw, words, n_resamples=20, n_boot=200)
    (label,) = words
    assert by_median[label]["agreement"] == 1.0 and by_run[label]["agreement"] < rb.MIN_AGREEMENT


def test_no_noise_check_without_raw_rows_or_resamples():
    agg = aggregate(validate(noisy_rows(0.6)))
    assert analyze_frame(agg, n_boot=200)["stability"] is None
    v = analyze_frame(noisy_rows(0.6), n_boot=200, n_resamples=0)["cells"][0]["verdict"]
    assert "robustness" not in v and v["unstable_rows"] == 16


def test_no_noise_check_on_a_table_without_samples_or_repeats():
    """A published table (one number per model) has nothing to resample: the check says so, not '100 %'."""
    rows = noisy_rows(0.6).drop(columns=["samples_ms"])
    result = analyze_frame(rows, n_boot=200, n_resamples=20)
    assert "robustness" not in result["cells"][0]["verdict"]
    assert result["stability"]["noise_check"].startswith("not computed: the rows carry no per-iteration samples")


def test_resampling_path_reproduces_the_analysis_inputs():
    """The array path used per resample gives the J p-values and held-out predictions of the analysis."""
    raw = validate(noisy_rows(0.1))
    key, cell = split_cells(aggregate(raw))[0]
    c = rb._cells(raw, [cell_label(key)])[cell_label(key)]
    y = cell["latency_ms"].to_numpy(float)
    w = common_weights(cell)
    f0, f3 = fit_form(cell, "M0", weights=w), fit_form(cell, "M3", weights=w)
    got = rb._label_inputs(c, y, n_boot=200, seed=0, alpha_adj=0.05)
    assert got["p0"] == pytest.approx(j_test(f3, f0)["p"], rel=1e-6)
    assert got["p3"] == pytest.approx(j_test(f0, f3)["p"], rel=1e-6)
    ref = lofo_predictions(cell, forms=("M0", "M3"))
    for f, p in rb._lofo(c, y).items():
        np.testing.assert_allclose(p, ref[f], rtol=1e-8)
    assert rb._holm([0.01, 0.04, 0.03]).tolist() == pytest.approx(holm([0.01, 0.04, 0.03]))


def test_unstable_rows_use_each_rows_own_target():
    rows = noisy_rows(0.02)  # median CIs ±0.5–1.3 %: stable at ±2 %, unstable at ±0.4 %
    rows["details_json"] = '{"config": {"ci_target": 0.004}}'
    assert rb.unstable_rows(rows)["n_unstable"] == len(rows)
    rows["details_json"] = None
    assert rb.unstable_rows(rows)["n_unstable"] == 0
