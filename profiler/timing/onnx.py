"""ONNX Runtime timing: graph from the cache (made if missing), check the provider and outputs, time with IO binding."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from profiler.timing.device import HostTimer
from profiler.timing.eager import make_input, torch_dtype
from profiler.timing.fdcapture import FdCapture, summary_of
from profiler.timing.onnx_prepare import REF_SEED, ensure_graph
from profiler.timing.protocol import (
    OUTPUT_RTOL,
    OutputMismatchError,
    PhaseLog,
    ProviderError,
    TimingConfig,
    run_protocol,
)

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
ORT_CUDA_GRAPH_CAPTURE_RUNS = 3
_GRAPH_OPT = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def provider_options(device: str, dtype: str, cuda_graph: bool = False) -> dict[str, str]:
    """Explicit provider options: ORT's CUDA EP enables TF32 by default, so say it both ways.

    ``cuda_graph``: the CUDA EP captures the whole session on an early run and replays it afterwards (needs IO
    binding to fixed device buffers and every node on the CUDA EP, else session creation fails).
    """
    if device == "cuda":
        opts = {"device_id": "0", "use_tf32": "1" if dtype == "tf32" else "0", "cudnn_conv_algo_search": "EXHAUSTIVE"}
        return opts | ({"enable_cuda_graph": "1"} if cuda_graph else {})
    return {}


def make_session(path: Path | str, device: str, dtype: str, config: TimingConfig) -> tuple[Any, dict[str, Any]]:
    """An InferenceSession on the asked provider; ProviderError when ORT silently picked another."""
    import onnxruntime as ort

    wanted = PROVIDERS[device]
    opts = ort.SessionOptions()
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _GRAPH_OPT[config.ort_graph_optimization])
    if config.threads is not None:
        opts.intra_op_num_threads = config.threads
        opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    p_opts = provider_options(device, dtype, config.ort_cuda_graph)
    providers: list[Any] = [(wanted, p_opts)] if p_opts else [wanted]
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # e.g. "CUDAExecutionProvider is not in available provider names"
        raise ProviderError(
            f"asked {wanted}, session creation failed ({exc}); available: {ort.get_available_providers()}"
        ) from exc
    check_providers(session, wanted)
    details = {
        "provider": wanted,
        "providers_active": list(session.get_providers()),
        "provider_options": p_opts,
        "graph_optimization_level": config.ort_graph_optimization,
        "intra_op_threads": opts.intra_op_num_threads,  # 0 = ORT's default (one per physical core)
        "inter_op_threads": opts.inter_op_num_threads,
        "execution_mode": "sequential",
        "ort_cuda_graph": bool(config.ort_cuda_graph and device == "cuda"),
        "onnxruntime": ort.__version__,
    }
    return session, details


# The last session this process made, for rows that run the same graph with the same session configuration (the
# dynamic-batch graph serves batch 1 and 64: only the IO binding changes). One entry: a sweep runs a model's rows
# together, so a bigger cache would only hold device memory of models that are done.
_LAST_SESSION: dict[str, Any] = {}


def session_key(path: Path | str, device: str, dtype: str, config: TimingConfig) -> tuple | None:
    """What configures a session: the graph file (path, size, mtime) and every session option; None: never reuse.

    A CUDA-graph session is captured with its first IO binding's buffers, so it is never shared between batches.
    """
    if config.ort_cuda_graph and device == "cuda":
        return None
    st = Path(path).stat()
    return (
        str(Path(path).resolve()),
        st.st_size,
        st.st_mtime_ns,
        device,
        tuple(sorted(provider_options(device, dtype).items())),
        config.threads,
        config.ort_graph_optimization,
    )


def cached_session(path: Path | str, device: str, dtype: str, config: TimingConfig) -> tuple[Any, dict[str, Any]]:
    """``make_session``, or the last session of this process when ``session_key`` matches; details say which."""
    key = session_key(path, device, dtype, config)
    if key is not None and _LAST_SESSION.get("key") == key:
        return _LAST_SESSION["session"], _LAST_SESSION["details"] | {"session_reused": True}
    clear_session_cache()  # free the old session before creating the next one
    session, details = make_session(path, device, dtype, config)
    if key is not None:
        _LAST_SESSION.update(key=key, session=session, details=details)
    return session, details | {"session_reused": False}


def clear_session_cache() -> None:
    """Drop the cached session (a worker moving to another model, or after a failure)."""
    _LAST_SESSION.clear()


def check_providers(session: Any, wanted: str) -> None:
    """ORT falls back to CPU silently when CUDA libraries are missing: fail loudly instead."""
    active = list(session.get_providers())
    if not active or active[0] != wanted:
        raise ProviderError(
            f"asked {wanted}, got {active}; onnxruntime-gpu missing or CUDA libraries not found"
            if wanted == "CUDAExecutionProvider"
            else f"asked {wanted}, got {active}"
        )


def bind_io(session: Any, x: Any, out: Any, device: str) -> Any:
    """IO binding to device-resident torch tensors (input ``x``, preallocated ``out``): no copies are timed."""
    import numpy as np

    binding = session.io_binding()
    np_dtype = {"torch.float32": np.float32, "torch.float16": np.float16}[str(x.dtype)]
    dev_id = x.device.index or 0
    binding.bind_input(session.get_inputs()[0].name, device, dev_id, np_dtype, tuple(x.shape), x.data_ptr())
    binding.bind_output(session.get_outputs()[0].name, device, dev_id, np_dtype, tuple(out.shape), out.data_ptr())
    return binding


def output_error(actual: Any, reference: Any) -> float:
    """max |actual - reference| / max |reference| in fp32 (inf when anything is not finite)."""
    import torch

    a, r = actual.float().cpu(), reference.float().cpu()
    if not bool(torch.isfinite(a).all()):
        return float("inf")
    scale = max(float(r.abs().max()), 1e-6)  # guard a degenerate all-zero output
    return float((a - r).abs().max()) / scale


def timed_input(batch: int, resolution: int, ref_in: Any) -> Any:
    """A (batch, 3, R, R) fp32 CPU input whose leading rows are the reference input (the rest seeded random).

    The output check then compares those rows with the reference output: one graph and one stored reference
    serve every batch, and the check runs at the very batch that is timed.
    """
    import torch

    x = make_input(batch, resolution, "cpu", "fp32", "contiguous", seed=REF_SEED + 1)
    k = min(batch, ref_in.shape[0])
    x[:k] = torch.from_numpy(ref_in[:k])
    return x


def measure_onnx(
    model: Any,
    *,
    device: str,
    dtype: str,
    batch: int,
    resolution: int,
    config: TimingConfig,
    cache_key: str | None = None,
    cache_dir: Path | str | None = None,
    timer: Any = None,
    phases: PhaseLog | None = None,
) -> tuple[list[float], dict[str, Any]]:
    """Samples (ms per batch) and details of ONNX Runtime inference of ``model``.

    The graph comes from the cache when ``prepare_onnx`` (or an earlier measurement) made it, else it is made
    here. The session is the previous call's when graph and session options are the same (``session_reused``;
    its load_s is then reading the reference and binding IO). ``details["phases"]``: export_s (0.0 on a cache
    hit), load_s (reference, session, IO binding),
    warmup_s (the checked first run, where ORT's cuDNN algorithm search happens, plus the warm-up loop) and
    timed_s (the timed loop), all wall seconds by ``time.perf_counter``, also recorded into ``phases`` as they
    run (what a failure keeps: an export that fails has export_s; a failed output check export_s, load_s and
    warmup_s).

    ``details["ort_log"]``: what ONNX Runtime (any native code) wrote to fd 2 from session creation through the
    warm-up, never during the timed loop (``fdcapture.summarize_ort_log``: lines, errors, warnings, distinct
    messages); the bytes still reach fd 2. An exception leaving here carries the same as ``.ort_log``. Absent
    when fd 2 could not be redirected.
    """
    capture = FdCapture(2)
    try:
        samples, details = _measure(
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
            capture=capture,
        )
    except Exception as exc:
        attach_ort_log(exc, summary_of(capture))
        raise
    if (log := summary_of(capture)) is not None:
        details["ort_log"] = log
    return samples, details


def attach_ort_log(exc: BaseException, log: dict[str, Any] | None) -> None:
    """Set ``exc.ort_log`` (when something was captured); silent where the exception refuses attributes."""
    if log is not None:
        with contextlib.suppress(AttributeError, TypeError):
            exc.ort_log = log  # type: ignore[attr-defined]


def _measure(
    model: Any,
    *,
    device: str,
    dtype: str,
    batch: int,
    resolution: int,
    config: TimingConfig,
    cache_key: str | None,
    cache_dir: Path | str | None,
    timer: Any,
    phases: PhaseLog | None,
    capture: FdCapture,
) -> tuple[list[float], dict[str, Any]]:
    """``measure_onnx``'s work; ``capture`` catches fd 2 around everything but export and the timed loop."""
    import torch

    phases = PhaseLog() if phases is None else phases
    with contextlib.ExitStack() as stack:
        if cache_key is None:  # nothing identifies the model: a private cache, removed afterwards
            cache_dir, cache_key = stack.enter_context(tempfile.TemporaryDirectory(prefix="archprof-onnx-")), "model"
        with phases.timing("export_s"):
            entry, export_details = ensure_graph(
                model,
                dtype=dtype,
                batch=batch,
                resolution=resolution,
                cache_key=cache_key,
                cache_dir=cache_dir,
                opset=config.opset,
                exporter=config.exporter,
            )
        del model  # ORT holds its own copy of the weights; free the memory for the session
        if export_details["cache_hit"]:  # reading a cached entry is loading: no export happened
            phases.add("load_s", phases["export_s"])
            phases.put("export_s", 0.0)
        export_details.pop("export_s", None)  # the entry's own making time; the phase is measured here

        with phases.timing("load_s"), capture.capturing():  # ORT logs session creation (cuDNN, providers)
            ref_in, ref_out = entry.reference()
            session, details = cached_session(entry.graph, device, dtype, config)
            graph_dtype = export_details["graph_dtype"]
            x = timed_input(batch, resolution, ref_in).to(device=device, dtype=torch_dtype(graph_dtype))
            out = torch.empty((batch, *ref_out.shape[1:]), dtype=x.dtype, device=device)
            binding = bind_io(session, x, out, device)
            if device == "cuda":
                torch.cuda.synchronize()  # the input was written on torch's stream; ORT reads it on its own

    def step() -> None:
        session.run_with_iobinding(binding)

    before_first = phases.get("warmup_s", 0.0)
    # The checked first run: ORT's cuDNN algorithm search happens here (the H200's cudnn_frontend errors).
    with phases.timing("warmup_s"), capture.capturing():
        step()
        if details["ort_cuda_graph"]:
            # The CUDA EP captures on its third run (min_num_runs_before_cuda_graph_capture_ = 2 in current
            # releases, 1 in older ones); then check what a replay writes into the bound buffer, poisoned first.
            for _ in range(ORT_CUDA_GRAPH_CAPTURE_RUNS - 1):
                step()
            out.fill_(float("nan"))
            torch.cuda.synchronize()
            step()
    first_run_s = phases["warmup_s"] - before_first
    k = min(batch, ref_in.shape[0])
    err = output_error(out[:k], torch.from_numpy(ref_out[:k]))
    tol = OUTPUT_RTOL[dtype]
    details |= {
        "max_output_error_rel": err,
        "output_tolerance_rel": tol,
        "output_checked": config.check_outputs,
        "output_checked_rows": k,
    }
    if config.check_outputs and not err <= tol:
        raise OutputMismatchError(
            f"onnxruntime {dtype} output differs from eager fp32 by {err:.3g} of the output scale "
            f"(tolerance {tol:g}); exporter {export_details.get('exporter')}, opset {export_details.get('opset')}, "
            f"export path {export_details.get('export_path')}"
        )
    if timer is None:
        # ORT's Run blocks until its CUDA stream is done; a device-wide sync on both sides makes that explicit.
        timer = HostTimer(torch.cuda.synchronize if device == "cuda" else None)
    samples, warm = run_protocol(lambda: timer(step), config, phases, warmup_context=capture.capturing())
    details |= (
        export_details
        | warm
        | {
            "timer": getattr(timer, "name", type(timer).__name__),
            "io_binding": True,
            "first_run_s": first_run_s,
            "phases": dict(phases),
        }
    )
    return samples, details
