"""Backends without per-kernel launch overhead: a captured CUDA graph (``cudagraph``) and ``torch.compile``.

Both share one flow so that they are timed like eager and checked like ONNX Runtime:
1. the eager fp32 output on the reference input (TF32 off) — the truth every backend is compared with;
2. the model in the asked dtype and memory format; ``build`` turns it into the backend's executable form and runs
   it once on the same input (timed as the ``compile_s`` phase, never as latency);
3. that output is compared with the reference (``OUTPUT_RTOL``, as for ONNX Runtime) → OutputMismatchError;
4. the usual protocol (warm-up, then ``iters`` timed calls) on the executable form.
"""

from __future__ import annotations

from typing import Any

from profiler.timing.built import Builder
from profiler.timing.device import (
    CudaEventTimer,
    HostTimer,
    autocast_details,
    autocast_wrap,
    precision_context,
    torch_threads,
)
from profiler.timing.eager import make_input, prepare, torch_dtype
from profiler.timing.protocol import (
    OUTPUT_RTOL,
    DeviceOOMError,
    OutputMismatchError,
    PhaseLog,
    TimingConfig,
    run_protocol,
)


def eager_reference(model: Any, x32: Any, device: str) -> Any:
    """Eager fp32 output of ``model`` on ``x32`` with TF32 off, on the CPU (``model`` becomes fp32 on device)."""
    import torch

    with precision_context("fp32", device, cudnn_benchmark=False), torch.inference_mode():
        return prepare(model, device, "fp32", "contiguous")(x32).float().cpu()


def check_output(backend: str, dtype: str, out: Any, reference: Any, config: TimingConfig) -> dict[str, Any]:
    """Output-error details; OutputMismatchError when the error exceeds the dtype's tolerance (if checked)."""
    from profiler.timing.onnx import output_error

    err = output_error(out, reference)
    tol = OUTPUT_RTOL[dtype]
    if config.check_outputs and not err <= tol:
        raise OutputMismatchError(
            f"{backend} {dtype} output differs from eager fp32 by {err:.3g} of the output scale (tolerance {tol:g})"
        )
    return {"max_output_error_rel": err, "output_tolerance_rel": tol, "output_checked": config.check_outputs}


def _builder(backend: str) -> Builder:
    if backend == "cudagraph":
        from profiler.timing.cudagraph import build_cudagraph

        return build_cudagraph
    from profiler.timing.compiled import build_compiled

    return build_compiled


def measure_graph(
    model: Any,
    *,
    backend: str,
    device: str,
    dtype: str,
    batch: int,
    resolution: int,
    memory_format: str,
    config: TimingConfig,
    timer: Any = None,
    phases: PhaseLog | None = None,
) -> tuple[list[float], dict[str, Any]]:
    """Samples (ms per batch) and details of ``backend`` ("cudagraph" or "compile"); see the module doc.

    ``details["phases"]``: compile_s, warmup_s, timed_s, also recorded into ``phases`` as they run.
    """
    import torch

    phases = PhaseLog() if phases is None else phases
    build = _builder(backend)
    reference = eager_reference(model, make_input(batch, resolution, device, "fp32", "contiguous"), device)
    with precision_context(dtype, device, config.cudnn_benchmark) as switches, torch_threads(config.threads) as n:
        model = autocast_wrap(prepare(model, device, dtype, memory_format), dtype, device)
        # Same seed as the reference input: the same values, cast to the dtype and laid out in the memory format.
        x = make_input(batch, resolution, device, dtype, memory_format)
        sync = torch.cuda.synchronize if device == "cuda" else None
        if timer is None:
            timer = CudaEventTimer() if device == "cuda" else HostTimer()
        try:
            with torch.inference_mode():
                with phases.timing("compile_s"):
                    built = build(model, x, config)
                    if sync is not None:
                        sync()
                details = built.details | check_output(backend, dtype, built.out, reference, config)
                built.out = None
                samples, warm = run_protocol(lambda: timer(built.step), config, phases)
            if built.after_timing is not None:  # e.g. torch.compile: no recompilation may hide in the samples
                details |= built.after_timing()
        except torch.cuda.OutOfMemoryError as exc:
            raise DeviceOOMError(f"out of device memory at batch {batch}, resolution {resolution}: {exc}") from exc
        details |= {
            "timer": getattr(timer, "name", type(timer).__name__),
            "precision_switches": switches,
            "param_dtype": str(torch_dtype(dtype)).removeprefix("torch."),
            **autocast_details(dtype, device),
            "torch_threads": n,
            "inference_mode": True,
            "compile_s": round(phases["compile_s"], 4),
            **warm,
            "phases": dict(phases),
        }
    return samples, details
