"""The HTML report: content, self-containment, degradation, CLI, figures and the table of GPU peaks.

The fixture ``tests/data/small_run.csv`` holds the store's full schema: 24 models of 8 families with real counts
(``profiler.counting``) and synthetic H100-like latencies (eager and ONNX Runtime, 30 samples each) plus two failed
rows. ``tests.support.report.stored_run`` turns it into a run directory through ``ResultStore`` as a sweep
would; the session fixture ``rendered_report`` (tests/conftest.py) renders that run once.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.hardware.peaks import find_peak
from profiler.report import build_report
from profiler.results.store import load_results
from tests.support.report import DATA, META, N_BOOT


@pytest.fixture(scope="module")
def html(rendered_report: tuple[dict, str]) -> str:
    return rendered_report[1]


def test_header_names_device_versions_config_and_commit(html: str) -> None:
    head = html.split('id="verdict"')[0]
    for text in (
        "NVIDIA H100 80GB HBM3",
        "torch 2.11.0",
        "onnxruntime 1.22.0",
        "experiments/small-test.toml",
        "0123abcd",
        "fp32",
        "24 models in 8 families",
        "48 measurements ok, 2 failed",
    ):
        assert text in head, text


def test_noise_check_and_unstable_rows_are_shown(html: str, rendered_report: tuple[dict, str]) -> None:
    """Every verdict says how often resampled timings give its words; unstable rows are counted (issue #27)."""
    from profiler.report.render import header

    ctx = rendered_report[0]
    assert "unstable" not in ctx["header"]["measured"]  # the fixture's samples are within ±2 %
    raw = load_results(DATA)
    rng = np.random.default_rng(0)
    noisy = raw["status"].eq("ok") & raw["backend"].eq("eager")
    raw.loc[noisy, "samples_ms"] = pd.Series(
        [list(rng.lognormal(0, 0.5, 30)) for _ in range(noisy.sum())], index=raw.index[noisy]
    )
    assert f"{noisy.sum()} unstable (median" in header(raw, META, "run")["measured"]
    for cell in ctx["cells"]:
        assert cell["noise"].startswith("Noise check (") and cell["noise"].split(" (each")[0] in html
        assert "refits on resampled timings" in cell["noise"]


def test_a_roofline_without_peaks_says_why_and_how_to_get_them() -> None:
    from profiler.report.figures import roofline_figure

    fig = roofline_figure(pd.DataFrame(), "fp32", None, "cpu", {})
    assert fig["caption"].startswith("No roofline for this cell: ")
    assert "python -m profiler peaks --device cpu" in fig["caption"]


def test_unwritable_output_exits_2_before_rendering(tmp_path: Path, capsys, monkeypatch) -> None:
    """`report RUN -o /proc/nope.html` exited 1 with a traceback after 7 s of rendering (issue #27)."""
    import profiler.report
    from profiler.cli import main

    def render(*args, **kwargs):
        raise AssertionError("rendered before the output path was checked")

    monkeypatch.setattr(profiler.report, "write_report", render)
    (tmp_path / "dir.html").mkdir()
    for out in ("/proc/nope.html", str(tmp_path / "dir.html")):
        assert main(["report", str(DATA), "-o", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot write the report to {out}: ") and "Traceback" not in err
    assert not (tmp_path / "ok.html").exists()


def test_synthetic_fixture_is_labelled(html: str) -> None:
    head = html.split('id="verdict"')[0]
    assert 'class="banner">SYNTHETIC DATA' in head  # the fixture's rows say "synthetic": true in details_json


def test_verdict_comes_first_then_evidence(html: str, rendered_report: tuple[dict, str]) -> None:
    cells = rendered_report[0]["cells"]
    assert len(cells) == 2  # eager and onnxruntime
    verdict_at = html.index('id="verdict"')
    for cell in cells:
        label = cell["verdict"]["label"]
        assert f'<span class="badge">{label}</span>' in html
        assert html.index(label) > verdict_at
    assert verdict_at < html.index("Evidence") < html.index("Coefficients") < html.index("Per-model results")


def test_tables_present_with_units(html: str) -> None:
    for title in (
        "Coefficients",
        "Test battery",
        "Held-out errors",
        "Held-out improvement",
        "Per-model results",
        "Failed measurements",
        "Environment",
    ):
        assert title in html, title
    for header in ("FLOPs (GMAC / image)", "latency (ms / batch, median)", "MAPE (%) [95 % CI]", "F (ms per GMAC)"):
        assert header in html, header
    assert "OutOfMemory: CUDA out of memory" in html and "OrtOutputMismatch" in html
    per_model = html.split("Per-model results (")[1].split("</table>")[0]
    assert per_model.count("<tr>") == 1 + 48  # header + one row per (model, backend)


def test_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html, re.I)
    assert "@import" not in html
    srcs = re.findall(r'<img src="([^"]*)"', html)
    assert len(srcs) >= 12  # 6 per cell × 2 cells, + 3 about the measurements
    assert all(s.startswith(("data:image/svg+xml;base64,", "data:image/png;base64,")) for s in srcs)
    assert "figure unavailable" not in html
    assert len(html.encode()) < 5_000_000


def test_plain_csv_with_minimal_columns(tmp_path: Path) -> None:
    raw = pd.read_csv(DATA)
    raw = raw[(raw["status"] == "ok") & (raw["backend"] == "eager")]
    path = tmp_path / "plain.csv"
    raw[["model", "family", "macs", "params", "acts", "latency_ms"]].to_csv(path, index=False)
    html = build_report(path, n_boot=N_BOOT)
    assert '<span class="badge">' in html and "cell all" in html
    assert "analysis unavailable" not in html and "Failed measurements" not in html
    assert "SYNTHETIC" not in html  # no details_json here: nothing says these rows are synthetic
    assert "Roofline</b>: figure unavailable" in html  # no device: the roofline says why it is skipped
    assert "ONNX Runtime vs eager PyTorch</b>: figure unavailable" in html


def test_analysis_failure_is_shown_not_raised(tmp_path: Path) -> None:
    raw = pd.read_csv(DATA)
    path = tmp_path / "three.csv"
    raw[raw["status"] == "ok"].head(3).to_csv(path, index=False)  # far too few models to fit
    html = build_report(path, n_boot=N_BOOT)
    assert 'id="analysis-unavailable"' in html
    assert re.search(r"analysis unavailable:</b>[^<]*at least", html)
    assert "Per-model results (3 rows" in html


def test_text_is_escaped(tmp_path: Path) -> None:
    raw = pd.read_csv(DATA)
    raw.loc[raw["status"] == "failed", "error"] = "<script>alert(1)</script>"
    path = tmp_path / "evil.csv"
    pd.concat([raw.head(3), raw[raw["status"] == "failed"]]).to_csv(path, index=False)  # small: renders fast
    html = build_report(path, n_boot=N_BOOT)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_cli_writes_report_and_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from profiler.cli import main

    path = tmp_path / "plain.csv"
    pd.read_csv(DATA).head(4).to_csv(path, index=False)  # the analysis is not the point here
    out = tmp_path / "out" / "r.html"
    assert main(["report", str(path), "-o", str(out), "--boot", "100"]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(tmp_path / "missing.csv"), "-o", str(out)]) == 2
    assert main(["report", str(path), "-o", str(tmp_path / "r.pdf")]) == 2
    assert "should end in .html" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"),
        ("NVIDIA A100-PCIE-40GB", "A100 40GB PCIe"),
        ("Tesla V100-SXM2-16GB", "V100 SXM2"),
        ("Tesla V100-PCIE-32GB", "V100 PCIe"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),  # the datasheet table (profiler.hardware) has GeForce cards
        ("NVIDIA GeForce RTX 3090", "RTX 3090"),
        ("NVIDIA GeForce RTX 2080 Ti", None),
        ("NVIDIA RTX 6000 Ada Generation", None),
        (None, None),
    ],
)
def test_find_peak(name: str | None, expected: str | None) -> None:
    peak = find_peak(name)
    assert (peak.name if peak else None) == expected


