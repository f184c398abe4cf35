"""The A/B check (``check --against REV``) runs REV's own code: REV may be a commit from before the package layout
of issue #23, where the plan came from ``profiler.config`` / ``profiler.sweep`` and the worker was
``profiler.worker``. These tests plan and measure with such a commit, checked out from this repository's history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from profiler.baseline.ab import plan_at, worktree
from profiler.sweep.exec.local import SubprocessExecutor, worker_module

ROOT = Path(__file__).resolve().parents[2]
OLD_LAYOUT = "c7a890f6ce895ff4b117c01eadd67413386be507"  # the last commit with the flat profiler/ top level
CONFIG = """
name = "compat"
count = false
[models]
include = ["mobilenet_v1_x0_25"]
[settings]
resolutions = [32]
batches = [1]
[timing]
iters = 3
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""


def _need_old_commit() -> None:
    ok = subprocess.run(["git", "cat-file", "-e", f"{OLD_LAYOUT}^{{commit}}"], cwd=ROOT, capture_output=True)
    if ok.returncode != 0:
        pytest.skip(f"commit {OLD_LAYOUT[:10]} (the old layout) is not in this clone's history (a shallow clone?)")


def test_worker_module_follows_the_checkout_layout(tmp_path: Path) -> None:
    assert worker_module(ROOT) == "profiler.sweep.exec.worker"
    assert worker_module(tmp_path) == "profiler.worker"  # no profiler/sweep/exec/worker.py: the old layout


def test_a_commit_of_the_old_layout_plans_with_its_own_code(tmp_path: Path) -> None:
    _need_old_commit()
    with worktree(ROOT, OLD_LAYOUT, tmp_path) as (old_root, sha):
        assert not (old_root / "profiler" / "sweep").exists() and (old_root / "profiler" / "worker.py").is_file()
        tasks = plan_at(old_root, CONFIG, "compat.toml", "cpu", rounds=2)
    assert sha == OLD_LAYOUT
    # the same config planned by this checkout's code gives the same tasks (the wire format of Task is shared)
    assert [t.to_dict() for t in tasks] == [t.to_dict() for t in plan_at(ROOT, CONFIG, "compat.toml", "cpu", rounds=2)]
    assert [(t.model, t.repeat) for t in tasks] == [("mobilenet_v1_x0_25", 0), ("mobilenet_v1_x0_25", 1)]


@pytest.mark.slow
def test_a_commit_of_the_old_layout_measures_with_its_own_worker(tmp_path: Path) -> None:
    _need_old_commit()
    with worktree(ROOT, OLD_LAYOUT, tmp_path) as (old_root, _):
        tasks = [t for t in plan_at(old_root, CONFIG, "compat.toml", "cpu", rounds=1) if t.backend == "eager"]
        executor = SubprocessExecutor(package_root=old_root, counts_dir=tmp_path / "counts")
        rows = list(executor.run(tasks))
    assert [(r.model, r.status) for r in rows] == [("mobilenet_v1_x0_25", "ok")], rows
    assert rows[0].latency_ms > 0 and len(rows[0].samples_ms) >= 3
