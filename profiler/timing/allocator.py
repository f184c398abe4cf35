"""Host allocator state for timing: keep freed activation memory in the process, count minor page faults.

glibc returns large freed blocks to the OS (``mmap``-backed blocks above ``M_MMAP_THRESHOLD``, and the heap top
above ``M_TRIM_THRESHOLD``), so in a fresh process every forward pass maps its activation buffers anew and
page-faults on first touch: mobilenet_v2 at 224 px took ~2,600 minor faults per pass here and ran 1.3x slower
than with both thresholds at 1 GiB (``benchmarks/page_faults.py``). A process that happened to run a larger
model first has a dynamically raised threshold and does not pay this, so sweep workers (fresh processes) would be
biased against models with much activation memory: the very quantity under test. ``keep_heap()`` sets both
thresholds with ``mallopt`` before timing; ``ARCHPROF_KEEP_HEAP=0`` leaves the allocator alone (benchmarks).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

THRESHOLD_BYTES = 1 << 30  # 1 GiB: above any single activation buffer of the registry at batch 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
_state: dict[str, Any] | None = None


def keep_heap() -> dict[str, Any]:
    """Set glibc's mmap and trim thresholds once per process; returns what is in effect (recorded per result)."""
    global _state
    if _state is not None:
        return _state
    if os.environ.get("ARCHPROF_KEEP_HEAP", "1") == "0":
        _state = {"keep_heap": False, "reason": "ARCHPROF_KEEP_HEAP=0"}
        return _state
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = (
            libc.mallopt(_M_MMAP_THRESHOLD, THRESHOLD_BYTES) == 1
            and libc.mallopt(_M_TRIM_THRESHOLD, THRESHOLD_BYTES) == 1
        )
        _state = {
            "keep_heap": ok,
            "mmap_threshold": THRESHOLD_BYTES,
            "trim_threshold": THRESHOLD_BYTES,
            "via": "mallopt",
        }
    except (OSError, AttributeError) as exc:  # not glibc (macOS, musl): nothing to set, say so
        _state = {"keep_heap": False, "reason": f"no glibc mallopt: {exc}"}
    return _state


def minor_faults() -> int:
    """Minor page faults of this process so far (0 where ``resource`` is unavailable)."""
    try:
        import resource
    except ImportError:
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
