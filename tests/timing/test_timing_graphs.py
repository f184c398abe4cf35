"""Backends without launch overhead on CPU: validation, skips, the torch.compile path (a real compile of a tiny
net, and fakes for its failure modes), the ORT CUDA-graph option, and the `time` CLI's copy of the choices."""

from __future__ import annotations

import argparse
import json

import pytest

from profiler.cli import main
from profiler.core.errors import UsageError
from profiler.sweep.config import parse_config
from profiler.sweep.run import plan_with_skips
from profiler.timing import (
    CompileError,
    MeasurementError,
    OutputMismatchError,
    TimingConfig,
    measure,
    validate_request,
)
from profiler.timing import protocol as proto
from tests.support.nets import tiny_net
from tests.support.sweeps import make_task
from tests.support.timing import fake_compile

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = TimingConfig(iters=4, warmup_iters=1, warmup_s=0.0, threads=1)


# --- validation and planning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [
        (("cudagraph", "cpu", "fp32", "contiguous", 1, 32), {}, "cuda only; valid on cpu: eager, compile"),
        (("onnxruntime", "cpu", "fp32", "contiguous", 1, 32), {"ort_cuda_graph": True}, "ort_cuda_graph"),
        (("compile", "cpu", "fp16", "contiguous", 1, 32), {}, "fp16 compile on cpu"),
    ],
)
def test_impossible_requests_are_usage_errors(args, kw, match):
    with pytest.raises(UsageError, match=match):
        validate_request(*args, **kw)


def test_possible_requests_pass():
    validate_request("compile", "cpu", "bf16", "channels_last", 1, 32)
    validate_request("cudagraph", "cuda", "fp16", "channels_last", 64, 224)
    validate_request("onnxruntime", "cuda", "fp32", "contiguous", 1, 224, ort_cuda_graph=True)


def test_timing_config_checks_the_new_knobs():
    assert TimingConfig(compile_mode="reduce-overhead").to_dict()["compile_mode"] == "reduce-overhead"
    with pytest.raises(UsageError, match="max-autotune-no-cudagraphs"):
        TimingConfig(compile_mode="max-autotune")
    with pytest.raises(UsageError, match="true or false"):
        TimingConfig(ort_cuda_graph="yes")


SWEEP = """
[models]
include = ["resnet18"]
[settings]
backends = ["eager", "onnxruntime", "cudagraph", "compile"]
[timing]
compile_mode = "max-autotune-no-cudagraphs"
"""


def test_sweep_on_cpu_skips_cudagraph_with_a_reason_and_plans_compile():
    tasks, skipped = plan_with_skips(parse_config(SWEEP, "s.toml"), "cpu")
    assert sorted(t.backend for t in tasks) == ["compile", "eager", "onnxruntime"]
    assert [s for s in skipped if s.startswith("cudagraph/cpu")] and len(skipped) == 1
    assert tasks[0].timing["compile_mode"] == "max-autotune-no-cudagraphs"
    tasks, _ = plan_with_skips(parse_config(SWEEP, "s.toml"), "cuda")
    assert sorted(t.backend for t in tasks) == ["compile", "cudagraph", "eager", "onnxruntime"]


def test_ort_cuda_graph_on_cpu_skips_onnxruntime_only():
    config = parse_config(SWEEP + "ort_cuda_graph = true\n", "s.toml")
    tasks, skipped = plan_with_skips(config, "cpu")
    assert sorted(t.backend for t in tasks) == ["compile", "eager"]
    assert any(s.startswith("onnxruntime/cpu") and "ort_cuda_graph" in s for s in skipped)
    assert "onnxruntime" in {t.backend for t in plan_with_skips(config, "cuda")[0]}


def test_bad_timing_knob_in_a_sweep_names_the_key():
    with pytest.raises(UsageError, match=r"\[timing\].*compile_mode"):
        parse_config(SWEEP.replace("max-autotune-no-cudagraphs", "fast"), "s.toml")


# --- the time command's copy of the choices -----------------------------------------------------------------


