"""Measured device peaks: matmul throughput per dtype, copy bandwidth and the per-op launch cost.

``measure_peaks(device)`` times, with ``torch.utils.benchmark.Timer`` (``blocked_autorange``; on CUDA its timer
synchronizes at the end of each block only):

- ``matmul_tflops``: ``a @ b`` of two n×n matrices, 2·n³ FLOP per call (n = 4096 on CUDA, 1024 on CPU);
  fp32/tf32/fp16/bf16 on CUDA, fp32/bf16 on CPU (fp16 and tf32 are ``None`` there: not a CPU eager precision).
- ``copy_bandwidth_gbs``: ``dst.copy_(src)`` on the device, (bytes read + bytes written) / time, 10⁹ B/s; the
  buffers (256 MiB on CUDA, 64 MiB on CPU) are larger than the caches.
- ``launch_us``: ``x.add_(1)`` on a one-element tensor, back to back: per call wall time on CPU; on CUDA the host's
  launch rate (the device finishes each tiny kernel before the next is launched, so this is the launch cost).

Peaks (matmul, copy) are the fastest of the timed blocks, since interference from other processes only slows a
block down; the launch cost is the median block, a typical per-op cost. Both statistics are stored. On one CPU
thread the clock is the thread's CPU time (``time.thread_time``): on a shared host other processes take time slices
from a long matmul, which wall time counts (at a load of 12 on 2 cores: 29 vs 87 GFLOP/s fp32); the wall-clock
figures are stored too, under ``wall``.

CPU peaks are measured with one intra-op thread unless ``threads`` is given (the sweeps' rule), and saved under the
device key of that thread count. Saved to ``$ARCHPROF_CACHE/peaks/<device-key>.json`` (default
``~/.cache/archprof/peaks``); a sweep copies the file of its device key into ``meta.json`` ``environment["peaks"]``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from profiler.core import paths
from profiler.core.errors import UsageError

MATMUL_N = {"cuda": 4096, "cpu": 1024}
QUICK_MATMUL_N = {"cuda": 2048, "cpu": 384}
COPY_MIB = {"cuda": 256, "cpu": 64}
DTYPES = {"cuda": ("fp32", "tf32", "fp16", "bf16"), "cpu": ("fp32", "bf16")}
SCHEMA_KEYS = ("device", "device_name", "matmul_tflops", "copy_bandwidth_gbs", "launch_us", "measured_at", "torch")


def peaks_dir() -> Path:
    """``$ARCHPROF_CACHE/peaks`` if set, else ``~/.cache/archprof/peaks``."""
    return paths.cache_dir("peaks")


def _key_env(env: Mapping[str, Any], device: str, threads: int | None) -> dict[str, Any]:
    # CPU peaks depend on the thread count they were measured with: the key names that count (default 1, the
    # sweeps' rule), not the count of the process that asks.
    out = dict(env)
    if device == "cpu":
        out["torch_threads"] = threads or 1
    return out


def peaks_key(device: str, env: Mapping[str, Any] | None = None, threads: int | None = None) -> str:
    """The device key (``profiler.core.device_key.device_key``) a peaks file is stored under; on CPU it names
    ``threads`` (default 1) instead of the environment's thread count."""
    from profiler.core.device_key import device_key
    from profiler.core.environment import capture

    return device_key(_key_env(env if env is not None else capture(device), device, threads), device)


def _time_s(stmt: str, env: dict[str, Any], threads: int, min_run_s: float, clock: Any) -> tuple[float, float]:
    """(fastest block, median block) seconds per call of ``stmt``; ``clock`` None is the Timer's own (wall, with
    a CUDA synchronize at block ends)."""
    from torch.utils.benchmark import Timer

    kw = {} if clock is None else {"timer": clock}
    m = Timer(stmt=stmt, globals=env, num_threads=threads, **kw).blocked_autorange(min_run_time=min_run_s)
    return float(min(m.times)), float(m.median)


