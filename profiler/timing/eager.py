"""Eager PyTorch timing: model.eval(), inference_mode, input already on the device, explicit precision."""

from __future__ import annotations

from typing import Any

from profiler.timing.device import (
    CudaEventTimer,
    HostTimer,
    autocast_details,
    autocast_wrap,
    precision_context,
    torch_threads,
)
from profiler.timing.protocol import DeviceOOMError, PhaseLog, TimingConfig, run_protocol

# amp keeps fp32 weights and input; the autocast region (``device.autocast_wrap``) picks each op's dtype.
TORCH_DTYPES = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16", "amp": "float32"}


def torch_dtype(dtype: str) -> Any:
    """The torch dtype that parameters and input are stored in for a precision name."""
    import torch

    return getattr(torch, TORCH_DTYPES[dtype])


def prepare(model: Any, device: str, dtype: str, memory_format: str) -> Any:
    """``model`` in eval mode on ``device`` in ``dtype`` and ``memory_format`` (in place, returned)."""
    import torch

    model = model.eval().to(device=device, dtype=torch_dtype(dtype))
    if memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    return model


def make_input(batch: int, resolution: int, device: str, dtype: str, memory_format: str, seed: int = 0) -> Any:
    """A reproducible random (B, 3, R, R) input on ``device``."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, resolution, resolution, generator=gen)  # (B, 3, H, W), made on CPU for determinism
    x = x.to(device=device, dtype=torch_dtype(dtype))
    if memory_format == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _host_oom(exc: BaseException) -> bool:
    """True for the CPU allocator's out-of-memory errors (torch raises a plain RuntimeError for them)."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "can't allocate memory" in text or "out of memory" in text


def measure_eager(
    model: Any,
    *,
    device: str,
    dtype: str,
    batch: int,
    resolution: int,
    memory_format: str,
    config: TimingConfig,
    timer: Any = None,
    phases: PhaseLog | None = None,
) -> tuple[list[float], dict[str, Any]]:
    """Samples (ms per batch) and details of eager inference; ``timer`` overrides the device's timer.

    ``details["phases"]``: load_s (move/cast the model, make the input), warmup_s, timed_s (wall seconds), also
    recorded into ``phases`` as they run (what a failure keeps).
    """
    import torch

    phases = PhaseLog() if phases is None else phases
    with precision_context(dtype, device, config.cudnn_benchmark) as switches, torch_threads(config.threads) as n:
        with phases.timing("load_s"):
            model = autocast_wrap(prepare(model, device, dtype, memory_format), dtype, device)
            x = make_input(batch, resolution, device, dtype, memory_format)
            if device == "cuda":
                torch.cuda.synchronize()  # the copies to the device belong to loading, not to the first warm-up
        if timer is None:
            timer = CudaEventTimer() if device == "cuda" else HostTimer()

        def step() -> None:
            model(x)

        try:
            with torch.inference_mode():
                samples, warm = run_protocol(lambda: timer(step), config, phases)
        except torch.cuda.OutOfMemoryError as exc:
            raise DeviceOOMError(f"out of device memory at batch {batch}, resolution {resolution}: {exc}") from exc
        except (RuntimeError, MemoryError) as exc:
            if not _host_oom(exc):
                raise
            # The CPU allocator's message is many lines long; one is enough to say what happened.
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise DeviceOOMError(f"out of host memory at batch {batch}, resolution {resolution}: {first}") from None
        details = {
            "timer": getattr(timer, "name", type(timer).__name__),
            "precision_switches": switches,
            "param_dtype": str(torch_dtype(dtype)).removeprefix("torch."),
            **autocast_details(dtype, device),
            "torch_threads": n,
            "torch_interop_threads": torch.get_num_interop_threads(),
            "inference_mode": True,
            **warm,
            "phases": dict(phases),  # warm-up holds cuDNN's algorithm search (cudnn.benchmark) on CUDA
        }
    return samples, details
