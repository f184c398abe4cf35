"""``trace_model``: where one model's inference time goes, per layer, with ``torch.profiler``.

Builds a registered model, counts its per-layer MACs (``profiler.counting``, fake tensors) and memory traffic
(``hooks.module_traffic``), warms it up, profiles ``iters`` iterations (CPU activity, plus CUDA kernels on CUDA;
one synchronize per iteration), attributes every operator and kernel to the innermost module
(``aggregate``), and places each layer on the roofline of the device's measured peaks (``roofline``). The profiled
iterations carry the profiler's and the range hooks' overhead; ``latency_ms_unprofiled`` (the median of as many
plain iterations, hooks removed) says how large it is.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Iterator
from typing import Any

from profiler.trace.aggregate import TraceError, aggregate
from profiler.trace.hooks import ModuleRanges, module_label, module_traffic
from profiler.trace.roofline import place

FORMAT = "archprof-trace"
VERSION = 1
__all__ = ["FORMAT", "VERSION", "TraceError", "profile_events", "trace_model"]


def profile_events(model: Any, x: Any, iters: int, device: str) -> list[Any]:
    """The ``torch.profiler`` events of ``iters`` forwards of ``model`` on ``x``, each in an ``archprof.step``."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from profiler.trace.hooks import STEP_NAME

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with _without_kineto_notes(), profile(activities=activities) as prof:
        for _ in range(iters):
            with record_function(STEP_NAME):
                model(x)
                if device == "cuda":  # the step's kernels end inside its range: iterations do not overlap
                    torch.cuda.synchronize()
    return list(prof.events() or [])


def _unprofiled_ms(model: Any, x: Any, iters: int, device: str) -> float:
    import statistics

    from profiler.timing.device import CudaEventTimer, HostTimer

    timer = CudaEventTimer() if device == "cuda" else HostTimer()
    return statistics.median(timer(lambda: model(x)) for _ in range(iters))


def _peaks(device: str, env: dict[str, Any], threads: int, measure_if_missing: bool) -> dict[str, Any] | None:
    """The device key's stored peaks; none stored and ``measure_if_missing``: measured now by ``profiler peaks``'
    own measurement and stored (``peaks.ensure_peaks``), so trace, peaks and a sweep's report share one figure.
    (A quick measurement here once gave twice the copy bandwidth of ``peaks``: its copy fitted in the cache.)"""
    import sys

    from profiler.hardware.measure import ensure_peaks, load_peaks

    stored = load_peaks(device, env, threads=threads)
    if stored is not None:
        return {**stored, "source": "stored (profiler peaks)"}
    if not measure_if_missing:
        return None
    ensure_peaks(
        device, threads, say=lambda m: print(m, file=sys.stderr, flush=True), how_to_skip="--peaks stored skips it"
    )
    stored = load_peaks(device, env, threads=threads)
    return None if stored is None else {**stored, "source": "measured now by `profiler peaks` (stored)"}


# Lines kineto prints on every profiler start and stop (``USDT:... profiler_start``), not messages for a user.
_KINETO_NOISE = (b"USDT:", b"STAGE:")


@contextlib.contextmanager
def _without_kineto_notes() -> Iterator[None]:
    """Hold back fd 2 while the profiler runs and pass on every line but kineto's start/stop notes."""
    import os
    import sys
    import tempfile

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2: nothing to clean
        yield
        return
    with tempfile.TemporaryFile(prefix="archprof-trace-") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True) if not line.startswith(_KINETO_NOISE)]
            if kept:
                os.write(2, b"".join(kept))


