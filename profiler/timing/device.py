"""Device checks, precision switches and per-iteration timers (CUDA paths injectable for CPU tests)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from profiler.core.errors import UsageError


def check_device(device: str) -> None:
    """UsageError saying what was found when ``device`` cannot be used (CPU-only build, no driver, no GPU)."""
    import torch

    if device == "cpu":
        return
    if device != "cuda":
        raise UsageError(f"unknown device {device!r}; valid: cpu, cuda")
    if torch.cuda.is_available():
        return
    if torch.version.cuda is None:
        found = f"this torch ({torch.__version__}) is a CPU-only build (torch.version.cuda is None)"
    else:
        try:
            count = torch.cuda.device_count()
        except Exception as exc:  # a broken driver install raises here; its message is the diagnosis
            found = f"torch built for CUDA {torch.version.cuda} but the driver failed: {exc}"
        else:
            found = (
                f"torch built for CUDA {torch.version.cuda} but no NVIDIA driver or GPU was found"
                if count == 0
                else f"torch built for CUDA {torch.version.cuda} sees {count} device(s) but cannot use them"
            )
    raise UsageError(f"--device cuda asked but CUDA is unavailable: {found}; use --device cpu")


def default_device() -> str:
    """``cuda`` when torch sees a usable CUDA device, else ``cpu`` (what ``--device auto`` and a check default to)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def apply_precision(precision: str, device: str, cudnn_benchmark: bool = True) -> dict[str, Any]:
    """Set the TF32 switches explicitly both ways (never library defaults) and return what is in effect.

    tf32 → TF32 matmul and cuDNN conv on; every other precision → off (fp16/bf16 run the model in that
    dtype, so TF32 could only touch stray fp32 ops, and we want none of those silently faster).
    """
    import torch

    tf32 = precision == "tf32"
    # set_float32_matmul_precision and matmul.allow_tf32 are one setting: set the former first.
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = bool(cudnn_benchmark and device == "cuda")
    return read_precision_switches() | {"precision": precision}


def read_precision_switches() -> dict[str, Any]:
    """The global switches that decide fp32 math and cuDNN algorithm choice, as they are now."""
    import torch

    try:
        matmul_precision = torch.get_float32_matmul_precision()
    except RuntimeError:  # torch ≥ 2.9 refuses to answer when legacy and per-backend APIs were mixed
        matmul_precision = None
    return {
        "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": matmul_precision,
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


@contextlib.contextmanager
def precision_context(precision: str, device: str, cudnn_benchmark: bool = True) -> Iterator[dict[str, Any]]:
    """``apply_precision`` for the duration of a block; the previous switches are restored afterwards."""
    import torch

    before = read_precision_switches()
    try:
        yield apply_precision(precision, device, cudnn_benchmark)
    finally:
        # matmul.allow_tf32 is derived from the matmul precision: setting it again would mix the legacy and
        # per-backend APIs (torch ≥ 2.9 then refuses get_float32_matmul_precision), so restore only the latter.
        if before["float32_matmul_precision"] is not None:
            torch.set_float32_matmul_precision(before["float32_matmul_precision"])
        else:
            torch.backends.cuda.matmul.allow_tf32 = before["matmul_allow_tf32"]
        torch.backends.cudnn.allow_tf32 = before["cudnn_allow_tf32"]
        torch.backends.cudnn.benchmark = before["cudnn_benchmark"]


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Set torch's intra-op threads for a block (None keeps the current count); yields the count in effect."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


class HostTimer:
    """Wall-clock time of one call with ``time.perf_counter_ns``; ``sync`` (if given) runs before and after
    so that queued device work is inside the interval (used for ORT on CUDA, whose Run blocks anyway)."""

    name = "perf_counter_ns"

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self._sync = sync

    def __call__(self, fn: Callable[[], Any]) -> float:
        if self._sync is not None:
            self._sync()
        t0 = time.perf_counter_ns()
        fn()
        if self._sync is not None:
            self._sync()
        return (time.perf_counter_ns() - t0) / 1e6


class CudaEventTimer:
    """One pair of CUDA events per iteration, synchronized after each (pycls protocol).

    ``event_factory`` and ``synchronize`` default to torch.cuda's; tests inject fakes to run this on CPU.
    """

    name = "cuda_event"

    def __init__(
        self,
        event_factory: Callable[[], Any] | None = None,
        synchronize: Callable[[], None] | None = None,
    ) -> None:
        if event_factory is None or synchronize is None:
            import torch

            event_factory = event_factory or (lambda: torch.cuda.Event(enable_timing=True))
            synchronize = synchronize or torch.cuda.synchronize
        self._event = event_factory
        self._sync = synchronize

    def __call__(self, fn: Callable[[], Any]) -> float:
        start, end = self._event(), self._event()
        self._sync()  # nothing from the previous iteration may leak into this one
        start.record()
        fn()
        end.record()
        self._sync()
        return float(start.elapsed_time(end))  # ms


def autocast_dtype(device: str) -> str:
    """The type autocast computes in for ``amp``: float16 on CUDA (tensor cores), bfloat16 on CPU."""
    return "float16" if device == "cuda" else "bfloat16"


def autocast_details(dtype: str, device: str) -> dict[str, Any]:
    """What a row records about autocast: for amp its type (``"float16"`` on CUDA, ``"bfloat16"`` on CPU) and that
    the weight cache is off; nothing for any other dtype."""
    return {"autocast": autocast_dtype(device), "autocast_cache": False} if dtype == "amp" else {}


def autocast_wrap(model: Any, dtype: str, device: str) -> Any:
    """``model`` itself, or for ``amp`` a module running it under ``torch.autocast`` (fp32 weights kept).

    The weight cache is off: each call casts the weights inside the region, as a training loop's forward does,
    and a captured CUDA graph replays those casts instead of reading a cache filled outside it.
    """
    if dtype != "amp":
        return model
    import torch

    class Autocast(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.autocast(device, dtype=getattr(torch, autocast_dtype(device)), cache_enabled=False):
                return self.inner(x)

    return Autocast(model).eval()


def autocast_context(dtype: str, device: str) -> contextlib.AbstractContextManager[Any]:
    """A ``torch.autocast`` region for ``amp`` (as ``autocast_wrap``), a no-op context for any other dtype."""
    if dtype != "amp":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device, dtype=getattr(torch, autocast_dtype(device)), cache_enabled=False)
