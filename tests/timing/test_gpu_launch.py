"""Backends without launch overhead on CUDA: CUDA-graph replay, torch.compile, ONNX Runtime's CUDA graph, and the
`time` command in each. Skipped without CUDA; written to run unchanged on a GPU machine."""

from __future__ import annotations

import json

import pytest
import torch

import models
from profiler.cli import main
from profiler.timing import (
    CompileError,
    OutputMismatchError,
    ProviderError,
    TimingConfig,
    measure,
    read_precision_switches,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
FAST = TimingConfig(iters=5, warmup_s=0.05)


@pytest.mark.parametrize(
    ("dtype", "memory_format"),
    [("fp32", "contiguous"), ("fp16", "channels_last"), ("tf32", "contiguous"), ("bf16", "channels_last")],
)
def test_cudagraph_replays_and_matches_eager(dtype, memory_format):
    before = read_precision_switches()
    r = measure(
        models.get_model("resnet18"),
        backend="cudagraph",
        device="cuda",
        dtype=dtype,
        batch=2,
        resolution=64,
        memory_format=memory_format,
        config=FAST,
    )
    d = r.details
    assert d["timer"] == "cuda_event" and len(r.samples_ms) == 5 and d["cuda_graph"] == "torch.cuda.CUDAGraph"
    assert d["max_output_error_rel"] <= d["output_tolerance_rel"]
    assert d["phases"]["compile_s"] > 0 and d["precision_switches"]["cudnn_allow_tf32"] is (dtype == "tf32")
    assert read_precision_switches() == before


def test_cudagraph_output_mismatch_is_detected():
    class Random(torch.nn.Module):  # a different output on every run: the replay cannot match eager
        def forward(self, x):
            return x + torch.rand_like(x)

    with pytest.raises(OutputMismatchError, match="cudagraph fp32 output differs"):
        measure(Random(), backend="cudagraph", device="cuda", dtype="fp32", batch=1, resolution=8, config=FAST)


@pytest.mark.parametrize(("mode", "dtype"), [("default", "fp16"), ("reduce-overhead", "fp32")])
def test_compile_on_cuda(mode, dtype):
    r = measure(
        models.get_model("resnet18"),
        backend="compile",
        device="cuda",
        dtype=dtype,
        batch=2,
        resolution=64,
        memory_format="channels_last",
        config=TimingConfig(iters=5, warmup_s=0.05, compile_mode=mode),
    )
    d = r.details
    assert d["compile_mode"] == mode and d["compile_cudagraphs"] is (mode == "reduce-overhead")
    assert d["max_output_error_rel"] <= d["output_tolerance_rel"] and d["timer"] == "cuda_event"
    assert d["phases"]["compile_s"] > 0 and len(r.samples_ms) == 5


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_ort_cuda_graph(dtype, tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    config = TimingConfig(iters=5, warmup_s=0.05, ort_cuda_graph=True)
    try:
        r = measure(
            models.get_model("resnet18"),
            backend="onnxruntime",
            device="cuda",
            dtype=dtype,
            batch=2,
            resolution=64,
            config=config,
            cache_key="r18",
            cache_dir=tmp_path,
        )
    except ProviderError as exc:  # e.g. a shape node left on the CPU: ORT refuses the graph; say which
        pytest.fail(f"ONNX Runtime refused its CUDA graph: {exc}")
    d = r.details
    assert d["ort_cuda_graph"] is True and d["provider_options"]["enable_cuda_graph"] == "1"
    assert d["config"]["ort_cuda_graph"] is True
    assert d["max_output_error_rel"] <= d["output_tolerance_rel"]


@pytest.mark.parametrize(
    "argv", [["--backend", "cudagraph"], ["--backend", "compile"], ["--backend", "onnxruntime", "--ort-cuda-graph"]]
)
def test_time_command_in_each_backend(argv, capsys, tmp_path):
    base = [
        "time",
        "resnet18",
        "--device",
        "cuda",
        "--resolution",
        "64",
        "--iters",
        "5",
        "--json",
        "--cache-dir",
        str(tmp_path),
    ]
    assert main(base + argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == argv[1] and out["latency_ms_median"] > 0
    assert out["details"]["max_output_error_rel"] <= out["details"]["output_tolerance_rel"]


# Last: a failed capture is the test most likely to leave the CUDA context unusable for what follows.
def test_cudagraph_capture_failure_is_a_compile_error():
    class HostSync(torch.nn.Module):
        def forward(self, x):
            return x * float(x.sum())  # .item()-like host sync: illegal while capturing

    with pytest.raises(CompileError, match="CUDA graph capture failed"):
        measure(HostSync(), backend="cudagraph", device="cuda", dtype="fp32", batch=1, resolution=8, config=FAST)