def trace_model(
    name: str,
    *,
    model_kwargs: dict[str, Any] | None = None,
    device: str = "cpu",
    dtype: str = "fp32",
    batch: int = 1,
    resolution: int | None = None,
    iters: int = 5,
    warmup_iters: int = 3,
    threads: int | None = None,
    measure_peaks_if_missing: bool = True,
) -> dict[str, Any]:
    """The trace document of a registered model (what ``trace --json`` prints). CPU runs use one intra-op thread
    unless ``threads`` is given (the sweeps' rule). Raises ``UsageError`` on bad input, ``TraceError`` when the
    profiler records nothing to attribute."""
    import torch

    from profiler.core import environment
    from profiler.core.errors import UsageError
    from profiler.core.model_source import build_model, resolve_model
    from profiler.counting import check_runs, count
    from profiler.timing import check_device, validate_request
    from profiler.timing.device import autocast_context, autocast_dtype, precision_context, torch_threads
    from profiler.timing.eager import make_input, prepare, torch_dtype

    info = resolve_model(name, model_kwargs)
    resolution = resolution or info.resolution
    min_res = int(getattr(type(info.spec), "min_resolution", 1))
    if resolution < min_res:
        raise UsageError(f"{name} needs resolution >= {min_res}, got {resolution}")
    if iters < 1 or warmup_iters < 0:
        raise UsageError(f"--iters must be >= 1 (got {iters}) and warm-up >= 0 (got {warmup_iters})")
    validate_request("eager", device, dtype, "contiguous", batch, resolution)
    check_device(device)
    n_threads = threads if threads is not None else (1 if device == "cpu" else None)

    check_runs(info, resolution, batch)  # an external model that cannot run at this resolution: the reason
    shape = (batch, 3, resolution, resolution)
    model = build_model(info).eval()
    macs = {module_label(r.name): r.macs for r in count(model, shape, method="torch").layers}
    # amp: autocast's 2-byte type for the traffic and the peaks (its convolutions and matmuls dominate both)
    amp_as = {"float16": "fp16", "bfloat16": "bf16"}[autocast_dtype(device)] if dtype == "amp" else dtype
    traffic, _ = module_traffic(model, shape, torch_dtype(amp_as).itemsize)
    types = {module_label(n): type(m).__name__ for n, m in model.named_modules()}
    with precision_context(dtype, device) as switches, torch_threads(n_threads) as used_threads:
        model = prepare(model, device, dtype, "contiguous")
        x = make_input(batch, resolution, device, dtype, "contiguous")
        try:
            with torch.inference_mode(), autocast_context(dtype, device):
                for _ in range(warmup_iters):  # cuDNN autotuning and first-call allocations happen here
                    model(x)
                with ModuleRanges(model):
                    model(x)  # one warm call with the ranges, so hook set-up is not in the profile
                    events = profile_events(model, x, iters, device)
                unprofiled_ms = _unprofiled_ms(model, x, iters, device)
        except torch.cuda.OutOfMemoryError as exc:
            raise TraceError(f"out of device memory at batch {batch}, resolution {resolution}: {exc}") from exc
    result = aggregate(events, device, types)
    env = environment.capture(device)
    peaks = _peaks(device, env, used_threads, measure_peaks_if_missing)
    for layer in result["layers"]:
        layer["macs"] = macs.get(layer["name"], 0)
        layer["bytes"] = traffic.get(layer["name"], 0)
        layer.update(place(layer, peaks, amp_as))
    totals = result["totals"]
    totals.update(
        latency_ms_unprofiled=unprofiled_ms,
        macs=sum(macs.values()),
        bytes=sum(traffic.values()),
        bound_counts={
            b: sum(1 for r in result["layers"] if r["bound"] == b) for b in ("compute", "memory", "launch", "unknown")
        },
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "family": info.family,
        "device": device,
        "device_name": env.get("gpu_name") if device == "cuda" else env.get("cpu_model"),
        "dtype": dtype,
        "batch": batch,
        "resolution": resolution,
        "iters": iters,
        "warmup_iters": warmup_iters,
        "threads": used_threads,
        "precision_switches": switches,
        "peaks": peaks,
        "totals": totals,
        "per_iteration": result["per_iteration"],
        "layers": result["layers"],
        "environment": env,
        "traced_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