def _cell() -> pd.DataFrame:
    from profiler.analysis import load_frame

    frame = load_frame(DATA)
    return frame[frame["backend"] == "eager"].reset_index(drop=True)


def test_roofline_points_are_achieved_flops_and_intensity() -> None:
    from profiler.report.plots_raw import roofline

    cell = _cell()
    fig = roofline(cell, find_peak("NVIDIA H100 80GB HBM3"), "fp32")
    ax = fig.axes[0]
    pts = np.concatenate([c.get_offsets() for c in ax.collections])
    flops = 2 * cell["macs"] * cell["batch"]
    expect_y = flops / (cell["latency_ms"] / 1e3) / 1e12
    expect_x = flops / ((cell["params"] + cell["acts"]) * 4 * cell["batch"])
    assert sorted(np.round(pts[:, 1], 6)) == sorted(np.round(expect_y, 6))
    assert sorted(np.round(pts[:, 0], 6)) == sorted(np.round(expect_x, 6))
    assert "(params + acts)" in ax.get_title(loc="left") and "TFLOP/s" in ax.get_ylabel()
    roof = ax.lines[0].get_ydata()
    assert roof.max() == pytest.approx(67.0)


def test_predicted_vs_measured_agrees_with_analysis() -> None:
    from profiler.analysis.heldout import error_metrics, lofo_predictions
    from profiler.report.plots import predicted_vs_measured

    cell = _cell()
    fig = predicted_vs_measured(cell)
    preds = lofo_predictions(cell, ("M0", "M3"))
    for ax, form in zip(fig.axes, ("M0", "M3"), strict=True):
        share = error_metrics(preds[form], cell["latency_ms"].to_numpy())["within10"]
        assert ax.get_title().startswith(f"{form}: {100 * share:.0f} % of models within ±10 %")


def test_count_plots_have_units_and_fit_curves() -> None:
    from profiler.report import plots

    cell = _cell()
    for fn, unit in (
        (plots.latency_vs_flops, "multiply-adds"),
        (plots.latency_vs_acts, "activations"),
        (plots.latency_vs_params, "parameters (M)"),
    ):
        ax = fn(cell).axes[0]
        assert unit in ax.get_xlabel() and "(ms)" in ax.get_ylabel() and "batch of 64" in ax.get_ylabel()
        assert {ln.get_label() for ln in ax.lines} == {"fit M0", "fit M3", "fit M4"}
        assert ax.get_xscale() == ax.get_yscale() == "log"
