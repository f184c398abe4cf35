"""CUDA paths end to end (eager events, TF32 switches, ORT CUDA EP with IO binding). Skipped without CUDA."""

from __future__ import annotations

import pytest
import torch

import models
from profiler.core import environment
from profiler.timing import ProviderError, TimingConfig, check_device, measure, read_precision_switches

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
FAST = TimingConfig(iters=5, warmup_s=0.05)


def test_check_device_cuda_passes():
    check_device("cuda")


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16"])
def test_eager_cuda_precisions(dtype):
    before = read_precision_switches()
    r = measure(
        models.get_model("resnet18"),
        backend="eager",
        device="cuda",
        dtype=dtype,
        batch=4,
        resolution=64,
        memory_format="channels_last",
        config=FAST,
    )
    assert r.details["timer"] == "cuda_event" and len(r.samples_ms) == 5
    sw = r.details["precision_switches"]
    assert sw["cudnn_benchmark"] is True and sw["cudnn_allow_tf32"] is (dtype == "tf32")
    assert read_precision_switches() == before


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_ort_cuda_provider_and_binding(dtype, tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ProviderError):
            measure(
                models.get_model("resnet18"),
                backend="onnxruntime",
                device="cuda",
                dtype=dtype,
                batch=2,
                resolution=64,
                config=FAST,
                cache_dir=tmp_path,
            )
        return
    r = measure(
        models.get_model("resnet18"),
        backend="onnxruntime",
        device="cuda",
        dtype=dtype,
        batch=2,
        resolution=64,
        config=FAST,
        cache_key="r18",
        cache_dir=tmp_path,
    )
    assert r.details["providers_active"][0] == "CUDAExecutionProvider" and r.details["io_binding"] is True
    assert r.details["max_output_error_rel"] <= r.details["output_tolerance_rel"]


def test_environment_reads_the_gpu():
    env = environment.capture("cuda")
    assert env["gpu_name"] and env["torch_cuda"] == torch.version.cuda
