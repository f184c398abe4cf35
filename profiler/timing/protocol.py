"""The timing protocol: configuration, result type, errors, choices and summary statistics.

Pure Python + numpy (no torch) so that a sweep or the analysis can import the types cheaply.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from profiler.core.errors import UsageError

BACKENDS = ("eager", "onnxruntime", "cudagraph", "compile")
CUDA_ONLY_BACKENDS = ("cudagraph",)  # a CUDA graph replays device work; there is nothing to capture on a CPU
# ONNX exporters of torch.onnx.export: dynamo=True (torch.export based) and dynamo=False (TorchScript tracing).
EXPORTERS = ("dynamo", "torchscript")
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")  # torch.compile(mode=...)
DEVICES = ("cpu", "cuda")
# "amp": torch.autocast (float16 on CUDA, bfloat16 on CPU) over fp32 weights and input, as most users time.
DTYPES = ("fp32", "tf32", "fp16", "bf16", "amp")
MEMORY_FORMATS = ("contiguous", "channels_last")

# Max |ort - eager_fp32| divided by max |eager_fp32| (the output's scale). Random-init networks give small
# logits (|y| ~ 0.1), so an absolute tolerance would be meaningless; relative-to-scale is not fooled by
# near-zero elements the way an element-wise relative error is. A wrong graph gives errors of order 1.
# fp32: different kernels (Winograd/FFT, fused BN) → ~1e-6..1e-5; 1e-3 leaves two decades of margin.
# tf32: 10-bit mantissa (u ≈ 4.9e-4) per conv, accumulated over ~50 layers → ~1e-3; allow 1e-2.
# fp16: same mantissa as tf32 plus fp16 storage of every activation (resnet18 measured 5.6e-4); allow 3e-2.
# bf16: 7-bit mantissa (u ≈ 3.9e-3), 8x coarser than fp16; allow 1e-1.
# amp: bf16 autocast on CPU is the coarser case (as bf16); float16 autocast on CUDA keeps fp32 where autocast says.
OUTPUT_RTOL = {"fp32": 1e-3, "tf32": 1e-2, "fp16": 3e-2, "bf16": 1e-1, "amp": 1e-1}

# A run whose coefficient of variation exceeds this is flagged unstable (noise would blur a 5 % effect).
UNSTABLE_CV = 0.05
# A row whose median's 95 % CI is wider than ± its ci_target (this where none was set) is counted as unstable.
UNSTABLE_CI_REL = 0.02


class MeasurementError(RuntimeError):
    """One measurement failed (a sweep records it as a failed row and goes on).

    Leaving ``measure``, it (like any exception from a backend) carries ``phases``: the wall seconds of the
    phases that ran before the failure (``PhaseLog``), so that a failed row still says where its time went.
    """

    phases: dict[str, float]


class ExportError(MeasurementError):
    """torch.onnx.export failed with every exporter tried."""


class OutputMismatchError(MeasurementError):
    """ONNX Runtime's outputs differ from eager PyTorch beyond the dtype's tolerance."""


class ProviderError(MeasurementError):
    """The execution provider actually in use is not the one asked for."""


class CompileError(MeasurementError):
    """torch.compile (or CUDA graph capture) could not turn the model into the backend's executable form."""


class DeviceOOMError(MeasurementError):
    """The device ran out of memory for this (model, batch, resolution)."""


# on_phase(name, None) when phase ``name`` starts, on_phase(name, seconds so far in it) when it ends.
PhaseListener = Callable[[str, float | None], None]


