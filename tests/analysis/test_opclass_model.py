"""The per-op-class runtime model and the traffic forms M7/M8, on synthetic cells with known coefficients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profiler.analysis.forms import available_forms, fit_form, regressors
from profiler.analysis.heldout import error_metrics, lofo_predictions
from profiler.analysis.opclass_model import OpClassCell, TooFewModels, breakdown, features
from profiler.analysis.optables import fill_traffic, table_from_doc

COLS = ["op", "macs", "weight_elems", "act_elems", "count", "groups"]


def _table(
    conv_macs: float,
    dw_macs: float,
    relu_acts: float,
    n_relu: int,
    n_conv: int = 2,
    fc: float = 1e5,
    dw_acts: float = 1e5,
):
    rows = [
        ["convolution", conv_macs, 1000, 2e5, n_conv, 1],
        ["convolution", dw_macs, 90, dw_acts, 1, 10],
        ["relu_", 0, 0, relu_acts, n_relu, 1],
        ["addmm", fc, fc, 200, 1, 1],
    ]
    return table_from_doc({"input_shape": [1, 3, 8, 8], "columns": COLS, "rows": rows})


def _cell(n: int = 16, batch: int = 8, dtype: str = "fp16", seed: int = 0):
    rng = np.random.default_rng(seed)
    tables = [
        _table(
            rng.uniform(1e8, 1e9),
            rng.uniform(1e6, 1e7),
            rng.uniform(1e5, 1e6),
            int(rng.integers(10, 60)),
            int(rng.integers(1, 6)),
            rng.uniform(1e4, 1e6),
            rng.uniform(5e4, 5e5),
        )
        for _ in range(n)
    ]
    cell = pd.DataFrame(
        {
            "model": [f"m{i}" for i in range(n)],
            "family": [f"f{i % 4}" for i in range(n)],
            "batch": batch,
            "dtype": dtype,
            "device": "cuda",
            "latency_ms": 1.0,
            "macs": [float((t.macs * t.count).sum()) for t in tables],
            "acts": 1e6,
            "params": 1e6,
            "ops": [t.ops for t in tables],
            "spec_hash": [f"h{i}" for i in range(n)],
            "resolution": 8,
        }
    )
    return cell, tables


# ms per unit: 0.01 ms per dense-conv GFLOP, 0.02 ms per MB of elementwise traffic, 5 µs per launch of an op
# without MACs, 0.1 ms fixed
TRUE = {"compute:conv": 0.01, "traffic:elementwise": 0.02, "launch:other": 0.005, "fixed": 0.1}


def _latency(cell, tables):
    feats = [features(t, 8, "fp16") for t in tables]
    return np.array([sum(TRUE[k] * f[k] for k in TRUE) for f in feats])


def test_features_are_flop_bytes_and_ops_per_class_at_batch_and_dtype():
    t = _table(5e8, 2e6, 3e5, 20)
    f = features(t, 8, "fp16")
    assert f["compute:conv"] == pytest.approx(2 * 8 * 5e8 * 2 / 1e9)  # 2 FLOP/MAC × batch × MACs × calls, GFLOP
    # one compute term for depthwise and grouped convs; traffic apart (90 weights in 10 groups: 3×3 depthwise)
    assert f["compute:conv_dwg"] == pytest.approx(2 * 8 * 2e6 / 1e9) and "compute:conv_dw" not in f
    assert f["traffic:conv_dw"] == pytest.approx(2 * (8 * 1e5 + 90) / 1e6) and f["traffic:conv_grouped"] == 0
    coarse = features(t, 8, "fp16", fine=False)
    assert coarse["traffic:conv_dwg"] == f["traffic:conv_dw"] and "traffic:conv_dw" not in coarse
    # fp16: 2 bytes per element; activations × batch, weights once
    assert f["traffic:conv"] == pytest.approx(2 * (8 * 2e5 * 2 + 1000 * 2) / 1e6)
    assert f["traffic:elementwise"] == pytest.approx(2 * 8 * 3e5 * 20 / 1e6)
    assert (f["launch:mac"], f["launch:other"]) == (4, 20)  # 2 dense + 1 depthwise conv + addmm; 20 ReLUs


def test_fit_recovers_known_coefficients_and_predicts_held_out_families_exactly():
    cell, tables = _cell()
    cell["latency_ms"] = _latency(cell, tables)
    oc = OpClassCell(cell, tables)
    assert not oc.fine  # 16 models < FINE_MIN_MODELS: depthwise and grouped convs as one class
    fit = oc.fit()
    got = {t.name: c for t, c in zip(fit.terms, fit.coef, strict=True)}
    for k, v in TRUE.items():
        assert got[k] == pytest.approx(v, rel=1e-6)
    assert all(abs(c) < 1e-9 for k, c in got.items() if k not in TRUE)
    pred = lofo_predictions(cell, forms=("M0",), opclass=oc)["opclass"]
    assert np.allclose(pred, cell["latency_ms"], rtol=1e-6)
    b = breakdown(oc, fit, 0)
    assert b["predicted_ms"] == pytest.approx(cell["latency_ms"].iloc[0])
    assert b["ms_by_resource"]["launch"] == pytest.approx(0.005 * tables[0].count[2])
    assert b["ms_by_class"]["elementwise"]["launch"] == pytest.approx(b["ms_by_resource"]["launch"])
    assert {t.resource for t in fit.terms} == {"fixed", "compute", "traffic", "launch"}
    assert next(t for t in fit.terms if t.name == "compute:conv").dtype == "fp16"


def test_amp_compute_dtype_is_half_for_convs_and_fp32_elsewhere():
    cell, tables = _cell(dtype="amp")
    cell["latency_ms"] = 1.0 + np.arange(len(cell))
    terms = {t.name: t for t in OpClassCell(cell, tables).terms}
    assert terms["compute:conv"].dtype == "fp16" and terms["compute:linear"].dtype == "fp16"


def test_a_fit_with_fewer_models_than_coefficients_is_refused_naming_both():
    cell, tables = _cell(n=5)
    cell["latency_ms"] = _latency(cell, tables)
    with pytest.raises(TooFewModels, match=r"has 10 coefficients but only 5 models"):  # 1 + 3 + 4 + 2
        OpClassCell(cell, tables).fit()
    cell, tables = _cell(n=12)  # 4 families of 3: 9 training models per fold, 10 coefficients
    cell["latency_ms"] = _latency(cell, tables)
    notes: list[str] = []
    out = lofo_predictions(cell, forms=("M0",), opclass=OpClassCell(cell, tables), notes=notes)
    assert "opclass" not in out and np.isfinite(out["M0"]).all()  # left out, the other forms still compared
    assert notes == [
        "opclass left out of the held-out comparison (without f0): the per-op-class model has 10 "
        "coefficients but only 9 models to fit them on"
    ]


def test_zero_predictions_are_counted_not_clipped():
    m = error_metrics(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert m["n_nonpositive"] == 1 and m["mape"] == pytest.approx(0.5)


def test_traffic_forms_use_bytes_per_image_at_the_cells_batch_and_dtype():
    cell, tables = _cell()
    fill_traffic(cell, {(h, 8): t for h, t in zip(cell["spec_hash"], tables, strict=True)})
    assert cell["bytes_batch"].iloc[0] == pytest.approx(tables[0].traffic(8, "fp16"))
    reg = regressors(cell)
    assert reg["B"].iloc[0] == pytest.approx(tables[0].traffic(8, "fp16") / 8 / 1e6)
    assert {"M7", "M8"} <= set(available_forms(cell))
    cell["latency_ms"] = 0.5 + 0.3 * reg["F"] + 0.05 * reg["B"]
    fit = fit_form(cell, "M7")
    assert fit.params["B"] == pytest.approx(0.05) and fit.params["F"] == pytest.approx(0.3)
    assert "M7" not in available_forms(cell.drop(columns="bytes_batch"))


def test_fine_classes_share_the_merged_compute_term_by_macs():
    cell, tables = _cell()
    feats = [features(t, 8, "fp16") for t in tables]
    cell["latency_ms"] = [0.1 + 0.03 * f["compute:conv_dwg"] + 0.02 * f["traffic:conv_dw"] for f in feats]
    oc = OpClassCell(cell, tables, fine=True)
    assert "traffic:conv_dw" in [t.name for t in oc.terms] and "compute:conv_dw" not in [t.name for t in oc.terms]
    fit = oc.fit()
    b = breakdown(oc, fit, 3)
    assert b["ms_by_class"]["conv_dw"]["compute"] == pytest.approx(0.03 * feats[3]["compute:conv_dwg"], rel=1e-6)
    assert b["ms_by_class"]["conv_dw"]["traffic"] == pytest.approx(0.02 * feats[3]["traffic:conv_dw"], rel=1e-6)
    assert b["dominant"][0]["class"] == "conv_dw"


def test_a_new_model_with_a_class_no_measured_model_has_is_flagged():
    from profiler.analysis.predict_new import predict_opclass, with_table_columns

    rng = np.random.default_rng(1)
    tables = [
        _table(
            rng.uniform(1e8, 1e9),
            0,
            rng.uniform(1e5, 1e6),
            int(rng.integers(10, 60)),
            int(rng.integers(1, 6)),
            rng.uniform(1e4, 1e6),
            0,
        )
        for _ in range(16)
    ]
    cell, _ = _cell()
    cell["latency_ms"] = _latency(cell, tables)
    new_table = _table(5e8, 2e6, 3e5, 20)
    new = with_table_columns(
        cell,
        pd.DataFrame([{"model": "new", "family": "g", "resolution": 8, "macs": 1.0, "acts": 1.0, "params": 1.0}]),
        [new_table],
    )
    (p,) = predict_opclass(cell, tables, new, [new_table])
    assert p["unseen_terms"] == ["compute:conv_dwg"]  # no measured model has depthwise MACs
    lo, hi = p["pi95_ms"]
    assert lo <= p["predicted_ms"] <= hi
