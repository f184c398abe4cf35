"""Eager backend and ``profiler time`` on CPU (small models, few iterations: these test plumbing, not speed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import models
from profiler.cli import main
from profiler.core.errors import UsageError
from profiler.timing import CudaEventTimer, TimingConfig, measure, read_precision_switches

FAST = TimingConfig(iters=5, warmup_s=0.01)


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return models.get_model("resnet18")


def test_eager_cpu_keeps_every_sample(resnet18):
    r = measure(resnet18, backend="eager", device="cpu", dtype="fp32", batch=2, resolution=32, config=FAST)
    assert len(r.samples_ms) == 5 and all(s > 0 for s in r.samples_ms)
    assert r.stats["latency_ms_median"] == pytest.approx(float(np.median(r.samples_ms)))
    assert r.stats["throughput_ips"] == pytest.approx(2000 / r.stats["latency_ms_median"])
    d = r.details
    assert d["timer"] == "perf_counter_ns" and d["param_dtype"] == "float32"
    assert d["precision_switches"]["cudnn_allow_tf32"] is False  # set explicitly, not left to defaults
    assert d["warmup_iters_done"] >= 3 and d["config"]["iters"] == 5
    assert not resnet18.training  # measured in eval mode


def test_eager_bf16_channels_last(resnet18):
    r = measure(
        resnet18,
        backend="eager",
        device="cpu",
        dtype="bf16",
        batch=1,
        resolution=32,
        memory_format="channels_last",
        config=FAST,
    )
    assert r.details["param_dtype"] == "bfloat16" and r.details["memory_format"] == "channels_last"
    assert next(resnet18.parameters()).dtype == torch.bfloat16
    resnet18.float()


def test_eager_restores_threads_and_switches(resnet18):
    threads, switches = torch.get_num_threads(), read_precision_switches()
    r = measure(
        resnet18,
        backend="eager",
        device="cpu",
        dtype="fp32",
        batch=1,
        resolution=32,
        config=TimingConfig(iters=2, warmup_s=0.0, threads=1),
    )
    assert r.details["torch_threads"] == 1
    assert torch.get_num_threads() == threads and read_precision_switches() == switches


def test_injected_cuda_style_timer_reaches_samples(resnet18):
    class Ev:
        def __init__(self):
            self.t = 0.0

        def record(self):
            self.t = float(len(stamps))
            stamps.append(self.t)

        def elapsed_time(self, end):
            return (end.t - self.t) * 3.0

    stamps: list[float] = []
    timer = CudaEventTimer(event_factory=Ev, synchronize=lambda: None)
    r = measure(resnet18, backend="eager", device="cpu", dtype="fp32", batch=1, resolution=32, config=FAST, timer=timer)
    assert r.samples_ms == [3.0] * 5 and r.details["timer"] == "cuda_event"


def test_eager_phases_separate_warmup_from_timed(resnet18):
    import time

    calls = []

    def timer(step):
        # Slow warm-up calls, fast timed ones: swapped phases would fail the lower bounds below.
        calls.append(1)
        time.sleep(0.06 if len(calls) <= 3 else 0.01)
        return 2.0

    r = measure(
        resnet18,
        backend="eager",
        device="cpu",
        dtype="fp32",
        batch=1,
        resolution=32,
        config=TimingConfig(iters=4, warmup_iters=3, warmup_s=0.0),
        timer=timer,
    )
    phases = r.details["phases"]
    assert set(phases) == {"load_s", "warmup_s", "timed_s"} and all(v >= 0 for v in phases.values())
    assert phases["warmup_s"] >= 0.18 and phases["timed_s"] >= 0.04 and len(calls) == 7


def test_fp16_eager_cpu_is_a_usage_error(resnet18):
    with pytest.raises(UsageError, match="fp32, bf16"):
        measure(resnet18, backend="eager", device="cpu", dtype="fp16", batch=1, resolution=32, config=FAST)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_a_usage_error(resnet18):
    with pytest.raises(UsageError, match="CUDA is unavailable"):
        measure(resnet18, backend="eager", device="cuda", dtype="fp32", batch=1, resolution=32, config=FAST)


def test_cli_time_json(capsys):
    rc = main(["time", "resnet18", "--resolution", "32", "--iters", "4", "--warmup-s", "0.01", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    for key in (
        "model",
        "backend",
        "device",
        "batch",
        "resolution",
        "dtype",
        "latency_ms_median",
        "latency_ms_iqr",
        "samples_ms",
        "env",
    ):
        assert key in out
    assert out["model"] == "resnet18" and out["resolution"] == 32 and len(out["samples_ms"]) == 4
    assert out["env"]["torch"] == torch.__version__


def test_cli_time_readable(capsys):
    assert main(["time", "resnet18", "--resolution", "32", "--iters", "3", "--warmup-s", "0"]) == 0
    text = capsys.readouterr().out
    assert "median" in text and "images/s" in text and "resnet18" in text


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["time", "resnet18", "--dtype", "fp16"], "valid on cpu: fp32, bf16"),
        (["time", "resnet18", "--resolution", "8"], "needs resolution >="),
        (["time", "resnet_18"], "unknown model"),
    ],
)
def test_cli_time_bad_requests_exit_2(argv, match, capsys):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cli_time_cuda_unavailable_exit_2(capsys):
    assert main(["time", "resnet18", "--device", "cuda"]) == 2
    assert "CUDA is unavailable" in capsys.readouterr().err


def test_cli_time_unknown_backend_lists_choices(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["time", "resnet18", "--backend", "tvm"])
    assert exc.value.code == 2 and "eager" in capsys.readouterr().err
