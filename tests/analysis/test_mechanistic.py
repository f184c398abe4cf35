"""The mechanistic model, the N forms' plumbing, honest held-out errors and old runs without ops/bytes."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from profiler.analysis.heldout import error_metrics
from profiler.analysis.mechanistic import DevicePeaks, MechanisticCell, resolve_peaks, roofline_terms
from profiler.analysis.optables import OpTable
from profiler.results.measurement import Measurement

PEAKS = DevicePeaks(
    "test", flops_per_s=1e12, bandwidth_bps=1e11, launch_s=None, source="datasheet", launch_source="fitted"
)


def _table(rows: list[tuple[str, int, int, int, int]]) -> OpTable:
    op, macs, w, a, n = zip(*rows, strict=True)
    return OpTable(op, *(np.asarray(x, float) for x in (macs, w, a, n)))


def test_roofline_terms_by_hand():
    # conv: 1e9 MACs → 2e9 FLOP / 1e12 = 2 ms; bytes (1e6 + 1e6) × 4 / 1e11 = 0.08 ms → compute-bound.
    # relu ×3: 0 MACs; 2e6 elements × 4 B / 1e11 = 0.08 ms each → memory-bound.
    t = _table([("convolution", 10**9, 10**6, 10**6, 1), ("relu_", 0, 0, 2 * 10**6, 3)])
    got = roofline_terms(t, 1, "fp32", PEAKS)
    assert got == pytest.approx({"compute_ms": 2.0, "memory_ms": 0.24, "n_ops": 4.0})
    # batch 8, fp16: compute ×8 = 16 ms; relu bytes 8 × 2e6 × 2 B / 1e11 = 0.32 ms each; weights do not scale.
    got = roofline_terms(t, 8, "fp16", PEAKS)
    assert got == pytest.approx({"compute_ms": 16.0, "memory_ms": 0.96, "n_ops": 4.0})


def test_fit_recovers_efficiency_and_launch_and_names_the_regime():
    tables = [
        _table([("convolution", m, 10**5, 10**5, 1), ("relu_", 0, 0, 10**5, n)])
        for m, n in [(10**8, 50), (5 * 10**8, 80), (10**9, 20), (2 * 10**9, 200), (3 * 10**8, 400)]
    ]
    cell = pd.DataFrame({"batch": 1, "dtype": "fp32", "latency_ms": np.zeros(5)})
    mc = MechanisticCell(cell, tables, PEAKS)
    mc.t = 3.0 * mc.roof_ms + 0.01 * mc.n_ops  # k = 3, launch 10 µs
    k, launch_ms = mc.fit(np.ones(5, bool), np.ones(5))
    assert (k, launch_ms) == pytest.approx((3.0, 0.01))
    shares = mc.shares((k, launch_ms))
    assert np.allclose(shares["launch"] + shares["memory"] + shares["compute"], 1.0)


def test_measured_launch_is_kept_fixed():
    tables = [
        _table([("convolution", m, 0, 10, 1), ("add", 0, 0, 30, n)])
        for m, n in [(10**8, 10), (10**9, 40), (4 * 10**8, 90)]
    ]
    peaks = DevicePeaks("x", 1e12, 1e11, 5e-6, "measured", "measured")
    mc = MechanisticCell(pd.DataFrame({"batch": [1] * 3, "dtype": "fp32", "latency_ms": 0.0}), tables, peaks)
    mc.t = 2.0 * mc.roof_ms + 0.005 * mc.n_ops
    assert mc.fit(np.ones(3, bool), np.ones(3)) == pytest.approx((2.0, 0.005))
    mc.t = 2.0 * mc.roof_ms + 0.02 * mc.n_ops  # the device's per-op cost is 20 µs, not the measured 5 µs
    assert mc.fit(np.ones(3, bool), np.ones(3), free_launch=True) == pytest.approx((2.0, 0.02))


def test_peaks_measured_then_datasheet_then_none():
    measured = {
        "device": "cuda",
        "device_name": "NVIDIA H200",
        "matmul_tflops": {"fp32": 50.0, "fp16": 700.0},
        "copy_bandwidth_gbs": 4000.0,
        "launch_us": 4.0,
    }
    p, _ = resolve_peaks("NVIDIA H200", "fp16", measured)
    assert (p.source, p.flops_per_s, p.bandwidth_bps, p.launch_s) == ("measured", 700e12, 4000e9, 4e-6)
    p, _ = resolve_peaks("NVIDIA H200", "fp32", None)
    assert (p.source, p.flops_per_s, p.bandwidth_bps, p.launch_source) == ("datasheet", 67e12, 4.8e12, "fitted")
    p, why = resolve_peaks("Intel(R) Xeon(R)", "fp32", None)
    assert p is None and "profiler peaks" in why


def test_non_positive_predictions_count_in_mape_and_are_left_out_of_log_error():
    t = np.array([1.0, 2.0, 4.0])
    m = error_metrics(np.array([1.1, -1.0, 4.0]), t)
    assert m["n_nonpositive"] == 1
    assert m["mape"] == pytest.approx((0.1 + 1.5 + 0.0) / 3)  # the negative one counts as it is: 150 %
    assert m["rms_log"] == pytest.approx(np.sqrt(np.log(1.1) ** 2 / 2))
    assert error_metrics(np.array([-1.0]), np.array([1.0]))["rms_log"] is None


def test_a_run_without_ops_columns_opens_and_gains_them_on_write(tmp_path):
    from profiler.results.store import COLUMNS, DB_NAME, TABLE, ResultStore

    old = [(n, t) for n, t in COLUMNS if n not in ("ops", "bytes")]
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"CREATE TABLE {TABLE} ({', '.join(f'{n} {t}' for n, t in old)})")
    conn.execute("PRAGMA user_version=1")
    conn.execute(f"INSERT INTO {TABLE} (task_key, model, status) VALUES ('a', 'm', 'ok')")
    conn.commit()
    conn.close()
    with ResultStore.open(tmp_path) as store:
        df = store.dataframe()
        assert df["ops"].isna().all() and df["bytes"].isna().all()
        store.add(Measurement.from_dict({"task_key": "b", "model": "m", "status": "ok", "ops": 174, "bytes": 10}))
        rows = {r["task_key"]: r for r in store.rows()}
    assert rows["b"]["ops"] == 174 and rows["a"]["ops"] is None