def test_time_command_choices_match_the_protocol():
    from profiler.commands import cmd_check, cmd_sweep, cmd_time, common

    for mod in (common, cmd_time):
        assert mod.BACKENDS == proto.BACKENDS and mod.DEVICES == proto.DEVICES
        assert mod.DTYPES == proto.DTYPES and mod.MEMORY_FORMATS == proto.MEMORY_FORMATS
        assert mod.COMPILE_MODES == proto.COMPILE_MODES
    assert common.EXPORTERS == proto.EXPORTERS
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    for mod in (cmd_check, cmd_sweep):
        mod.add_parser(sub)
    devices = {name: next(a.choices for a in p._actions if a.dest == "device") for name, p in sub.choices.items()}
    assert tuple(devices["check"]) == proto.DEVICES and tuple(devices["sweep"]) == ("auto", *proto.DEVICES)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["time", "resnet18", "--backend", "cudagraph"], "cuda only"),
        (["time", "resnet18", "--ort-cuda-graph", "--backend", "onnxruntime"], "ort_cuda_graph"),
        (["time", "resnet18", "--backend", "compile", "--dtype", "fp16"], "fp16 compile on cpu"),
    ],
)
def test_time_command_rejects_impossible_settings(argv, match, capsys):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


# --- torch.compile on CPU ----------------------------------------------------------------------------------


def test_compile_on_cpu_times_the_compiled_model_and_records_compile_time():
    r = measure(tiny_net(), backend="compile", device="cpu", dtype="fp32", batch=2, resolution=16, config=FAST)
    d = r.details
    assert len(r.samples_ms) == 4 and r.stats["latency_ms_median"] > 0
    assert d["compile_backend"] == "inductor" and d["compile_mode"] == "default" and d["compile_graphs"] == 1
    assert d["config"]["compile_mode"] == "default"
    assert d["max_output_error_rel"] <= d["output_tolerance_rel"] == proto.OUTPUT_RTOL["fp32"]
    phases = d["phases"]
    assert phases["compile_s"] > 0 and phases["compile_s"] == pytest.approx(d["compile_s"], abs=1e-3)
    # compile time is a phase of its own, never a latency sample
    assert max(r.samples_ms) / 1000 < phases["compile_s"]
    assert json.loads(json.dumps(d, default=str))["phases"]["timed_s"] >= 0


def test_a_compile_failure_is_a_compile_error_naming_the_cause(monkeypatch):
    fake_compile(monkeypatch, fail=RuntimeError("C++ compile failed: g++ not found"))
    with pytest.raises(CompileError, match=r"mode=default.*RuntimeError: C\+\+ compile failed: g\+\+ not found"):
        measure(tiny_net(), backend="compile", device="cpu", dtype="fp32", batch=1, resolution=16, config=FAST)
    assert issubclass(CompileError, MeasurementError)  # so a sweep records a failed row and goes on


def test_no_graph_captured_and_recompilation_are_errors(monkeypatch):
    fake_compile(monkeypatch, graphs_per_call=(0,))
    with pytest.raises(CompileError, match="captured no graph"):
        measure(tiny_net(), backend="compile", device="cpu", dtype="fp32", batch=1, resolution=16, config=FAST)
    fake_compile(monkeypatch, graphs_per_call=(1, 0, 0, 1, 0))  # a recompilation in the middle of the samples
    with pytest.raises(CompileError, match="recompiled during warm-up or timing"):
        measure(tiny_net(), backend="compile", device="cpu", dtype="fp32", batch=1, resolution=16, config=FAST)


def test_compiled_output_is_checked_against_eager(monkeypatch):
    fake_compile(monkeypatch, scale=1.5)
    with pytest.raises(OutputMismatchError, match="compile fp32 output differs from eager fp32"):
        measure(tiny_net(), backend="compile", device="cpu", dtype="fp32", batch=1, resolution=16, config=FAST)
    r = measure(
        tiny_net(),
        backend="compile",
        device="cpu",
        dtype="fp32",
        batch=1,
        resolution=16,
        config=TimingConfig(iters=2, warmup_iters=1, warmup_s=0.0, check_outputs=False),
    )
    assert r.details["output_checked"] is False and r.details["max_output_error_rel"] > 0.3


