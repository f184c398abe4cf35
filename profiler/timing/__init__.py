"""Timing engine: eager PyTorch, CUDA graphs, torch.compile and ONNX Runtime, on CPU and CUDA, with one protocol
and one result type.

>>> from profiler.timing import TimingConfig, measure          # doctest: +SKIP
>>> r = measure(models.get_model("resnet18"), backend="eager", device="cpu", dtype="fp32",
...             batch=1, resolution=224, config=TimingConfig())  # doctest: +SKIP
>>> r.stats["latency_ms_median"], len(r.samples_ms)               # doctest: +SKIP
(23.1, 30)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError
from profiler.timing.device import (
    CudaEventTimer,
    HostTimer,
    apply_precision,
    check_device,
    default_device,
    precision_context,
    read_precision_switches,
)
from profiler.timing.onnx_prepare import prepare_onnx
from profiler.timing.protocol import (
    BACKENDS,
    COMPILE_MODES,
    DEVICES,
    DTYPES,
    MEMORY_FORMATS,
    CompileError,
    DeviceOOMError,
    ExportError,
    MeasurementError,
    OutputMismatchError,
    PhaseListener,
    PhaseLog,
    ProviderError,
    TimingConfig,
    TimingResult,
    summarize,
    validate_request,
)

__all__ = [
    "BACKENDS",
    "COMPILE_MODES",
    "DEVICES",
    "DTYPES",
    "MEMORY_FORMATS",
    "CompileError",
    "CudaEventTimer",
    "DeviceOOMError",
    "ExportError",
    "HostTimer",
    "MeasurementError",
    "OutputMismatchError",
    "PhaseListener",
    "PhaseLog",
    "ProviderError",
    "TimingConfig",
    "TimingResult",
    "UsageError",
    "apply_precision",
    "check_device",
    "default_device",
    "measure",
    "precision_context",
    "prepare_onnx",
    "read_precision_switches",
    "summarize",
    "validate_request",
]


def measure(
    model: Any,
    *,
    backend: str,
    device: str,
    dtype: str,
    batch: int,
    resolution: int,
    memory_format: str = "contiguous",
    config: TimingConfig | None = None,
    cache_key: str | None = None,
    cache_dir: Path | str | None = None,
    timer: Any = None,
    on_phase: PhaseListener | None = None,
) -> TimingResult:
    """Time ``model`` on a (batch, 3, resolution, resolution) input; every sample kept, summarized.

    ``model`` is converted in place (moved to the device, cast to the dtype). ``cache_key`` (e.g. a spec
    hash) lets the ONNX export be reused (``prepare_onnx`` makes it ahead of time); ``timer`` replaces the
    per-iteration timer (tests); ``on_phase(name, None | seconds)`` hears each phase start and end (a sweep worker
    reports them to its parent). ``details["phases"]`` holds the wall seconds of this call's phases
    (onnxruntime: export_s, load_s, warmup_s, timed_s; eager: load_s, warmup_s, timed_s; cudagraph/compile:
    compile_s, warmup_s, timed_s).
    Raises UsageError for impossible requests and MeasurementError subclasses when this measurement fails; any
    exception raised while measuring carries ``.phases``, the phases that ran before it (``PhaseLog``).
    """
    config = config or TimingConfig()
    validate_request(backend, device, dtype, memory_format, batch, resolution, ort_cuda_graph=config.ort_cuda_graph)
    check_device(device)
    from profiler.timing.allocator import keep_heap

    allocator = keep_heap()  # before anything is allocated for this measurement (see allocator.py)
    calibration = None
    if backend != "onnxruntime":  # an ONNX graph carries the statistics it was exported with (onnx_prepare)
        from profiler.timing.calibrate import calibrate_bn

        calibration = calibrate_bn(model, resolution)  # a real signal for the output checks (see calibrate.py)
    with PhaseLog(on_phase).attached_to_errors() as phases:  # one place: every backend's failure leaves with its phases
        if backend in ("cudagraph", "compile"):
            from profiler.timing.graphs import measure_graph

            samples, details = measure_graph(
                model,
                backend=backend,
                device=device,
                dtype=dtype,
                batch=batch,
                resolution=resolution,
                memory_format=memory_format,
                config=config,
                timer=timer,
                phases=phases,
            )
        elif backend == "eager":
            from profiler.timing.eager import measure_eager

            samples, details = measure_eager(
                model,
                device=device,
                dtype=dtype,
                batch=batch,
                resolution=resolution,
                memory_format=memory_format,
                config=config,
                timer=timer,
                phases=phases,
            )
        else:
            from profiler.timing.onnx import measure_onnx

            samples, details = measure_onnx(
                model,
                device=device,
                dtype=dtype,
                batch=batch,
                resolution=resolution,
                config=config,
                cache_key=cache_key,
                cache_dir=cache_dir,
                timer=timer,
                phases=phases,
            )
    details = {
        "backend": backend,
        "device": device,
        "dtype": dtype,
        "memory_format": memory_format,
        "batch": batch,
        "resolution": resolution,
        "config": config.to_dict(),
        "allocator": allocator,
        **({"bn_calibration": calibration} if calibration else {}),
        **details,
    }
    return TimingResult(samples_ms=samples, stats=summarize(samples, batch), details=details)
