"""``profiler predict --form opclass|M5..M8``: a model the run never measured, from its counts alone (issue #26)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.cli import main

H200 = Path(__file__).resolve().parents[2] / "results" / "reference-h200-eager-20261128"
CELL = ["--cell", "batch=64", "--cell", "dtype=fp32"]


def test_opclass_predicts_an_unmeasured_model_with_interval_and_dominant_classes(capsys):
    assert main(["predict", "resnet34", "--from", str(H200), *CELL, "--form", "opclass", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (p,) = out["predictions"]
    assert p["measured_ms"] is None  # the H200 run has no resnet34
    lo, hi = p["pi95_ms"]
    assert lo < p["predicted_ms"] < hi
    assert p["predicted_ms"] == pytest.approx(sum(p["ms_by_resource"].values()))
    assert p["dominant"] and p["dominant"][0]["class"] in {"conv", "conv_grouped", "norm", "elementwise"}
    assert {t["resource"] for t in p["fit"]["terms"]} <= {"compute", "traffic", "launch", "fixed"}


def test_traffic_form_predicts_from_the_new_models_table(capsys):
    assert main(["predict", "resnet34", "--from", str(H200), *CELL, "--form", "M7", "--json"]) == 0
    (p,) = json.loads(capsys.readouterr().out)["predictions"]
    # resnet34: 36 conv + 36 bn + 33 relu + 16 add + max pool, mean, addmm = 124 ops; traffic at the cell's
    # batch 64, fp32 (counting.opclass, tested by hand in test_traffic.py)
    from profiler.counting import count_model
    from profiler.counting.opclass import traffic_bytes

    assert p["ops"] == 124
    assert p["bytes_batch"] == traffic_bytes(count_model("resnet34", method="torch").op_table, 64, "fp32")
    lo, hi = p["pi95_ms"]
    assert lo < p["predicted_ms"] < hi


def test_a_model_whose_op_table_cannot_be_made_exits_2(tmp_path, capsys):
    f = tmp_path / "broken.py"
    f.write_text(
        "import torch\n"
        "class Broken(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        raise RuntimeError('no forward here')\n"
        "def make():\n"
        "    return Broken()\n"
    )
    rc = main(["predict", f"{f}:make", "--from", str(H200), *CELL, "--form", "opclass", "--resolution", "224"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "cannot make the op table" in err and err.count("\n") == 1


def test_space_with_a_table_form_exits_2(capsys):
    assert main(["predict", "--space", "regnetx", "--from", str(H200), *CELL, "--form", "opclass"]) == 2
    assert "needs per-op tables" in capsys.readouterr().err


def test_analysis_answers_per_model_and_the_verdict_names_the_best_explanation():
    from profiler.analysis import analysis_inputs, analyze_frame, load_frame
    from profiler.report.cell_tables import opclass_per_model

    result = analyze_frame(load_frame(H200), n_boot=100, **analysis_inputs(H200))
    cell = next(c for c in result["cells"] if c["cell"]["batch"] == 64 and c["cell"]["dtype"] == "fp32")
    oc = cell["opclass"]
    assert oc["available"] and len(oc["per_model"]) == cell["n"] == 26
    r50 = next(m for m in oc["per_model"] if m["model"] == "resnet50")
    assert r50["resolution"] == 224
    assert r50["predicted_ms"] == pytest.approx(sum(r50["ms_by_resource"].values()))
    assert r50["ratio"] == pytest.approx(r50["measured_ms"] / r50["predicted_ms"])
    assert {"opclass", "M7", "M8"} <= set(cell["heldout"]["forms"])
    best = cell["verdict"]["best_explanation"]
    assert best["form"] in cell["heldout"]["forms"] and best["regime"] and best["classes"]
    assert cell["verdict"]["label"]  # the claim's question (M3 vs M0) is still answered
    table = opclass_per_model(cell)
    assert table is not None and len(table.rows) == 26 and table.headers[4] == "measured / predicted"


def test_a_cell_without_op_tables_exits_2(capsys):
    published = Path(__file__).resolve().parents[2] / "profiler" / "data" / "published_pycls_v100.csv"
    assert main(["predict", "resnet50", "--from", str(published), "--form", "opclass"]) == 2
    assert "no per-op tables for 36 of its models" in capsys.readouterr().err
