"""The prefetch pool with real processes: timing stays exclusive (a recording timer logs every timed interval of
every process into one file), "before" never overlaps timing, and a preparation process that dies becomes failed
rows while the sweep finishes. Slow: each run starts several Python processes that import torch."""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path

import pytest

from profiler.results.store import load_results
from profiler.sweep.config import parse_config
from profiler.sweep.exec.local import Limits, SubprocessExecutor
from profiler.sweep.exec.prefetch import Prefetcher
from profiler.sweep.exec.worker import TIMER_LOG_ENV
from profiler.sweep.run import run_sweep

pytestmark = pytest.mark.slow

TINY = """
name = "tiny"
count = true
[models]
include = ["mobilenet_v1_x0_25", "shufflenet_v2_x0_5", "regnetx_200mf"]
[settings]
resolutions = [32]
batches = [1, 2]
[timing]
iters = 5
warmup_iters = 1
warmup_s = 0.0
threads = 1
"""


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, text: str = TINY, device: str = "cpu"):
    log = tmp_path / "intervals.log"
    monkeypatch.setenv(TIMER_LOG_ENV, str(log))
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    pool = Prefetcher(
        mode, device, workers=2, lookahead=2, counts_dir=run_dir / "counts", log_path=run_dir / "logs" / "prefetch.log"
    )
    make = functools.partial(
        SubprocessExecutor, run_dir / "logs" / "workers.log", counts_dir=run_dir / "counts", prefetch=pool
    )
    run_sweep(parse_config(text, "tiny.toml"), device=device, run_dir=run_dir, show_progress=False, make_executor=make)
    intervals = {"time": [], "prep": []}
    for line in log.read_text().splitlines():
        kind, pid, start, end = line.split()
        intervals[kind].append((int(start), int(end), int(pid)))
    return run_dir, pool, intervals


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_timing_is_exclusive_while_the_pool_prepares_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    run_dir, pf, iv = _run(tmp_path, monkeypatch, "overlap", device=device)
    df = load_results(run_dir)
    assert len(df) == 6 and (df["status"] == "ok").all() and df["macs"].notna().all()
    counts = [p for p in (run_dir / "counts").glob("*.json") if not p.name.endswith(".ops.json")]
    ops_tables = list((run_dir / "counts").glob("*.ops.json"))  # the per-op table beside each count
    assert len(counts) == len(ops_tables) == 3 and pf.stats["prepared"] == 3
    timed = sorted(iv["time"])
    # 5 timed + at least 1 warm-up iteration per row (warm-up goes on while an iteration still page-faults)
    n_warmup = int(df["details_json"].map(lambda d: json.loads(d)["warmup_iters_done"]).sum())
    assert n_warmup >= 6 and len(timed) == 6 * 5 + n_warmup
    assert len({p for *_, p in timed}) == 3  # three worker processes timed
    for (_, end, _), (start, _, _) in itertools.pairwise(timed):
        assert start >= end, "two timed sections overlapped"
    assert len(iv["prep"]) == 3
    # The worker found the counts ready: its count phase is a file read, not a count.
    assert df["count_s"].max() < 0.5


def test_before_mode_never_overlaps_timing_and_a_dead_pool_process_fails_only_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = TINY + '[faults]\nshufflenet_v2_x0_5 = "prefetch_crash"\n'
    run_dir, pf, iv = _run(tmp_path, monkeypatch, "before", text)
    last_prep_end = max(end for _, end, _ in iv["prep"])
    assert all(start >= last_prep_end for start, _, _ in iv["time"])
    df = load_results(run_dir).set_index("model")
    bad = df.loc[["shufflenet_v2_x0_5"]]
    assert (bad["status"] == "failed").all() and bad["error"].str.contains("preparation process killed").all()
    good = df.drop(index="shufflenet_v2_x0_5")
    assert len(good) == 4 and (good["status"] == "ok").all()
    assert pf.stats["retried"] == 1 and pf.stats["failed"] == 1


def test_a_worker_stops_at_the_budget_without_failed_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from profiler.sweep.run import plan

    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    config = parse_config(TINY.replace("count = true", 'count = false\nisolation = "sweep"'), "tiny.toml")
    tasks = plan(config, "cpu")
    assert len({t.group_key for t in tasks}) == 1  # one timing process for the whole sweep
    limits = Limits(
        stop_at_unix=time.time() + 3600, estimates_s={t.key: (1e6 if i == 3 else 0.0) for i, t in enumerate(tasks)}
    )
    run_dir = tmp_path / "run"
    made: list[SubprocessExecutor] = []

    def make(**kw: object) -> SubprocessExecutor:
        made.append(SubprocessExecutor(tmp_path / "workers.log", **{**kw, "limits": limits}))
        return made[-1]

    run_sweep(config, device="cpu", run_dir=run_dir, show_progress=False, make_executor=make)
    df = load_results(run_dir)
    assert sorted(df["task_key"]) == sorted(t.key for t in tasks[:3]) and (df["status"] == "ok").all()
    assert made[0].stopped_by_budget and df["worker_pid"].nunique() == 1
