"""A preparation process that answers outside its protocol (a stray print on its stdout) fails its pair's rows
with the reason, after one retry, instead of leaving the sweep waiting forever for an answer. Fake processes: no
torch import, so this runs in the default suite."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from profiler.sweep.exec import prefetch
from profiler.sweep.exec.events import PrepDone
from profiler.sweep.exec.prefetch import Prefetcher
from tests.support.sweeps import make_task

# Reads its job, then prints what it was given, then waits for the next job.
FAKE = "import sys\nfor _ in sys.stdin:\n    print({line!r}, flush=True)\n"


def _fake_spawn(line: str):
    def spawn(log_path: object) -> subprocess.Popen:
        code = FAKE.format(line=line)
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    return spawn


def _ready_within(pf: Prefetcher, tasks: list, seconds: float = 60.0) -> str | None:
    got: list[str | None] = []
    th = threading.Thread(target=lambda: got.append(pf.ready(tasks)), daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), "ready() is still waiting: the pool hung on the answer"
    return got[0]


@pytest.mark.parametrize("line", ["Warning: TracerWarning, not JSON", "[1, 2]", '{"build_s": "soon"}'])
def test_an_answer_outside_the_protocol_fails_the_pair_and_never_hangs(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefetch, "_spawn", _fake_spawn(line))
    tasks = [make_task(count=True)]
    pf = Prefetcher("overlap", "cpu", workers=1)
    try:
        pf.start(tasks)
        reason = _ready_within(pf, tasks)
    finally:
        pf.close()
    assert reason is not None and "answered outside its protocol" in reason, reason
    assert pf.stats["retried"] == 1 and pf.stats["failed"] == 1  # a fresh process was tried once


def test_a_well_formed_answer_still_prepares_the_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefetch, "_spawn", _fake_spawn(PrepDone("tiny|r16", build_s=0.5).to_json()))
    tasks = [make_task(count=True)]
    pf = Prefetcher("overlap", "cpu", workers=1)
    try:
        pf.start(tasks)
        assert _ready_within(pf, tasks) is None
    finally:
        pf.close()
    assert pf.stats["prepared"] == 1 and pf.stats["build_s"] == 0.5