def _measure_set(device: str, n: int, n_copy: int, threads: int, min_run_s: float, clock: Any) -> dict[str, Any]:
    """Matmul TFLOP/s per dtype, copy GB/s (fastest and median blocks) and the launch cost with one clock."""
    import torch

    from profiler.timing.device import precision_context

    out: dict[str, Any] = {"matmul_tflops": dict.fromkeys(("fp32", "tf32", "fp16", "bf16"))}
    out["median_matmul_tflops"] = dict(out["matmul_tflops"])
    gen = torch.Generator().manual_seed(0)
    for dtype in DTYPES[device]:
        tdtype = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
        a = torch.randn(n, n, generator=gen).to(device=device, dtype=tdtype)
        b = torch.randn(n, n, generator=gen).to(device=device, dtype=tdtype)
        with precision_context(dtype, device), torch.inference_mode():  # tf32 switches on for tf32 only
            fastest, median = _time_s("a @ b", {"a": a, "b": b}, threads, min_run_s, clock)
        out["matmul_tflops"][dtype] = round(2.0 * n**3 / fastest / 1e12, 6)
        out["median_matmul_tflops"][dtype] = round(2.0 * n**3 / median / 1e12, 6)
    src = torch.ones(n_copy, device=device)
    dst = torch.empty_like(src)
    fastest, median = _time_s("dst.copy_(src)", {"src": src, "dst": dst}, threads, min_run_s, clock)
    out["copy_bandwidth_gbs"] = round(2 * n_copy * 4 / fastest / 1e9, 3)  # read + written, fp32
    out["median_copy_bandwidth_gbs"] = round(2 * n_copy * 4 / median / 1e9, 3)
    del src, dst
    x = torch.zeros(1, device=device)
    with torch.inference_mode():
        fastest, median = _time_s("x.add_(1)", {"x": x}, threads, min_run_s, clock)
    out["launch_us"], out["launch_us_fastest"] = round(median * 1e6, 3), round(fastest * 1e6, 3)
    return out


def measure_peaks(device: str, threads: int | None = None, quick: bool = False) -> dict[str, Any]:
    """Measure the peaks of ``device`` now (schema in the module doc; plus ``threads``, ``sizes``, ``clock``,
    ``method``, the median-block figures and, on one CPU thread, the wall-clock figures under ``wall``).

    ``quick=True`` uses smaller sizes and shorter runs (a few seconds on CPU): for ``trace`` when nothing is stored.
    """
    import time

    import torch

    from profiler.core.environment import capture
    from profiler.timing.device import check_device

    check_device(device)
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    n_threads = threads if threads is not None else (1 if device == "cpu" else torch.get_num_threads())
    min_run_s = 0.1 if quick else 0.5
    n = (QUICK_MATMUL_N if quick else MATMUL_N)[device]
    # The copy keeps its full size when quick: a quarter of it fitted in the CPU's cache and read 2x faster.
    n_copy = COPY_MIB[device] * 2**20 // 4  # fp32 elements
    # One CPU thread does all the work on the calling thread, so its CPU time (time.thread_time) is the work's
    # time without the slices other processes took: the capability of the core on a shared host. More threads
    # or CUDA: wall time.
    thread_clock = device == "cpu" and n_threads == 1
    main = _measure_set(device, n, n_copy, n_threads, min_run_s, time.thread_time if thread_clock else None)
    wall = _measure_set(device, n, n_copy, n_threads, min_run_s, None) if thread_clock and not quick else None
    env = capture(device)
    name = env.get("gpu_name") if device == "cuda" else env.get("cpu_model")
    return {
        "device": device,
        "device_name": name or device,
        "matmul_tflops": main["matmul_tflops"],
        "copy_bandwidth_gbs": main["copy_bandwidth_gbs"],
        "launch_us": main["launch_us"],
        "measured_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "threads": n_threads,
        "cpu_count": os.cpu_count(),
        "device_key": peaks_key(device, env, n_threads),
        "clock": "thread CPU time (time.thread_time)" if thread_clock else "wall (Timer default)",
        "sizes": {"matmul_n": n, "copy_mib": n_copy * 4 / 2**20, "launch_elements": 1},
        # Peaks are the fastest block (interference only slows a run down); the launch cost is the median block
        # (a typical per-op cost). The other statistic of each is kept for comparison.
        "median": {
            "matmul_tflops": main["median_matmul_tflops"],
            "copy_bandwidth_gbs": main["median_copy_bandwidth_gbs"],
        },
        "launch_us_fastest": main["launch_us_fastest"],
        "wall": None if wall is None else {k: wall[k] for k in ("matmul_tflops", "copy_bandwidth_gbs", "launch_us")},
        # Other processes slow a shared host's measurement down; the load says how busy it was.
        "loadavg": _loadavg(),
        "method": "torch.utils.benchmark.Timer.blocked_autorange per call: peaks = fastest block, launch = median"
        + (" (quick)" if quick else ""),
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):  # not on every platform
        return None


