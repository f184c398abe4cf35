"""Test hooks of the sweep worker, on any machine (see ``profiler.sweep.exec.worker``'s module doc).

- ``ARCHPROF_TIMER_LOG=FILE``: every timed iteration appends ``time pid start_ns end_ns`` (CLOCK_MONOTONIC,
  comparable across processes), so a test can check that no two timed sections ever overlapped.
- ``ARCHPROF_TEST_SLOWDOWN="MODEL=FACTOR"``: MODEL's forward is followed by a busy wait of (FACTOR - 1) x its own
  time, a real, measured slowdown (``benchmarks/check_power.py`` injects it into one side of an A/B check).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

TIMER_LOG_ENV = "ARCHPROF_TIMER_LOG"
SLOWDOWN_ENV = "ARCHPROF_TEST_SLOWDOWN"


def slowdown_factor(model_name: str) -> float:
    """The injected slowdown factor for ``model_name`` from ``ARCHPROF_TEST_SLOWDOWN`` (1.0: none)."""
    spec = os.environ.get(SLOWDOWN_ENV, "")
    name, _, factor = spec.partition("=")
    return float(factor) if name == model_name and factor else 1.0


def slowed(model: Any, factor: float) -> Any:
    """``model`` whose forward spins for (factor - 1) x its own duration afterwards (spin, not sleep: sleep
    overshoots at the millisecond scale)."""
    inner_forward = model.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        y = inner_forward(*args, **kwargs)
        until = time.perf_counter() + (factor - 1.0) * (time.perf_counter() - t0)
        while time.perf_counter() < until:
            pass
        return y

    model.forward = forward
    return model


class RecordingTimer:
    """Test hook (``ARCHPROF_TIMER_LOG``): the default host timer, logging each timed interval to a shared file."""

    name = "recording_perf_counter_ns"

    def __init__(self, path: str, device: str) -> None:
        from profiler.timing import HostTimer

        self.path = path
        self._inner = HostTimer(_cuda_sync if device == "cuda" else None)

    def __call__(self, fn: Callable[[], Any]) -> float:
        start = time.monotonic_ns()
        ms = self._inner(fn)
        end = time.monotonic_ns()
        with open(self.path, "a") as f:  # O_APPEND: lines from several processes never interleave mid-line
            f.write(f"time {os.getpid()} {start} {end}\n")
        return ms


def _cuda_sync() -> None:
    import torch

    torch.cuda.synchronize()


def _cuda_sync() -> None:
    import torch

    torch.cuda.synchronize()
