"""Mixed batches: a table whose models each ran at one batch (timm's) is one cell compared per image; a batch
sweep (the same models at several batches) keeps one cell per batch."""

from __future__ import annotations

import pandas as pd
import pytest

from profiler.analysis import analyze_frame
from profiler.analysis.data import PER_IMAGE, aggregate, per_image, split_cells, validate
from tests.support.synthetic import synth


def _with_batches(df: pd.DataFrame, batches: list[int]) -> pd.DataFrame:
    """Each model at one batch (cycling through ``batches``): latency per batch = per-image latency × batch."""
    df = df.copy()
    df["batch"] = [batches[i % len(batches)] for i in range(len(df))]
    df["latency_ms"] = df["latency_ms"] * df["batch"]
    df["device"], df["dtype"] = "cuda", "amp"
    return df


def test_mixed_batches_form_one_per_image_cell() -> None:
    base = synth("claim")
    df = _with_batches(base, [1024, 256, 96])
    frame = aggregate(validate(df))
    cells = split_cells(frame)
    assert len(cells) == 1
    key, cell = cells[0]
    assert key["batch"] == PER_IMAGE
    # latency per image is back to the generating law's values, and the batch rides along
    merged = cell.merge(base[["model", "latency_ms"]], on="model", suffixes=("", "_img"))
    assert merged["latency_ms"].to_numpy() == pytest.approx(merged["latency_ms_img"].to_numpy())
    assert sorted(cell["batch_images"].unique()) == [96, 256, 1024]
    assert any("per image" in n for n in frame.attrs["notes"])


def test_per_image_analysis_says_so_and_recovers_the_law() -> None:
    res = analyze_frame(_with_batches(synth("claim"), [512, 128]), n_boot=200, seed=0)
    (cell,) = res["cells"]
    assert cell["latency_unit"].startswith("ms per image") and "batch=per-image" in cell["label"]
    assert any("latency compared per image" in n for n in res["notes"])
    assert cell["verdict"]["label"] in ("supported", "partly supported")  # the claim law, per image


def test_a_batch_sweep_keeps_one_cell_per_batch() -> None:
    base = synth("claim")
    one, many = base.assign(batch=1), base.assign(batch=64, latency_ms=base["latency_ms"] * 20)
    df = pd.concat([one, many], ignore_index=True)
    out, notes = per_image(df.assign(resolution=224))
    assert notes == [] and out is not None and set(out["batch"]) == {1, 64}
    res = analyze_frame(df, n_boot=200, seed=0)
    assert [c["cell"]["batch"] for c in res["cells"]] == [1, 64]
    assert all(c["latency_unit"] == "ms per batch" for c in res["cells"])