def validate_peaks(doc: Any) -> dict[str, Any]:
    """``doc`` if it has the agreed schema with positive numbers, else ValueError naming the problem."""
    if not isinstance(doc, dict):
        raise ValueError("peaks must be a JSON object")
    missing = [k for k in SCHEMA_KEYS if k not in doc]
    if missing:
        raise ValueError(f"peaks lack {', '.join(missing)}")
    if doc["device"] not in ("cpu", "cuda"):
        raise ValueError(f"peaks device {doc['device']!r} is not cpu or cuda")
    tf = doc["matmul_tflops"]
    if not isinstance(tf, dict) or not isinstance(tf.get("fp32"), int | float) or tf["fp32"] <= 0:
        raise ValueError("peaks matmul_tflops.fp32 must be a positive number")
    for k in ("copy_bandwidth_gbs", "launch_us"):
        if not isinstance(doc[k], int | float) or doc[k] <= 0:
            raise ValueError(f"peaks {k} must be a positive number, got {doc[k]!r}")
    return doc


def save_peaks(doc: Mapping[str, Any], root: Path | str | None = None) -> Path:
    """Write ``<root>/<device-key>.json`` atomically and return its path."""
    root = Path(root) if root is not None else peaks_dir()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{doc['device_key']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dict(doc), indent=1) + "\n")
    tmp.replace(path)
    return path


def load_peaks(
    device: str, env: Mapping[str, Any] | None = None, *, threads: int | None = None, root: Path | str | None = None
) -> dict[str, Any] | None:
    """The measured peaks for ``device``: ``env["peaks"]`` when a run's environment carries them, else the stored
    file of the device key of ``env`` (this machine's when ``env`` is None), else None. A file that is not valid
    peaks JSON is treated as absent (it is a cache)."""
    if env is not None and isinstance(env.get("peaks"), dict) and env["peaks"].get("device") == device:
        return dict(env["peaks"])
    path = (Path(root) if root is not None else peaks_dir()) / f"{peaks_key(device, env, threads)}.json"
    try:
        return validate_peaks(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def ensure_peaks(
    device: str,
    threads: int | None = None,
    *,
    root: Path | str | None = None,
    say: Any = None,
    how_to_skip: str = "--no-peaks or measure_peaks = false skips it",
) -> dict[str, Any] | None:
    """Measure and store the peaks of this machine's ``device`` key when none are stored (~15 s on a CPU), so
    that a sweep's first report has its roofline and mechanistic model; returns the new peaks, or None when
    some were stored already. ``say`` (a print-like callable) hears what is being done. The document records
    ``measured_by = "sweep"``."""
    if load_peaks(device, None, threads=threads, root=root) is not None:
        return None
    if say is not None:
        say(
            f"measuring the peaks of this {device} once (~15 s; stored per device key for every later run; "
            f"{how_to_skip})"
        )
    doc = {**measure_peaks(device, threads=threads), "measured_by": "sweep"}
    save_peaks(doc, root)
    return doc


def attach_peaks(env: dict[str, Any], device: str, threads: int | None = None) -> dict[str, Any]:
    """Add ``env["peaks"]`` (in place) when a peaks file exists for the device key of ``env``; returns ``env``."""
    found = load_peaks(device, {k: v for k, v in env.items() if k != "peaks"}, threads=threads)
    if found is not None:
        env["peaks"] = found
    return env
