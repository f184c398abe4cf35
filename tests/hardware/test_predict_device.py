"""``profiler predict --device``: a fit carried to another GPU by datasheet ratios, --compare, --calibrate, bad input.

The fixtures are synthetic runs whose latencies follow t = F/peak + B/bandwidth + c exactly on each GPU (B: the
traffic model's bytes at the cell's batch and dtype), so a
transfer by the right ratios reproduces the other GPU's table, and a wrong ratio (the fp16-accumulate peak, the
fp32 one, bandwidth on the compute term) does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.analysis.optables import table_from_doc
from profiler.cli import main
from profiler.hardware import transfer
from profiler.hardware.datasheets import lookup

FAMILIES = ("resnet", "regnetx", "mobilenetv2", "efficientnet")


def _models() -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(16):  # compute-heavy and traffic-heavy models, so both terms matter
        out.append(
            {
                "model": f"m{i:02d}",
                "family": FAMILIES[i % 4],
                "macs": float(rng.uniform(0.2e9, 8e9)),
                "act_elems": float(rng.uniform(5e6, 80e6)),
                "dw_macs": float(rng.uniform(1e6, 5e7)),
                "dw_acts": float(rng.uniform(1e6, 2e7)),
            }
        )
    return out


def _write_run(tmp: Path, gpu: str, dtype: str = "amp", compute_eff: float = 0.5, traffic_eff: float = 0.8) -> Path:
    """A CSV of one cell on ``gpu`` and the op tables in $ARCHPROF_CACHE/optables."""
    ds = lookup(gpu)
    tables = tmp / "cache" / "optables"
    tables.mkdir(parents=True, exist_ok=True)
    rows = []
    for m in _models():
        doc = {
            "input_shape": [1, 3, 224, 224],
            "columns": ["op", "macs", "weight_elems", "act_elems", "count", "groups"],
            "rows": [
                ["convolution", m["macs"], 1e6, m["act_elems"] / 2, 1, 1],
                ["convolution", m["dw_macs"], 32 * 9, m["dw_acts"], 1, 32],  # depthwise 3x3, 32 channels
                ["relu_", 0, 0, m["act_elems"] / 4, 2, 1],
            ],
        }
        (tables / f"h{m['model']}_r224.v2.json").write_text(json.dumps(doc))
        f = 2 * (m["macs"] + m["dw_macs"])
        b = table_from_doc(doc).traffic(64, dtype) / 64  # the traffic model's bytes per image
        t_s = f / (ds.peak_tflops(dtype) * 1e12 * compute_eff) + b / (ds.bandwidth_gbs * 1e9 * traffic_eff) + 2e-6
        rows.append(
            {
                "model": m["model"],
                "family": m["family"],
                "macs": m["macs"] + m["dw_macs"],
                "params": 1e6,
                "acts": 1e6,
                "latency_ms": 1e3 * t_s * 64,
                "batch": 64,
                "dtype": dtype,
                "device": "cuda",
                "backend": "eager",
                "device_name": gpu,
                "spec_hash": f"h{m['model']}",
                "resolution": 224,
                "status": "ok",
            }
        )
    path = tmp / f"{lookup(gpu).key}-{dtype}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    return _write_run(tmp_path, "NVIDIA GeForce RTX 3090"), _write_run(tmp_path, "NVIDIA GeForce RTX 4090")


def _json(capsys: pytest.CaptureFixture, argv: list[str]) -> dict:
    assert main(["predict", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("direction", "form"), [((0, 1), "M7"), ((1, 0), "M7"), ((0, 1), "opclass")])
def test_datasheet_ratios_reproduce_the_other_gpu(runs, capsys, direction, form) -> None:
    src, tgt = (runs[i] for i in direction)
    doc = _json(capsys, ["--from", str(src), "--compare", str(tgt), "--form", form])
    assert doc["compare"]["n"] == 16 and doc["compare"]["calibrated_on"] == []
    assert doc["compare"]["within10_pct"] == 100.0 and doc["compare"]["mape_pct"] < 1.0
    factor = {t["resource"]: t["factor"] for t in doc["fit"]["terms"] if t["coef_ms"] > 0}
    want = 71.0 / 165.2 if direction == (0, 1) else 165.2 / 71.0  # fp16 tensor peaks with FP32 accumulate
    assert factor["compute"] == pytest.approx(want) and factor["fixed"] == 1.0
    assert "datasheet" in doc["source"]["peaks"]["source"] and "datasheet" in doc["target"]["peaks"]["source"]


def test_predicting_on_a_device_without_measurements(runs, capsys) -> None:
    doc = _json(capsys, ["--from", str(runs[0]), "--device", "h100-sxm"])
    assert doc["target"]["device"] == "H100 SXM" and "compare" not in doc
    rows = doc["predictions"]
    assert len(rows) == 16 and all(r["measured_ms"] is None for r in rows)
    assert all(r["pi95_ms"][0] <= r["predicted_ms"] <= r["pi95_ms"][1] for r in rows)
    same = _json(capsys, ["--from", str(runs[0]), "--device", "rtx3090"])  # onto itself: the fit, unscaled
    assert {t["factor"] for t in same["fit"]["terms"]} == {1.0}


def test_default_fit_is_the_per_op_class_model_with_m7_for_small_cells(runs, tmp_path, capsys) -> None:
    assert _json(capsys, ["--from", str(runs[0]), "--device", "h200"])["fit"]["form"] == "opclass"
    small = tmp_path / "small.csv"
    pd.read_csv(runs[0]).head(5).to_csv(small, index=False)
    doc = _json(capsys, ["--from", str(small), "--device", "h200"])
    assert doc["fit"]["form"] == "M7" and any("instead" in n for n in doc["notes"])


def test_new_models_take_the_class_granularity_of_the_fit(runs, capsys, monkeypatch) -> None:
    from profiler.analysis import opclass_model

    monkeypatch.setattr(opclass_model, "FINE_MIN_MODELS", 10)  # the 16-model source splits, one new model would not
    doc = _json(capsys, ["mobilenet_v2", "--from", str(runs[0]), "--device", "h100-sxm"])
    assert doc["fit"]["form"] == "opclass" and len(doc["predictions"]) == 1
    assert any(t["term"] == "traffic:conv_dw" for t in doc["fit"]["terms"])


def test_a_model_list_is_counted_and_predicted(runs, capsys) -> None:
    doc = _json(capsys, ["resnet18", "--from", str(runs[0]), "--device", "l4"])
    (row,) = doc["predictions"]
    assert row["model"] == "resnet18" and row["measured_ms"] is None and row["gmacs"] == pytest.approx(1.81, rel=0.01)
    assert doc["target"]["peaks"]["tflops"]["fp16"] == 121.0 and row["predicted_ms"] > 0


def test_calibrate_scores_only_the_other_models(runs, capsys) -> None:
    doc = _json(capsys, ["--from", str(runs[0]), "--compare", str(runs[1]), "--calibrate", "3"])
    cal = doc["compare"]["calibrated_on"]
    assert len(cal) == 3 and doc["compare"]["n"] == 13
    assert sum(r["calibration"] for r in doc["predictions"]) == 3
    assert doc["compare"]["within10_pct"] == 100.0  # exact data: the scales stay at 1


def test_text_output_names_peaks_and_summary(runs, capsys) -> None:
    assert main(["predict", "--from", str(runs[0]), "--compare", str(runs[1])]) == 0
    out = capsys.readouterr().out
    assert "RTX 3090 -> RTX 4090" in out and "datasheet: NVIDIA Ampere GA102" in out
    assert "MAPE" in out and "within ±10 %" in out and "median ratio" in out


def test_pick_spread_and_calibrate_pull_towards_one() -> None:
    idx = transfer.pick_spread(np.arange(100.0)[::-1], 3)
    assert sorted(idx.tolist()) == [16, 49, 83]  # the 1/6, 3/6, 5/6 quantiles of FLOPs
    times = np.array([[1.0, 1.0], [2.0, 0.5]])
    assert transfer.calibrate(times, times.sum(axis=1)) == pytest.approx([1.0, 1.0])
    assert transfer.calibrate(times, 2 * times.sum(axis=1), ridge=1e-9) == pytest.approx([2.0, 2.0], rel=1e-6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "rtx 4080"], "'rtx 4080' is not in the datasheet table; closest: rtx4090"),
        (["--compare", "RUN_B", "--calibrate", "9"], "--calibrate 9 leaves 7 models of the compared run to score"),
        (["--device", "h100", "--calibrate", "3"], "--calibrate K needs --compare RUN_B"),
        (["--device", "h100", "--space", "RegNetX"], "--space does not apply"),
        (["--device", "h100", "--form", "M3x"], "--device carries a traffic fit: --form M7, M8, opclass"),
    ],
)
def test_bad_input_is_one_line_exit_2(runs, capsys, extra, message) -> None:
    argv = ["predict", "--from", str(runs[0]), *[str(runs[1]) if a == "RUN_B" else a for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_dtype_without_a_peak_and_run_without_tables(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    bf16 = _write_run(tmp_path, "NVIDIA A100-SXM4-80GB", dtype="bf16")
    assert main(["predict", "--from", str(bf16), "--device", "v100"]) == 2
    assert "V100 SXM2 has no bf16 peak" in capsys.readouterr().err
    bare = tmp_path / "bare.csv"
    pd.read_csv(bf16).drop(columns=["spec_hash"]).to_csv(bare, index=False)
    assert main(["predict", "--from", str(bare), "--device", "h100"]) == 2
    assert (
        "has no traffic fit: opclass and the simplest traffic form, t ~ F + B (M7), need per-op tables"
        in capsys.readouterr().err
    )


def test_report_shows_the_models_predicted_on_other_gpus(runs, tmp_path, capsys) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(runs[0]), "-o", str(out), "--boot", "100", "--predict-on", "h100-sxm,L4"]) == 0
    html = out.read_text()
    section = html[html.index('id="predicted-on"') : html.index('id="measurements"')]
    assert "predicted on H100 SXM, L4" in section and "<img" in section and "not predicted" not in section
    assert main(["report", str(runs[0]), "-o", str(out), "--predict-on", "h10"]) == 2
    assert "'h10' is not in the datasheet table; closest:" in capsys.readouterr().err


def test_measured_peaks_win_only_when_both_sides_have_them(runs, capsys, monkeypatch) -> None:
    from profiler.analysis import cross_device as predict_device

    def peaks(name: str, fp16: float, gbs: float) -> dict:
        return {
            "peaks": {
                "device": "cuda",
                "device_name": name,
                "matmul_tflops": {"fp16": fp16, "fp32": 20.0},
                "copy_bandwidth_gbs": gbs,
                "measured_at": "2026-12-01T10:00:00",
            }
        }

    envs = {
        str(runs[0]): peaks("NVIDIA GeForce RTX 3090", 60.0, 800.0),
        str(runs[1]): peaks("NVIDIA GeForce RTX 4090", 150.0, 900.0),
    }
    monkeypatch.setattr(predict_device, "_run_dir", lambda source: (None, envs.get(source, {})))
    doc = _json(capsys, ["--from", str(runs[0]), "--compare", str(runs[1]), "--form", "M7"])
    assert doc["source"]["peaks"]["source"] == "measured 2026-12-01" == doc["target"]["peaks"]["source"]
    factor = {t["resource"]: t["factor"] for t in doc["fit"]["terms"]}
    assert factor["compute"] == pytest.approx(60 / 150) and factor["traffic"] == pytest.approx(800 / 900)
    envs[str(runs[1])]["peaks"]["matmul_tflops"]["fp16"] = None  # not measured at the cell's dtype: datasheet
    doc = _json(capsys, ["--from", str(runs[0]), "--compare", str(runs[1]), "--form", "M7"])
    assert doc["target"]["peaks"]["source"].startswith("datasheet")
    del envs[str(runs[1])]
    doc = _json(capsys, ["--from", str(runs[0]), "--compare", str(runs[1]), "--form", "M7"])
    assert doc["source"]["peaks"]["source"].startswith("datasheet")
    assert any("measured peaks of RTX 3090 not used" in n for n in doc["notes"])


def test_a_source_gpu_outside_the_table_is_named(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    run = _write_run(tmp_path, "NVIDIA GeForce RTX 3090")
    pd.read_csv(run).assign(device_name="NVIDIA GeForce RTX 2080 Ti").to_csv(run, index=False)
    assert main(["predict", "--from", str(run), "--device", "h200"]) == 2
    err = capsys.readouterr().err
    assert "the source run's GPU: device 'NVIDIA GeForce RTX 2080 Ti' is not in the datasheet table" in err
    assert main(["predict", "--from", str(run), "--device", "h200", "--from-device", "rtx3090"]) == 0


def test_a_cpu_run_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    run = _write_run(tmp_path, "NVIDIA GeForce RTX 3090")
    pd.read_csv(run).assign(device="cpu", device_name="Intel Core i7-12700H (CPU)").to_csv(run, index=False)
    assert main(["predict", "--from", str(run), "--device", "h200"]) == 2
    assert "was measured on a CPU; --device carries one GPU's fit to another GPU" in capsys.readouterr().err


def test_interval_coverage_is_reported_against_the_compared_run(runs, capsys) -> None:
    doc = _json(capsys, ["--from", str(runs[0]), "--compare", str(runs[1]), "--form", "M7"])
    rows = doc["predictions"]
    inside = [r["pi95_ms"][0] <= r["measured_ms"] <= r["pi95_ms"][1] for r in rows]
    assert doc["compare"]["interval_coverage_pct"] == pytest.approx(100 * sum(inside) / len(rows))
    fit = transfer.TermFit("M7", ("F",), ("compute",), np.array([1.0]), np.log([0.9, 1.0, 1.1]), 3)
    lo, hi = transfer.interval(fit, np.array([10.0]))
    assert lo[0] == pytest.approx(10 * np.exp(np.percentile(np.log([0.9, 1.0, 1.1]), 2.5)))
    assert hi[0] < 11.0


def test_compare_takes_the_cell_of_the_source_batch(runs, tmp_path, capsys) -> None:
    both = tmp_path / "both.csv"
    b64 = pd.read_csv(runs[1])
    pd.concat([b64, b64.assign(batch=1, latency_ms=b64["latency_ms"] / 10)]).to_csv(both, index=False)
    doc = _json(capsys, ["--from", str(runs[0]), "--compare", str(both), "--form", "M7"])
    assert doc["compare"]["n"] == 16 and doc["compare"]["within10_pct"] == 100.0
