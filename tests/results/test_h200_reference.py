"""The committed H200 runs as fixtures: what the N forms and the mechanistic model say about real GPU data.

The data are fixed, so these are exact statements about them (held-out point errors do not depend on the
bootstrap draws; a small ``n_boot`` keeps the test fast).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.analysis import analysis_inputs, analyze_frame, load_frame

EAGER = Path(__file__).resolve().parents[2] / "results" / "reference-h200-eager-20261128"
ORT = EAGER.with_name("reference-h200-ort-20261128")


@pytest.fixture(scope="module")
def cells() -> dict[tuple[int, str], dict]:
    result = analyze_frame(load_frame(EAGER), n_boot=200, seed=0, **analysis_inputs(EAGER))
    return {(c["cell"]["batch"], c["cell"]["dtype"]): c for c in result["cells"]}


def test_committed_run_has_four_cells_of_26_models(cells):
    assert sorted(cells) == [(1, "fp16"), (1, "fp32"), (64, "fp16"), (64, "fp32")]
    assert {c["n"] for c in cells.values()} == {26}
    assert {c["n_families"] for c in cells.values()} == {9}


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_n_forms_beat_flops_alone_on_held_out_families_at_batch_1(cells, dtype):
    held = cells[(1, dtype)]["heldout"]["forms"]
    for form in ("M5", "M6", "mech"):
        assert held[form]["mape"] < 0.6 * held["M0"]["mape"], (form, held[form]["mape"], held["M0"]["mape"])
        assert held[form]["rms_log"] < held["M0"]["rms_log"]
    expl = cells[(1, dtype)]["explanation"]
    assert expl["regime"] == "launch-bound"
    mech = cells[(1, dtype)]["mechanistic"]
    assert mech["available"] and mech["peaks_source"] == "datasheet" and mech["launch_source"] == "fitted"
    assert mech["share_median"]["launch"] > 0.9


def test_batch_64_fp32_is_compute_bound_and_n_still_helps(cells):
    c = cells[(64, "fp32")]
    assert c["explanation"]["regime"] == "compute-bound"
    held = c["heldout"]["forms"]
    assert held["M5"]["mape"] < held["M0"]["mape"]
    f_share = c["forms"]["M5"]["wls"]["share_median"]
    assert f_share["F"] == max(f_share.values())  # FLOPs carry the fit at batch 64 fp32


def test_non_positive_held_out_predictions_are_counted_not_clipped(cells):
    m3 = cells[(1, "fp32")]["heldout"]["forms"]["M3"]
    assert m3["n_nonpositive"] >= 1
    # Clipping a negative prediction to 1 % of the fastest model gave RMS log errors of ≈ 1.4 next to MAPEs of
    # ≈ 50 %; without clipping the log error is over the positive predictions and says how many it left out.
    assert m3["rms_log"] < 1.0
    assert any(n.startswith("M3:") for n in cells[(1, "fp32")]["heldout"]["notes"])


def test_committed_op_table_equals_a_recount():
    from profiler.counting.cache import count_doc
    from profiler.results.store import load_results

    rows = load_results(EAGER)
    row = rows[(rows["model"] == "resnet50")].iloc[0]
    stored = json.loads((EAGER / "counts" / f"{row['spec_hash']}_r{row['resolution']}.ops.json").read_text())
    assert count_doc(row["spec_json"], int(row["resolution"])) == stored
    assert stored["ops"] == 174


def test_ort_run_with_three_models_reports_too_few_instead_of_crashing():
    from profiler.report import build_report

    html = build_report(ORT, n_boot=100)
    assert "analysis unavailable" in html and "3 models; the fits need at least 8" in html


def test_export_of_the_committed_run_carries_ops_and_bytes_from_its_tables(tmp_path):
    import pandas as pd

    from profiler.results.store import export

    df = pd.read_csv(export(EAGER, "csv", tmp_path / "h200.csv"))
    assert df["ops"].notna().all() and df["bytes"].notna().all()
    assert set(df.loc[df["model"] == "resnet50", "ops"]) == {174}
    # traffic at each row's batch and dtype (tests/counting/test_traffic.py derives resnet50's by hand)
    r50 = df[df["model"] == "resnet50"].set_index(["batch", "dtype"])["bytes_batch"]
    a, w = 80_888_808, 25_610_152
    assert r50[(64, "fp32")] == 4 * (64 * a + w) and r50[(1, "fp16")] == 2 * (a + w)