class PhaseLog(dict[str, float]):
    """Wall seconds per phase of one measurement (export_s, compile_s, load_s, warmup_s, timed_s), recorded as
    each phase runs, so that a failure still knows what was spent: the failing phase holds its seconds up to the
    failure, a phase that never started is absent (a NULL column, not 0). ``listener`` hears each phase start
    and end (a sweep worker reports them, so that even a killed task's row keeps its phases)."""

    def __init__(self, listener: PhaseListener | None = None) -> None:
        super().__init__()
        self.listener = listener

    def put(self, name: str, seconds: float) -> None:
        """Set phase ``name`` to ``seconds`` (and tell the listener)."""
        self[name] = seconds
        if self.listener is not None:
            self.listener(name, seconds)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to phase ``name`` (ONNX Runtime's warm-up is its first run plus the warm-up loop)."""
        self.put(name, self.get(name, 0.0) + seconds)

    @contextlib.contextmanager
    def timing(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``, also when it raises."""
        if self.listener is not None:
            self.listener(name, None)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    @contextlib.contextmanager
    def attached_to_errors(self) -> Iterator[PhaseLog]:
        """Any exception leaving the block gets ``.phases`` (a copy of this log; its type and message unchanged)."""
        try:
            yield self
        except Exception as exc:
            attach_phases(exc, self)
            raise


def attach_phases(exc: BaseException, phases: dict[str, float]) -> None:
    """Set ``exc.phases``, keeping phases an inner measurement already attached; silent where an exception type
    refuses attributes (the failure itself matters more than its phases)."""
    with contextlib.suppress(AttributeError, TypeError):
        exc.phases = {**phases, **(getattr(exc, "phases", None) or {})}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TimingConfig:
    """Knobs of the protocol; every field is recorded with each result (``details["config"]``)."""

    iters: int = 30  # timed iterations (each one a sample)
    warmup_iters: int = 3  # at least this many warm-up iterations …
    warmup_s: float = 0.2  # … and at least this long
    warmup_max_s: float = 30.0  # give up warming after this long (a very slow model is then "stable enough")
    cudnn_benchmark: bool = True
    threads: int | None = None  # torch / ORT intra-op threads; None = library default (recorded)
    ort_graph_optimization: str = "all"  # disable | basic | extended | all
    opset: int | None = None  # None = the exporter's default (the actual opset is recorded)
    # ONNX exporter tried first (the other is the recorded fallback). "dynamo" is torch's default; "torchscript"
    # exports 10-15x faster on the CPU but can give slower graphs (benchmarks/exporter_compare.py).
    exporter: str = "dynamo"
    check_outputs: bool = True  # compare every non-eager backend against eager fp32 before timing
    compile_mode: str = "default"  # torch.compile mode of the "compile" backend (COMPILE_MODES)
    ort_cuda_graph: bool = False  # onnxruntime on cuda: capture the session in a CUDA graph (enable_cuda_graph)
    # Adaptive timing (like torch.utils.benchmark's adaptive_autorange): after ``iters`` samples, keep sampling
    # until the median's distribution-free 95 % CI half-width is at most ``ci_target`` of the median, or the timed
    # loop has run ``max_timed_s`` (whichever first; ``iters`` stays the floor). 0 = off: exactly ``iters``.
    ci_target: float = 0.0  # relative half-width, e.g. 0.02 for ±2 %
    max_timed_s: float = 0.0  # wall seconds of the timed loop at most (past the floor of ``iters``)

    def __post_init__(self) -> None:
        if self.iters < 1:
            raise UsageError(f"iters must be >= 1, got {self.iters}")
        if not 0 <= self.ci_target < 1:
            raise UsageError(f"ci_target must be a fraction in [0, 1) (0 = off, e.g. 0.02), got {self.ci_target}")
        if self.max_timed_s < 0 or (self.ci_target > 0 and self.max_timed_s <= 0):
            raise UsageError(f"max_timed_s must be > 0 seconds when ci_target is set, got {self.max_timed_s}")
        if self.warmup_iters < 0 or self.warmup_s < 0:
            raise UsageError("warmup_iters and warmup_s must be >= 0")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"threads must be >= 1 or None, got {self.threads}")
        if self.ort_graph_optimization not in ("disable", "basic", "extended", "all"):
            raise UsageError(
                f"ort_graph_optimization {self.ort_graph_optimization!r}; valid: disable, basic, extended, all"
            )
        if self.exporter not in EXPORTERS:
            raise UsageError(f"exporter {self.exporter!r}; valid: {', '.join(EXPORTERS)}")
        if self.compile_mode not in COMPILE_MODES:
            raise UsageError(f"compile_mode {self.compile_mode!r}; valid: {', '.join(COMPILE_MODES)}")
        if not isinstance(self.ort_cuda_graph, bool):
            raise UsageError(f"ort_cuda_graph must be true or false, got {self.ort_cuda_graph!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TimingResult:
    """Every per-iteration sample (ms per batch), their summary, and backend details."""

    samples_ms: list[float]
    stats: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """UsageError naming the valid values when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise UsageError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")


def validate_request(
    backend: str,
    device: str,
    dtype: str,
    memory_format: str,
    batch: int,
    resolution: int,
    *,
    ort_cuda_graph: bool = False,
) -> None:
    """Reject requests that can never be measured (before building or exporting anything).

    ``ort_cuda_graph`` is ``TimingConfig.ort_cuda_graph``: ONNX Runtime's CUDA graph exists only on cuda.
    """
    check_choice("backend", backend, BACKENDS)
    check_choice("device", device, DEVICES)
    check_choice("dtype", dtype, DTYPES)
    check_choice("memory format", memory_format, MEMORY_FORMATS)
    if batch < 1 or resolution < 1:
        raise UsageError(f"batch and resolution must be >= 1, got batch={batch}, resolution={resolution}")
    if device == "cpu" and dtype == "tf32":
        raise UsageError("tf32 is a CUDA tensor-core mode; valid on cpu: fp32, bf16 (eager), fp16 (onnxruntime)")
    if backend in CUDA_ONLY_BACKENDS and device != "cuda":
        raise UsageError(f"{backend} replays captured CUDA work, cuda only; valid on cpu: eager, compile, onnxruntime")
    if backend == "onnxruntime" and ort_cuda_graph and device != "cuda":
        raise UsageError("ort_cuda_graph (--ort-cuda-graph) exists only on ONNX Runtime's CUDA provider; on cpu: off")
    if backend in ("eager", "compile") and device == "cpu" and dtype == "fp16":
        # Many CPU fp16 kernels are missing or emulated: a timing would measure the fallback, not the model.
        raise UsageError(f"fp16 {backend} on cpu is not a meaningful setting; valid on cpu: fp32, bf16")
    if backend == "onnxruntime" and dtype == "bf16":
        raise UsageError("onnxruntime has no bf16 kernels for most conv ops; valid for onnxruntime: fp32, tf32, fp16")
    if backend == "onnxruntime" and dtype == "amp":
        raise UsageError("onnxruntime has no autocast (amp is a PyTorch mode); valid for onnxruntime: fp32, tf32, fp16")
    if backend == "onnxruntime" and memory_format != "contiguous":
        raise UsageError("onnxruntime chooses its own layouts; valid memory format for onnxruntime: contiguous")


def summarize(samples_ms: list[float], batch: int) -> dict[str, Any]:
    """The ``stats`` of a result row from per-iteration samples (ms per batch).

    >>> s = summarize([10.0, 11.0, 12.0, 13.0], batch=8)
    >>> s["latency_ms_median"], s["n_samples"], round(s["throughput_ips"], 1)
    (11.5, 4, 695.7)
    """
    if not samples_ms:
        raise ValueError("no samples to summarize")
    x = np.asarray(samples_ms, dtype=np.float64)
    median = float(np.median(x))
    mean = float(x.mean())
    q25, q75 = np.percentile(x, [25, 75])
    # Sample std (ddof=1); a single sample has no spread, report 0.
    cv = float(x.std(ddof=1) / mean) if x.size > 1 and mean > 0 else 0.0
    return {
        "latency_ms_median": median,
        "latency_ms_mean": mean,
        "latency_ms_iqr": float(q75 - q25),
        "latency_ms_p5": float(np.percentile(x, 5)),
        "latency_ms_p95": float(np.percentile(x, 95)),
        "latency_ms_min": float(x.min()),
        "latency_cv": cv,
        "n_samples": int(x.size),
        "throughput_ips": batch * 1000.0 / median if median > 0 else float("nan"),
        "stable": bool(cv <= UNSTABLE_CV),
    }


def median_ci_rel(samples_ms: list[float] | np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the distribution-free (order-statistic) CI of the median, relative to the median.

    ``scipy.stats.quantile_test``'s interval; inf when there are too few samples for one.

    >>> round(median_ci_rel([10.0 + 0.01 * i for i in range(40)]), 4)  # median 10.195, CI 10.13 to 10.26
    0.0064
    """
    from scipy import stats

    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size < 6:
        return float("inf")
    med = float(np.median(x))
    ci = stats.quantile_test(x, q=med, p=0.5).confidence_interval(confidence)
    lo, hi = float(ci.low), float(ci.high)
    if not (np.isfinite(lo) and np.isfinite(hi)) or med <= 0:
        return float("inf")
    return (hi - lo) / 2 / med


def row_ci_target(details: str | dict | None) -> float:
    """A stored row's ci_target (its ``details["config"]``, JSON text or dict), else ``UNSTABLE_CI_REL``."""
    import json

    try:
        d = json.loads(details) if isinstance(details, str) else details if isinstance(details, dict) else {}
        return float((d.get("config") or {}).get("ci_target") or 0) or UNSTABLE_CI_REL
    except (ValueError, AttributeError, TypeError):
        return UNSTABLE_CI_REL


def is_unstable(samples_ms: list[float] | np.ndarray, ci_target: float | None = None) -> bool:
    """Whether a row's median is less precise than its target (``ci_target``, else ``UNSTABLE_CI_REL``)."""
    return median_ci_rel(samples_ms) > (ci_target or UNSTABLE_CI_REL)


def _adaptive_extra(
    time_once_ms: Callable[[], float], samples: list[float], config: TimingConfig, t_start: float
) -> dict[str, Any]:
    """Take more samples until the median's CI meets ``config.ci_target`` or the loop reaches ``max_timed_s``."""
    if config.ci_target <= 0:
        return {}
    ci = median_ci_rel(samples)
    check_every = max(5, config.iters // 3)
    while ci > config.ci_target and time.perf_counter() - t_start < config.max_timed_s:
        for _ in range(check_every):
            samples.append(float(time_once_ms()))
            if time.perf_counter() - t_start >= config.max_timed_s:
                break
        ci = median_ci_rel(samples)
    return {
        "median_ci_rel": round(ci, 5) if np.isfinite(ci) else None,
        "ci_target": config.ci_target,
        "ci_target_met": bool(ci <= config.ci_target),
        "max_timed_s": config.max_timed_s,
        "extra_iters": len(samples) - config.iters,
    }


# A warm-up iteration with more minor page faults than this is still mapping memory: keep warming (bounded).
FAULT_QUIET = 64
FAULT_EXTRA_WARMUP_S = 2.0


def run_protocol(
    time_once_ms: Callable[[], float],
    config: TimingConfig,
    phases: PhaseLog | None = None,
    warmup_context: contextlib.AbstractContextManager[Any] | None = None,
) -> tuple[list[float], dict[str, Any]]:
    """Warm up (≥ warmup_iters and ≥ warmup_s, then on while an iteration still page-faults, at most
    ``FAULT_EXTRA_WARMUP_S`` longer), then take ``config.iters`` samples of ``time_once_ms()``.

    Minor page faults per timed iteration are recorded: a steady state has (almost) none. Also returns the wall
    seconds of both loops (``warmup_s_done``, ``timed_s_done``): the phases of a row. ``phases`` gets warmup_s
    and timed_s as the loops run (a loop that fails midway adds its seconds so far). ``warmup_context`` is
    entered around the warm-up loop only, never the timed one (ONNX Runtime captures its log lines there).
    """
    from profiler.timing.allocator import minor_faults

    phases = PhaseLog() if phases is None else phases
    warm_n = 0
    t0 = time.perf_counter()
    ready_at: float | None = None
    with phases.timing("warmup_s"), warmup_context or contextlib.nullcontext():
        while True:
            f0 = minor_faults()
            time_once_ms()
            faults = minor_faults() - f0
            warm_n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= config.warmup_max_s:
                break
            if warm_n >= config.warmup_iters and elapsed >= config.warmup_s:
                ready_at = elapsed if ready_at is None else ready_at
                if faults <= FAULT_QUIET or elapsed - ready_at >= FAULT_EXTRA_WARMUP_S:
                    break
    if config.ci_target > 0:
        import scipy.stats  # noqa: F401  (median_ci_rel's import, paid here rather than inside the timed loop)
    f0 = minor_faults()
    with phases.timing("timed_s"):
        t1 = time.perf_counter()
        samples = [float(time_once_ms()) for _ in range(config.iters)]
        adaptive = _adaptive_extra(time_once_ms, samples, config, t1)
        timed_s = time.perf_counter() - t1  # wall of the timed loop, timer overhead included (the samples exclude it)
    per_iter = (minor_faults() - f0) / len(samples)
    return samples, {
        "warmup_iters_done": warm_n,
        "warmup_s_done": round(elapsed, 4),
        "timed_s_done": round(timed_s, 4),
        "minflt_last_warmup_iter": faults,
        "minflt_per_iter": round(per_iter, 1),
        **adaptive,
    }
