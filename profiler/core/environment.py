"""What a measurement ran on: software versions, CPU, GPU (clocks, temperature, power), git commit.

``capture`` never raises: anything it cannot read is ``None`` (offline hosts, no GPU, no nvidia-smi).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from profiler.core.paths import PROJECT_ROOT

KEYS = (
    "python",
    "platform",
    "hostname",
    "cpu_model",
    "cpu_count",
    "torch_threads",
    "torch",
    "torch_cuda",
    "cudnn",
    "onnx",
    "onnxruntime",
    "ort_providers",
    "gpu_name",
    "gpu_driver",
    "gpu_clocks_mhz",
    "gpu_temperature_c",
    "gpu_power_w",
    "git_commit",
    "captured_at",
    "cpu_flags_hash",
    "memory_gib",
    "timm",
    "torchvision",
)
_PROJECT_ROOT = PROJECT_ROOT


def _safe(fn: Callable[[], Any]) -> Any:
    # Environment capture is best effort by contract: a missing tool must never fail a run.
    try:
        return fn()
    except Exception:
        return None


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=cwd, check=False)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def cpu_model() -> str | None:
    """The CPU's marketing name (/proc/cpuinfo on Linux, else ``platform.processor``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def cpu_flags_hash() -> str | None:
    """8 hex digits naming the CPU's feature flags (/proc/cpuinfo): AVX-512 or not changes kernels."""
    import hashlib

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return None
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.lower().startswith(("flags", "features")):
            flags = " ".join(sorted(line.split(":", 1)[1].split()))
            return hashlib.sha1(flags.encode()).hexdigest()[:8]
    return None


def memory_gib() -> int | None:
    """Physical memory, whole GiB (rounded)."""
    return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)


def git_commit() -> str | None:
    """HEAD of the project checkout, with ``-dirty`` when tracked files are modified."""
    head = _run(["git", "rev-parse", "HEAD"], cwd=_PROJECT_ROOT)
    if head is None:
        return None
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_PROJECT_ROOT)
    return head + ("-dirty" if dirty else "")


def _version(module: str) -> str | None:
    import importlib

    return getattr(importlib.import_module(module), "__version__", None)


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # nvidia-smi prints "[N/A]" or "[Not Supported]"
        return None


def gpu_smi(index: int = 0) -> dict[str, Any] | None:
    """GPU name, driver, clocks, temperature and power from ``nvidia-smi`` (None when absent)."""
    fields = "name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw"
    out = _run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits", f"--id={index}"])
    if out is None:
        return None
    name, driver, sm, mem, max_sm, temp, power = [v.strip() for v in out.splitlines()[0].split(",")]
    return {
        "gpu_name": name,
        "gpu_driver": driver,
        "gpu_clocks_mhz": {"sm": _float(sm), "mem": _float(mem), "sm_max": _float(max_sm)},
        "gpu_temperature_c": _float(temp),
        "gpu_power_w": _float(power),
    }


def gpu_nvml(index: int = 0) -> dict[str, Any] | None:
    """The same fields through NVML (``pynvml`` from nvidia-ml-py), when importable."""
    try:
        import pynvml
    except ImportError:
        return None
    pynvml.nvmlInit()
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(h)
        driver = pynvml.nvmlSystemGetDriverVersion()
        return {
            "gpu_name": name.decode() if isinstance(name, bytes) else name,
            "gpu_driver": driver.decode() if isinstance(driver, bytes) else driver,
            "gpu_clocks_mhz": {
                "sm": _safe(lambda: float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM))),
                "mem": _safe(lambda: float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM))),
                "sm_max": _safe(lambda: float(pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM))),
            },
            "gpu_temperature_c": _safe(lambda: float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))),
            "gpu_power_w": _safe(lambda: pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0),  # mW → W
        }
    finally:
        pynvml.nvmlShutdown()


def _gpu_fields(device: str) -> dict[str, Any]:
    if device != "cuda":
        return {}
    found = _safe(gpu_nvml) or _safe(gpu_smi) or {}
    if found.get("gpu_name") is None:
        import torch

        found["gpu_name"] = _safe(lambda: torch.cuda.get_device_name(0))
    return found


def capture(device: str = "cpu") -> dict[str, Any]:
    """Everything in ``KEYS`` that can be read now; GPU fields only for ``device == "cuda"``."""
    env: dict[str, Any] = dict.fromkeys(KEYS)
    env["python"] = platform.python_version()
    env["platform"] = _safe(platform.platform)
    env["hostname"] = _safe(socket.gethostname)
    env["cpu_model"] = _safe(cpu_model)
    env["cpu_count"] = os.cpu_count()
    env["cpu_flags_hash"] = _safe(cpu_flags_hash)
    env["memory_gib"] = _safe(memory_gib)
    env["torch"] = _safe(lambda: _version("torch"))
    env["torch_threads"] = _safe(lambda: __import__("torch").get_num_threads())
    env["torch_cuda"] = _safe(lambda: __import__("torch").version.cuda)
    env["cudnn"] = _safe(lambda: __import__("torch").backends.cudnn.version())
    env["onnx"] = _safe(lambda: _version("onnx"))
    env["onnxruntime"] = _safe(lambda: _version("onnxruntime"))
    env["ort_providers"] = _safe(lambda: list(__import__("onnxruntime").get_available_providers()))
    # The model libraries of external references (timm:, torchvision:), from their metadata: no 5 s timm import.
    env["timm"] = _safe(lambda: _dist_version("timm"))
    env["torchvision"] = _safe(lambda: _dist_version("torchvision"))
    gpu = _safe(lambda: _gpu_fields(device)) or {}
    env.update({k: v for k, v in gpu.items() if k in KEYS})
    env["git_commit"] = _safe(git_commit)
    env["captured_at"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return env
