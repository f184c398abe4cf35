"""dtype "amp": torch.autocast over fp32 weights (bfloat16 on CPU), recorded as such; ONNX Runtime refuses it."""

from __future__ import annotations

import json

import pytest
import torch

import models
from profiler.cli import main
from profiler.commands import common
from profiler.core.errors import UsageError
from profiler.timing import TimingConfig, measure, validate_request

FAST = TimingConfig(iters=3, warmup_iters=1, warmup_s=0.0)


def test_amp_on_cpu_runs_convolutions_in_bfloat16_over_fp32_weights() -> None:
    torch.manual_seed(0)
    model = models.get_model("resnet18")
    seen: list[torch.dtype] = []
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    r = measure(model, backend="eager", device="cpu", dtype="amp", batch=1, resolution=32, config=FAST)
    # the first call is the batch-norm calibration (fp32, before timing); every warm-up and timed call is autocast
    assert seen[0] == torch.float32 and len(seen) >= 1 + 1 + 3 and set(seen[1:]) == {torch.bfloat16}
    assert r.details["dtype"] == "amp" and r.details["autocast"] == "bfloat16"
    assert r.details["param_dtype"] == "float32" and conv.weight.dtype == torch.float32
    assert len(r.samples_ms) == 3


def test_fp32_records_no_autocast() -> None:
    r = measure(
        models.get_model("resnet18"), backend="eager", device="cpu", dtype="fp32", batch=1, resolution=32, config=FAST
    )
    assert "autocast" not in r.details


def test_cli_time_amp_json(capsys) -> None:
    argv = ["time", "resnet18", "--resolution", "32", "--iters", "3", "--warmup-s", "0", "--dtype", "amp", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dtype"] == "amp"


def test_onnxruntime_amp_is_refused_with_the_reason() -> None:
    with pytest.raises(UsageError, match="onnxruntime has no autocast"):
        validate_request("onnxruntime", "cpu", "amp", "contiguous", 1, 64)
    validate_request("compile", "cpu", "amp", "contiguous", 1, 64)  # valid: autocast traced by dynamo
    assert "amp" in common.DTYPES


def test_sweep_plan_skips_onnxruntime_amp_rows_naming_why(tmp_path) -> None:
    from profiler.sweep.config import load_config
    from profiler.sweep.run import plan_with_skips

    cfg = tmp_path / "amp.toml"
    cfg.write_text(
        '[models]\ninclude = ["resnet18"]\n[settings]\nbatches = [1]\nresolutions = [32]\n'
        'backends = ["eager", "onnxruntime"]\ndtypes = ["fp32", "amp"]\n'
    )
    tasks, skipped = plan_with_skips(load_config(cfg), "cpu")
    assert sorted((t.backend, t.dtype) for t in tasks) == [("eager", "amp"), ("eager", "fp32"), ("onnxruntime", "fp32")]
    assert any("onnxruntime has no autocast" in s for s in skipped)


@pytest.mark.slow
def test_compile_amp_on_cpu_is_checked_and_recorded() -> None:
    r = measure(
        models.get_model("resnet18"), backend="compile", device="cpu", dtype="amp", batch=1, resolution=32, config=FAST
    )
    assert r.details["autocast"] == "bfloat16" and r.details["max_output_error_rel"] <= 0.1


def test_trace_amp_runs_under_autocast_and_counts_two_byte_traffic() -> None:
    from profiler.trace import trace_model

    docs = {
        dt: trace_model("resnet18", dtype=dt, resolution=32, iters=1, warmup_iters=1, measure_peaks_if_missing=False)
        for dt in ("amp", "fp32")
    }
    assert docs["amp"]["dtype"] == "amp"
    # floating-point traffic at 2 bytes instead of 4 (integer tensors, e.g. max-pool indices, keep their size)
    assert docs["amp"]["totals"]["bytes"] * 2 == pytest.approx(docs["fp32"]["totals"]["bytes"], rel=1e-3)
