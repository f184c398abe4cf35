"""One writer per run (two real processes), the run id and resume hint of a sweep, SIGINT recorded in meta.json,
and an all-failed sweep exiting 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.sweep.lock import RunLock
from tests.support.sweeps import TINY_TEMPLATE, count_rows, start_sweep

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from profiler.sweep.lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=f"pid {holder.pid} on host"):
            RunLock(run).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run):  # the kernel dropped the dead holder's lock: no stale-lock problem
        pass


@pytest.mark.slow
def test_concurrent_resume_of_one_run_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        TINY_TEMPLATE.format(timeout=120, models='["mobilenet_v1_x0_25", "shufflenet_v2_x0_5"]', batches="[1]")
    )
    first = start_sweep(tmp_path, "--config", str(cfg), "--run-id", "r1")
    db = tmp_path / "res" / "r1" / "results.sqlite"
    deadline = time.monotonic() + 120
    while not (tmp_path / "res" / "r1" / "run.lock").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = start_sweep(tmp_path, "--resume", "r1")
    _, err2 = second.communicate(timeout=120)
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and f"pid {first.pid}" in err2 and "Traceback" not in err2
    assert count_rows(db) == 2  # measured once each


@pytest.mark.slow
def test_sigint_prints_resume_hint_and_records_session(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        TINY_TEMPLATE.format(
            timeout=120, models='["mobilenet_v1_x0_25", "shufflenet_v2_x0_5", "regnetx_200mf"]', batches="[1]"
        )
    )
    proc = start_sweep(tmp_path, "--config", str(cfg), "--run-id", "r2")
    db = tmp_path / "res" / "r2" / "results.sqlite"
    deadline = time.monotonic() + 120
    while count_rows(db) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "run r2" in err.splitlines()[0] or "run r2" in err  # the run id is said at the start
    assert proc.returncode == 130 and "--resume r2" in err and "Traceback" not in err, err
    sessions = json.loads((tmp_path / "res" / "r2" / "meta.json").read_text())["sessions"]
    assert sessions[-1]["interrupted"] is True and sessions[-1]["rows"] >= 1


@pytest.mark.slow
def test_every_row_failed_exits_1(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        TINY_TEMPLATE.format(timeout=120, models='["mobilenet_v1_x0_25"]', batches="[1]")
        + '[faults]\nmobilenet_v1_x0_25 = "raise"\n'
    )
    proc = start_sweep(tmp_path, "--config", str(cfg), "--run-id", "r3")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "every measurement of this session failed" in err


def test_unwritable_results_dir_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    # Root ignores directory modes, so the PermissionError a read-only directory gives is injected here.
    from profiler.cli import main
    from profiler.results.store import ResultStore

    def denied(run_dir, meta):
        raise PermissionError(13, "Permission denied", str(run_dir))

    monkeypatch.setattr(ResultStore, "create", staticmethod(denied))
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TEMPLATE.format(timeout=120, models='["mobilenet_v1_x0_25"]', batches="[1]"))
    assert main(["sweep", "--config", str(cfg), "--device", "cpu", "--results-dir", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert "permission denied" in err and str(tmp_path / "ro") in err
