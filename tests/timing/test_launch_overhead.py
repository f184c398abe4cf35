"""Launch overhead through the report and the baselines, on SYNTHETIC data.

The fixture is ``tests/data/small_run.csv`` (real counts, synthetic H100-like latencies, rows marked
``"synthetic": true``): its eager rows, plus ``compile`` rows made from them with a known launch-overhead share per
model, so that the report's arithmetic can be checked exactly.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.report import build_context, render_html
from profiler.report.overhead import launch_section, overhead_frame

DATA = Path(__file__).parents[1] / "data" / "small_run.csv"


def known_share(i: int) -> float:
    return 0.05 + 0.03 * i  # model i loses this share of its eager latency to kernel launches (synthetic)


def synthetic_eager_and_compile() -> pd.DataFrame:
    """The fixture's ok eager rows and, per model, a synthetic compile row with latency eager × (1 − share)."""
    return _synthetic().copy()  # a copy: the report converts columns in place


@functools.cache
def _synthetic() -> pd.DataFrame:
    raw = pd.read_csv(DATA)
    eager = raw[(raw["backend"] == "eager") & (raw["status"] == "ok")].reset_index(drop=True)
    comp = eager.copy()
    factor = 1.0 - np.array([known_share(i) for i in range(len(eager))])
    for col in (
        "latency_ms",
        "latency_ms_median",
        "latency_ms_mean",
        "latency_ms_p5",
        "latency_ms_p95",
        "latency_ms_min",
        "latency_ms_iqr",
    ):
        comp[col] = eager[col] * factor
    comp["samples_ms"] = [
        json.dumps([round(float(s) * f, 5) for s in json.loads(x)])
        for x, f in zip(eager["samples_ms"], factor, strict=True)
    ]
    comp["backend"] = "compile"
    comp["task_key"] = eager["task_key"] + "-compile"
    assert comp["details_json"].str.contains('"synthetic": true').all()  # the report must label it synthetic
    return pd.concat([eager, comp], ignore_index=True)


def test_overhead_is_eager_minus_compile_and_its_share():
    raw = synthetic_eager_and_compile()
    df = overhead_frame(raw).set_index("model")
    eager = raw[raw["backend"] == "eager"].reset_index(drop=True)
    for i, r in eager.iterrows():
        row = df.loc[r["model"]]
        assert row["graph_backend"] == "compile"
        assert row["overhead_ms"] == pytest.approx(r["latency_ms"] * known_share(i), rel=1e-12)
        assert row["share"] == pytest.approx(known_share(i), rel=1e-9)


def test_cudagraph_is_preferred_and_settings_are_matched():
    rows = [
        {
            "model": "m",
            "family": "f",
            "backend": b,
            "device": "cuda",
            "dtype": "fp16",
            "batch": bs,
            "resolution": 224,
            "memory_format": "contiguous",
            "latency_ms": ms,
            "status": "ok",
        }
        for b, bs, ms in [
            ("eager", 1, 5.0),
            ("cudagraph", 1, 2.0),
            ("compile", 1, 2.5),
            ("eager", 64, 20.0),
            ("compile", 64, 19.0),
            ("cudagraph", 8, 3.0),
        ]
    ]
    df = overhead_frame(pd.DataFrame(rows)).set_index("batch")
    assert sorted(df.index) == [1, 64]  # batch 8 has no eager row to compare with
    assert df.loc[1, "graph_backend"] == "cudagraph" and df.loc[1, "overhead_ms"] == pytest.approx(3.0)
    assert df.loc[64, "graph_backend"] == "compile" and df.loc[64, "share"] == pytest.approx(0.05)


def test_no_section_without_a_graph_backend():
    raw = pd.read_csv(DATA)  # eager and onnxruntime only
    assert overhead_frame(raw) is None
    assert launch_section(raw, [], lambda *a, **k: {}) is None


def test_report_of_a_few_models_still_shows_launch_overhead():
    raw = synthetic_eager_and_compile()
    raw = raw[raw["model"].isin(["resnet18", "resnet50", "mobilenet_v2"])]  # too few to fit: analysis fails fast
    ctx = build_context(raw, {"synthetic": True}, "synthetic-eager-compile.csv", n_boot=20)
    html = render_html(ctx)
    assert ctx["analysis_error"] and ctx["launch"]["error"] is None
    titles = [t.title for t in ctx["launch"]["tables"]]  # no verdicts without an analysis: two tables
    assert titles == ["Launch overhead by setting", "Launch overhead per model (3 rows; click a column header to sort)"]
    assert 'id="launch-overhead"' in html and "Launch overhead per model (3 rows" in html


@pytest.mark.slow  # the full analysis of two cells and their figures: ~20 s on a busy 2-core machine
def test_report_shows_launch_overhead_and_the_verdict_per_backend():
    raw = synthetic_eager_and_compile()
    ctx = build_context(raw, {"synthetic": True}, "synthetic-eager-compile.csv", n_boot=100)
    html = render_html(ctx)
    launch = ctx["launch"]
    assert launch["error"] is None
    titles = [t.title for t in launch["tables"]]
    assert titles[0] == "Launch overhead by setting" and titles[1] == "The claim's verdict per backend"
    verdicts = launch["tables"][1]
    assert [r[3][0] for r in verdicts.rows] == ["compile", "eager"]  # one verdict per backend, side by side
    labels = {c["label"] for c in ctx["cells"]}
    assert any("backend=compile" in lab for lab in labels) and any("backend=eager" in lab for lab in labels)
    per_model = launch["tables"][2]
    assert len(per_model.rows) == 24
    [summary] = launch["tables"][0].rows
    shares = [known_share(i) for i in range(24)]
    assert summary[-3][1] == pytest.approx(float(np.median(shares)))
    assert launch["figures"][0].get("src", "").startswith("data:image/svg+xml")
    assert 'id="launch-overhead"' in html and 'href="#launch-overhead"' in html
    assert "SYNTHETIC DATA" in html


def test_a_compile_baseline_round_trips(tmp_path):
    from profiler.baseline import build_baseline, entry_key, load_baseline, save_baseline

    raw = synthetic_eager_and_compile()
    raw = raw[raw["model"].isin(["resnet18", "resnet50"])].copy()
    raw["samples_ms"] = raw["samples_ms"].map(json.loads)
    meta = {
        "environment": {
            "gpu_name": "NVIDIA H100 80GB HBM3",
            "torch": "2.11.0",
            "torch_cuda": "12.8",
            "onnxruntime": "1.22.0",
        }
    }
    back = load_baseline(save_baseline(build_baseline(raw, meta, name="launch", with_layers=False), tmp_path))
    key = entry_key(
        {
            "model": "resnet50",
            "backend": "compile",
            "dtype": "fp32",
            "batch": 64,
            "resolution": 224,
            "memory_format": "contiguous",
        }
    )
    assert key in back["entries"] and key.replace("|compile|", "|eager|") in back["entries"]
    row = raw[(raw["model"] == "resnet50") & (raw["backend"] == "compile")].iloc[0]
    e = back["entries"][key]
    assert e["backend"] == "compile" and e["n_samples"] == len(row["samples_ms"])
    assert e["latency_ms_median"] == pytest.approx(float(np.median(row["samples_ms"])), rel=1e-5)
