"""The baseline package on synthetic data: decision rule, normalization, keys, files, count comparison."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from profiler.baseline import (
    LatencyRule,
    build_baseline,
    compare,
    device_key,
    entry_key,
    find_baseline,
    judge_latency,
    load_baseline,
    render,
    save_baseline,
    speed_factors,
)
from profiler.core.errors import UsageError
from tests.support.runs import COUNTS, ENV, rows, samples

META = {"environment": ENV, "config": {"name": "ci-check", "reference_model": "resnet18"}}


def baseline(**kw) -> dict:
    return build_baseline(rows(**kw), META, name="ci-check", with_layers=False)


def verdicts(report) -> dict[str, str]:
    return {e.model: e.verdict for e in report.entries}


# --- decision rule -------------------------------------------------------------------------------------------
def test_identical_distributions_pass() -> None:
    for seed in range(20):
        v = judge_latency(samples(10.0, seed=seed), samples(10.0, seed=seed + 100))
        assert v.outcome == "unchanged", (seed, v)


def test_shifted_distribution_fails_and_small_shift_does_not() -> None:
    assert judge_latency(samples(10.0, seed=1), samples(13.0, seed=2)).outcome == "regression"
    # +5 % is significant with 30 low-noise samples but under the 10 % threshold.
    v = judge_latency(samples(10.0, cv=0.005, seed=1), samples(10.5, cv=0.005, seed=2))
    assert v.p_slower < 0.01 and v.outcome == "unchanged"
    # +30 % median but pure noise of huge spread on 6 samples: over threshold, not significant.
    noisy = judge_latency([1, 50, 3, 40, 5, 30], [2, 60, 4, 45, 6, 39])
    assert noisy.norm_ratio > 1.1 and noisy.outcome == "unchanged"


def test_faster_is_improvement_and_too_few_samples_is_insufficient() -> None:
    assert judge_latency(samples(10.0, seed=1), samples(7.0, seed=2)).outcome == "improvement"
    assert judge_latency([10.0] * 3, [20.0] * 3).outcome == "insufficient"


def test_uniformly_slower_machine_passes_thanks_to_normalization() -> None:
    base = baseline()
    report = compare(base, rows(speed=1.6, seed=5), current_key=base["device_key"], reference_model="resnet18")
    assert verdicts(report) == {"resnet18": "reference", "mobilenet_v2": "pass", "shufflenet_v2_x0_5": "pass"}
    # The factor is said in the output and is the machine's slowdown.
    factor = float(re.search(r"r64: ([0-9.]+)", report.normalization).group(1))
    assert factor == pytest.approx(1.6, rel=0.05)
    # Without the reference the same data is a regression: the normalization is what saves it.
    raw = compare(base, rows(speed=1.6, seed=5), current_key=base["device_key"], reference_model=None)
    assert verdicts(raw)["mobilenet_v2"] == "fail"


def test_one_model_slower_on_a_slower_machine_fails() -> None:
    base = baseline()
    report = compare(
        base,
        rows(speed=1.5, scale={"mobilenet_v2": 1.4}, seed=3),
        current_key=base["device_key"],
        reference_model="resnet18",
    )
    assert verdicts(report) == {"resnet18": "reference", "mobilenet_v2": "fail", "shufflenet_v2_x0_5": "pass"}
    assert report.exit_code == 1
    warn = compare(
        base,
        rows(scale={"mobilenet_v2": 1.4}, seed=3),
        current_key=base["device_key"],
        latency="warn",
        reference_model="resnet18",
    )
    assert verdicts(warn)["mobilenet_v2"] == "warn" and warn.exit_code == 0


def test_noisy_reference_alone_raises_no_alarm() -> None:
    # The model is unchanged; only the reference happened to run fast (factor 0.8). Normalized, the model looks
    # 25 % slower; the raw samples show no slowdown, so it is no regression.
    v = judge_latency(samples(10.0, seed=1), samples(10.0, seed=2), factor=0.8)
    assert v.norm_ratio > 1.2 and v.outcome == "unchanged"
    # A real 2x slowdown with the same fast reference is still caught.
    assert judge_latency(samples(10.0, seed=1), samples(20.0, seed=2), factor=0.8).outcome == "regression"


def test_spread_between_processes_is_not_a_regression() -> None:
    # Each process is tight, but processes differ (as on a shared VM): baseline processes at 10/12/13 ms, current
    # ones at 12.8–14 ms. Pooled samples look slower and significant; the process ranges overlap, so no alarm.
    base = [*samples(10.0, seed=1), *samples(12.0, seed=2), *samples(13.0, seed=3)]
    cur = [*samples(13.5, seed=4), *samples(14.0, seed=5), *samples(12.8, seed=6)]
    pooled_only = judge_latency(base, cur)
    assert pooled_only.outcome == "regression"  # what the process-blind rule would say
    v = judge_latency(base, cur, baseline_process_ms=[10.0, 12.0, 13.0], current_process_ms=[13.5, 14.0, 12.8])
    assert v.outcome == "unchanged"
    # A 2x slowdown of every process separates the ranges and is caught.
    slow = [*samples(20.0, seed=4), *samples(24.0, seed=5), *samples(26.0, seed=6)]
    assert (
        judge_latency(base, slow, baseline_process_ms=[10.0, 12.0, 13.0], current_process_ms=[20.0, 24.0, 26.0]).outcome
        == "regression"
    )


def test_speed_factors_fall_back_to_geometric_mean() -> None:
    a, b = ("eager", "fp32", 1, 64, "contiguous"), ("onnxruntime", "fp32", 1, 64, "contiguous")
    factors, text = speed_factors({a: 2.0}, [a, b])
    assert factors == {a: 2.0, b: 2.0} and "2.000" in text
    factors, text = speed_factors({}, [a])
    assert factors == {a: 1.0} and "no machine-speed normalization" in text


def test_rule_validates_its_knobs() -> None:
    with pytest.raises(ValueError, match="threshold"):
        LatencyRule(threshold=0)
    with pytest.raises(ValueError, match="factor"):
        judge_latency([1.0] * 10, [1.0] * 10, factor=0.0)


# --- counts ---------------------------------------------------------------------------------------------------
def test_count_change_fails_exactly_even_with_latency_off() -> None:
    base = baseline()
    changed = dict(COUNTS, shufflenet_v2_x0_5=(51, 10, 40))  # one MAC more
    report = compare(base, rows(counts=changed), current_key=base["device_key"], latency="off", name_layers=False)
    assert verdicts(report) == {"resnet18": "pass", "mobilenet_v2": "pass", "shufflenet_v2_x0_5": "fail"}
    failed = next(e for e in report.entries if e.verdict == "fail")
    assert failed.counts_changed and "macs 50 → 51" in failed.messages[0]
    assert all(e.latency is None for e in report.entries)


def test_failed_missing_and_new_rows() -> None:
    base = baseline()
    df = rows()
    df.loc[df.model == "mobilenet_v2", ["status", "error", "samples_ms"]] = ["failed", "OOM", None]
    df = df[df.model != "shufflenet_v2_x0_5"]
    extra = rows().iloc[[0]].assign(model="resnet34")
    report = compare(base, pd.concat([df, extra]), current_key=base["device_key"], reference_model="resnet18")
    assert verdicts(report) == {
        "resnet18": "reference",
        "mobilenet_v2": "fail",
        "shufflenet_v2_x0_5": "missing",
        "resnet34": "new",
    }


def test_models_pattern_limits_the_comparison() -> None:
    base = baseline()
    report = compare(base, rows(), current_key=base["device_key"], reference_model="resnet18", models="mobile*")
    assert set(verdicts(report)) == {"resnet18", "mobilenet_v2"}


def test_key_mismatch_in_compare_is_counts_only() -> None:
    base = baseline()
    report = compare(
        base, rows(scale={"mobilenet_v2": 3.0}), current_key="cpu-other", latency="warn", reference_model="resnet18"
    )
    assert report.latency_mode == "off" and report.exit_code == 0 and "differs" in report.notes[0]


# --- keys and files -------------------------------------------------------------------------------------------
def test_device_key_separates_hardware_and_minor_versions_only() -> None:
    k = device_key(ENV, "cpu")
    assert k == "cpu-test-cpu-9000-t2-torch2.13-ort1.22"
    assert device_key(dict(ENV, torch="2.13.1"), "cpu") == k
    assert device_key(dict(ENV, torch="2.11.0"), "cpu") != k
    assert device_key(dict(ENV, cpu_model="Other CPU"), "cpu") != k
    gpu = device_key(dict(ENV, gpu_name="NVIDIA H100 80GB HBM3", torch_cuda="12.8"), "cuda")
    assert gpu.startswith("cuda-nvidia-h100-80gb-hbm3-cuda12.8-torch2.13")
    with pytest.raises(ValueError, match="valid: cpu, cuda"):
        device_key(ENV, "tpu")


def test_baseline_roundtrip_pools_repeats(tmp_path) -> None:
    doc = build_baseline(rows(repeats=3), META, name="ci-check", with_layers=False)
    path = save_baseline(doc, tmp_path)
    assert path == tmp_path / device_key(ENV, "cpu") / "ci-check.json"
    back = load_baseline(path)
    e = back["entries"][
        entry_key(
            {
                "model": "resnet18",
                "backend": "eager",
                "dtype": "fp32",
                "batch": 1,
                "resolution": 64,
                "memory_format": "contiguous",
            }
        )
    ]
    assert e["n_samples"] == 90 and e["n_repeats"] == 3 and len(e["samples_ms"]) == 90
    assert e["counts"] == {"macs": 1000, "params": 200, "acts": 300, "acts_all": 900}
    assert back["reference_model"] == "resnet18" and back["environment"]["cpu_model"] == "Test CPU 9000"
    assert find_baseline(tmp_path, "ci-check", device_key(ENV, "cpu")) == (path, [])
    assert find_baseline(tmp_path, "ci-check", "cpu-else") == (None, [path])


def test_load_baseline_rejects_bad_files(tmp_path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_baseline(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(UsageError, match="not an archprof baseline"):
        load_baseline(tmp_path / "x.json")
    with pytest.raises(UsageError, match="one device"):
        build_baseline(pd.concat([rows(), rows().assign(device="cuda")]), META, name="x", with_layers=False)


def test_renderers_show_verdicts_and_annotations() -> None:
    base = baseline()
    report = compare(
        base,
        rows(counts=dict(COUNTS, resnet18=(1000, 201, 300)), scale={"mobilenet_v2": 2.0}),
        current_key=base["device_key"],
        latency="warn",
        reference_model="resnet18",
    )
    gh = render(report, "github")
    assert "::error title=archprof check%3A resnet18|eager|fp32|b1|r64|contiguous fail::counts changed" in gh
    assert "::warning title=" in gh and "mobilenet_v2" in gh
    data = json.loads(render(report, "json"))
    assert data["exit_code"] == 1 and {e["verdict"] for e in data["entries"]} == {"fail", "warn", "pass"}
    assert "result: FAIL" in render(report, "table")


def test_count_change_names_the_layer(monkeypatch) -> None:
    import profiler.baseline.files as files

    base = build_baseline(rows(), META, name="ci-check", with_layers=False)
    for e in base["entries"].values():
        e["layers"] = {"stem.conv": [40, 8, 30], "head.fc": [10, 2, 10]}
    # The "current model code": the stem conv lost MACs, a new layer appeared (counting itself is not run here).
    monkeypatch.setattr(
        files,
        "layer_counts",
        lambda model, res, spec_json=None: {"stem.conv": [39, 8, 30], "head.fc": [10, 2, 10], "extra.bn": [0, 2, 0]},
    )
    changed = dict(COUNTS, shufflenet_v2_x0_5=(49, 12, 40))
    report = compare(base, rows(counts=changed), current_key=base["device_key"], latency="off")
    msgs = next(e for e in report.entries if e.verdict == "fail").messages
    assert "layer 'stem.conv': macs 40 → 39" in msgs
    assert "layer 'extra.bn' added (macs, params, acts = [0, 2, 0])" in msgs
    assert not any("head.fc" in m for m in msgs)
