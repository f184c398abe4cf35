"""Crash safety of `python -m profiler sweep`: SIGKILL mid-run + resume, and failures (raise, worker crash,
hang past the task timeout) recorded as failed rows while the sweep finishes. Real worker processes, tiny models."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from profiler.results.store import load_results
from profiler.sweep.config import load_config
from profiler.sweep.run import plan
from tests.support.sweeps import TINY_TEMPLATE, count_rows, start_sweep


def test_sigkill_mid_run_then_resume_measures_everything_exactly_once(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        TINY_TEMPLATE.format(
            timeout=120, models='["mobilenet_v1_x0_25", "shufflenet_v2_x0_5", "regnetx_200mf"]', batches="[1, 2]"
        )
    )
    expected = {t.key for t in plan(load_config(cfg), "cpu")}
    assert len(expected) == 6
    db = tmp_path / "res" / "run" / "results.sqlite"
    proc = start_sweep(tmp_path, "--config", str(cfg), "--run-id", "run")
    deadline = time.monotonic() + 90
    while count_rows(db) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"sweep ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.communicate()
    killed_at = count_rows(db)
    assert 2 <= killed_at < 6

    resumed = start_sweep(tmp_path, "--resume", "run")
    out, err = resumed.communicate(timeout=150)
    assert resumed.returncode == 0, err
    assert "overhead ratio" in out
    df = load_results(tmp_path / "res" / "run")
    assert len(df) == df["task_key"].nunique() == 6  # no duplicates …
    assert set(df["task_key"]) == expected  # … and no gaps
    assert (df["status"] == "ok").all(), df[["task_key", "error"]]
    assert all(len(s) == 3 for s in df["samples_ms"])


@pytest.mark.slow  # 30 s: a real sweep with a crash, a hang and a bad model (run by .ci/run's slow step)
def test_failures_become_rows_and_the_sweep_finishes(tmp_path: Path) -> None:
    cfg = tmp_path / "faulty.toml"
    cfg.write_text(
        TINY_TEMPLATE.format(
            timeout=20,
            batches="[1]",
            models='["mobilenet_v1_x0_25", "shufflenet_v2_x0_5", "regnetx_200mf", "mobilenet_v2_x0_5"]',
        )
        + '[faults]\nmobilenet_v1_x0_25 = "raise"\nshufflenet_v2_x0_5 = "crash"\nregnetx_200mf = "hang"\n'
    )
    proc = start_sweep(tmp_path, "--config", str(cfg), "--run-id", "f")
    _, err = proc.communicate(timeout=200)
    assert proc.returncode == 0, err
    df = load_results(tmp_path / "res" / "f").set_index("model")
    assert len(df) == 4
    assert df.loc["mobilenet_v2_x0_5", "status"] == "ok"
    assert df.loc["mobilenet_v1_x0_25", "status"] == "failed"
    assert "injected fault 'raise'" in df.loc["mobilenet_v1_x0_25", "error"]
    assert df.loc["shufflenet_v2_x0_5", "status"] == "failed"
    assert "SIGKILL" in df.loc["shufflenet_v2_x0_5", "error"]
    assert df.loc["regnetx_200mf", "status"] == "failed"
    assert "timed out after 20 s" in df.loc["regnetx_200mf", "error"]
