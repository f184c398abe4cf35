"""The report's per-layer trace section and its roofline with measured vs datasheet peaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.cli import main
from profiler.hardware.peaks import find_peak, roofline_peak
from profiler.report.trace_section import find_traces, layer_bars, load_trace, traces_context
from tests.support.report import DATA, META, N_BOOT, TRACE


def test_run_trace_is_rendered(rendered_report: tuple[dict, str]) -> None:
    ctx, html = rendered_report
    (entry,) = ctx["traces"]
    assert entry["figure"]["src"].startswith("data:image/png;base64,")
    assert entry["table"].rows and len(entry["table"].rows) <= 15
    assert "idle fraction" in entry["facts"] and entry["facts"]["idle fraction"].endswith(
        json.loads(TRACE.read_text())["totals"]["idle_definition"]
    )
    section = html.split('id="traces"')[1].split("</section>")[0]
    assert "Per-layer time" in section and "resnet18 on cpu" in section and "stages." in section


def test_bars_follow_the_trace_order() -> None:
    doc = load_trace(TRACE)
    fig = layer_bars(doc, top=5)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [f"{r['name']} ({r['type']})" for r in doc["layers"][:5]]
    assert layer_bars({**doc, "layers": []}) is None


def test_bad_trace_is_a_note(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    (entry,) = traces_context(tmp_path / "not-a-run", [bad])
    assert "not an archprof trace" in entry["error"]
    assert find_traces(tmp_path) == []


def test_missing_trace_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["report", str(DATA), "--trace", str(tmp_path / "nope.json"), "-o", str(tmp_path / "r.html")]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_report_cli_with_trace(tmp_path: Path) -> None:
    import pandas as pd

    three = tmp_path / "three.csv"  # too few models to analyze: a fast report that still shows the trace
    pd.read_csv(DATA).query("status == 'ok'").head(3).to_csv(three, index=False)
    out = tmp_path / "r.html"
    assert main(["report", str(three), "--trace", str(TRACE), "-o", str(out), "--boot", str(N_BOOT)]) == 0
    assert 'id="traces"' in out.read_text() and 'href="#traces"' in out.read_text()


PEAKS = {
    "device": "cuda",
    "device_name": "NVIDIA H100 80GB HBM3",
    "copy_bandwidth_gbs": 2500.0,
    "launch_us": 4.0,
    "matmul_tflops": {"fp32": 50.0, "tf32": 300.0, "fp16": 600.0, "bf16": None},
    "measured_at": "2026-11-28",
}


@pytest.mark.parametrize(
    ("env", "device", "dtype", "which"),
    [
        ({"peaks": PEAKS}, "cuda", "fp32", "measured on this device"),
        ({"peaks": PEAKS}, "cuda", "bf16", "datasheet"),  # bf16 not measured: the data sheet stands in, labelled
        ({"peaks": {**PEAKS, "device": "cpu"}}, "cuda", "fp32", "datasheet"),  # another device's peaks: unused
        ({}, "cuda", "fp32", "datasheet"),
    ],
)
def test_roofline_peak_choice(env: dict, device: str, dtype: str, which: str) -> None:
    peak, label = roofline_peak(env, "NVIDIA H100 80GB HBM3", device, dtype)
    assert label == which
    if which == "datasheet":
        assert peak == find_peak("NVIDIA H100 80GB HBM3")
    else:
        assert peak.tflops(dtype) == 50.0 and peak.bandwidth_tbs == 2.5 and "measured" in peak.source


def test_cpu_roofline_needs_measured_peaks() -> None:
    assert roofline_peak({}, None, "cpu", "fp32")[0] is None
    peak, label = roofline_peak({"peaks": {**PEAKS, "device": "cpu"}}, None, "cpu", "fp32")
    assert label == "measured on this device" and peak.tflops("fp32") == 50.0


def test_roofline_figure_labels_measured_peaks() -> None:
    import pandas as pd

    from profiler.analysis.data import aggregate, split_cells, validate
    from profiler.report.figures import roofline_figure

    key, cell = next((k, c) for k, c in split_cells(aggregate(validate(pd.read_csv(DATA)))) if k["dtype"] == "fp32")
    gpu = META["environment"]["gpu_name"]
    measured = roofline_figure(cell, "fp32", gpu, str(key["device"]), {"peaks": PEAKS})
    sheet = roofline_figure(cell, "fp32", gpu, str(key["device"]), {})
    assert measured["title"] == sheet["title"] == "Roofline" and measured.get("src") and sheet.get("src")
    assert "Roofs: measured on this device" in measured["caption"] and "Roofs: datasheet" in sheet["caption"]
