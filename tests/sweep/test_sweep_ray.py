"""`sweep --executor ray`: a worker killed mid-measurement becomes one failed row, the sweep goes on, and
`--resume` leaves every measurement present exactly once; resume works whatever executor measured the rows.

The Ray tests start a local Ray cluster on CPU (`ray.init(num_cpus=2)`, seconds) and are marked slow. Without Ray
installed they skip; `--executor ray` must then exit 2 with the install command (tested always).
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.cli import main
from profiler.results.store import load_results
from profiler.sweep.exec import events
from profiler.sweep.run import plan, run_sweep
from tests.support.sweeps import tiny_ray_config, tiny_ray_config_file

ROOT = Path(__file__).resolve().parents[2]


def test_executor_ray_without_ray_exits_2_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main(["sweep", "--device", "cpu", "--executor", "ray", "--results-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "not installed" in err and ".[ray]" in err


def test_ray_flags_without_executor_ray_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["sweep", "--device", "cpu", "--address", "auto", "--results-dir", str(tmp_path)]) == 2
    assert "--executor ray" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_killed_ray_worker_is_one_failed_row_and_resume_completes_exactly_once(ray_cluster, tmp_path: Path) -> None:
    from profiler.sweep.exec.ray_pool import RayExecutor

    # Enough iterations that the victim is still measuring when the driver sees its start event.
    config = tiny_ray_config(tmp_path, iters=400)
    tasks = plan(config, "cpu")
    expected = {t.key for t in tasks}
    victim = tasks[2].key  # the first task of the second group: a kill mid-group, rows before it already stored
    killed: list[int] = []

    class KillingExecutor(RayExecutor):
        def _handle(self, slot, msg):
            if isinstance(msg, events.Start) and msg.key == victim and not killed:
                killed.append(slot.place["worker_pid"])
                os.kill(slot.place["worker_pid"], signal.SIGKILL)  # the Ray worker process itself
            yield from super()._handle(slot, msg)

    run = tmp_path / "run"
    run_sweep(
        config,
        device="cpu",
        run_dir=run,
        show_progress=False,
        make_executor=functools.partial(KillingExecutor, num_workers=2),
    )
    df = load_results(run)
    assert killed, "the victim task never started"
    assert sorted(df["task_key"]) == sorted(expected)  # every measurement once, the failed one included
    failed = df[df["status"] == "failed"]
    assert list(failed["task_key"]) == [victim]
    assert failed["error"].iloc[0].startswith("Ray worker died")
    assert int(failed["worker_pid"].iloc[0]) == killed[0]
    # The victim's group-mate was retried on a fresh worker, not lost and not failed.
    mate = next(t.key for t in tasks if t.group_key == tasks[2].group_key and t.key != victim)
    assert df.set_index("task_key").loc[mate, "status"] == "ok"
    assert (df["node"].notna()).all() and df["gpu_index"].isna().all()  # CPU: no GPU index

    run_sweep(
        config,
        device="cpu",
        run_dir=run,
        resume=True,
        retry_failed=True,
        show_progress=False,
        make_executor=RayExecutor,
    )
    df = load_results(run)
    assert len(df) == df["task_key"].nunique() == len(expected)
    assert set(df["task_key"]) == expected and (df["status"] == "ok").all()


@pytest.mark.slow
def test_a_ray_task_that_raises_outside_a_measurement_fails_each_task_once_and_ends(ray_cluster, tmp_path) -> None:
    import dataclasses

    from profiler.sweep.exec.ray_pool import RayExecutor
    from profiler.sweep.tasks import Task

    class BadTask(Task):  # the worker cannot rebuild it: Task(**d) raises TypeError before anything is measured
        def to_dict(self):
            return {**dataclasses.asdict(self), "bogus": 1}

    tasks = [BadTask(**t.to_dict()) for t in plan(tiny_ray_config(tmp_path), "cpu")[:3]]
    rows = list(RayExecutor().run(tasks))
    assert sorted(r.task_key for r in rows) == sorted(t.key for t in tasks)
    assert all(r.status == "failed" for r in rows)
    assert all(r.error.startswith("Ray worker raised (RayTaskError(TypeError)): TypeError: ") for r in rows)


@pytest.mark.slow
def test_ray_resumes_a_run_the_subprocess_executor_started(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')
    cfg = tiny_ray_config_file(tmp_path)
    env = {**os.environ, "ARCHPROF_CACHE": str(tmp_path / "cache")}
    base = [
        sys.executable,
        "-m",
        "profiler",
        "sweep",
        "--device",
        "cpu",
        "--no-progress",
        "--results-dir",
        str(tmp_path / "res"),
    ]
    first = subprocess.run(
        [*base, "--config", str(cfg), "--run-id", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    db = tmp_path / "res" / "run" / "results.sqlite"
    with sqlite3.connect(db) as conn:  # forget half the rows, as if the sweep had been killed
        keys = [k for (k,) in conn.execute("SELECT task_key FROM measurements ORDER BY task_key")]
        conn.executemany("DELETE FROM measurements WHERE task_key = ?", [(k,) for k in keys[::2]])
    resumed = subprocess.run(
        [*base, "--resume", "run", "--executor", "ray", "--ray-workers", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    df = load_results(tmp_path / "res" / "run").set_index("task_key")
    assert sorted(df.index) == sorted(keys) and (df["status"] == "ok").all()
    assert df.loc[keys[::2], "started_at"].min() > df.loc[keys[1::2], "started_at"].max()  # only those re-measured


@pytest.mark.gpu
def test_ray_on_cuda_gives_each_group_its_own_gpu(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')
    import torch

    from profiler.sweep.exec.ray_pool import RayExecutor

    n_gpus = torch.cuda.device_count()
    config = tiny_ray_config(tmp_path)
    ray.init(
        num_cpus=2,
        num_gpus=n_gpus,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    try:
        run_sweep(config, device="cuda", run_dir=tmp_path / "run", show_progress=False, make_executor=RayExecutor)
    finally:
        ray.shutdown()
    df = load_results(tmp_path / "run")
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
    assert set(df["gpu_index"].astype(int)) <= set(range(n_gpus))
    # One model's group ran on one GPU, in one worker process.
    assert (df.groupby("model")["gpu_index"].nunique() == 1).all()
    assert (df.groupby("model")["worker_pid"].nunique() == 1).all()
