"""Tiny sweep configs and a `profiler sweep` subprocess, shared by the sweep tests."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from profiler.sweep.config import load_config
from profiler.sweep.tasks import Task

ROOT = Path(__file__).resolve().parents[2]

# A task with every field a test does not care about set to something valid (CPU, fp32, batch 1, 16 px).
_TASK_DEFAULTS: dict[str, Any] = dict(
    model="tiny",
    family="test",
    spec={},
    spec_hash="tiny",
    backend="eager",
    device="cpu",
    dtype="fp32",
    memory_format="contiguous",
    batch=1,
    resolution=16,
    repeat=0,
)


def make_task(**fields: Any) -> Task:
    """A ``Task`` with ``fields`` over test defaults (model "tiny", eager on the CPU, fp32, batch 1, 16 px)."""
    return Task(**{**_TASK_DEFAULTS, **fields})


# Two tiny models, two batches, three timed iterations: the in-process sweep tests' config (``parse_config``).
TINY = """
name = "tiny"
count = false
[models]
include = ["mobilenet_v1_x0_25", "shufflenet_v2_x0_5"]
[settings]
resolutions = [32]
batches = [1, 2]
[timing]
iters = 3
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""

# The process-level tests' config: fill in ``timeout``, ``models`` (a TOML list) and ``batches`` with ``format``.
TINY_TEMPLATE = """
name = "tiny"
seed = 5
count = false            # counting is tested elsewhere; keep these process-level tests fast
task_timeout_s = {timeout}
[models]
include = {models}
[settings]
resolutions = [32]
batches = {batches}
backends = ["eager"]
[timing]
iters = 3
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""

# The Ray tests' three tiny models (``iters`` filled in by ``tiny_ray_config_file``).
TINY_RAY = """
name = "tiny-ray"
seed = 3
count = false
task_timeout_s = 240
[models]
include = ["mobilenet_v1_x0_25", "regnetx_200mf", "shufflenet_v2_x0_5"]
[settings]
resolutions = [32]
batches = [1, 2]
backends = ["eager"]
[timing]
iters = {iters}
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""


def tiny_ray_config_file(tmp_path: Path, iters: int = 3) -> Path:
    """The tiny three-model config written to ``tmp_path`` (``iters`` timed iterations per row)."""
    path = tmp_path / "tiny-ray.toml"
    path.write_text(TINY_RAY.format(iters=iters))
    return path


def tiny_ray_config(tmp_path: Path, iters: int = 3):
    """The tiny three-model config, loaded."""
    return load_config(tiny_ray_config_file(tmp_path, iters))


def start_sweep(tmp_path: Path, *args: str) -> subprocess.Popen:
    """``python -m profiler sweep`` on CPU in a child process (results and cache under ``tmp_path``), started."""
    env = {**os.environ, "ARCHPROF_CACHE": str(tmp_path / "cache")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "profiler",
            "sweep",
            "--device",
            "cpu",
            "--no-progress",
            "--results-dir",
            str(tmp_path / "res"),
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A job started in the background by a shell without job control (`.ci/run &`, nohup) inherits SIGINT
        # ignored, and so would this sweep: the Ctrl-C tests would see it run to the end. Python installs its
        # KeyboardInterrupt handler only where SIGINT is at its default, so give the child the default.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def count_rows(db: Path) -> int:
    """The measurements stored in ``db`` so far (0 before the file or its table exists)."""
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0
