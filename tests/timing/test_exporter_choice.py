"""``[timing] exporter``: read from a sweep file, carried to the preparation pool, charged by the estimate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.sweep import estimate
from profiler.sweep.config import load_config
from profiler.sweep.run import plan

ROOT = Path(__file__).resolve().parents[2]


def _with_exporter(tmp_path: Path, exporter: str) -> Path:
    text = (ROOT / "experiments" / "quick-cpu.toml").read_text()
    path = tmp_path / f"{exporter}.toml"
    path.write_text(text.replace('exporter = "torchscript"', f'exporter = "{exporter}"'))
    return path


def test_quick_cpu_asks_for_torchscript_and_the_tasks_carry_it() -> None:
    tasks = plan(load_config(ROOT / "experiments" / "quick-cpu.toml"), "cpu")
    assert {t.timing["exporter"] for t in tasks} == {"torchscript"}
    from profiler.sweep.exec.prefetch import _jobs

    jobs = _jobs(tasks, None, None)
    assert jobs and {j["exporter"] for j in jobs.values()} == {"torchscript"}


def test_a_bad_exporter_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="exporter 'onnx'; valid: dynamo, torchscript"):
        load_config(_with_exporter(tmp_path, "onnx"))


def test_the_estimate_charges_each_exporter_its_cost(tmp_path: Path) -> None:
    cpu = dataclasses.replace(estimate.BUILTIN["cpu"], build_s=0.0)  # exports alone in the pool's work
    pool = {}
    for exporter in ("dynamo", "torchscript"):
        tasks = plan(load_config(_with_exporter(tmp_path, exporter)), "cpu")
        est = estimate.estimate(tasks, cpu, lambda t: 0.1, prep_mode="before", prep_workers=2, prepare_onnx=True)
        count = cpu.count_s * len(est.prep_s)
        pool[exporter] = sum(est.prep_s.values()) - count
    assert pool["dynamo"] == pytest.approx(24 * cpu.export_s)  # one fp32 graph per model, nothing cached
    assert pool["torchscript"] == pytest.approx(pool["dynamo"] * estimate.EXPORTER_COST["torchscript"])
