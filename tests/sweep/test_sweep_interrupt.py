"""A Ctrl-C that Python drops (raised while a finalizer runs: "Exception ignored in ...") still stops the sweep at
the next stored row, with the session marked interrupted; without that the sweep ran on to the end and exited 0."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from profiler.sweep.config import parse_config
from profiler.sweep.exec.local import Executor
from profiler.sweep.run import plan, run_sweep
from tests.support.sweeps import TINY


class DropsOneCtrlC(Executor):
    """Yields an ok row per task; after the first, a SIGINT arrives where its KeyboardInterrupt is swallowed."""

    def _run(self, todo):
        for i, t in enumerate(todo):
            if i == 1:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.1)  # the handler runs here, in this thread (the main one)
                except KeyboardInterrupt:
                    pass  # as a finalizer would: Python prints "Exception ignored" and goes on
            yield t.base_row(status="ok", samples_ms=[1.0], latency_ms=1.0)


def test_a_dropped_ctrl_c_stops_the_sweep_at_the_next_row(tmp_path: Path) -> None:
    config = parse_config(TINY, "tiny.toml")
    assert len(plan(config, "cpu")) == 4
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, device="cpu", run_dir=run, show_progress=False, make_executor=DropsOneCtrlC)
    session = json.loads((run / "meta.json").read_text())["sessions"][-1]
    assert session["interrupted"] is True and session["rows"] == 2  # the row in flight is kept; no third
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the sweep's handler is gone again
