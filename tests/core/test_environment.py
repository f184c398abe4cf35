"""Environment capture: fixed keys, real values where readable, None (never an exception) where not."""

from __future__ import annotations

import platform

import pytest
import torch

from profiler.core import environment


def test_capture_cpu_has_exactly_the_contract_keys():
    env = environment.capture("cpu")
    assert tuple(env) == environment.KEYS
    assert env["python"] == platform.python_version() and env["torch"] == torch.__version__
    assert env["torch_threads"] == torch.get_num_threads() and env["cpu_count"] >= 1
    assert "CPUExecutionProvider" in env["ort_providers"]
    assert env["gpu_name"] is None and env["gpu_clocks_mhz"] is None  # not asked for a GPU


def test_capture_survives_missing_tools(monkeypatch):
    monkeypatch.setattr(environment.shutil, "which", lambda name: None)  # no git, no nvidia-smi

    def no_nvml(index: int = 0):
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setattr(environment, "gpu_nvml", no_nvml)
    env = environment.capture("cuda")
    assert env["git_commit"] is None and env["gpu_driver"] is None and env["gpu_temperature_c"] is None
    assert env["python"] == platform.python_version()


def test_gpu_smi_parsing(monkeypatch):
    line = "NVIDIA H100 80GB HBM3, 550.54.15, 1980, 2619, 1980, 35, [N/A]"
    monkeypatch.setattr(environment, "_run", lambda cmd, cwd=None: line)
    got = environment.gpu_smi()
    assert got["gpu_name"] == "NVIDIA H100 80GB HBM3" and got["gpu_driver"] == "550.54.15"
    assert got["gpu_clocks_mhz"] == {"sm": 1980.0, "mem": 2619.0, "sm_max": 1980.0}
    assert got["gpu_temperature_c"] == 35.0 and got["gpu_power_w"] is None  # "[N/A]" → None


def test_capture_cuda_falls_back_to_smi(monkeypatch):
    monkeypatch.setattr(environment, "gpu_nvml", lambda index=0: None)  # pynvml not importable
    line = "NVIDIA A100-SXM4-40GB, 535.1, 1410, 1215, 1410, 41, 61.2"
    monkeypatch.setattr(environment, "_run", lambda cmd, cwd=None: line if cmd[0] == "nvidia-smi" else None)
    env = environment.capture("cuda")
    assert env["gpu_name"] == "NVIDIA A100-SXM4-40GB" and env["gpu_power_w"] == pytest.approx(61.2)


def test_git_commit_is_head_and_marks_dirty_trees(monkeypatch, tmp_path):
    # A repository of its own, so the test runs (and can fail) whatever the checkout it runs from.
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    monkeypatch.setattr(environment, "_PROJECT_ROOT", tmp_path)
    assert environment.git_commit() is None  # not a repository yet
    git("init", "-q")
    (tmp_path / "f.txt").write_text("a")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    head = git("rev-parse", "HEAD")
    assert environment.git_commit() == head and len(head) == 40
    (tmp_path / "f.txt").write_text("b")
    assert environment.git_commit() == head + "-dirty"
