"""The committed imports of timm's public tables as fixtures: the README's findings are statements about them.

Held-out point errors do not depend on the bootstrap draws, but the verdicts do (through the interval), so the
analysis runs as ``profiler analyze`` does (2,000 draws, seed 0); the counts and op tables are committed in each
run's counts/ (no timm needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.analysis import analysis_inputs, analyze_frame, load_frame
from profiler.analysis.mechanistic import DevicePeaks, MechanisticCell
from profiler.analysis.optables import OpTable

RESULTS = Path(__file__).resolve().parents[2] / "results"
RUNS = {
    "rtx3090": RESULTS / "public-timm-rtx3090-amp-20240904",
    "rtx4090": RESULTS / "public-timm-rtx4090-amp-20240904",
    "rtx4090_nhwc": RESULTS / "public-timm-rtx4090-amp-nhwc-20240904",
    "cpu": RESULTS / "public-timm-i7_12700h-cpu-fp32-compile-20240904",
}
# The findings (README "What it has found", results/README.md "The findings, per data set and cell"): held-out MAPE
# of FLOPs alone (M0), sqrt(F) + A (M3), F + A (M2); the verdict.
README = {
    "rtx3090": (0.290, 0.175, 0.108, "partly supported"),
    "rtx4090": (0.319, 0.148, 0.099, "partly supported"),
    "rtx4090_nhwc": (0.382, 0.189, 0.152, "partly supported"),
    "cpu": (0.168, 0.265, 0.152, "not supported"),
}


# Each run's row of the README's findings table and of results/README.md's (which names the run directory).
README_ROW = {
    "rtx3090": "timm's RTX 3090 table",
    "rtx4090": "timm's RTX 4090 table",
    "rtx4090_nhwc": "timm's RTX 4090 channels_last table",
    "cpu": "timm's i7-12700H table",
}


def _row(page: Path, label: str) -> str:
    (row,) = [line for line in page.read_text().splitlines() if line.startswith("|") and label in line]
    return row


@pytest.mark.parametrize("name", list(RUNS))
def test_the_docs_state_these_figures(name: str) -> None:
    m0, m3, m2, verdict = README[name]
    pct = [f"{x * 100:.1f} %" for x in (m0, m3, m2)]
    assert f"| {verdict} | {pct[0]} | {pct[1]} |" in _row(RESULTS.parent / "README.md", README_ROW[name])
    row = _row(RESULTS / "README.md", f"(`results/{RUNS[name].name}/`")
    assert verdict in row and all(p in row for p in pct), row


def _cell(name: str) -> dict:
    # the verdict hangs on the bootstrap interval (RTX 3090: lower bound 4 %), so the analysis's own 2,000 draws
    result = analyze_frame(load_frame(RUNS[name]), n_boot=2000, seed=0, **analysis_inputs(RUNS[name]))
    (cell,) = result["cells"]
    return cell


@pytest.mark.slow  # ~10 s each: the full analysis (2,000 bootstrap draws) of a 232-row run
@pytest.mark.parametrize("name", list(RUNS))
def test_readme_figures_are_the_committed_runs(name: str) -> None:
    cell = _cell(name)
    m0, m3, m2, verdict = README[name]
    forms = cell["heldout"]["forms"]
    assert (cell["n"], cell["n_families"]) == (232, 11)
    assert (forms["M0"]["mape"], forms["M3"]["mape"], forms["M2"]["mape"]) == pytest.approx((m0, m3, m2), abs=6e-4)
    assert cell["verdict"]["label"] == verdict
    gpu = name != "cpu"
    assert cell["cell"]["batch"] == ("per-image" if gpu else 1)  # timm's GPU tables mix batches 32-1024
    assert cell["mechanistic"]["available"] is gpu  # RTX data-sheet peaks; none for the CPU


def test_provenance_of_every_committed_import() -> None:
    shared = {
        "rtx3090": "229c10d809d5ef0c",
        "rtx4090": "3ead09bcdd508312",
        "rtx4090_nhwc": "3a7e2b69dc2a5199",
        "cpu": "d0566bba4da7273d",
    }  # full sha256 in results/README.md and each run's README.md
    for name, run in RUNS.items():
        imp = json.loads((run / "meta.json").read_text())["imported"]
        assert imp["sha256"].startswith(shared[name]) and imp["include"] == "cnn-seed-families"
        assert imp["skipped"] == [] and imp["rows_imported"] == 232
        assert imp["sha256"] in (run / "README.md").read_text()


def test_mechanistic_terms_of_a_per_image_cell_use_each_rows_batch() -> None:
    table = OpTable(("conv",), np.array([1e3]), np.array([1e3]), np.array([1e4]), np.array([1.0]))
    peaks = DevicePeaks("x", 1e12, 1e11, None, "datasheet", "fitted")
    cell = pd.DataFrame(
        {"batch": ["per-image"] * 2, "batch_images": [1.0, 100.0], "dtype": ["fp32"] * 2, "latency_ms": [1.0, 1.0]}
    )
    mc = MechanisticCell(cell, [table, table], peaks)
    # memory-bound op: (weights + B * acts) * 4 bytes / bandwidth per batch, then / B per image
    per_image_ms = [1e3 * (1e3 / b + 1e4) * 4 / 1e11 for b in (1, 100)]
    assert mc.memory_ms == pytest.approx(per_image_ms)
    assert mc.n_ops == pytest.approx([1.0, 0.01])  # one launch per batch, a hundredth of it per image