def test_a_failed_compile_in_a_sweep_is_a_failed_row(monkeypatch):
    import models
    from profiler.sweep.exec.worker import run_tasks

    fake_compile(monkeypatch, fail=RuntimeError("inductor exploded"))
    spec = models.model_info("mobilenet_v1_x0_25").spec
    task = make_task(
        model="mobilenet_v1_x0_25",
        family="mobilenet",
        spec=models.spec_to_dict(spec),
        spec_hash=models.spec_hash(spec),
        backend="compile",
        resolution=32,
        timing=FAST.to_dict(),
        count=False,
        timeout_s=60.0,
        fault=None,
        isolation="model",
    )
    [row] = list(run_tasks([task]))
    assert row.status == "failed" and row.error.startswith("CompileError: ")
    assert "inductor exploded" in row.error


# --- ONNX Runtime's CUDA graph option --------------------------------------------------------------------------


def test_ort_cuda_graph_is_a_provider_option_on_cuda_only():
    from profiler.timing.onnx import provider_options

    assert provider_options("cuda", "fp16", cuda_graph=True)["enable_cuda_graph"] == "1"
    assert "enable_cuda_graph" not in provider_options("cuda", "fp16")
    assert provider_options("cpu", "fp32") == {}


# --- end to end on CPU (slow: each compiles a registered network, ~10-40 s on a busy 2-core machine) -----------

E2E = """
name = "launch-e2e"
count = false
[models]
include = ["mobilenet_v1_x0_25"]
[settings]
resolutions = [32]
backends = ["eager", "cudagraph", "compile"]
[timing]
iters = 3
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""


@pytest.mark.slow
def test_compile_sweep_end_to_end_on_cpu(tmp_path):
    from profiler.report.overhead import overhead_frame
    from profiler.results.store import load_results
    from profiler.sweep.exec.local import InlineExecutor
    from profiler.sweep.run import run_sweep

    run_dir = run_sweep(
        parse_config(E2E, "e2e.toml"),
        device="cpu",
        run_dir=tmp_path / "run",
        show_progress=False,
        make_executor=InlineExecutor,
        argv=["test"],
    )
    df = load_results(run_dir)
    assert sorted(df["backend"]) == ["compile", "eager"] and (df["status"] == "ok").all()  # cudagraph: skipped
    d = json.loads(df.loc[df["backend"] == "compile", "details_json"].iloc[0])
    assert d["compile_mode"] == "default" and d["phases"]["compile_s"] > 0 and d["compile_graphs"] >= 1
    assert d["max_output_error_rel"] <= d["output_tolerance_rel"]
    [row] = overhead_frame(df).to_dict("records")
    assert row["graph_backend"] == "compile" and row["overhead_ms"] == pytest.approx(row["eager"] - row["compile"])


@pytest.mark.slow
def test_time_command_compile_on_cpu(capsys):
    argv = [
        "time",
        "mobilenet_v1_x0_25",
        "--backend",
        "compile",
        "--resolution",
        "32",
        "--iters",
        "3",
        "--threads",
        "1",
        "--compile-mode",
        "reduce-overhead",
    ]  # on a CPU inductor skips the CUDA graphs
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "compile/cpu" in out and "inductor mode reduce-overhead" in out and "(not in latency)" in out


def test_shipped_launch_overhead_sweep_plans_three_backends():
    from profiler.sweep.config import load_config

    config = load_config("experiments/launch-overhead.toml")
    tasks = plan_with_skips(config, "cuda")[0]
    assert {t.backend for t in tasks} == {"eager", "cudagraph", "compile"} and {t.batch for t in tasks} == {1, 64}
    assert len({config.models[t.model].family for t in tasks}) >= 3  # a verdict per backend needs 3 families
    assert "cudagraph" not in {t.backend for t in plan_with_skips(config, "cpu")[0]}
